/* Kubernetes API access for annotations and the status annotation.
 * libcurl and libyaml are dlopen()ed here on first use so that an ADD which
 * needs no API call never pays for loading them. */
#ifndef FLOWSTEER_KUBE_H
#define FLOWSTEER_KUBE_H

#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"

struct kube_client;

/* Parses the kubeconfig and prepares a client; the whole invocation's API
 * calls share one deadline of kc->timeout_ms from this call. Returns NULL
 * with a warning added on any problem (never an error: the API is optional). */
struct kube_client *kube_open(const struct fs_kube_conf *kc, struct fs_warn *w);
void kube_close(struct kube_client *k);

/* GET the pod and its namespace; *pod_ann / *ns_ann get the annotations
 * objects (caller frees with cJSON_Delete; NULL when none). Returns 0 when the
 * pod was read, -1 with a warning otherwise. */
int kube_get_annotations(struct kube_client *k, const char *ns, const char *pod,
			 cJSON **pod_ann, cJSON **ns_ann, struct fs_warn *w);
/* Strategic-merge patch of metadata.annotations[flowsteer.io/status]. */
int kube_patch_status(struct kube_client *k, const char *ns, const char *pod,
		      const char *status_line, struct fs_warn *w);

#endif

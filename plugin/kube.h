/* Kubernetes API access for annotations and the status annotation.
 * libcurl and libyaml are dlopen()ed here on first use so that an ADD which
 * needs no API call never pays for loading them. */
#ifndef FLOWSTEER_KUBE_H
#define FLOWSTEER_KUBE_H

#include <stdbool.h>
#include <stddef.h>
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
/* GET the namespace only (for when the runtime passed the pod's annotations
 * but none of ours: the namespace defaults still apply). */
int kube_get_ns_annotations(struct kube_client *k, const char *ns, cJSON **ns_ann,
			    struct fs_warn *w);
/* Strategic-merge patch of metadata.annotations[flowsteer.io/status]. */
int kube_patch_status(struct kube_client *k, const char *ns, const char *pod,
		      const char *status_line, struct fs_warn *w);

/* The current context of a kubeconfig; exposed for tests. Secrets are
 * wiped by kube_creds_free. Relative paths are resolved against the
 * kubeconfig's directory, as kubectl does. */
struct kube_creds {
	char server[2048];              /* https://host[:port][/prefix], no trailing '/' */
	unsigned char *ca_data;         /* certificate-authority-data, decoded PEM */
	size_t ca_len;
	char ca_file[4096];             /* certificate-authority */
	bool insecure;                  /* insecure-skip-tls-verify */
	char *token;                    /* token, or the content of tokenFile */
	unsigned char *cert_data;       /* client-certificate-data */
	size_t cert_len;
	char cert_file[4096];           /* client-certificate */
	unsigned char *key_data;        /* client-key-data */
	size_t key_len;
	char key_file[4096];            /* client-key */
};

/* Parses the kubeconfig at path (libyaml, loaded here). Errors (code 7)
 * name the file and the key; they never quote a secret. */
int kube_config_load(const char *path, struct kube_creds *c, struct fs_err *e);
void kube_creds_free(struct kube_creds *c);
/* DNS-1123 label (namespaces, <= 63) or subdomain (pod names, <= 253). */
bool kube_name_valid(const char *s, bool subdomain);
/* Standard base64 (RFC 4648), whitespace ignored; *out is NUL-terminated
 * for convenience and must be freed. Returns 0 or -1. */
int kube_base64_decode(const char *in, unsigned char **out, size_t *outlen);

#endif

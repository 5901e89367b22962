/* CNI protocol: environment, stdin, result and error output (docs/cni.md). */
#ifndef FLOWSTEER_CNI_H
#define FLOWSTEER_CNI_H

#include <stdbool.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "err.h"

#define CNI_STDIN_MAX (1u << 20)
#define CNI_SUPPORTED_VERSIONS "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"

struct cni_env {
	const char *command;
	const char *container_id;
	const char *netns;      /* may be "" on DEL */
	const char *ifname;
	const char *args;
	const char *path;
	char k8s_namespace[254];
	char k8s_pod[254];
	char k8s_uid[64];
};

enum cni_need {
	CNI_NEED_CONTAINERID = 1 << 0,
	CNI_NEED_IFNAME = 1 << 1,
	CNI_NEED_NETNS = 1 << 2,
	CNI_NEED_PATH = 1 << 3,
};

/* Reads and validates the CNI_* variables the verb needs (code 4 naming the
 * variable and value otherwise). CNI_ARGS is parsed for K8S_POD_NAMESPACE, _NAME and _UID. */
int cni_env_read(struct cni_env *env, unsigned need, struct fs_err *e);
/* Reads stdin up to CNI_STDIN_MAX (code 6 beyond, or when empty). */
int cni_stdin_read(int fd, char **buf, size_t *len, struct fs_err *e);
/* The CNI error object on out; version defaults to the newest we speak. */
void cni_error_print(FILE *out, const char *version, const struct fs_err *e);
/* Prints a JSON object followed by a newline. */
int cni_json_print(FILE *out, const cJSON *obj);
/* The VERSION reply. */
cJSON *cni_version_reply(const char *cni_version);

#endif

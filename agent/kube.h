/* The agent's Kubernetes API client: credentials (in-cluster ServiceAccount
 * or a kubeconfig), libcurl handles set up with TLS verification and the
 * bearer token, and the one write the agent makes (a merge patch of a pod
 * annotation).
 *
 * Secrets (token, client key) never reach a log line, an error or a metric:
 * messages quote only the server URL, paths, names and HTTP statuses, and
 * libcurl's verbose mode (which prints headers) is never turned on. */
#ifndef FLOWSTEER_AGENT_KUBE_H
#define FLOWSTEER_AGENT_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>

#include "err.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_creds {
	char server[2048];              /* https://host[:port][/prefix], no trailing '/' */
	unsigned char *ca_data;         /* certificate-authority-data, decoded PEM */
	size_t ca_len;
	char ca_file[4096];             /* certificate-authority, or the SA ca.crt */
	bool insecure;                  /* insecure-skip-tls-verify */
	char *token;                    /* a fixed token (kubeconfig `token`) */
	char token_file[4096];          /* re-read when it changes (projected SA tokens rotate) */
	unsigned char *cert_data;       /* client-certificate-data */
	size_t cert_len;
	char cert_file[4096];
	unsigned char *key_data;        /* client-key-data */
	size_t key_len;
	char key_file[4096];
};

/* kubeconfig.c: the current context of a kubeconfig (libyaml). Errors name
 * the file and the key, never a secret. */
int kube_config_load(const char *path, struct kube_creds *c, struct fs_err *e);

/* kubecreds.c: the credentials' checks and wiping. */
void kube_creds_free(struct kube_creds *c);
/* A bearer token goes into an HTTP header: no whitespace or control bytes. */
bool kube_token_valid(const char *token);
/* explicit_bzero + free. */
void kube_wipe_free(void *p, size_t len);
/* DNS-1123 label (namespaces, <= 63) or subdomain (pod names, <= 253). */
bool kube_name_valid(const char *s, bool subdomain);

struct kube_client;

struct kube_timeouts {
	long connect_ms;   /* TCP connect + TLS handshake */
	long request_ms;   /* a whole non-watch request (list page, patch) */
};

/* In-cluster: KUBERNETES_SERVICE_HOST/_PORT, sa_dir/token and sa_dir/ca.crt. */
struct kube_client *kube_client_incluster(const char *sa_dir, const struct kube_timeouts *t,
					  struct fs_err *e);
struct kube_client *kube_client_kubeconfig(const char *path, const struct kube_timeouts *t,
					   struct fs_err *e);
void kube_client_free(struct kube_client *k);
const char *kube_server(const struct kube_client *k);

/* Sets up h for a GET of server+path_query: TLS (with a CA: only that CA),
 * the current token (re-read when its file changed), timeouts. The caller
 * sets the write callback. Returns 0 or -1 with e set. */
int kube_easy_prepare(struct kube_client *k, CURL *h, const char *path_query, struct fs_err *e);
/* URL-escapes s into out (for query values and path segments). */
int kube_escape(const char *s, char *out, size_t len);

/* The Status.message of an error body, control characters blanked; "" if
 * none. */
void kube_status_message(const char *body, size_t len, char *out, size_t outlen);

/* Merge patch (application/merge-patch+json) of one annotation of one pod:
 *   {"metadata":{"uid":UID,"annotations":{KEY:VALUE}}}
 * value NULL removes the key (JSON null). uid (may be NULL) is a
 * precondition: the API server answers 409 Conflict when the pod of that
 * name is another incarnation. Bounded by request_ms.
 * prepare sets h up and fills r (which must stay put until the transfer is
 * done); the caller runs h (podstatus.c: loop_xfer_start); finish turns the
 * transfer's CURLcode and HTTP status into a kube_patch_result (*status: the
 * HTTP status, -1 when no answer came), e set unless KUBE_PATCH_OK (a non-2xx
 * with the server's message); kube_patch_req_free releases r (after finish,
 * or after an abort). prepare returns KUBE_PATCH_OK, _PERMANENT or _RETRY. */
struct kube_patch_req {
	char path[1100];
	char key[128];
	char *body;
	struct curl_slist *hdr;
	char *resp;
	size_t resp_len;
};

/* What a patch came to: its own result, so a caller never decides a retry
 * from an error code that also means something else. */
enum kube_patch_result {
	KUBE_PATCH_OK,          /* 2xx */
	KUBE_PATCH_CONFLICT,    /* 409: the uid precondition failed (another incarnation) */
	KUBE_PATCH_GONE,        /* 404 */
	KUBE_PATCH_PERMANENT,   /* other 4xx, or a name no API server takes: a retry cannot help */
	KUBE_PATCH_RETRY,       /* no answer, 401, 403, 408, 429, 5xx, out of memory: later */
	KUBE_PATCH_NRESULTS
};

enum kube_patch_result kube_patch_prepare(struct kube_client *k, CURL *h, struct kube_patch_req *r,
					  const char *ns, const char *name, const char *uid, const char *key,
					  const char *value, struct fs_err *e);
enum kube_patch_result kube_patch_finish(struct kube_client *k, CURL *h, struct kube_patch_req *r, CURLcode rc,
					 long *status, struct fs_err *e);
void kube_patch_req_free(struct kube_patch_req *r);

/* A blocking GET of server+path bounded by timeout_ms: the HTTP status with
 * the body in *body (NUL-terminated, the caller frees it; NULL when empty),
 * or -1 with e set when no answer came. */
long kube_get(struct kube_client *k, const char *path, long timeout_ms, char **body, struct fs_err *e);

#endif

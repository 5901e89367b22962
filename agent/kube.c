/* libcurl set-up for the API server; see kube.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "alog.h"
#include "kube.h"
#include "util.h"

#ifndef FLOWSTEER_VERSION
#define FLOWSTEER_VERSION "dev"
#endif

#define KUBE_TOKEN_MAX (64u << 10)
#define KUBE_PATCH_BODY_MAX (1u << 20)

struct kube_client {
	struct kube_creds cr;
	struct kube_timeouts t;
	struct curl_blob ca_blob, cert_blob, key_blob;
	char *file_token;            /* the token file's content, as last read */
	struct timespec token_mtime;
	off_t token_size;
	ino_t token_ino;
};

const char *kube_server(const struct kube_client *k)
{
	return k->cr.server;
}

void kube_client_free(struct kube_client *k)
{
	if (!k)
		return;
	kube_creds_free(&k->cr);
	if (k->file_token)
		kube_wipe_free(k->file_token, strlen(k->file_token));
	free(k);
}

/* Re-reads the token file when it changed (kubelet rotates projected
 * tokens by an atomic symlink swap: a new inode). */
static int kube_token_refresh(struct kube_client *k, struct fs_err *e)
{
	struct stat st;
	char *tok = NULL;
	size_t len = 0;
	int r;

	if (!k->cr.token_file[0])
		return 0;
	if (stat(k->cr.token_file, &st) < 0)
		return err_set(e, CNI_ERR_IO, "token file %s: %s", k->cr.token_file, strerror(errno));
	if (k->file_token && st.st_ino == k->token_ino && st.st_size == k->token_size &&
	    st.st_mtim.tv_sec == k->token_mtime.tv_sec && st.st_mtim.tv_nsec == k->token_mtime.tv_nsec)
		return 0;
	r = file_read_all(k->cr.token_file, KUBE_TOKEN_MAX, &tok, &len);
	if (r)
		return err_set(e, CNI_ERR_IO, "token file %s: %s", k->cr.token_file, strerror(-r));
	while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' '))
		tok[--len] = '\0';
	if (!kube_token_valid(tok)) {
		kube_wipe_free(tok, len);
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "token file %s is empty or holds whitespace or control characters", k->cr.token_file);
	}
	if (k->file_token) {
		kube_wipe_free(k->file_token, strlen(k->file_token));
		alog(ALOG_INFO, "token file %s changed; using the new token", k->cr.token_file);
	}
	k->file_token = tok;
	k->token_ino = st.st_ino;
	k->token_size = st.st_size;
	k->token_mtime = st.st_mtim;
	return 0;
}

static struct kube_client *kube_client_new(const struct kube_timeouts *t)
{
	struct kube_client *k = calloc(1, sizeof(*k));

	if (k)
		k->t = *t;
	return k;
}

struct kube_client *kube_client_incluster(const char *sa_dir, const struct kube_timeouts *t,
					  struct fs_err *e)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kube_client *k;
	int n;

	if (!host || !*host || !port || !*port) {
		err_set(e, CNI_ERR_INVALID_CONFIG,
			"KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set: not in a cluster? "
			"(use --kubeconfig, or --no-kube for the install duty alone)");
		return NULL;
	}
	k = kube_client_new(t);
	if (!k) {
		err_set(e, CNI_ERR_IO, "out of memory");
		return NULL;
	}
	/* An IPv6 service address needs brackets in a URL. */
	n = snprintf(k->cr.server, sizeof(k->cr.server), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		     host, port);
	if (n < 0 || (size_t)n >= sizeof(k->cr.server) ||
	    snprintf(k->cr.ca_file, sizeof(k->cr.ca_file), "%s/ca.crt", sa_dir) >= (int)sizeof(k->cr.ca_file) ||
	    snprintf(k->cr.token_file, sizeof(k->cr.token_file), "%s/token", sa_dir) >= (int)sizeof(k->cr.token_file)) {
		err_set(e, CNI_ERR_INVALID_CONFIG, "service account dir %.200s or server %.200s: too long", sa_dir, host);
		goto fail;
	}
	if (access(k->cr.ca_file, R_OK) < 0) {
		err_set(e, CNI_ERR_INVALID_CONFIG, "service account CA %s: %s", k->cr.ca_file, strerror(errno));
		goto fail;
	}
	if (kube_token_refresh(k, e))
		goto fail;
	return k;
fail:
	kube_client_free(k);
	return NULL;
}

struct kube_client *kube_client_kubeconfig(const char *path, const struct kube_timeouts *t, struct fs_err *e)
{
	struct kube_client *k = kube_client_new(t);

	if (!k) {
		err_set(e, CNI_ERR_IO, "out of memory");
		return NULL;
	}
	if (kube_config_load(path, &k->cr, e) || kube_token_refresh(k, e)) {
		kube_client_free(k);
		return NULL;
	}
	if (k->cr.insecure)
		alog(ALOG_WARN, "kubeconfig %s: insecure-skip-tls-verify is set: the API server %s is not authenticated",
		     path, k->cr.server);
	return k;
}

int kube_escape(const char *s, char *out, size_t len)
{
	char *esc = curl_easy_escape(NULL, s, 0);
	int n;

	if (!esc)
		return -1;
	n = snprintf(out, len, "%s", esc);
	curl_free(esc);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A client certificate or key: the kubeconfig's *-data (PEM, not copied:
 * b stays with the client) or a file. Nonzero when libcurl refused one. */
static int kube_tls_pem(CURL *h, struct curl_blob *b, unsigned char *data, size_t len, const char *file,
			CURLoption blob_opt, CURLoption type_opt, CURLoption file_opt)
{
	int bad;

	if (!data)
		return file[0] ? (int)curl_easy_setopt(h, file_opt, file) : 0;
	*b = (struct curl_blob){ .data = data, .len = len, .flags = CURL_BLOB_NOCOPY };
	bad = (int)curl_easy_setopt(h, blob_opt, b);
	bad |= (int)curl_easy_setopt(h, type_opt, "PEM");
	return bad;
}

static int kube_tls_setup(struct kube_client *k, CURL *h)
{
	const struct kube_creds *c = &k->cr;
	int bad = 0;

	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
	/* With a cluster CA, only that CA: the system store must not vouch
	 * for an API server. */
	if (c->ca_data) {
		k->ca_blob = (struct curl_blob){ .data = c->ca_data, .len = c->ca_len, .flags = CURL_BLOB_NOCOPY };
		bad |= curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &k->ca_blob);
		bad |= curl_easy_setopt(h, CURLOPT_CAPATH, (char *)NULL);
	} else if (c->ca_file[0]) {
		bad |= curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
		bad |= curl_easy_setopt(h, CURLOPT_CAPATH, (char *)NULL);
	}
	bad |= kube_tls_pem(h, &k->cert_blob, c->cert_data, c->cert_len, c->cert_file, CURLOPT_SSLCERT_BLOB,
			    CURLOPT_SSLCERTTYPE, CURLOPT_SSLCERT);
	bad |= kube_tls_pem(h, &k->key_blob, c->key_data, c->key_len, c->key_file, CURLOPT_SSLKEY_BLOB,
			    CURLOPT_SSLKEYTYPE, CURLOPT_SSLKEY);
	return bad ? -1 : 0;
}

int kube_easy_prepare(struct kube_client *k, CURL *h, const char *path_query, struct fs_err *e)
{
	const char *token;
	char url[8192];
	int n, bad = 0;

	if (kube_token_refresh(k, e))
		return -1;
	n = snprintf(url, sizeof(url), "%s%s", k->cr.server, path_query);
	if (n < 0 || (size_t)n >= sizeof(url))
		return err_set(e, CNI_ERR_IO, "URL %s%.200s... is too long", k->cr.server, path_query);
	curl_easy_reset(h);
	/* Signals are not thread-safe with the threaded resolver. */
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	bad |= curl_easy_setopt(h, CURLOPT_URL, url);
	bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, "flowsteer-agent/" FLOWSTEER_VERSION);
	bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, k->t.connect_ms);
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, k->t.request_ms);
	/* A dead peer (no RST, e.g. a node cut off) is found by keepalive. */
	bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
	bad |= kube_tls_setup(k, h);
	token = k->file_token ? k->file_token : k->cr.token;
	if (token) {
		bad |= curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		bad |= curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, token);
	}
	if (bad)
		return err_set(e, CNI_ERR_IO, "libcurl refused an option for %s%s", k->cr.server, path_query);
	return 0;
}

void kube_status_message(const char *body, size_t len, char *out, size_t outlen)
{
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
	size_t o = 0;

	out[0] = '\0';
	if (cJSON_IsString(m) && m->valuestring && outlen) {
		for (const char *p = m->valuestring; *p && o + 1 < outlen; p++)
			out[o++] = ((unsigned char)*p < 0x20) ? ' ' : *p;
		out[o] = '\0';
	}
	cJSON_Delete(j);
}

static size_t kube_body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct kube_patch_req *r = arg;
	size_t n = size * nmemb;
	char *nd;

	if (r->resp_len + n > KUBE_PATCH_BODY_MAX)
		return 0;
	nd = realloc(r->resp, r->resp_len + n + 1);
	if (!nd)
		return 0;
	memcpy(nd + r->resp_len, ptr, n);
	r->resp = nd;
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return n;
}

static char *kube_patch_body(const char *uid, const char *key, const char *value)
{
	cJSON *body = cJSON_CreateObject(), *meta, *ann;
	char *text = NULL;

	meta = cJSON_AddObjectToObject(body, "metadata");
	ann = cJSON_AddObjectToObject(meta, "annotations");
	if (ann && (!uid || cJSON_AddStringToObject(meta, "uid", uid)) &&
	    (value ? cJSON_AddStringToObject(ann, key, value) != NULL : cJSON_AddNullToObject(ann, key) != NULL))
		text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	return text;
}

void kube_patch_req_free(struct kube_patch_req *r)
{
	curl_slist_free_all(r->hdr);
	free(r->resp);
	cJSON_free(r->body);
	r->hdr = NULL;
	r->resp = NULL;
	r->body = NULL;
	r->resp_len = 0;
}

enum kube_patch_result kube_patch_prepare(struct kube_client *k, CURL *h, struct kube_patch_req *r,
					  const char *ns, const char *name, const char *uid, const char *key,
					  const char *value, struct fs_err *e)
{
	char ens[256], ename[768];
	int bad = 0;

	memset(r, 0, sizeof(*r));
	snprintf(r->key, sizeof(r->key), "%s", key);
	if (!kube_name_valid(ns, false) || !kube_name_valid(name, true)) {
		err_set(e, CNI_ERR_INVALID_CONFIG, "pod %.64s/%.253s: not a valid namespace/name", ns, name);
		return KUBE_PATCH_PERMANENT;
	}
	if (kube_escape(ns, ens, sizeof(ens)) || kube_escape(name, ename, sizeof(ename)) ||
	    !(r->body = kube_patch_body(uid, key, value)) ||
	    !(r->hdr = curl_slist_append(NULL, "Content-Type: application/merge-patch+json")) ||
	    !curl_slist_append(r->hdr, "Accept: application/json")) {
		kube_patch_req_free(r);
		err_set(e, CNI_ERR_IO, "pod %s/%s: preparing the patch of %s: out of memory", ns, name, key);
		return KUBE_PATCH_RETRY;
	}
	snprintf(r->path, sizeof(r->path), "/api/v1/namespaces/%s/pods/%s", ens, ename);
	if (kube_easy_prepare(k, h, r->path, e)) {
		kube_patch_req_free(r);
		return KUBE_PATCH_RETRY;
	}
	bad |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
	bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
	bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->hdr);
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kube_body_write);
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (bad) {
		kube_patch_req_free(r);
		err_set(e, CNI_ERR_IO, "libcurl refused an option for PATCH %s%s", k->cr.server, r->path);
		return KUBE_PATCH_RETRY;
	}
	return KUBE_PATCH_OK;
}

static enum kube_patch_result kube_patch_classify(long status)
{
	if (status >= 200 && status <= 299)
		return KUBE_PATCH_OK;
	if (status == 409)
		return KUBE_PATCH_CONFLICT;
	if (status == 404)
		return KUBE_PATCH_GONE;
	/* 401/403 (a token or RBAC being fixed), 408, 429: worth a retry. */
	if (status >= 400 && status <= 499 && status != 401 && status != 403 && status != 408 && status != 429)
		return KUBE_PATCH_PERMANENT;
	return KUBE_PATCH_RETRY;
}

enum kube_patch_result kube_patch_finish(struct kube_client *k, CURL *h, struct kube_patch_req *r, CURLcode rc,
					 long *status, struct fs_err *e)
{
	char msg[256];

	*status = -1;
	if (rc != CURLE_OK) {
		err_set(e, CNI_ERR_IO, "PATCH %s%s: %s", k->cr.server, r->path, curl_easy_strerror(rc));
		return KUBE_PATCH_RETRY;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (*status < 200 || *status > 299) {
		kube_status_message(r->resp, r->resp_len, msg, sizeof(msg));
		err_set(e, CNI_ERR_IO, "PATCH %s%s (%s): HTTP %ld%s%s%s", k->cr.server, r->path, r->key, *status,
			msg[0] ? " (" : "", msg, msg[0] ? ")" : "");
	}
	return kube_patch_classify(*status);
}

long kube_get(struct kube_client *k, const char *path, long timeout_ms, char **body, struct fs_err *e)
{
	/* Only its body buffer: kube_body_write fills it. */
	struct kube_patch_req r = { 0 };
	CURL *h = curl_easy_init();
	long status = -1;
	CURLcode rc;

	*body = NULL;
	if (!h) {
		err_set(e, CNI_ERR_IO, "GET %s%s: out of memory", k->cr.server, path);
		return -1;
	}
	if (kube_easy_prepare(k, h, path, e) == 0) {
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kube_body_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
		rc = curl_easy_perform(h);
		if (rc != CURLE_OK)
			err_set(e, CNI_ERR_IO, "GET %s%s: %s", k->cr.server, path, curl_easy_strerror(rc));
		else
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	}
	curl_easy_cleanup(h);
	*body = r.resp;
	return status;
}

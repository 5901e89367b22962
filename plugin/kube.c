/* Kubernetes API access (SPEC §5, §7): the kubeconfig through libyaml, HTTPS
 * through libcurl, both dlopen()ed on first use. libcurl alone drags in some
 * 38 shared objects (~5 ms per exec); every pod would pay that if it were
 * linked, though most ADDs never talk to the API server. <curl/curl.h> and
 * <yaml.h> are included for their types only.
 *
 * Secrets (token, client key) never reach a log, a warning or an error: no
 * message here quotes a kubeconfig value other than paths, names and the
 * server URL, and libcurl's verbose mode (which prints headers) is never on. */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <yaml.h>

#include "annot.h"
#include "kube.h"
#include "log.h"
#include "util.h"

#ifndef FLOWSTEER_VERSION
#define FLOWSTEER_VERSION "dev"
#endif

#define KUBE_LIBYAML "libyaml-0.so.2"
#define KUBE_LIBCURL "libcurl.so.4"
#define KUBE_CONFIG_MAX (1u << 20)
#define KUBE_TOKEN_MAX (64u << 10)
/* A pod object is a few KiB; anything this big is not one. */
#define KUBE_BODY_MAX (8u << 20)

struct yaml_api {
	int (*parser_initialize)(yaml_parser_t *p);
	void (*parser_set_input_string)(yaml_parser_t *p, const unsigned char *in, size_t len);
	int (*parser_load)(yaml_parser_t *p, yaml_document_t *d);
	void (*parser_delete)(yaml_parser_t *p);
	yaml_node_t *(*document_get_root_node)(yaml_document_t *d);
	yaml_node_t *(*document_get_node)(yaml_document_t *d, int index);
	void (*document_delete)(yaml_document_t *d);
};

struct curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *h);
	const char *(*easy_strerror)(CURLcode c);
	char *(*easy_escape)(CURL *h, const char *s, int len);
	void (*free)(void *p);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

static struct yaml_api yf;
static struct curl_api cf;
static void *yaml_lib, *curl_lib;

struct kube_sym {
	const char *name;
	void *slot;     /* address of a function pointer in yf / cf */
};

struct kube_buf {
	char *data;
	size_t len, cap;
	bool too_big;
};

struct kube_client {
	struct kube_creds cr;
	char kubeconfig[4096];
	CURL *h;
	struct curl_slist *hdr_get, *hdr_patch;
	struct curl_blob ca_blob, cert_blob, key_blob;
	char errbuf[CURL_ERROR_SIZE];
	struct kube_buf body;
	long timeout_ms;
	long long left_ms;      /* what is left of timeout_ms for this invocation */
};

/* Libraries stay loaded until exit: unloading libcurl (and the OpenSSL it
 * pulled in) under atexit handlers is a known source of crashes, and the
 * process is short-lived anyway. */
static int kube_dlload(const char *soname, void **lib, const struct kube_sym *syms, size_t n,
		       char *err, size_t errlen)
{
	void *h;

	if (*lib)
		return 0;
	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "cannot load %s: %s", soname, dlerror());
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		void *p = dlsym(h, syms[i].name);

		if (!p) {
			snprintf(err, errlen, "%s has no symbol %s", soname, syms[i].name);
			dlclose(h);
			return -1;
		}
		/* POSIX guarantees data and function pointers convert; memcpy
		 * keeps the compiler's aliasing rules out of it. */
		memcpy(syms[i].slot, &p, sizeof(p));
	}
	*lib = h;
	return 0;
}

static int kube_yaml_load(char *err, size_t errlen)
{
	const struct kube_sym syms[] = {
		{ "yaml_parser_initialize", &yf.parser_initialize },
		{ "yaml_parser_set_input_string", &yf.parser_set_input_string },
		{ "yaml_parser_load", &yf.parser_load },
		{ "yaml_parser_delete", &yf.parser_delete },
		{ "yaml_document_get_root_node", &yf.document_get_root_node },
		{ "yaml_document_get_node", &yf.document_get_node },
		{ "yaml_document_delete", &yf.document_delete },
	};

	return kube_dlload(KUBE_LIBYAML, &yaml_lib, syms, ARRAY_SIZE(syms), err, errlen);
}

static int kube_curl_load(char *err, size_t errlen)
{
	static bool inited;
	const struct kube_sym syms[] = {
		{ "curl_global_init", &cf.global_init },
		{ "curl_easy_init", &cf.easy_init },
		{ "curl_easy_setopt", &cf.easy_setopt },
		{ "curl_easy_perform", &cf.easy_perform },
		{ "curl_easy_getinfo", &cf.easy_getinfo },
		{ "curl_easy_cleanup", &cf.easy_cleanup },
		{ "curl_easy_strerror", &cf.easy_strerror },
		{ "curl_easy_escape", &cf.easy_escape },
		{ "curl_free", &cf.free },
		{ "curl_slist_append", &cf.slist_append },
		{ "curl_slist_free_all", &cf.slist_free_all },
	};
	CURLcode rc;

	if (kube_dlload(KUBE_LIBCURL, &curl_lib, syms, ARRAY_SIZE(syms), err, errlen))
		return -1;
	if (inited)
		return 0;
	rc = cf.global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s", cf.easy_strerror(rc));
		return -1;
	}
	inited = true;
	return 0;
}

static long long kube_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kube_spend(struct kube_client *k, long long since)
{
	k->left_ms -= kube_now_ms() - since;
}

static void kube_wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

/* ---- names and encodings ---- */

static bool kube_label_valid(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return s[0] != '-' && s[len - 1] != '-';
}

bool kube_name_valid(const char *s, bool subdomain)
{
	size_t len = strlen(s);
	const char *p = s;

	if (!subdomain)
		return kube_label_valid(s, len);
	if (len == 0 || len > 253)
		return false;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		if (!kube_label_valid(p, l))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

static int kube_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int kube_base64_decode(const char *in, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(in), o = 0, nd = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;
	unsigned char *buf = malloc(n / 4 * 3 + 4);

	if (!buf)
		return -1;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		int v;

		if (isspace(*p))
			continue;
		if (*p == '=') {
			pad++;
			continue;
		}
		v = kube_b64val(*p);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		nd++;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (nd % 4 == 1 || pad > 2 || (pad && (nd + pad) % 4))
		goto bad;
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
bad:
	kube_wipe_free(buf, n / 4 * 3 + 4);
	return -1;
}

/* ---- kubeconfig ---- */

struct kube_doc {
	yaml_document_t *d;
	const char *path;
	struct fs_err *e;
};

static yaml_node_t *ky_get(const struct kube_doc *kd, yaml_node_t *map, const char *key)
{
	size_t klen = strlen(key);

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yf.document_get_node(kd->d, pr->key);

		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
		    !memcmp(k->data.scalar.value, key, klen))
			return yf.document_get_node(kd->d, pr->value);
	}
	return NULL;
}

/* A string key: *out is NULL when absent, null or empty; a list or map (or
 * a value with a NUL byte) is an error naming where. */
static int ky_str(const struct kube_doc *kd, yaml_node_t *map, const char *where, const char *key,
		  const char **out)
{
	yaml_node_t *n = ky_get(kd, map, key);
	const char *v;

	*out = NULL;
	if (!n)
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: %s%s is not a string",
			       kd->path, where, key);
	v = (const char *)n->data.scalar.value;
	if (strlen(v) != n->data.scalar.length)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: %s%s holds a NUL byte",
			       kd->path, where, key);
	/* A plain "~" or "null" is YAML's null, which kubectl reads as unset. */
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!strcmp(v, "~") || !strcmp(v, "null")))
		return 0;
	if (v[0])
		*out = v;
	return 0;
}

/* The <field> map of the entry called name in a list of {name, <field>}. */
static yaml_node_t *ky_named(const struct kube_doc *kd, yaml_node_t *list, const char *name,
			     const char *field)
{
	if (!list || list->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		yaml_node_t *item = yf.document_get_node(kd->d, *it);
		yaml_node_t *nn = ky_get(kd, item, "name");

		if (nn && nn->type == YAML_SCALAR_NODE && !strcmp((const char *)nn->data.scalar.value, name))
			return ky_get(kd, item, field);
	}
	return NULL;
}

static int ky_path(const struct kube_doc *kd, const char *where, const char *key, const char *val,
		   char *out, size_t len)
{
	char dir[4096];
	int n;

	if (val[0] == '/') {
		n = snprintf(out, len, "%s", val);
	} else {
		if (path_dirname(kd->path, dir, sizeof(dir)))
			dir[0] = '\0';
		n = snprintf(out, len, "%s/%s", dir[0] ? dir : ".", val);
	}
	if (n < 0 || (size_t)n >= len)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: %s%s is too long",
			       kd->path, where, key);
	return 0;
}

static int ky_b64(const struct kube_doc *kd, const char *where, const char *key, const char *val,
		  unsigned char **out, size_t *outlen)
{
	if (kube_base64_decode(val, out, outlen) || *outlen == 0)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubernetes.kubeconfig %s: %s%s is not valid base64", kd->path, where, key);
	return 0;
}

static int ky_cluster(const struct kube_doc *kd, yaml_node_t *cl, const char *name, struct kube_creds *c)
{
	char where[320];
	const char *server, *ca_data, *ca_file, *insecure;
	size_t len;

	snprintf(where, sizeof(where), "clusters[%.256s].cluster.", name);
	if (ky_str(kd, cl, where, "server", &server) ||
	    ky_str(kd, cl, where, "certificate-authority-data", &ca_data) ||
	    ky_str(kd, cl, where, "certificate-authority", &ca_file) ||
	    ky_str(kd, cl, where, "insecure-skip-tls-verify", &insecure))
		return -1;
	if (!server)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: %sserver is missing",
			       kd->path, where);
	/* The token goes in every request: plain http would hand it to anyone
	 * on the path. */
	if (strncasecmp(server, "https://", 8))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubernetes.kubeconfig %s: %sserver \"%.256s\" is not an https:// URL", kd->path,
			       where, server);
	len = strlen(server);
	while (len > 8 && server[len - 1] == '/')
		len--;
	if (len >= sizeof(c->server))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: %sserver is too long",
			       kd->path, where);
	memcpy(c->server, server, len);
	c->server[len] = '\0';
	if (insecure) {
		if (!strcasecmp(insecure, "true"))
			c->insecure = true;
		else if (strcasecmp(insecure, "false"))
			return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
				       "kubernetes.kubeconfig %s: %sinsecure-skip-tls-verify = \"%.40s\" is not true or false",
				       kd->path, where, insecure);
	}
	if (c->insecure && (ca_data || ca_file))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubernetes.kubeconfig %s: %s sets both a certificate authority and insecure-skip-tls-verify",
			       kd->path, where);
	if (ca_data)
		return ky_b64(kd, where, "certificate-authority-data", ca_data, &c->ca_data, &c->ca_len);
	if (ca_file)
		return ky_path(kd, where, "certificate-authority", ca_file, c->ca_file, sizeof(c->ca_file));
	return 0;
}

static int ky_token_file(const struct kube_doc *kd, const char *where, const char *val, struct kube_creds *c)
{
	char path[4096];
	size_t len = 0;
	int r;

	if (ky_path(kd, where, "tokenFile", val, path, sizeof(path)))
		return -1;
	r = file_read_all(path, KUBE_TOKEN_MAX, &c->token, &len);
	if (r)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: %stokenFile %s: %s",
			       kd->path, where, path, strerror(-r));
	while (len && isspace((unsigned char)c->token[len - 1]))
		c->token[--len] = '\0';
	if (!len)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: %stokenFile %s is empty",
			       kd->path, where, path);
	return 0;
}

static int ky_user(const struct kube_doc *kd, yaml_node_t *u, const char *name, struct kube_creds *c)
{
	char where[320];
	const char *token, *token_file, *cert, *cert_file, *key, *key_file;

	snprintf(where, sizeof(where), "users[%.256s].user.", name);
	if (ky_str(kd, u, where, "token", &token) ||
	    ky_str(kd, u, where, "tokenFile", &token_file) ||
	    ky_str(kd, u, where, "client-certificate-data", &cert) ||
	    ky_str(kd, u, where, "client-certificate", &cert_file) ||
	    ky_str(kd, u, where, "client-key-data", &key) ||
	    ky_str(kd, u, where, "client-key", &key_file))
		return -1;
	if (token) {
		c->token = strdup(token);
		if (!c->token)
			return err_set(kd->e, CNI_ERR_IO, "kubernetes.kubeconfig %s: out of memory", kd->path);
	} else if (token_file && ky_token_file(kd, where, token_file, c)) {
		return -1;
	}
	/* It goes into an HTTP header: a line break would forge headers. */
	for (const char *p = c->token; p && *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
			return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
				       "kubernetes.kubeconfig %s: %stoken%s holds whitespace or control characters",
				       kd->path, where, token ? "" : "File content");
	if ((cert && ky_b64(kd, where, "client-certificate-data", cert, &c->cert_data, &c->cert_len)) ||
	    (!cert && cert_file &&
	     ky_path(kd, where, "client-certificate", cert_file, c->cert_file, sizeof(c->cert_file))) ||
	    (key && ky_b64(kd, where, "client-key-data", key, &c->key_data, &c->key_len)) ||
	    (!key && key_file && ky_path(kd, where, "client-key", key_file, c->key_file, sizeof(c->key_file))))
		return -1;
	if (!!(c->cert_data || c->cert_file[0]) != !!(c->key_data || c->key_file[0]))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubernetes.kubeconfig %s: %s has a client certificate without a key or a key without a certificate",
			       kd->path, where);
	if (!c->token && !c->cert_data && !c->cert_file[0] &&
	    (ky_get(kd, u, "exec") || ky_get(kd, u, "auth-provider") || ky_get(kd, u, "username")))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubernetes.kubeconfig %s: %s uses exec, auth-provider or basic credentials; flowsteer supports token, tokenFile and client certificates",
			       kd->path, where);
	return 0;
}

static int ky_walk(const struct kube_doc *kd, yaml_node_t *root, struct kube_creds *c)
{
	yaml_node_t *contexts = ky_get(kd, root, "contexts"), *ctx, *cl, *u;
	const char *cur, *cluster, *user;
	char cur_buf[256];

	if (!root || root->type != YAML_MAPPING_NODE)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: not a YAML mapping",
			       kd->path);
	if (ky_str(kd, root, "", "current-context", &cur))
		return -1;
	/* kubectl insists on current-context; a file with a single context
	 * leaves no doubt which one is meant. */
	if (!cur && contexts && contexts->type == YAML_SEQUENCE_NODE &&
	    contexts->data.sequence.items.top - contexts->data.sequence.items.start == 1) {
		yaml_node_t *only = yf.document_get_node(kd->d, contexts->data.sequence.items.start[0]);

		if (ky_str(kd, only, "contexts[0].", "name", &cur))
			return -1;
	}
	if (!cur)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: current-context is not set",
			       kd->path);
	snprintf(cur_buf, sizeof(cur_buf), "%s", cur);
	ctx = ky_named(kd, contexts, cur_buf, "context");
	if (!ctx)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubernetes.kubeconfig %s: current-context \"%.200s\" is not in contexts", kd->path, cur_buf);
	if (ky_str(kd, ctx, "context.", "cluster", &cluster) || ky_str(kd, ctx, "context.", "user", &user))
		return -1;
	if (!cluster)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubernetes.kubeconfig %s: context \"%.200s\" names no cluster", kd->path, cur_buf);
	cl = ky_named(kd, ky_get(kd, root, "clusters"), cluster, "cluster");
	if (!cl)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubernetes.kubeconfig %s: cluster \"%.200s\" of context \"%.200s\" is not in clusters",
			       kd->path, cluster, cur_buf);
	if (ky_cluster(kd, cl, cluster, c))
		return -1;
	if (!user)
		return 0;
	u = ky_named(kd, ky_get(kd, root, "users"), user, "user");
	if (!u)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubernetes.kubeconfig %s: user \"%.200s\" of context \"%.200s\" is not in users",
			       kd->path, user, cur_buf);
	return ky_user(kd, u, user, c);
}

/* libyaml frees without clearing; the document holds the token and key. */
static void ky_wipe(yaml_document_t *d)
{
	for (yaml_node_t *n = d->nodes.start; n < d->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
			explicit_bzero(n->data.scalar.value, n->data.scalar.length);
}

int kube_config_load(const char *path, struct kube_creds *c, struct fs_err *e)
{
	struct kube_doc kd = { .path = path, .e = e };
	yaml_parser_t parser;
	yaml_document_t doc;
	char dlerr[512], *buf = NULL;
	size_t len = 0;
	int r, ret = -1;

	memset(c, 0, sizeof(*c));
	if (kube_yaml_load(dlerr, sizeof(dlerr)))
		return err_set(e, CNI_ERR_IO, "kubernetes.kubeconfig %s: %s", path, dlerr);
	r = file_read_all(path, KUBE_CONFIG_MAX, &buf, &len);
	if (r)
		return err_set(e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: %s", path, strerror(-r));
	if (!yf.parser_initialize(&parser)) {
		kube_wipe_free(buf, len);
		return err_set(e, CNI_ERR_IO, "kubernetes.kubeconfig %s: libyaml parser: out of memory", path);
	}
	yf.parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yf.parser_load(&parser, &doc)) {
		/* libyaml's problem texts describe the syntax, never the content. */
		err_set(e, CNI_ERR_INVALID_CONFIG, "kubernetes.kubeconfig %s: YAML error at line %zu: %s", path,
			parser.problem_mark.line + 1, parser.problem ? parser.problem : "unknown");
		goto out_parser;
	}
	kd.d = &doc;
	ret = ky_walk(&kd, yf.document_get_root_node(&doc), c);
	ky_wipe(&doc);
	yf.document_delete(&doc);
out_parser:
	yf.parser_delete(&parser);
	kube_wipe_free(buf, len);
	if (ret)
		kube_creds_free(c);
	return ret;
}

void kube_creds_free(struct kube_creds *c)
{
	kube_wipe_free(c->ca_data, c->ca_len);
	if (c->token)
		kube_wipe_free(c->token, strlen(c->token));
	kube_wipe_free(c->cert_data, c->cert_len);
	kube_wipe_free(c->key_data, c->key_len);
	memset(c, 0, sizeof(*c));
}

/* ---- HTTPS ---- */

static size_t kube_body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct kube_client *k = userdata;
	struct kube_buf *b = &k->body;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *nb;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > KUBE_BODY_MAX) {
			b->too_big = true;
			return 0;
		}
		nb = realloc(b->data, cap);
		if (!nb)
			return 0;
		b->data = nb;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int kube_curl_setup(struct kube_client *k, char *err, size_t errlen)
{
	const struct kube_creds *c = &k->cr;
	CURL *h;

	h = k->h = cf.easy_init();
	if (!h) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
#define KUBE_SETOPT(opt, val)                                                            \
	do {                                                                             \
		CURLcode rc_ = cf.easy_setopt(h, opt, val);                              \
		if (rc_ != CURLE_OK) {                                                   \
			snprintf(err, errlen, "libcurl refused %s: %s", #opt, cf.easy_strerror(rc_)); \
			return -1;                                                       \
		}                                                                        \
	} while (0)
	/* Signals would break the runtime's own handling (and are not
	 * thread-safe with the threaded resolver). */
	KUBE_SETOPT(CURLOPT_NOSIGNAL, 1L);
	KUBE_SETOPT(CURLOPT_PROTOCOLS_STR, "https");
	KUBE_SETOPT(CURLOPT_ERRORBUFFER, k->errbuf);
	KUBE_SETOPT(CURLOPT_WRITEFUNCTION, kube_body_write);
	KUBE_SETOPT(CURLOPT_WRITEDATA, k);
	KUBE_SETOPT(CURLOPT_USERAGENT, "flowsteer/" FLOWSTEER_VERSION);
	if (c->insecure) {
		KUBE_SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
		KUBE_SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
		log_msg(LOG_LVL_WARN, "kubernetes.kubeconfig %s: insecure-skip-tls-verify is set: the API server %s is not authenticated",
			k->kubeconfig, c->server);
	} else {
		KUBE_SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
		KUBE_SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	}
	/* With a cluster CA, only that CA: the system store must not vouch for
	 * an API server. */
	if (c->ca_data) {
		k->ca_blob = (struct curl_blob){ .data = c->ca_data, .len = c->ca_len, .flags = CURL_BLOB_NOCOPY };
		KUBE_SETOPT(CURLOPT_CAINFO_BLOB, &k->ca_blob);
		KUBE_SETOPT(CURLOPT_CAPATH, (char *)NULL);
	} else if (c->ca_file[0]) {
		KUBE_SETOPT(CURLOPT_CAINFO, c->ca_file);
		KUBE_SETOPT(CURLOPT_CAPATH, (char *)NULL);
	}
	if (c->cert_data) {
		k->cert_blob = (struct curl_blob){ .data = c->cert_data, .len = c->cert_len, .flags = CURL_BLOB_NOCOPY };
		KUBE_SETOPT(CURLOPT_SSLCERT_BLOB, &k->cert_blob);
		KUBE_SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cert_file[0]) {
		KUBE_SETOPT(CURLOPT_SSLCERT, c->cert_file);
	}
	if (c->key_data) {
		k->key_blob = (struct curl_blob){ .data = c->key_data, .len = c->key_len, .flags = CURL_BLOB_NOCOPY };
		KUBE_SETOPT(CURLOPT_SSLKEY_BLOB, &k->key_blob);
		KUBE_SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
	} else if (c->key_file[0]) {
		KUBE_SETOPT(CURLOPT_SSLKEY, c->key_file);
	}
	if (c->token) {
		KUBE_SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		KUBE_SETOPT(CURLOPT_XOAUTH2_BEARER, c->token);
	}
#undef KUBE_SETOPT
	k->hdr_get = cf.slist_append(NULL, "Accept: application/json");
	k->hdr_patch = cf.slist_append(NULL, "Accept: application/json");
	if (k->hdr_patch)
		k->hdr_patch = cf.slist_append(k->hdr_patch, "Content-Type: application/strategic-merge-patch+json");
	if (!k->hdr_get || !k->hdr_patch) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

struct kube_client *kube_open(const struct fs_kube_conf *kc, struct fs_warn *w)
{
	long long t0 = kube_now_ms();
	struct kube_client *k;
	struct fs_err e = { 0 };
	char err[512];

	k = calloc(1, sizeof(*k));
	if (!k) {
		warn_add(w, "kubernetes.kubeconfig %s: out of memory; pod annotations not read from the API server",
			 kc->kubeconfig);
		return NULL;
	}
	snprintf(k->kubeconfig, sizeof(k->kubeconfig), "%s", kc->kubeconfig);
	k->timeout_ms = kc->timeout_ms;
	k->left_ms = kc->timeout_ms;
	if (kube_config_load(kc->kubeconfig, &k->cr, &e)) {
		warn_add(w, "%s; pod annotations not read from the API server", e.msg);
		goto fail;
	}
	if (kube_curl_load(err, sizeof(err)) || kube_curl_setup(k, err, sizeof(err))) {
		warn_add(w, "kubernetes API %s: %s; pod annotations not read from the API server",
			 k->cr.server, err);
		goto fail;
	}
	kube_spend(k, t0);
	log_msg(LOG_LVL_DEBUG, "kubernetes API %s from %s, %lld ms of kubernetes.timeoutMs %ld left",
		k->cr.server, k->kubeconfig, k->left_ms, k->timeout_ms);
	return k;
fail:
	kube_close(k);
	return NULL;
}

void kube_close(struct kube_client *k)
{
	if (!k)
		return;
	if (k->h)
		cf.easy_cleanup(k->h);
	if (k->hdr_get)
		cf.slist_free_all(k->hdr_get);
	if (k->hdr_patch)
		cf.slist_free_all(k->hdr_patch);
	kube_creds_free(&k->cr);
	free(k->body.data);
	free(k);
}

/* The API server's Status.message, for a warning that says why. */
static void kube_status_message(const struct kube_client *k, char *out, size_t len)
{
	cJSON *j;
	const cJSON *m;
	size_t o = 0;

	out[0] = '\0';
	if (!k->body.data)
		return;
	j = cJSON_ParseWithLength(k->body.data, k->body.len);
	m = cJSON_GetObjectItemCaseSensitive(j, "message");
	if (cJSON_IsString(m) && m->valuestring) {
		for (const char *p = m->valuestring; *p && o + 1 < len; p++)
			out[o++] = ((unsigned char)*p < 0x20) ? ' ' : *p;
		out[o] = '\0';
	}
	cJSON_Delete(j);
}

/* One request within what is left of the invocation's budget. Returns the
 * HTTP status, or -1 with a warning when no response came. */
static long kube_request(struct kube_client *k, const char *method, const char *path, const char *body,
			 const char *what, struct fs_warn *w)
{
	long long t0 = kube_now_ms(), left = k->left_ms;
	char url[sizeof(k->cr.server) + 1024];
	long status = 0;
	CURLcode rc;
	int n;

	if (left <= 0) {
		warn_add(w, "%s: kubernetes API %s %s%s not sent: kubernetes.timeoutMs %ld already spent",
			 what, method, k->cr.server, path, k->timeout_ms);
		return -1;
	}
	n = snprintf(url, sizeof(url), "%s%s", k->cr.server, path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		warn_add(w, "%s: kubernetes API URL %s%s is too long", what, k->cr.server, path);
		return -1;
	}
	k->body.len = 0;
	k->body.too_big = false;
	if (k->body.data)
		k->body.data[0] = '\0';
	k->errbuf[0] = '\0';
	cf.easy_setopt(k->h, CURLOPT_URL, url);
	cf.easy_setopt(k->h, CURLOPT_TIMEOUT_MS, (long)left);
	cf.easy_setopt(k->h, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	if (body) {
		cf.easy_setopt(k->h, CURLOPT_POSTFIELDS, body);
		cf.easy_setopt(k->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		cf.easy_setopt(k->h, CURLOPT_CUSTOMREQUEST, method);
		cf.easy_setopt(k->h, CURLOPT_HTTPHEADER, k->hdr_patch);
	} else {
		cf.easy_setopt(k->h, CURLOPT_HTTPGET, 1L);
		cf.easy_setopt(k->h, CURLOPT_CUSTOMREQUEST, (char *)NULL);
		cf.easy_setopt(k->h, CURLOPT_HTTPHEADER, k->hdr_get);
	}
	rc = cf.easy_perform(k->h);
	kube_spend(k, t0);
	if (rc != CURLE_OK) {
		warn_add(w, "%s: kubernetes API %s %s: %s%s%s%s", what, method, url, cf.easy_strerror(rc),
			 k->errbuf[0] ? " (" : "", k->errbuf, k->errbuf[0] ? ")" : "");
		return -1;
	}
	cf.easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &status);
	log_msg(LOG_LVL_DEBUG, "kubernetes API %s %s: HTTP %ld, %zu bytes, %lld ms", method, url, status,
		k->body.len, kube_now_ms() - t0);
	if (status < 200 || status > 299) {
		char msg[256];

		kube_status_message(k, msg, sizeof(msg));
		warn_add(w, "%s: kubernetes API %s %s: HTTP %ld%s%s%s", what, method, url, status,
			 msg[0] ? " (" : "", msg, msg[0] ? ")" : "");
	}
	return status;
}

/* metadata.annotations of the object just read, detached (NULL if none). */
static int kube_annotations(struct kube_client *k, const char *url_path, const char *what, cJSON **out,
			    struct fs_warn *w)
{
	cJSON *j, *ann;
	const cJSON *meta;

	*out = NULL;
	if (k->body.too_big) {
		warn_add(w, "%s: kubernetes API %s%s: response larger than %u bytes", what, k->cr.server,
			 url_path, KUBE_BODY_MAX);
		return -1;
	}
	j = k->body.data ? cJSON_ParseWithLength(k->body.data, k->body.len) : NULL;
	if (!cJSON_IsObject(j)) {
		warn_add(w, "%s: kubernetes API %s%s: response is not a JSON object", what, k->cr.server, url_path);
		cJSON_Delete(j);
		return -1;
	}
	meta = cJSON_GetObjectItemCaseSensitive(j, "metadata");
	ann = cJSON_IsObject(meta) ? cJSON_DetachItemFromObjectCaseSensitive((cJSON *)meta, "annotations") : NULL;
	cJSON_Delete(j);
	if (ann && !cJSON_IsObject(ann)) {
		cJSON_Delete(ann);
		ann = NULL;
	}
	*out = ann;
	return 0;
}

static int kube_escape(struct kube_client *k, const char *s, char *out, size_t len)
{
	char *esc = cf.easy_escape(k->h, s, 0);
	int n;

	if (!esc)
		return -1;
	n = snprintf(out, len, "%s", esc);
	cf.free(esc);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int kube_ns_path(struct kube_client *k, const char *ns, char *out, size_t len, struct fs_warn *w)
{
	char e_ns[256];

	if (!kube_name_valid(ns, false)) {
		warn_add(w, "K8S_POD_NAMESPACE \"%.64s\" is not a DNS-1123 label; kubernetes API not asked", ns);
		return -1;
	}
	if (kube_escape(k, ns, e_ns, sizeof(e_ns)))
		return -1;
	snprintf(out, len, "/api/v1/namespaces/%s", e_ns);
	return 0;
}

static int kube_pod_path(struct kube_client *k, const char *ns, const char *pod, char *out, size_t len,
			 struct fs_warn *w)
{
	char nsp[512], e_pod[1024];

	if (kube_ns_path(k, ns, nsp, sizeof(nsp), w))
		return -1;
	if (!kube_name_valid(pod, true)) {
		warn_add(w, "K8S_POD_NAME \"%.253s\" is not a DNS-1123 subdomain; kubernetes API not asked", pod);
		return -1;
	}
	if (kube_escape(k, pod, e_pod, sizeof(e_pod)))
		return -1;
	snprintf(out, len, "%s/pods/%s", nsp, e_pod);
	return 0;
}

int kube_get_ns_annotations(struct kube_client *k, const char *ns, cJSON **ns_ann, struct fs_warn *w)
{
	char path[512], what[320];
	long st;

	*ns_ann = NULL;
	if (!k || kube_ns_path(k, ns, path, sizeof(path), w))
		return -1;
	snprintf(what, sizeof(what), "namespace %s (defaults not used)", ns);
	st = kube_request(k, "GET", path, NULL, what, w);
	if (st != 200)
		return -1;
	return kube_annotations(k, path, what, ns_ann, w);
}

int kube_get_annotations(struct kube_client *k, const char *ns, const char *pod,
			 cJSON **pod_ann, cJSON **ns_ann, struct fs_warn *w)
{
	char path[2048], what[600];
	long st;

	*pod_ann = NULL;
	*ns_ann = NULL;
	if (!k || kube_pod_path(k, ns, pod, path, sizeof(path), w))
		return -1;
	snprintf(what, sizeof(what), "pod %s/%s (annotations not read, configuration applies)", ns, pod);
	st = kube_request(k, "GET", path, NULL, what, w);
	if (st != 200 || kube_annotations(k, path, what, pod_ann, w))
		return -1;
	/* A namespace that cannot be read only loses its defaults; the pod's
	 * own annotations still count. */
	kube_get_ns_annotations(k, ns, ns_ann, w);
	return 0;
}

int kube_patch_status(struct kube_client *k, const char *ns, const char *pod,
		      const char *status_line, struct fs_warn *w)
{
	char path[2048], what[600];
	cJSON *body, *ann;
	char *text;
	long st;
	int ret = -1;

	if (!k || kube_pod_path(k, ns, pod, path, sizeof(path), w))
		return -1;
	body = cJSON_CreateObject();
	ann = cJSON_AddObjectToObject(cJSON_AddObjectToObject(body, "metadata"), "annotations");
	if (!ann || !cJSON_AddStringToObject(ann, ANNOT_STATUS, status_line) ||
	    !(text = cJSON_PrintUnformatted(body))) {
		warn_add(w, "pod %s/%s: building the %s patch: out of memory", ns, pod, ANNOT_STATUS);
		cJSON_Delete(body);
		return -1;
	}
	cJSON_Delete(body);
	snprintf(what, sizeof(what), "pod %s/%s (%s not written)", ns, pod, ANNOT_STATUS);
	st = kube_request(k, "PATCH", path, text, what, w);
	if (st >= 200 && st <= 299)
		ret = 0;
	cJSON_free(text);
	return ret;
}

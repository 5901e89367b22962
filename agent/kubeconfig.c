/* The kubeconfig of `--kubeconfig` (for running outside a cluster): the
 * current context's cluster and user, parsed with libyaml. Supports token,
 * tokenFile (re-read on change, as client-go does) and client certificates;
 * exec plugins and auth providers are refused with a message saying so. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "kube.h"
#include "util.h"

#define KUBE_CONFIG_MAX (1u << 20)

/* ---- base64 (the *-data keys) ---- */

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

/* Standard base64 (RFC 4648), whitespace ignored; *out NUL-terminated.
 * 0, -ENOMEM or -EINVAL. */
static int kube_base64_decode(const char *in, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(in), o = 0, nd = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;
	unsigned char *buf = malloc(n / 4 * 3 + 4);

	if (!buf)
		return -ENOMEM;
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
	return -EINVAL;
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
		yaml_node_t *k = yaml_document_get_node(kd->d, pr->key);

		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
		    !memcmp(k->data.scalar.value, key, klen))
			return yaml_document_get_node(kd->d, pr->value);
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
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubeconfig %s: %s%s is not a string",
			       kd->path, where, key);
	v = (const char *)n->data.scalar.value;
	if (strlen(v) != n->data.scalar.length)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubeconfig %s: %s%s holds a NUL byte",
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
		yaml_node_t *item = yaml_document_get_node(kd->d, *it);
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
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubeconfig %s: %s%s is too long",
			       kd->path, where, key);
	return 0;
}

static int ky_b64(const struct kube_doc *kd, const char *where, const char *key, const char *val,
		  unsigned char **out, size_t *outlen)
{
	if (kube_base64_decode(val, out, outlen) || *outlen == 0)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: %s%s is not valid base64", kd->path, where, key);
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
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubeconfig %s: %sserver is missing",
			       kd->path, where);
	/* The token goes in every request: plain http would hand it to anyone
	 * on the path. */
	if (strncasecmp(server, "https://", 8))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: %sserver \"%.256s\" is not an https:// URL", kd->path,
			       where, server);
	len = strlen(server);
	while (len > 8 && server[len - 1] == '/')
		len--;
	if (len >= sizeof(c->server))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubeconfig %s: %sserver is too long",
			       kd->path, where);
	memcpy(c->server, server, len);
	c->server[len] = '\0';
	if (insecure) {
		if (!strcasecmp(insecure, "true"))
			c->insecure = true;
		else if (strcasecmp(insecure, "false"))
			return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
				       "kubeconfig %s: %sinsecure-skip-tls-verify = \"%.40s\" is not true or false",
				       kd->path, where, insecure);
	}
	if (c->insecure && (ca_data || ca_file))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: %s sets both a certificate authority and insecure-skip-tls-verify",
			       kd->path, where);
	if (ca_data)
		return ky_b64(kd, where, "certificate-authority-data", ca_data, &c->ca_data, &c->ca_len);
	if (ca_file)
		return ky_path(kd, where, "certificate-authority", ca_file, c->ca_file, sizeof(c->ca_file));
	return 0;
}

/* Only the path: the token itself is read per request (kube.c), so a
 * rotated token is picked up. */
static int ky_token_file(const struct kube_doc *kd, const char *where, const char *val, struct kube_creds *c)
{
	return ky_path(kd, where, "tokenFile", val, c->token_file, sizeof(c->token_file));
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
			return err_set(kd->e, CNI_ERR_IO, "kubeconfig %s: out of memory", kd->path);
	} else if (token_file && ky_token_file(kd, where, token_file, c)) {
		return -1;
	}
	if (c->token && !kube_token_valid(c->token))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: %stoken holds whitespace or control characters", kd->path, where);
	if ((cert && ky_b64(kd, where, "client-certificate-data", cert, &c->cert_data, &c->cert_len)) ||
	    (!cert && cert_file &&
	     ky_path(kd, where, "client-certificate", cert_file, c->cert_file, sizeof(c->cert_file))) ||
	    (key && ky_b64(kd, where, "client-key-data", key, &c->key_data, &c->key_len)) ||
	    (!key && key_file && ky_path(kd, where, "client-key", key_file, c->key_file, sizeof(c->key_file))))
		return -1;
	if (!!(c->cert_data || c->cert_file[0]) != !!(c->key_data || c->key_file[0]))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: %s has a client certificate without a key or a key without a certificate",
			       kd->path, where);
	if (!c->token && !c->token_file[0] && !c->cert_data && !c->cert_file[0] &&
	    (ky_get(kd, u, "exec") || ky_get(kd, u, "auth-provider") || ky_get(kd, u, "username")))
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: %s uses exec, auth-provider or basic credentials; flowsteer supports token, tokenFile and client certificates",
			       kd->path, where);
	return 0;
}

static int ky_walk(const struct kube_doc *kd, yaml_node_t *root, struct kube_creds *c)
{
	yaml_node_t *contexts = ky_get(kd, root, "contexts"), *ctx, *cl, *u;
	const char *cur, *cluster, *user;
	char cur_buf[256];

	if (!root || root->type != YAML_MAPPING_NODE)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubeconfig %s: not a YAML mapping",
			       kd->path);
	if (ky_str(kd, root, "", "current-context", &cur))
		return -1;
	/* kubectl insists on current-context; a file with a single context
	 * leaves no doubt which one is meant. */
	if (!cur && contexts && contexts->type == YAML_SEQUENCE_NODE &&
	    contexts->data.sequence.items.top - contexts->data.sequence.items.start == 1) {
		yaml_node_t *only = yaml_document_get_node(kd->d, contexts->data.sequence.items.start[0]);

		if (ky_str(kd, only, "contexts[0].", "name", &cur))
			return -1;
	}
	if (!cur)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG, "kubeconfig %s: current-context is not set",
			       kd->path);
	snprintf(cur_buf, sizeof(cur_buf), "%s", cur);
	ctx = ky_named(kd, contexts, cur_buf, "context");
	if (!ctx)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: current-context \"%.200s\" is not in contexts", kd->path, cur_buf);
	if (ky_str(kd, ctx, "context.", "cluster", &cluster) || ky_str(kd, ctx, "context.", "user", &user))
		return -1;
	if (!cluster)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: context \"%.200s\" names no cluster", kd->path, cur_buf);
	cl = ky_named(kd, ky_get(kd, root, "clusters"), cluster, "cluster");
	if (!cl)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: cluster \"%.200s\" of context \"%.200s\" is not in clusters",
			       kd->path, cluster, cur_buf);
	if (ky_cluster(kd, cl, cluster, c))
		return -1;
	if (!user)
		return 0;
	u = ky_named(kd, ky_get(kd, root, "users"), user, "user");
	if (!u)
		return err_set(kd->e, CNI_ERR_INVALID_CONFIG,
			       "kubeconfig %s: user \"%.200s\" of context \"%.200s\" is not in users",
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
	char *buf = NULL;
	size_t len = 0;
	int r, ret = -1;

	memset(c, 0, sizeof(*c));
	r = file_read_all(path, KUBE_CONFIG_MAX, &buf, &len);
	if (r)
		return err_set(e, CNI_ERR_INVALID_CONFIG, "kubeconfig %s: %s", path, strerror(-r));
	if (!yaml_parser_initialize(&parser)) {
		kube_wipe_free(buf, len);
		return err_set(e, CNI_ERR_IO, "kubeconfig %s: libyaml parser: out of memory", path);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		/* libyaml's problem texts describe the syntax, never the content. */
		err_set(e, CNI_ERR_INVALID_CONFIG, "kubeconfig %s: YAML error at line %zu: %s", path,
			parser.problem_mark.line + 1, parser.problem ? parser.problem : "unknown");
		goto out_parser;
	}
	kd.d = &doc;
	ret = ky_walk(&kd, yaml_document_get_root_node(&doc), c);
	ky_wipe(&doc);
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	kube_wipe_free(buf, len);
	if (ret)
		kube_creds_free(c);
	return ret;
}

#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annot.h"
#include "bounds.h"
#include "kobj.h"
#include "util.h"

void kobj_free(struct kobj *o)
{
	free(o->key);
	free(o->uid);
	free(o->rv);
	cJSON_Delete(o->ann);
	memset(o, 0, sizeof(*o));
}

static const char *kobj_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The keys the plugin reads (annot.c), in sorted order. The file holds
 * nothing else: no number of other flowsteer.io keys, of any size, can
 * crowd these out or push the file past what the plugin reads. */
static const char *const kobj_keys[] = { ANNOT_CPUS, ANNOT_MODE, ANNOT_SCOPE };

/* Length of the valid UTF-8 sequence at s (1-4), or 0 (RFC 3629: no
 * overlongs, no surrogates, nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 :
		   s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))) ||
	    (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))))
		return 0;
	return n;
}

/* v as the plugin must see it: invalid UTF-8 as U+FFFD (the file is JSON,
 * and JSON is UTF-8), and past ANNOT_VALUE_MAX bytes cut right after the
 * first character that crosses it: the plugin rejects any value longer than
 * that, so the cut one gets the same answer as the whole. *hit: which
 * bound. Returns a malloc()ed string or NULL. */
static char *kobj_value(const char *v, unsigned *hit)
{
	size_t len = strlen(v), o = 0;
	char *out = malloc((len < ANNOT_VALUE_MAX ? len : ANNOT_VALUE_MAX) * 3 + 8);

	for (size_t i = 0; out && v[i] && o <= ANNOT_VALUE_MAX;) {
		size_t n = utf8_seq((const unsigned char *)v + i);

		if (n) {
			memcpy(out + o, v + i, n);
			o += n, i += n;
			continue;
		}
		memcpy(out + o, "\xef\xbf\xbd", 3);
		o += 3, i++;
		*hit |= 1u << BOUND_UNICODE;
	}
	if (out && o > ANNOT_VALUE_MAX)
		*hit |= 1u << BOUND_VALUE;
	if (out)
		out[o] = '\0';
	if (out && strstr(out, "\xef\xbf\xbd"))
		*hit |= 1u << BOUND_UNICODE;
	return out;
}

static cJSON *kobj_filter(const cJSON *ann, unsigned *hit)
{
	cJSON *out = cJSON_CreateObject();

	for (size_t i = 0; out && i < ARRAY_SIZE(kobj_keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, kobj_keys[i]);
		char *val;

		if (!cJSON_IsString(v) || !v->valuestring)
			continue;
		val = kobj_value(v->valuestring, hit);
		if (!val || !cJSON_AddStringToObject(out, kobj_keys[i], val)) {
			cJSON_Delete(out);
			out = NULL;
		}
		free(val);
	}
	return out;
}

/* What the file's reader accepts of names and uids (annotcache.c), and no
 * more than Kubernetes allows (DNS subdomain names, 36-character uids). */
static bool kobj_name_ok(const char *s, size_t max)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '/')
			return false;
	return len <= max;
}

/* A name or uid no Kubernetes object has: the object cannot be the one a
 * pod start asks for, and its entry could make the plugin's reader refuse
 * the whole file. */
static void kobj_check_names(struct kobj *o, const char *ns, const char *name, const char *uid)
{
	if (kobj_name_ok(name, 253) && (!ns || kobj_name_ok(ns, 63)) && (!uid || kobj_name_ok(uid, 63)))
		return;
	o->bounds |= 1u << BOUND_NAME;
	cJSON_Delete(o->ann);
	o->ann = cJSON_CreateObject();
}

void kobj_report(const struct kobj *o)
{
	char why[160];

	snprintf(why, sizeof(why), "an annotation value longer than %d bytes is written cut (the plugin ignores "
		 "it, as it would the whole)", ANNOT_VALUE_MAX);
	if (o->bounds & (1u << BOUND_VALUE))
		bounds_hit(BOUND_VALUE, o->key, why);
	if (o->bounds & (1u << BOUND_UNICODE))
		bounds_hit(BOUND_UNICODE, o->key, "an annotation value holds a NUL, a lone surrogate or invalid "
			   "UTF-8: written as U+FFFD (the plugin ignores the value)");
	if (o->bounds & (1u << BOUND_NAME))
		bounds_hit(BOUND_NAME, o->key, "the name, namespace or uid is not one Kubernetes allows: left out");
}

int kobj_from_json(const cJSON *obj, bool namespaced, struct kobj *out, struct fs_err *e)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *name = kobj_str(meta, "name"), *ns = kobj_str(meta, "namespace");
	const char *uid = kobj_str(meta, "uid"), *rv = kobj_str(meta, "resourceVersion");
	size_t klen;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(meta) || !name || !*name)
		return err_set(e, CNI_ERR_DECODE, "object without metadata.name");
	if (namespaced && (!ns || !*ns))
		return err_set(e, CNI_ERR_DECODE, "pod %.253s without metadata.namespace", name);
	klen = strlen(name) + (namespaced ? strlen(ns) + 2 : 1);
	out->key = malloc(klen);
	out->uid = strdup(uid ? uid : "");
	out->rv = strdup(rv ? rv : "");
	out->ann = kobj_filter(cJSON_GetObjectItemCaseSensitive(meta, "annotations"), &out->bounds);
	if (!out->key || !out->uid || !out->rv || !out->ann) {
		kobj_free(out);
		return err_set(e, CNI_ERR_IO, "out of memory");
	}
	if (namespaced)
		snprintf(out->key, klen, "%s/%s", ns, name);
	else
		snprintf(out->key, klen, "%s", name);
	kobj_check_names(out, namespaced ? ns : NULL, name, namespaced ? uid : NULL);
	return 0;
}

/* The escape at s[i] ("\\uXXXX", i after an even run of backslashes) as
 * a code unit, or -1. */
static long kjson_unit(const char *s, size_t len, size_t i)
{
	char hex[5];
	char *end;
	long u;

	if (i + 6 > len || s[i] != '\\' || s[i + 1] != 'u')
		return -1;
	memcpy(hex, s + i + 2, 4);
	hex[4] = '\0';
	u = strtol(hex, &end, 16);
	return *end ? -1 : u;
}

size_t kjson_defuse(char *s, size_t len, bool apply)
{
	size_t n = 0;

	for (size_t i = 0; i + 1 < len; i++) {
		long u, lo;

		if (s[i] != '\\')
			continue;
		u = kjson_unit(s, len, i);
		lo = kjson_unit(s, len, i + 6);
		if (u >= 0xd800 && u <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) {
			i += 11;        /* a valid pair */
			continue;
		}
		if (u == 0 || (u >= 0xd800 && u <= 0xdfff)) {
			if (apply)
				memcpy(s + i, "\\ufffd", 6);
			n++;
			i += 5;
			continue;
		}
		i++;    /* any other escape: its second character is not a backslash that starts one */
	}
	return n;
}

static const char *const kw_names[] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" };

static void kwatch_status(const cJSON *st, struct kwatch_event *ev)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(st, "code");
	const char *reason = kobj_str(st, "reason"), *msg = kobj_str(st, "message");

	ev->code = cJSON_IsNumber(code) ? (long)code->valuedouble : 0;
	snprintf(ev->reason, sizeof(ev->reason), "%s", reason ? reason : "");
	snprintf(ev->message, sizeof(ev->message), "%s", msg ? msg : "");
	for (char *p = ev->message; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* A copy of line with kjson_defuse() applied, only when it has something
 * to defuse (most lines do not). */
static cJSON *kwatch_parse(const char *line, size_t len)
{
	char *copy;
	cJSON *j;

	if (!kjson_defuse((char *)line, len, false))
		return cJSON_ParseWithLength(line, len);
	copy = malloc(len);
	if (!copy)
		return NULL;
	memcpy(copy, line, len);
	kjson_defuse(copy, len, true);
	j = cJSON_ParseWithLength(copy, len);
	free(copy);
	return j;
}

int kwatch_event_parse(const char *line, size_t len, bool namespaced, struct kwatch_event *ev,
		       struct fs_err *e)
{
	cJSON *j = kwatch_parse(line, len);
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "object");
	const char *type = kobj_str(j, "type");
	int ret = -1, t;

	memset(ev, 0, sizeof(*ev));
	if (!cJSON_IsObject(j) || !type || !cJSON_IsObject(obj)) {
		err_set(e, CNI_ERR_DECODE, "watch event is not {\"type\":..., \"object\":{...}}: %.80s", line);
		goto out;
	}
	for (t = 0; t < 5 && strcmp(type, kw_names[t]); t++)
		;
	if (t == 5) {
		err_set(e, CNI_ERR_DECODE, "watch event type \"%.40s\" is unknown", type);
		goto out;
	}
	ev->type = (enum kwatch_type)t;
	if (ev->type == KW_ERROR) {
		kwatch_status(obj, ev);
		ret = 0;
	} else if (ev->type == KW_BOOKMARK) {
		const char *rv = kobj_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");

		ev->obj.rv = strdup(rv ? rv : "");
		ret = ev->obj.rv ? 0 : err_set(e, CNI_ERR_IO, "out of memory");
	} else {
		ret = kobj_from_json(obj, namespaced, &ev->obj, e);
	}
out:
	cJSON_Delete(j);
	return ret;
}

void kwatch_event_free(struct kwatch_event *ev)
{
	kobj_free(&ev->obj);
}

/* tsearch nodes point at heap kobjs whose first member is the key. */
static int kstore_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kobj *)a)->key, ((const struct kobj *)b)->key);
}

int kstore_put(struct kstore *s, struct kobj *o)
{
	struct kobj *n = malloc(sizeof(*n)), **slot;

	if (!n)
		return -ENOMEM;
	*n = *o;
	memset(o, 0, sizeof(*o));
	slot = tsearch(n, &s->root, kstore_cmp);
	if (!slot) {
		kobj_free(n);
		free(n);
		return -ENOMEM;
	}
	if (*slot != n) {
		/* Same key: swap the content in place, free the old. */
		struct kobj old = **slot;

		**slot = *n;
		free(n);
		kobj_free(&old);
	} else {
		s->n++;
	}
	return 0;
}

bool kstore_del(struct kstore *s, const char *key)
{
	struct kobj probe = { .key = (char *)key }, **slot, *victim;

	slot = tfind(&probe, &s->root, kstore_cmp);
	if (!slot)
		return false;
	victim = *slot;
	tdelete(&probe, &s->root, kstore_cmp);
	kobj_free(victim);
	free(victim);
	s->n--;
	return true;
}

const struct kobj *kstore_get(const struct kstore *s, const char *key)
{
	struct kobj probe = { .key = (char *)key };
	struct kobj *const *slot = tfind(&probe, &s->root, kstore_cmp);

	return slot ? *slot : NULL;
}

static void kstore_free_node(void *p)
{
	kobj_free(p);
	free(p);
}

void kstore_clear(struct kstore *s)
{
	tdestroy(s->root, kstore_free_node);
	s->root = NULL;
	s->n = 0;
}

struct kstore_visit {
	void (*fn)(const struct kobj *o, void *arg);
	void *arg;
};

static void kstore_visit(const void *node, VISIT which, void *closure)
{
	struct kstore_visit *v = closure;

	if (which == postorder || which == leaf)
		v->fn(*(struct kobj *const *)node, v->arg);
}

void kstore_walk(const struct kstore *s, void (*fn)(const struct kobj *o, void *arg), void *arg)
{
	struct kstore_visit v = { fn, arg };

	twalk_r(s->root, kstore_visit, &v);
}

bool kobj_same(const struct kobj *a, const struct kobj *b)
{
	return !strcmp(a->key, b->key) && !strcmp(a->uid, b->uid) && cJSON_Compare(a->ann, b->ann, 1);
}

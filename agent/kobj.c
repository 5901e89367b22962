#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annot.h"
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

static int kobj_key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* flowsteer.io/... string annotations, minus the agent's own status, sorted
 * by key: equal annotations then print to equal text. */
static cJSON *kobj_filter(const cJSON *ann)
{
	/* flowsteer defines a handful of keys; more than this is abuse. */
	const char *keys[64];
	size_t n = 0;
	cJSON *out = cJSON_CreateObject(), *it;

	if (!out)
		return NULL;
	cJSON_ArrayForEach(it, ann) {
		if (!cJSON_IsString(it) || !it->string || strncmp(it->string, KOBJ_PREFIX, strlen(KOBJ_PREFIX)) ||
		    !strcmp(it->string, ANNOT_STATUS) || n == ARRAY_SIZE(keys))
			continue;
		keys[n++] = it->string;
	}
	qsort(keys, n, sizeof(keys[0]), kobj_key_cmp);
	for (size_t i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, keys[i]);

		if (!cJSON_AddStringToObject(out, keys[i], v->valuestring)) {
			cJSON_Delete(out);
			return NULL;
		}
	}
	return out;
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
	out->ann = kobj_filter(cJSON_GetObjectItemCaseSensitive(meta, "annotations"));
	if (!out->key || !out->uid || !out->rv || !out->ann) {
		kobj_free(out);
		return err_set(e, CNI_ERR_IO, "out of memory");
	}
	if (namespaced)
		snprintf(out->key, klen, "%s/%s", ns, name);
	else
		snprintf(out->key, klen, "%s", name);
	return 0;
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

int kwatch_event_parse(const char *line, size_t len, bool namespaced, struct kwatch_event *ev,
		       struct fs_err *e)
{
	cJSON *j = cJSON_ParseWithLength(line, len);
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

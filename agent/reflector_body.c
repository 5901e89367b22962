/* The transfers' bodies: libcurl's write callbacks only buffer (bounded);
 * what they buffered is read here on the loop, after the transfer's step
 * (a list page at its end, watch lines from the loop's data hook). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alog.h"
#include "reflector.h"

/* A list page or an error body bigger than this is not one; nor is a
 * watch's buffer of lines not yet handled. */
#define RF_BODY_MAX (64u << 20)
/* One watch event (a pod object) bigger than this is not one. */
#define RF_LINE_MAX (8u << 20)

static int rf_buf_add(struct reflector_buf *b, const char *p, size_t n, size_t max)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *nd;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > max)
			return -1;
		nd = realloc(b->data, cap);
		if (!nd)
			return -1;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

size_t rf_list_write(char *p, size_t size, size_t n, void *arg)
{
	struct reflector *r = arg;

	if (rf_buf_add(&r->buf, p, size * n, RF_BODY_MAX)) {
		r->over = true;
		return 0;
	}
	return size * n;
}

/* "what: HTTP 403 (message)" for a log line. */
void rf_http_why(const struct reflector *r, const char *what, long http, char *out, size_t len)
{
	char msg[256];

	kube_status_message(r->buf.data, r->buf.len, msg, sizeof(msg));
	snprintf(out, len, "%s: HTTP %ld%s%s%s%s", what, http, msg[0] ? " (" : "", msg, msg[0] ? ")" : "",
		 http == 401 ? ": the token is not accepted" :
		 http == 403 ? ": the ServiceAccount lacks RBAC (conf/rbac.yaml)" : "");
}

/* Items of one page into r->pending (only those with flowsteer.io keys). */
static int rf_list_items(struct reflector *r, cJSON *page, struct fs_err *e)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items"), *it;

	if (!cJSON_IsArray(items) && !cJSON_IsNull(items))
		return err_set(e, CNI_ERR_DECODE, "list response has no items array");
	cJSON_ArrayForEach(it, items) {
		struct kobj o;

		if (kobj_from_json(it, r->namespaced, &o, e))
			return -1;
		kobj_report(&o);
		if (cJSON_GetArraySize(o.ann) && kstore_put(&r->pending, &o)) {
			kobj_free(&o);
			return err_set(e, CNI_ERR_IO, "out of memory");
		}
		kobj_free(&o);
	}
	return 0;
}

/* A page that answered 200: LISTED (the store replaced), PAGE (r->cont
 * set) or FAILED (e set). */
enum rf_outcome rf_list_page(struct reflector *r, struct fs_err *e)
{
	const cJSON *meta, *cont, *rv;
	enum rf_outcome o = RF_O_PAGE;
	cJSON *page;

	kjson_defuse(r->buf.data, r->buf.len, true);
	page = cJSON_ParseWithLength(r->buf.data, r->buf.len);
	meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
	cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
	rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	if (!cJSON_IsObject(page) || !cJSON_IsString(rv) || rf_list_items(r, page, e)) {
		cJSON_Delete(page);
		kstore_clear(&r->pending);
		err_set(e, CNI_ERR_DECODE, "response is not a list with metadata.resourceVersion");
		return RF_O_FAILED;
	}
	free(r->cont);
	r->cont = cJSON_IsString(cont) && cont->valuestring[0] ? strdup(cont->valuestring) : NULL;
	if (!r->cont) {
		kstore_clear(&r->store);
		r->store = r->pending;
		r->pending = (struct kstore){ 0 };
		snprintf(r->rv, sizeof(r->rv), "%s", rv->valuestring);
		o = RF_O_LISTED;
	}
	cJSON_Delete(page);
	return o;
}

/* An object's event into the store: 0 with *changed set, or -ENOMEM. */
static int rf_apply_obj(struct reflector *r, struct kwatch_event *ev, bool *changed)
{
	const struct kobj *old = kstore_get(&r->store, ev->obj.key);
	int ret;

	*changed = false;
	if (ev->type == KW_DELETED || !cJSON_GetArraySize(ev->obj.ann)) {
		*changed = kstore_del(&r->store, ev->obj.key);
		return 0;
	}
	if (old && kobj_same(old, &ev->obj))
		return 0;
	ret = kstore_put(&r->store, &ev->obj);
	*changed = ret == 0;
	return ret;
}

/* Applies one event: RF_NOUTCOMES while the watch goes on; RF_O_GONE or
 * RF_O_FAILED (an ERROR event; no memory for the object: the store is
 * relisted rather than left without it) when it must end. */
static enum rf_outcome rf_apply(struct reflector *r, struct kwatch_event *ev)
{
	bool changed = false;

	if (ev->type == KW_ERROR) {
		if (ev->code == 410) {
			r->gone = true;
			return RF_O_GONE;
		}
		r->failed = true;
		alog(ALOG_WARN, "%s: watch ERROR event: code %ld %s: %s", r->name, ev->code, ev->reason, ev->message);
		return RF_O_FAILED;
	}
	if (ev->obj.rv && ev->obj.rv[0])
		snprintf(r->rv, sizeof(r->rv), "%s", ev->obj.rv);
	atomic_fetch_add(&r->m_events, 1);
	r->watch_events++;
	if (ev->type != KW_BOOKMARK && rf_apply_obj(r, ev, &changed)) {
		r->failed = true;
		alog(ALOG_ERROR, "%s: watch event for %s: out of memory; listing again", r->name, ev->obj.key);
		return RF_O_FAILED;
	}
	if (changed && r->changed)
		r->changed(r, r->arg);
	return RF_NOUTCOMES;
}

/* Whole lines out of r->buf; the rest stays for the next chunk. */
enum rf_outcome rf_watch_lines(struct reflector *r)
{
	char *start = r->buf.data, *nl;
	enum rf_outcome o = RF_NOUTCOMES;

	while (o == RF_NOUTCOMES && (nl = memchr(start, '\n', r->buf.len - (size_t)(start - r->buf.data)))) {
		struct kwatch_event ev;
		struct fs_err e = { 0 };
		size_t len = (size_t)(nl - start);

		if (len && kwatch_event_parse(start, len, r->namespaced, &ev, &e) == 0) {
			if (ev.type == KW_ADDED || ev.type == KW_MODIFIED)
				kobj_report(&ev.obj);
			o = rf_apply(r, &ev);
			kwatch_event_free(&ev);
		} else if (len) {
			alog(ALOG_WARN, "%s: watch: %s", r->name, e.msg);
			r->failed = true;
			o = RF_O_FAILED;
		}
		start = nl + 1;
	}
	r->buf.len -= (size_t)(start - r->buf.data);
	memmove(r->buf.data, start, r->buf.len);
	r->buf.data[r->buf.len] = '\0';
	r->buf.line = 0;
	return o;
}

/* libcurl's callback: buffers only (the data hook reads the lines). The
 * bound is on one line, and on what waits for the hook. */
size_t rf_watch_write(char *p, size_t size, size_t n, void *arg)
{
	struct reflector *r = arg;
	const char *nl = memrchr(p, '\n', size * n);
	size_t partial = nl ? (size_t)(p + size * n - nl - 1) : r->buf.len - r->buf.line + size * n;

	if (partial > RF_LINE_MAX || rf_buf_add(&r->buf, p, size * n, RF_BODY_MAX)) {
		r->over = true;
		return 0;
	}
	if (nl)
		r->buf.line = r->buf.len - partial;
	loop_xfer_wrote(&r->xfer);
	return size * n;
}


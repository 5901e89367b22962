#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alog.h"
#include "bounds.h"
#include "reflector.h"

/* A list page or an error body bigger than this is not one. */
#define RF_BODY_MAX (64u << 20)
/* One watch event (a pod object) bigger than this is not one. */
#define RF_LINE_MAX (8u << 20)
/* A watch that ended sooner than this without an event is "very short"
 * (client-go's term): back off instead of reconnecting at once. */
#define RF_SHORT_WATCH_MS 1000

static void rf_begin_list(struct loop *l, struct reflector *r);
static void rf_begin_watch(struct loop *l, struct reflector *r);

static void rf_on_timer(struct loop *l, struct loop_timer *t)
{
	struct reflector *r = t->arg;

	if (r->state != RF_WAIT)
		return;
	if (r->next == RF_NEXT_WATCH)
		rf_begin_watch(l, r);
	else
		rf_begin_list(l, r);
}

static void rf_schedule(struct loop *l, struct reflector *r, enum reflector_next next, long long delay)
{
	r->state = RF_WAIT;
	r->next = next;
	r->established = false;
	loop_timer_after(l, &r->timer, delay);
}

static long long rf_backoff(struct reflector *r)
{
	return backoff_next(&r->bo, mono_ms(), drand48());
}

/* A failure: count it, back off, then `next`. */
static void rf_retry(struct loop *l, struct reflector *r, enum reflector_next next, const char *what,
		     const char *why)
{
	long long d = rf_backoff(r);

	atomic_fetch_add(&r->m_errors, 1);
	alog(ALOG_WARN, "%s: %s: %s; %s again in %lld ms", r->name, what, why,
	     next == RF_NEXT_LIST ? "listing" : "watching", d);
	rf_schedule(l, r, next, d);
}

int reflector_init(struct reflector *r, const char *name, const char *path, const char *field_selector,
		   bool namespaced, struct kube_client *kube, const struct reflector_cfg *cfg)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->namespaced = namespaced;
	r->kube = kube;
	r->cfg = cfg;
	snprintf(r->path, sizeof(r->path), "%s", path);
	if (field_selector && kube_escape(field_selector, r->selector, sizeof(r->selector)))
		return -1;
	backoff_init(&r->bo, cfg->backoff_base_ms, cfg->backoff_max_ms, cfg->backoff_reset_ms);
	loop_timer_init(&r->timer, rf_on_timer, r);
	r->xfer.arg = r;
	r->xfer.h = curl_easy_init();
	return r->xfer.h ? 0 : -1;
}

void reflector_start(struct loop *l, struct reflector *r)
{
	rf_schedule(l, r, RF_NEXT_LIST, 0);
}

void reflector_stop(struct loop *l, struct reflector *r)
{
	if (r->state != RF_WAIT)
		loop_xfer_abort(l, &r->xfer);
	loop_timer_forget(l, &r->timer);
	if (r->xfer.h)
		curl_easy_cleanup(r->xfer.h);
	r->xfer.h = NULL;
	kstore_clear(&r->store);
	kstore_clear(&r->pending);
	free(r->cont);
	free(r->buf.data);
	r->cont = NULL;
	r->buf = (struct reflector_buf){ 0 };
}

bool reflector_healthy(struct reflector *r)
{
	/* The write callback only sees bodies; a quiet watch that answered
	 * 200 is established too. */
	if (r->state == RF_WATCH && !r->established) {
		long code = 0;

		curl_easy_getinfo(r->xfer.h, CURLINFO_RESPONSE_CODE, &code);
		r->established = code == 200;
	}
	return r->synced && r->state == RF_WATCH && r->established;
}

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

/* Starts r->xfer on server+url; false (and a retry scheduled) on failure. */
static bool rf_send(struct loop *l, struct reflector *r, const char *url, curl_write_callback wr,
		    void (*done)(struct loop *, struct loop_xfer *, CURLcode), long watch_s)
{
	struct fs_err e = { 0 };

	r->buf.len = 0;
	r->http = 0;
	r->relist = r->failed = false;
	r->watch_events = 0;
	r->started = mono_ms();
	if (kube_easy_prepare(r->kube, r->xfer.h, url, &e)) {
		rf_retry(l, r, r->next, "preparing the request", e.msg);
		return false;
	}
	curl_easy_setopt(r->xfer.h, CURLOPT_WRITEFUNCTION, wr);
	curl_easy_setopt(r->xfer.h, CURLOPT_WRITEDATA, r);
	/* The server ends the watch at watch_s (it sends no bookmark on a quiet
	 * resource, so silence is no sign of trouble); the margin catches
	 * one that never does. A dead connection is keepalive's. */
	if (watch_s > 0)
		curl_easy_setopt(r->xfer.h, CURLOPT_TIMEOUT_MS, (watch_s + r->cfg->margin_s) * 1000L);
	r->xfer.done = done;
	if (loop_xfer_start(l, &r->xfer)) {
		rf_retry(l, r, r->next, "starting the request", "libcurl refused it");
		return false;
	}
	return true;
}

/* ---- list ---- */

static size_t rf_list_write(char *p, size_t size, size_t n, void *arg)
{
	struct reflector *r = arg;

	if (rf_buf_add(&r->buf, p, size * n, RF_BODY_MAX)) {
		r->page_over = true;
		return 0;
	}
	return size * n;
}

/* A page over RF_BODY_MAX (huge objects): the same list again in pages of
 * half as many objects, down to one; true when that is the plan. */
static bool rf_page_smaller(struct loop *l, struct reflector *r)
{
	long cur = r->page ? r->page : r->cfg->page_size;

	if (!r->page_over || cur <= 1)
		return false;
	r->page = cur / 2;
	bounds_hit(BOUND_PAGE, r->name, "a list page is larger than " "64 MiB: listing again in pages of fewer objects");
	kstore_clear(&r->pending);
	free(r->cont);
	r->cont = NULL;
	rf_begin_list(l, r);
	return true;
}

/* "what: HTTP 403 (message)" for a log line. */
static void rf_http_why(const struct reflector *r, char *out, size_t len)
{
	char msg[256];

	kube_status_message(r->buf.data, r->buf.len, msg, sizeof(msg));
	snprintf(out, len, "HTTP %ld%s%s%s%s", r->http, msg[0] ? " (" : "", msg, msg[0] ? ")" : "",
		 r->http == 401 ? ": the token is not accepted" :
		 r->http == 403 ? ": the ServiceAccount lacks RBAC (conf/rbac.yaml)" : "");
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

static void rf_list_complete(struct loop *l, struct reflector *r, const char *rv)
{
	kstore_clear(&r->store);
	r->store = r->pending;
	r->pending = (struct kstore){ 0 };
	snprintf(r->rv, sizeof(r->rv), "%s", rv);
	alog(ALOG_INFO, "%s: listed at resourceVersion %s, %zu with flowsteer.io annotations",
	     r->name, r->rv, r->store.n);
	r->synced = true;
	if (r->changed)
		r->changed(r, r->arg);
	rf_begin_watch(l, r);
}

static void rf_list_done(struct loop *l, struct loop_xfer *x, CURLcode rc)
{
	struct reflector *r = x->arg;
	struct fs_err e = { 0 };
	const cJSON *meta, *cont, *rv;
	char why[512];
	cJSON *page;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &r->http);
	if (rc != CURLE_OK && rf_page_smaller(l, r))
		return;
	if (rc != CURLE_OK) {
		rf_retry(l, r, RF_NEXT_LIST, "list", curl_easy_strerror(rc));
		return;
	}
	if (r->http == 410 && (r->list_rv[0] || r->cont)) {
		/* The resourceVersion (or continue token) is gone: a fresh,
		 * consistent list, at once. */
		alog(ALOG_INFO, "%s: list at resourceVersion \"%s\": 410 Gone; listing the current state", r->name,
		     r->list_rv);
		r->list_rv[0] = '\0';
		free(r->cont);
		r->cont = NULL;
		kstore_clear(&r->pending);
		rf_begin_list(l, r);
		return;
	}
	if (r->http != 200) {
		rf_http_why(r, why, sizeof(why));
		rf_retry(l, r, RF_NEXT_LIST, "list", why);
		return;
	}
	kjson_defuse(r->buf.data, r->buf.len, true);
	page = cJSON_ParseWithLength(r->buf.data, r->buf.len);
	meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
	cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
	rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	if (!cJSON_IsObject(page) || !cJSON_IsString(rv) || rf_list_items(r, page, &e)) {
		cJSON_Delete(page);
		kstore_clear(&r->pending);
		rf_retry(l, r, RF_NEXT_LIST, "list", e.code ? e.msg : "response is not a list with metadata.resourceVersion");
		return;
	}
	free(r->cont);
	r->cont = cJSON_IsString(cont) && cont->valuestring[0] ? strdup(cont->valuestring) : NULL;
	if (r->cont)
		rf_begin_list(l, r);
	else
		rf_list_complete(l, r, rv->valuestring);
	cJSON_Delete(page);
}

static void rf_begin_list(struct loop *l, struct reflector *r)
{
	char url[4096], esc[2048];
	int n;

	if (!r->cont)
		kstore_clear(&r->pending);
	atomic_fetch_add(&r->m_lists, 1);
	r->page_over = false;
	n = snprintf(url, sizeof(url), "%s?limit=%ld", r->path, r->page ? r->page : r->cfg->page_size);
	/* The API server refuses resourceVersion together with continue. */
	if (r->cont && !kube_escape(r->cont, esc, sizeof(esc)))
		n += snprintf(url + n, sizeof(url) - (size_t)n, "&continue=%s", esc);
	else if (r->list_rv[0])
		n += snprintf(url + n, sizeof(url) - (size_t)n, "&resourceVersion=%s", r->list_rv);
	if (r->selector[0])
		snprintf(url + n, sizeof(url) - (size_t)n, "&fieldSelector=%s", r->selector);
	r->state = RF_LIST;
	r->next = RF_NEXT_LIST;
	r->established = false;
	alog(ALOG_DEBUG, "%s: GET %s%s", r->name, kube_server(r->kube), url);
	rf_send(l, r, url, rf_list_write, rf_list_done, 0);
}

/* ---- watch ---- */

static bool rf_apply_obj(struct reflector *r, struct kwatch_event *ev)
{
	const struct kobj *old = kstore_get(&r->store, ev->obj.key);

	if (ev->type == KW_DELETED || !cJSON_GetArraySize(ev->obj.ann))
		return kstore_del(&r->store, ev->obj.key);
	if (old && kobj_same(old, &ev->obj))
		return false;
	return kstore_put(&r->store, &ev->obj) == 0;
}

/* Applies one event. Returns false when the watch must end (ERROR). */
static bool rf_apply(struct reflector *r, struct kwatch_event *ev)
{
	bool changed = false;

	if (ev->type == KW_ERROR) {
		if (ev->code == 410)
			r->relist = true;
		else {
			r->failed = true;
			alog(ALOG_WARN, "%s: watch ERROR event: code %ld %s: %s", r->name, ev->code, ev->reason,
			     ev->message);
		}
		return false;
	}
	if (ev->obj.rv && ev->obj.rv[0])
		snprintf(r->rv, sizeof(r->rv), "%s", ev->obj.rv);
	atomic_fetch_add(&r->m_events, 1);
	r->watch_events++;
	if (ev->type != KW_BOOKMARK)
		changed = rf_apply_obj(r, ev);
	if (changed && r->changed)
		r->changed(r, r->arg);
	return true;
}

/* Whole lines out of r->buf; the rest stays for the next chunk. */
static bool rf_watch_lines(struct reflector *r)
{
	char *start = r->buf.data, *nl;
	bool go_on = true;

	while (go_on && (nl = memchr(start, '\n', r->buf.len - (size_t)(start - r->buf.data)))) {
		struct kwatch_event ev;
		struct fs_err e = { 0 };
		size_t len = (size_t)(nl - start);

		if (len && kwatch_event_parse(start, len, r->namespaced, &ev, &e) == 0) {
			if (ev.type == KW_ADDED || ev.type == KW_MODIFIED)
				kobj_report(&ev.obj);
			go_on = rf_apply(r, &ev);
			kwatch_event_free(&ev);
		} else if (len) {
			alog(ALOG_WARN, "%s: watch: %s", r->name, e.msg);
			r->failed = true;
			go_on = false;
		}
		start = nl + 1;
	}
	r->buf.len -= (size_t)(start - r->buf.data);
	memmove(r->buf.data, start, r->buf.len);
	r->buf.data[r->buf.len] = '\0';
	return go_on;
}

static size_t rf_watch_write(char *p, size_t size, size_t n, void *arg)
{
	struct reflector *r = arg;

	if (!r->http)
		curl_easy_getinfo(r->xfer.h, CURLINFO_RESPONSE_CODE, &r->http);
	if (r->http == 200 && !r->established) {
		r->established = true;
		alog(ALOG_DEBUG, "%s: watching from resourceVersion %s", r->name, r->rv);
	}
	if (rf_buf_add(&r->buf, p, size * n, r->http == 200 ? RF_LINE_MAX : RF_BODY_MAX)) {
		if (r->http == 200)
			bounds_hit(BOUND_EVENT, r->name, "a watch event is larger than 8 MiB: relisting");
		r->failed = true;
		return 0;
	}
	if (r->http != 200)
		return size * n;
	return rf_watch_lines(r) ? size * n : 0;
}

/* The server ended the watch (timeoutSeconds), or the transfer did. */
static void rf_watch_ended(struct loop *l, struct reflector *r, CURLcode rc)
{
	long long lasted = mono_ms() - r->started;
	char why[256];

	if (rc == CURLE_OK && (lasted >= RF_SHORT_WATCH_MS || r->watch_events)) {
		alog(ALOG_DEBUG, "%s: watch ended by the server after %lld ms; resuming at resourceVersion %s",
		     r->name, lasted, r->rv);
		rf_schedule(l, r, RF_NEXT_WATCH, 0);
		return;
	}
	/* As client-go: a dropped connection or one that timed out resumes
	 * (the resourceVersion is still good); only 410 Gone and errors the
	 * stream itself reports relist (rf_watch_done). */
	if (rc == CURLE_OPERATION_TIMEDOUT && r->http == 200)
		snprintf(why, sizeof(why), "not ended by the server %ld s after its timeoutSeconds: server hung",
			 r->cfg->margin_s);
	else
		snprintf(why, sizeof(why), "%s", rc == CURLE_OK ? "ended at once" : curl_easy_strerror(rc));
	rf_retry(l, r, RF_NEXT_WATCH, r->http == 200 ? "watch interrupted" : "watch", why);
}

static void rf_watch_done(struct loop *l, struct loop_xfer *x, CURLcode rc)
{
	struct reflector *r = x->arg;
	char why[512];

	if (!r->http)
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &r->http);
	atomic_fetch_add(&r->m_restarts, 1);
	snprintf(r->list_rv, sizeof(r->list_rv), "%s", r->rv);
	if (r->relist || r->http == 410) {
		alog(ALOG_INFO, "%s: watch: resourceVersion %s is too old (410 Gone); relisting", r->name, r->rv);
		rf_schedule(l, r, RF_NEXT_LIST, rf_backoff(r));
	} else if (r->http && r->http != 200) {
		rf_http_why(r, why, sizeof(why));
		rf_retry(l, r, RF_NEXT_LIST, "watch", why);
	} else if (r->failed) {
		rf_retry(l, r, RF_NEXT_LIST, "watch", "stream broken; relisting");
	} else {
		rf_watch_ended(l, r, rc);
	}
}

static void rf_begin_watch(struct loop *l, struct reflector *r)
{
	long t = r->cfg->watch_min_s + (long)((double)r->cfg->watch_min_s * drand48());
	char url[2048];
	int n;

	n = snprintf(url, sizeof(url), "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%ld",
		     r->path, r->rv, t);
	if (r->selector[0])
		snprintf(url + n, sizeof(url) - (size_t)n, "&fieldSelector=%s", r->selector);
	r->state = RF_WATCH;
	r->next = RF_NEXT_WATCH;
	r->established = false;
	alog(ALOG_DEBUG, "%s: GET %s%s", r->name, kube_server(r->kube), url);
	rf_send(l, r, url, rf_watch_write, rf_watch_done, t);
}

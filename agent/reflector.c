/* The reflector's driver: its transfers, their one completion handler,
 * and the steps rf_next() (reflector_fsm.c) says to take. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alog.h"
#include "bounds.h"
#include "reflector.h"

static void rf_enter(struct loop *l, struct reflector *r, enum rf_outcome o, const char *why);

static void rf_on_backoff(struct loop *l, struct loop_timer *t)
{
	rf_enter(l, t->arg, RF_O_TIMER, NULL);
}

static void rf_done(struct loop *l, struct loop_xfer *x, CURLcode rc);
static void rf_watch_data(struct loop *l, struct loop_xfer *x);

int reflector_init(struct reflector *r, const char *name, const char *path, const char *field_selector,
		   bool namespaced, struct kube_client *kube, const struct reflector_cfg *cfg)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->namespaced = namespaced;
	r->kube = kube;
	r->cfg = cfg;
	r->state = RF_STOPPED;
	snprintf(r->path, sizeof(r->path), "%s", path);
	if (field_selector && kube_escape(field_selector, r->selector, sizeof(r->selector)))
		return -1;
	backoff_init(&r->bo, cfg->backoff_base_ms, cfg->backoff_max_ms, cfg->backoff_reset_ms);
	loop_timer_init(&r->backoff, rf_on_backoff, r);
	r->xfer.arg = r;
	r->xfer.done = rf_done;
	r->xfer.h = curl_easy_init();
	return r->xfer.h ? 0 : -1;
}

void reflector_start(struct loop *l, struct reflector *r)
{
	rf_enter(l, r, RF_O_START, NULL);
}

void reflector_stop(struct loop *l, struct reflector *r)
{
	if (r->state == RF_LISTING || r->state == RF_WATCHING)
		loop_xfer_abort(l, &r->xfer);
	r->state = rf_next(r->state, RF_O_STOP).state;
	loop_timer_forget(l, &r->backoff);
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

bool reflector_streaming(const struct reflector *r)
{
	long code = 0;

	/* The write callback only sees bodies; a quiet watch that answered
	 * 200 streams too. */
	if (!r->synced || r->state != RF_WATCHING)
		return false;
	curl_easy_getinfo(r->xfer.h, CURLINFO_RESPONSE_CODE, &code);
	return code == 200;
}

/* Starts r->xfer on url; on failure, `fail` is the outcome. */
static void rf_send(struct loop *l, struct reflector *r, const char *url, curl_write_callback wr, long bound_ms,
		    enum rf_outcome fail)
{
	struct fs_err e = { 0 };
	char why[600];

	r->buf.len = r->buf.line = 0;
	r->over = r->gone = r->failed = false;
	r->watch_events = 0;
	r->started = mono_ms();
	r->xfer.data = bound_ms ? rf_watch_data : NULL;
	if (kube_easy_prepare(r->kube, r->xfer.h, url, &e)) {
		snprintf(why, sizeof(why), "preparing the request: %s", e.msg);
		rf_enter(l, r, fail, why);
		return;
	}
	curl_easy_setopt(r->xfer.h, CURLOPT_WRITEFUNCTION, wr);
	curl_easy_setopt(r->xfer.h, CURLOPT_WRITEDATA, r);
	if (bound_ms)
		curl_easy_setopt(r->xfer.h, CURLOPT_TIMEOUT_MS, bound_ms);
	if (loop_xfer_start(l, &r->xfer))
		rf_enter(l, r, fail, "starting the request: libcurl refused it");
}

/* Where the next list starts (rf_next() said). */
static void rf_list_from(struct reflector *r, enum rf_from from)
{
	if (from == RF_FROM_SAME)
		return;
	if (from == RF_FROM_RV)
		snprintf(r->list_rv, sizeof(r->list_rv), "%s", r->rv);
	else if (from == RF_FROM_NONE)
		r->list_rv[0] = '\0';
	kstore_clear(&r->pending);
	free(r->cont);
	r->cont = NULL;
}

static void rf_begin_list(struct loop *l, struct reflector *r);
static void rf_begin_watch(struct loop *l, struct reflector *r);

/* A WAIT_* state: the backoff timer, at once or after a backoff. */
static void rf_wait(struct loop *l, struct reflector *r, struct rf_step st, enum rf_outcome o, const char *why)
{
	long long d = st.backoff ? backoff_next(&r->bo, mono_ms(), drand48()) : 0;

	if (st.error) {
		atomic_fetch_add(&r->m_errors, 1);
		alog(ALOG_WARN, "%s: %s; %s again in %lld ms", r->name, why && why[0] ? why : rf_outcome_name(o),
		     st.state == RF_WAIT_LIST ? "listing" : "watching", d);
	}
	loop_timer_after(l, &r->backoff, d);
}

/* The one place a state changes (but stop): `o` happened. */
static void rf_enter(struct loop *l, struct reflector *r, enum rf_outcome o, const char *why)
{
	struct rf_step st = rf_next(r->state, o);

	if (st.stay)
		return;
	alog(ALOG_DEBUG, "%s: %s: %s -> %s", r->name, rf_outcome_name(o), rf_state_name(r->state),
	     rf_state_name(st.state));
	r->state = st.state;
	rf_list_from(r, st.from);
	switch (st.state) {
	case RF_LISTING:
		rf_begin_list(l, r);
		break;
	case RF_WATCHING:
		rf_begin_watch(l, r);
		break;
	case RF_WAIT_LIST:
	case RF_WAIT_WATCH:
		rf_wait(l, r, st, o, why);
		break;
	default:
		break;
	}
}

static void rf_list_end(struct loop *l, struct reflector *r, CURLcode rc)
{
	long http = 0, page = r->page ? r->page : r->cfg->page_size;
	enum rf_outcome o;
	char why[600] = "";

	curl_easy_getinfo(r->xfer.h, CURLINFO_RESPONSE_CODE, &http);
	o = rf_list_outcome(rc, http, r->over, page, r->list_rv[0] || r->cont);
	if (o == RF_O_PAGE_OVER) {
		r->page = page / 2;
		bounds_hit(BOUND_PAGE, r->name, "a list page is larger than 64 MiB: listing again in pages of fewer objects");
	} else if (o == RF_O_LIST_GONE) {
		alog(ALOG_INFO, "%s: list at resourceVersion \"%s\": 410 Gone; listing the current state", r->name,
		     r->list_rv);
	} else if (o == RF_O_FAILED && rc != CURLE_OK) {
		snprintf(why, sizeof(why), "list: %s", curl_easy_strerror(rc));
	} else if (o == RF_O_FAILED) {
		rf_http_why(r, "list", http, why, sizeof(why));
	} else {
		struct fs_err e = { 0 };

		o = rf_list_page(r, &e);
		if (o == RF_O_FAILED)
			snprintf(why, sizeof(why), "list: %s", e.msg);
	}
	if (o == RF_O_LISTED) {
		alog(ALOG_INFO, "%s: listed at resourceVersion %s, %zu with flowsteer.io annotations",
		     r->name, r->rv, r->store.n);
		r->synced = true;
		if (r->changed)
			r->changed(r, r->arg);
	}
	rf_enter(l, r, o, why);
}

static void rf_begin_list(struct loop *l, struct reflector *r)
{
	char url[4096], esc[2048];
	int n;

	if (!r->cont)
		kstore_clear(&r->pending);
	atomic_fetch_add(&r->m_lists, 1);
	n = snprintf(url, sizeof(url), "%s?limit=%ld", r->path, r->page ? r->page : r->cfg->page_size);
	/* The API server refuses resourceVersion together with continue. */
	if (r->cont && !kube_escape(r->cont, esc, sizeof(esc)))
		n += snprintf(url + n, sizeof(url) - (size_t)n, "&continue=%s", esc);
	else if (r->list_rv[0])
		n += snprintf(url + n, sizeof(url) - (size_t)n, "&resourceVersion=%s", r->list_rv);
	if (r->selector[0])
		snprintf(url + n, sizeof(url) - (size_t)n, "&fieldSelector=%s", r->selector);
	alog(ALOG_DEBUG, "%s: GET %s%s", r->name, kube_server(r->kube), url);
	rf_send(l, r, url, rf_list_write, 0, RF_O_FAILED);
}

/* The loop's data hook: the events buffered, applied; an event that ends
 * the watch (ERROR, undecodable) cancels the transfer. */
static void rf_watch_data(struct loop *l, struct loop_xfer *x)
{
	struct reflector *r = x->arg;
	long http = 0;

	(void)l;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &http);
	/* Not 200: the body is an error Status, kept for the log line. */
	if (http == 200 && rf_watch_lines(r) != RF_NOUTCOMES)
		loop_xfer_cancel(x);
}

/* The outcome's log line (why, for a warning). */
static void rf_watch_why(const struct reflector *r, enum rf_outcome o, const struct rf_watch_end *w, char *why,
			 size_t len)
{
	if (o == RF_O_GONE)
		alog(ALOG_INFO, "%s: watch: resourceVersion %s is too old (410 Gone); relisting", r->name, r->rv);
	else if (o == RF_O_FAILED && w->http != 200)
		rf_http_why(r, "watch", w->http, why, len);
	else if (o == RF_O_FAILED)
		snprintf(why, len, "watch: stream broken; relisting");
	else if (o == RF_O_ENDED)
		alog(ALOG_DEBUG, "%s: watch ended by the server after %lld ms; resuming at resourceVersion %s",
		     r->name, w->lasted_ms, r->rv);
	else if (o == RF_O_HUNG)
		snprintf(why, len, "watch interrupted: not ended by the server %ld s after its timeoutSeconds: server hung",
			 r->cfg->margin_s);
	else
		snprintf(why, len, "%s: %s", w->http == 200 ? "watch interrupted" : "watch",
			 w->rc == CURLE_OK ? "ended at once" : curl_easy_strerror(w->rc));
}

static void rf_watch_end(struct loop *l, struct reflector *r, CURLcode rc)
{
	struct rf_watch_end w = { .rc = rc, .gone = r->gone, .failed = r->failed,
				  .lasted_ms = mono_ms() - r->started, .events = r->watch_events };
	enum rf_outcome o;
	char why[600] = "";

	curl_easy_getinfo(r->xfer.h, CURLINFO_RESPONSE_CODE, &w.http);
	if (r->over && w.http == 200) {
		bounds_hit(BOUND_EVENT, r->name, "a watch event is larger than 8 MiB: relisting");
		w.failed = true;
	}
	atomic_fetch_add(&r->m_restarts, 1);
	o = rf_watch_outcome(&w);
	rf_watch_why(r, o, &w, why, sizeof(why));
	rf_enter(l, r, o, why);
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
	alog(ALOG_DEBUG, "%s: GET %s%s", r->name, kube_server(r->kube), url);
	rf_send(l, r, url, rf_watch_write, rf_watch_bound_ms(r->cfg, t), RF_O_DROPPED);
}

/* The one completion handler of both transfers (the loop's reap step). */
static void rf_done(struct loop *l, struct loop_xfer *x, CURLcode rc)
{
	struct reflector *r = x->arg;

	if (r->state == RF_LISTING)
		rf_list_end(l, r, rc);
	else if (r->state == RF_WATCHING)
		rf_watch_end(l, r, rc);
}

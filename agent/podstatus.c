#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alog.h"
#include "annot.h"
#include "podstatus.h"

/* A failing pod's backoff starts over after this long without a failure. */

struct podstatus_entry {
	char uid[64];
	char ns[256], name[256];
	char *want;             /* the line the records give now */
	char *done;             /* the line the server took (or refused for good) */
	bool gone;              /* 409/404: this incarnation is not there: never again */
	bool seen;              /* in the current sync */
	struct podstatus_slot *busy;
	long long due;          /* no try before this (backoff) */
	int failures;
	struct backoff bo;
};

/* Indexed by enum kube_patch_result. */
static const char *const result_names[KUBE_PATCH_NRESULTS] = { "ok", "conflict", "not_found", "rejected",
								"error" };

int podstatus_item_cmp(const void *a, const void *b)
{
	const struct podstatus_item *x = a, *y = b;
	int c = strcmp(x->uid, y->uid);

	if (!c)
		c = strcmp(x->ifname, y->ifname);
	if (!c)
		c = x->time < y->time ? -1 : x->time > y->time;
	return c;
}

/* Whether it[i] is the newest record of its interface (the items are
 * sorted by ifname, then time): an old sandbox's record can linger until
 * its DEL. */
static bool item_newest(const struct podstatus_item *it, size_t n, size_t i)
{
	return i + 1 == n || strcmp(it[i].ifname, it[i + 1].ifname);
}

char *podstatus_compose(const struct podstatus_item *it, size_t n)
{
	size_t len = 1, off = 0, k = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		if (item_newest(it, n, i)) {
			len += strlen(it[i].ifname) + strlen(it[i].line) + 4;
			k++;
		}
	out = malloc(len);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!item_newest(it, n, i))
			continue;
		if (k == 1)
			off += (size_t)snprintf(out + off, len - off, "%s", it[i].line);
		else
			off += (size_t)snprintf(out + off, len - off, "%s%s: %s", off ? "; " : "", it[i].ifname,
						it[i].line);
	}
	return out;
}

static int entry_cmp_uid(const void *key, const void *elem)
{
	return strcmp(key, (*(struct podstatus_entry *const *)elem)->uid);
}

static struct podstatus_entry *entry_get(struct podstatus *p, const char *uid)
{
	struct podstatus_entry **f = p->n ? bsearch(uid, p->v, p->n, sizeof(*p->v), entry_cmp_uid) : NULL;
	struct podstatus_entry *e;
	size_t at = 0;

	if (f)
		return *f;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct podstatus_entry **nv = realloc(p->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		p->v = nv;
		p->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	snprintf(e->uid, sizeof(e->uid), "%s", uid);
	backoff_init(&e->bo, p->backoff_base_ms, p->backoff_max_ms, BACKOFF_RESET_MS);
	while (at < p->n && strcmp(p->v[at]->uid, uid) < 0)
		at++;
	memmove(p->v + at + 1, p->v + at, (p->n - at) * sizeof(*p->v));
	p->v[at] = e;
	p->n++;
	return e;
}

static void slot_clear(struct podstatus_slot *s)
{
	kube_patch_req_free(&s->req);
	free(s->line);
	s->line = NULL;
	if (s->e)
		s->e->busy = NULL;
	s->e = NULL;
}

static void entry_free(struct podstatus *p, struct podstatus_entry *e)
{
	if (e->busy) {
		loop_xfer_abort(p->loop, &e->busy->x);
		slot_clear(e->busy);
	}
	free(e->want);
	free(e->done);
	free(e);
}

static bool entry_needs(const struct podstatus_entry *e)
{
	return e->want && !e->gone && (!e->done || strcmp(e->want, e->done));
}

static void podstatus_on_done(struct loop *l, struct loop_xfer *x, CURLcode rc);

/* Starts the patch of e's line on slot s: KUBE_PATCH_OK when it started;
 * _PERMANENT when no API server would take it (then it is done with);
 * _RETRY when it could not start now (out of memory, a refused option). */
static enum kube_patch_result podstatus_send(struct podstatus *p, struct podstatus_slot *s,
					     struct podstatus_entry *e)
{
	struct fs_err err = { 0 };
	enum kube_patch_result r = KUBE_PATCH_RETRY;

	if (!s->x.h && !(s->x.h = curl_easy_init()))
		return KUBE_PATCH_RETRY;
	s->line = strdup(e->want);
	if (s->line)
		r = kube_patch_prepare(p->kube, s->x.h, &s->req, e->ns, e->name, e->uid, ANNOT_STATUS, s->line, &err);
	if (r == KUBE_PATCH_PERMANENT) {
		alog(ALOG_WARN, "status: %s", err.msg);
		atomic_fetch_add(&p->results[KUBE_PATCH_PERMANENT], 1);
		free(e->done);
		e->done = s->line;
		s->line = NULL;
	}
	if (r != KUBE_PATCH_OK) {
		free(s->line);
		s->line = NULL;
		return r;
	}
	curl_easy_setopt(s->x.h, CURLOPT_TIMEOUT_MS, (long)PODSTATUS_TIMEOUT_MS);
	s->x.done = podstatus_on_done;
	s->x.arg = p;
	s->e = e;
	e->busy = s;
	if (loop_xfer_start(p->loop, &s->x)) {
		slot_clear(s);
		return KUBE_PATCH_RETRY;
	}
	alog(ALOG_DEBUG, "status: patching pod %s/%s (uid %s): %s", e->ns, e->name, e->uid, e->want);
	return KUBE_PATCH_OK;
}

static struct podstatus_slot *slot_find_free(struct podstatus *p)
{
	for (int i = 0; i < PODSTATUS_INFLIGHT; i++)
		if (!p->slot[i].e)
			return &p->slot[i];
	return NULL;
}

/* Starts what is due, and arms the timer for the next retry. */
static void podstatus_kick(struct podstatus *p)
{
	long long now = mono_ms(), next = -1;
	struct podstatus_slot *s;
	uint64_t pending = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct podstatus_entry *e = p->v[i];

		if (!entry_needs(e))
			continue;
		pending++;
		if (e->busy)
			continue;
		if (e->due > now) {
			next = next < 0 || e->due < next ? e->due : next;
			continue;
		}
		s = slot_find_free(p);
		if (s && podstatus_send(p, s, e) == KUBE_PATCH_RETRY) {
			/* Out of memory or a refused option: later. */
			e->due = now + backoff_next(&e->bo, now, drand48());
			next = next < 0 || e->due < next ? e->due : next;
		}
	}
	atomic_store(&p->pending, pending);
	if (next >= 0)
		loop_timer_after(p->loop, &p->timer, next - now);
}

static void podstatus_on_timer(struct loop *l, struct loop_timer *t)
{
	(void)l;
	podstatus_kick(t->arg);
}

static void entry_failed(struct podstatus_entry *e, const struct fs_err *err)
{
	long long now = mono_ms(), delay = backoff_next(&e->bo, now, drand48());

	e->due = now + delay;
	if (e->failures++ == 0)
		alog(ALOG_WARN, "status: pod %s/%s: %s; retrying with backoff", e->ns, e->name, err->msg);
	else
		alog(ALOG_DEBUG, "status: pod %s/%s: %s; retry %d in %lld ms", e->ns, e->name, err->msg,
		     e->failures, delay);
}

static void entry_result(struct podstatus *p, struct podstatus_entry *e, enum kube_patch_result r, char **line,
			 const struct fs_err *err)
{
	atomic_fetch_add(&p->results[r], 1);
	switch (r) {
	case KUBE_PATCH_OK:
	case KUBE_PATCH_PERMANENT:
		if (r == KUBE_PATCH_PERMANENT)
			alog(ALOG_WARN, "status: pod %s/%s: %s; not retried", e->ns, e->name, err->msg);
		else if (e->failures)
			alog(ALOG_INFO, "status: pod %s/%s patched after %d failure(s)", e->ns, e->name, e->failures);
		free(e->done);
		e->done = *line;
		*line = NULL;
		e->failures = 0;
		e->due = 0;
		break;
	case KUBE_PATCH_CONFLICT:
	case KUBE_PATCH_GONE:
		e->gone = true;
		alog(ALOG_INFO, "status: pod %s/%s uid %s is %s: its status is not patched", e->ns, e->name, e->uid,
		     r == KUBE_PATCH_CONFLICT ? "another incarnation now (uid precondition failed)" : "gone (404)");
		break;
	default:
		entry_failed(e, err);
	}
}

static void podstatus_on_done(struct loop *l, struct loop_xfer *x, CURLcode rc)
{
	struct podstatus_slot *s = (struct podstatus_slot *)x;
	struct podstatus *p = x->arg;
	struct podstatus_entry *e = s->e;
	struct fs_err err = { 0 };
	long status;

	(void)l;
	entry_result(p, e, kube_patch_finish(p->kube, x->h, &s->req, rc, &status, &err), &s->line, &err);
	slot_clear(s);
	podstatus_kick(p);
}

/* One pod's items: its line is what the records say now. */
static void podstatus_offer(struct podstatus *p, const struct podstatus_item *it, size_t n)
{
	struct podstatus_entry *e = entry_get(p, it[0].uid);
	char *line = podstatus_compose(it, n);

	if (!e || !line) {
		alog(ALOG_ERROR, "status: pod %s/%s: out of memory", it[0].ns, it[0].name);
		free(line);
		return;
	}
	e->seen = true;
	snprintf(e->ns, sizeof(e->ns), "%s", it[n - 1].ns);
	snprintf(e->name, sizeof(e->name), "%s", it[n - 1].name);
	if (e->want && !strcmp(e->want, line)) {
		free(line);
		return;
	}
	free(e->want);
	e->want = line;
}

void podstatus_sync(struct podstatus *p, struct podstatus_item *items, size_t n)
{
	size_t j, kept = 0;

	if (n)
		qsort(items, n, sizeof(*items), podstatus_item_cmp);
	for (size_t i = 0; i < p->n; i++)
		p->v[i]->seen = false;
	for (size_t i = 0; i < n; i = j) {
		for (j = i + 1; j < n && !strcmp(items[j].uid, items[i].uid); j++)
			;
		podstatus_offer(p, items + i, j - i);
	}
	/* No record any more: the pod is going away; nothing to patch, and a
	 * pending retry or transfer goes too. */
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i]->seen)
			p->v[kept++] = p->v[i];
		else
			entry_free(p, p->v[i]);
	}
	p->n = kept;
	podstatus_kick(p);
}

void podstatus_init(struct podstatus *p)
{
	loop_timer_init(&p->timer, podstatus_on_timer, p);
}

int podstatus_start(struct podstatus *p, struct kube_client *kube, long long backoff_base_ms,
		    long long backoff_max_ms, struct loop *l)
{
	p->loop = l;
	p->kube = kube;
	p->backoff_base_ms = backoff_base_ms;
	p->backoff_max_ms = backoff_max_ms;
	return 0;
}

void podstatus_stop(struct podstatus *p)
{
	if (!p->loop)
		return;
	for (size_t i = 0; i < p->n; i++)
		entry_free(p, p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
	for (int i = 0; i < PODSTATUS_INFLIGHT; i++) {
		if (p->slot[i].x.h)
			curl_easy_cleanup(p->slot[i].x.h);
		p->slot[i].x.h = NULL;
	}
	loop_timer_forget(p->loop, &p->timer);
	p->loop = NULL;
}

void podstatus_collect(struct metrics_out *o, void *arg)
{
	struct podstatus *p = arg;
	char label[48];

	metrics_family(o, "flowsteer_status_patches_total", "counter",
		       "Patches of the flowsteer.io/status pod annotation by result: ok; conflict (409: the pod "
		       "is another incarnation, dropped); not_found (404, dropped); rejected (other 4xx, not "
		       "retried); error (no answer, 401, 403, 429, 5xx: retried with backoff).");
	for (int r = 0; r < KUBE_PATCH_NRESULTS; r++) {
		snprintf(label, sizeof(label), "result=\"%s\"", result_names[r]);
		metrics_sample_u64(o, "flowsteer_status_patches_total", label, atomic_load(&p->results[r]));
	}
	metrics_single_u64(o, "flowsteer_status_patches_pending", "gauge",
			   "Pods whose status line is not on the API server yet (in flight or waiting to retry).",
			   atomic_load(&p->pending));
}

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alog.h"
#include "loop.h"

/* Longest sleep: the heartbeat must move even when nothing happens. */
#define LOOP_TICK_MS 1000

struct loop_fd {
	int fd;
	loop_fd_fn fn;
	void *arg;
};

struct loop {
	CURLM *multi;
	struct loop_fd fds[LOOP_MAX_FDS];
	int nfds;
	struct loop_timer *timers[LOOP_MAX_TIMERS];
	int ntimers;
	/* Transfers with buffered data for their hook; transfers cancelled. */
	struct loop_xfer *wrote, *cancel;
	bool stop;
	_Atomic long long heartbeat;
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->multi = curl_multi_init();
	if (!l->multi) {
		free(l);
		return NULL;
	}
	atomic_store(&l->heartbeat, mono_ms());
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	curl_multi_cleanup(l->multi);
	free(l);
}

int loop_add_fd(struct loop *l, int fd, loop_fd_fn fn, void *arg)
{
	if (l->nfds == LOOP_MAX_FDS) {
		alog(ALOG_ERROR, "event loop: more than %d fds registered", LOOP_MAX_FDS);
		return -1;
	}
	l->fds[l->nfds++] = (struct loop_fd){ .fd = fd, .fn = fn, .arg = arg };
	return 0;
}

void loop_del_fd(struct loop *l, int fd)
{
	for (int i = 0; i < l->nfds; i++)
		if (l->fds[i].fd == fd) {
			l->fds[i] = l->fds[--l->nfds];
			return;
		}
}

void loop_timer_init(struct loop_timer *t, void (*fn)(struct loop *, struct loop_timer *), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->due = -1;
}

int loop_timer_after(struct loop *l, struct loop_timer *t, long long ms)
{
	int i;

	for (i = 0; i < l->ntimers && l->timers[i] != t; i++)
		;
	if (i == l->ntimers) {
		if (l->ntimers == LOOP_MAX_TIMERS) {
			alog(ALOG_ERROR, "event loop: more than %d timers registered", LOOP_MAX_TIMERS);
			return -1;
		}
		l->timers[l->ntimers++] = t;
	}
	t->due = mono_ms() + (ms < 0 ? 0 : ms);
	return 0;
}

void loop_timer_forget(struct loop *l, struct loop_timer *t)
{
	for (int i = 0; i < l->ntimers; i++)
		if (l->timers[i] == t) {
			l->timers[i] = l->timers[--l->ntimers];
			return;
		}
}

static void loop_debounce_on_timer(struct loop *l, struct loop_timer *t)
{
	struct loop_debounce *b = t->arg;
	long long w;

	if (debounce_fire(&b->d, mono_ms()))
		b->fn(b->arg);
	w = debounce_wait(&b->d, mono_ms());
	if (w >= 0)
		loop_timer_after(l, t, w);
}

void loop_debounce_init(struct loop *l, struct loop_debounce *b, long long quiet_ms, long long max_ms,
			void (*fn)(void *arg), void *arg)
{
	b->l = l;
	b->fn = fn;
	b->arg = arg;
	debounce_init(&b->d, quiet_ms, max_ms);
	loop_timer_init(&b->t, loop_debounce_on_timer, b);
}

void loop_debounce_kick(struct loop_debounce *b)
{
	debounce_kick(&b->d, mono_ms());
	loop_timer_after(b->l, &b->t, debounce_wait(&b->d, mono_ms()));
}

void loop_debounce_retry(struct loop_debounce *b, long long ms)
{
	debounce_retry(&b->d, mono_ms(), ms);
	loop_timer_after(b->l, &b->t, ms);
}

void loop_debounce_forget(struct loop_debounce *b)
{
	if (b->l)
		loop_timer_forget(b->l, &b->t);
}

int loop_xfer_start(struct loop *l, struct loop_xfer *x)
{
	CURLMcode mc;

	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	x->l = l;
	x->wrote = x->cancelled = false;
	mc = curl_multi_add_handle(l->multi, x->h);
	if (mc != CURLM_OK) {
		alog(ALOG_ERROR, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		return -1;
	}
	return 0;
}

void loop_xfer_abort(struct loop *l, struct loop_xfer *x)
{
	curl_multi_remove_handle(l->multi, x->h);
	/* The wrote list is empty outside a pass; a cancel may be pending. */
	for (struct loop_xfer **p = &l->cancel; *p; p = &(*p)->next_cancel)
		if (*p == x) {
			*p = x->next_cancel;
			break;
		}
	x->wrote = x->cancelled = false;
}

void loop_xfer_wrote(struct loop_xfer *x)
{
	if (x->wrote || x->cancelled)
		return;
	x->wrote = true;
	x->next_wrote = x->l->wrote;
	x->l->wrote = x;
}

void loop_xfer_cancel(struct loop_xfer *x)
{
	if (x->cancelled)
		return;
	x->cancelled = true;
	x->next_cancel = x->l->cancel;
	x->l->cancel = x;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

long long loop_heartbeat_ms(struct loop *l)
{
	return atomic_load(&l->heartbeat);
}

static int loop_timeout(struct loop *l)
{
	long long now = mono_ms(), best = now + LOOP_TICK_MS;

	if (l->cancel)
		return 0;
	for (int i = 0; i < l->ntimers; i++)
		if (l->timers[i]->due >= 0 && l->timers[i]->due < best)
			best = l->timers[i]->due;
	return best > now ? (int)(best - now) : 0;
}

static void loop_run_timers(struct loop *l)
{
	long long now = mono_ms();

	/* A callback may re-arm or register timers: scan by index, fire one at
	 * a time, and only those due before this pass started. */
	for (int i = 0; i < l->ntimers && !l->stop; i++) {
		struct loop_timer *t = l->timers[i];

		if (t->due >= 0 && t->due <= now) {
			t->due = -1;
			t->fn(l, t);
		}
	}
}

static void loop_reap(struct loop *l)
{
	struct loop_xfer *x;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(l->multi, &left))) {
		CURLcode rc = m->data.result;
		CURL *h = m->easy_handle;

		if (m->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(l->multi, h);
		/* A cancelled one ends below, with the code its owner expects. */
		if (x && x->done && !x->cancelled)
			x->done(l, x, rc);
	}
	while ((x = l->cancel)) {
		l->cancel = x->next_cancel;
		x->cancelled = false;
		curl_multi_remove_handle(l->multi, x->h);
		if (x->done)
			x->done(l, x, CURLE_ABORTED_BY_CALLBACK);
	}
}

/* The data hooks run here, after curl_multi_perform() returned. */
static void loop_dispatch(struct loop *l)
{
	struct loop_xfer *x;

	while ((x = l->wrote)) {
		l->wrote = x->next_wrote;
		x->wrote = false;
		if (x->data && !x->cancelled)
			x->data(l, x);
	}
}

static int loop_poll(struct loop *l)
{
	struct curl_waitfd wfd[LOOP_MAX_FDS];
	struct loop_fd fds[LOOP_MAX_FDS];
	int n = l->nfds, running;
	CURLMcode mc;

	/* A snapshot: callbacks may add or remove fds. */
	memcpy(fds, l->fds, sizeof(fds[0]) * (size_t)n);
	for (int i = 0; i < n; i++)
		wfd[i] = (struct curl_waitfd){ .fd = fds[i].fd, .events = CURL_WAIT_POLLIN };
	mc = curl_multi_poll(l->multi, wfd, (unsigned)n, loop_timeout(l), NULL);
	if (mc != CURLM_OK) {
		alog(ALOG_ERROR, "curl_multi_poll: %s", curl_multi_strerror(mc));
		return -1;
	}
	for (int i = 0; i < n && !l->stop; i++)
		if (wfd[i].revents)
			fds[i].fn(l, fds[i].fd, (short)wfd[i].revents, fds[i].arg);
	mc = curl_multi_perform(l->multi, &running);
	if (mc != CURLM_OK) {
		alog(ALOG_ERROR, "curl_multi_perform: %s", curl_multi_strerror(mc));
		return -1;
	}
	loop_dispatch(l);
	loop_reap(l);
	return 0;
}

int loop_run(struct loop *l)
{
	while (!l->stop) {
		atomic_store(&l->heartbeat, mono_ms());
		if (loop_poll(l))
			return -1;
		if (!l->stop)
			loop_run_timers(l);
	}
	return 0;
}

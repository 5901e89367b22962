/* The agent's one event loop.
 *
 * Why an event loop and not a thread per duty: the stores, the annotations
 * file and the install state are touched by every duty; with one thread they
 * need no locks and no shutdown handshakes. libcurl's multi interface runs
 * the API-server transfers on this thread (curl_multi_poll() also waits on
 * our own fds: signalfd, inotify), and nothing here blocks for long: every
 * transfer and every file operation is bounded; the longest step is a
 * rescan of the records (records.c). What reads every pod's sysfs runs on
 * threads of its own that the loop never waits for: the re-mask
 * (cpuwatch.c, kicked by the loop) and the drift pass (records.c, kicked
 * by a scrape). libmicrohttpd's thread (metrics.c) reads counters and
 * takes the metrics lock and, to copy numbers, the records lock. None of
 * them touches loop state.
 *
 * Duties register fds (inotify, signalfd, ...) and timers:
 *
 *   static void on_state(struct loop *l, int fd, short revents, void *arg);
 *   int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
 *   inotify_add_watch(ifd, state_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE);
 *   loop_add_fd(l, ifd, on_state, ctx);
 *
 *   static void on_tick(struct loop *l, struct loop_timer *t);
 *   loop_timer_init(&ctx->tick, on_tick, ctx);
 *   loop_timer_after(l, &ctx->tick, 1000);
 */
#ifndef FLOWSTEER_AGENT_LOOP_H
#define FLOWSTEER_AGENT_LOOP_H

#include <stdbool.h>
#include <curl/curl.h>

#include "pace.h"

#define LOOP_MAX_FDS 16
#define LOOP_MAX_TIMERS 32

struct loop;

typedef void (*loop_fd_fn)(struct loop *l, int fd, short revents, void *arg);

struct loop_timer {
	void (*fn)(struct loop *l, struct loop_timer *t);
	void *arg;
	long long due;	/* monotonic ms; < 0: not armed */
};

/* A finished transfer: `done` is called with its CURLcode; the handle is
 * already removed from the multi handle and belongs to the caller again.
 * `done` is only ever called from the loop's reap step.
 * `data` (optional): what a write callback buffered is handled here, on
 * the loop after curl_multi_perform() returned, never inside libcurl's
 * callback (which only buffers and calls loop_xfer_wrote()). */
struct loop_xfer {
	CURL *h;
	void (*done)(struct loop *l, struct loop_xfer *x, CURLcode rc);
	void (*data)(struct loop *l, struct loop_xfer *x);
	void *arg;
	/* The loop's: */
	struct loop *l;
	struct loop_xfer *next_wrote, *next_cancel;
	bool wrote, cancelled;
};

struct loop *loop_new(void);
void loop_free(struct loop *l);

int loop_add_fd(struct loop *l, int fd, loop_fd_fn fn, void *arg);
void loop_del_fd(struct loop *l, int fd);

void loop_timer_init(struct loop_timer *t, void (*fn)(struct loop *, struct loop_timer *), void *arg);
/* Arms (or re-arms) t to fire `ms` from now; registers it on first use. */
int loop_timer_after(struct loop *l, struct loop_timer *t, long long ms);
void loop_timer_forget(struct loop *l, struct loop_timer *t);

/* A debounced action: kicked at each change, fn runs from the loop once
 * the burst is quiet (at most max_ms after its first kick). */
struct loop_debounce {
	struct debounce d;
	struct loop_timer t;
	struct loop *l;
	void (*fn)(void *arg);
	void *arg;
};

void loop_debounce_init(struct loop *l, struct loop_debounce *b, long long quiet_ms, long long max_ms,
			void (*fn)(void *arg), void *arg);
void loop_debounce_kick(struct loop_debounce *b);
/* fn failed: runs it again `ms` from now (a new burst), changes or not. */
void loop_debounce_retry(struct loop_debounce *b, long long ms);
void loop_debounce_forget(struct loop_debounce *b);

/* Starts a transfer (x->h set up by the caller). Returns 0 or -1. */
int loop_xfer_start(struct loop *l, struct loop_xfer *x);
/* Aborts a running transfer without calling done. */
void loop_xfer_abort(struct loop *l, struct loop_xfer *x);
/* From a write callback: x has new data for its `data` hook. */
void loop_xfer_wrote(struct loop_xfer *x);
/* Ends a running transfer; its `done` comes from the reap step as any
 * other's, with CURLE_ABORTED_BY_CALLBACK. Its `data` is not called again. */
void loop_xfer_cancel(struct loop_xfer *x);

/* Runs until loop_stop(); returns 0, or -1 on a poll error (logged). */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* When the loop last went round (CLOCK_MONOTONIC ms): the liveness of
 * /healthz, read by the metrics thread. */
long long loop_heartbeat_ms(struct loop *l);

#endif

/* Pacing primitives, pure (time is passed in, in ms) so that unit tests
 * drive them without sleeping:
 *  - debounce: act once a burst of changes is quiet, never later than max;
 *  - throttle: at most `burst` actions per `window` (a writer fight must not
 *    become a write loop);
 *  - backoff: exponential with jitter and reset, as client-go's
 *    ExponentialBackoffManager (800 ms, x2, cap 30 s, jitter 1.0, reset after
 *    2 min without a failure). */
#ifndef FLOWSTEER_AGENT_PACE_H
#define FLOWSTEER_AGENT_PACE_H

#include <stdbool.h>

struct debounce {
	long long quiet_ms, max_ms;
	long long first, due;	/* due < 0: nothing pending */
};

void debounce_init(struct debounce *d, long long quiet_ms, long long max_ms);
/* A change happened at now. */
void debounce_kick(struct debounce *d, long long now);
/* Pending and due at or before now: clears it and returns true. */
bool debounce_fire(struct debounce *d, long long now);
/* When to look again (ms from now, >= 0), or -1 when nothing is pending. */
long long debounce_wait(const struct debounce *d, long long now);
/* Re-arm `delay_ms` from now (a retry), as a new burst. */
void debounce_retry(struct debounce *d, long long now, long long delay_ms);

#define THROTTLE_MAX 16

struct throttle {
	int burst;
	long long window_ms;
	long long at[THROTTLE_MAX];	/* newest first */
	int n;
};

void throttle_init(struct throttle *t, int burst, long long window_ms);
/* 0 when an action may happen now, else the ms to wait. */
long long throttle_wait(const struct throttle *t, long long now);
void throttle_record(struct throttle *t, long long now);

struct backoff {
	long long base_ms, cap_ms, reset_ms;
	long long cur_ms, last_ms;	/* last_ms < 0: never backed off */
};

/* client-go's reset: a backoff that saw no failure for 2 min starts over. */
#define BACKOFF_RESET_MS 120000

void backoff_init(struct backoff *b, long long base_ms, long long cap_ms, long long reset_ms);
/* The next delay: cur * (1 + jitter) with jitter = r in [0,1); doubles cur
 * up to cap; starts over at base once reset_ms passed since the last one. */
long long backoff_next(struct backoff *b, long long now, double r);

#endif

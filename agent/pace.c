#include <string.h>

#include "pace.h"

void debounce_init(struct debounce *d, long long quiet_ms, long long max_ms)
{
	d->quiet_ms = quiet_ms;
	d->max_ms = max_ms;
	d->first = 0;
	d->due = -1;
}

void debounce_kick(struct debounce *d, long long now)
{
	long long due;

	if (d->due < 0)
		d->first = now;
	due = now + d->quiet_ms;
	if (due > d->first + d->max_ms)
		due = d->first + d->max_ms;
	d->due = due;
}

bool debounce_fire(struct debounce *d, long long now)
{
	if (d->due < 0 || now < d->due)
		return false;
	d->due = -1;
	return true;
}

long long debounce_wait(const struct debounce *d, long long now)
{
	if (d->due < 0)
		return -1;
	return d->due > now ? d->due - now : 0;
}

void debounce_retry(struct debounce *d, long long now, long long delay_ms)
{
	d->first = now;
	d->due = now + delay_ms;
}

void throttle_init(struct throttle *t, int burst, long long window_ms)
{
	memset(t, 0, sizeof(*t));
	t->burst = burst < 1 ? 1 : burst > THROTTLE_MAX ? THROTTLE_MAX : burst;
	t->window_ms = window_ms;
}

long long throttle_wait(const struct throttle *t, long long now)
{
	long long until;

	if (t->n < t->burst)
		return 0;
	until = t->at[t->burst - 1] + t->window_ms;
	return until > now ? until - now : 0;
}

void throttle_record(struct throttle *t, long long now)
{
	memmove(t->at + 1, t->at, sizeof(t->at[0]) * (THROTTLE_MAX - 1));
	t->at[0] = now;
	if (t->n < t->burst)
		t->n++;
}

void backoff_init(struct backoff *b, long long base_ms, long long cap_ms, long long reset_ms)
{
	b->base_ms = base_ms;
	b->cap_ms = cap_ms < base_ms ? base_ms : cap_ms;
	b->reset_ms = reset_ms;
	b->cur_ms = base_ms;
	b->last_ms = -1;
}

long long backoff_next(struct backoff *b, long long now, double r)
{
	long long d;

	if (b->last_ms < 0 || now - b->last_ms > b->reset_ms)
		b->cur_ms = b->base_ms;
	if (r < 0)
		r = 0;
	if (r >= 1)
		r = 0.999;
	d = b->cur_ms + (long long)((double)b->cur_ms * r);
	b->cur_ms = b->cur_ms * 2 > b->cap_ms ? b->cap_ms : b->cur_ms * 2;
	b->last_ms = now;
	return d;
}

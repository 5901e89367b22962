#include <search.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alog.h"
#include "bounds.h"

/* Objects logged: a hostile server can send any number, so the memory of
 * them is bounded too; past it, one line says that more are not logged. */
#define BOUNDS_LOGGED_MAX 4096

static const char *const bound_names[BOUND_N] = { "value", "unicode", "name", "event", "page", "file" };
static _Atomic uint64_t bound_hits[BOUND_N];
static void *logged;
static size_t nlogged;

static int bounds_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* true the first time (b, obj) is seen. */
static bool bounds_first(enum bound b, const char *obj)
{
	size_t len = strlen(obj) + 16;
	char *k = malloc(len), **slot;

	if (!k)
		return false;
	snprintf(k, len, "%d:%s", (int)b, obj);
	if (tfind(k, &logged, bounds_cmp)) {
		free(k);
		return false;
	}
	if (nlogged >= BOUNDS_LOGGED_MAX) {
		free(k);
		if (nlogged++ == BOUNDS_LOGGED_MAX)
			alog(ALOG_WARN, "bounds: %d objects logged; further ones are only counted "
			     "(flowsteer_agent_bounds_hit_total)", BOUNDS_LOGGED_MAX);
		return false;
	}
	slot = tsearch(k, &logged, bounds_cmp);
	if (!slot || *slot != k) {
		free(k);
		return false;
	}
	nlogged++;
	return true;
}

void bounds_hit(enum bound b, const char *obj, const char *detail)
{
	if ((unsigned)b >= BOUND_N)
		return;
	atomic_fetch_add(&bound_hits[b], 1);
	if (bounds_first(b, obj))
		alog(ALOG_WARN, "bounds: %.300s: %s (bound \"%s\"; logged once for this object)", obj, detail,
		     bound_names[b]);
}

void bounds_collect(struct metrics_out *o, void *arg)
{
	char label[32];

	(void)arg;
	metrics_family(o, "flowsteer_agent_bounds_hit_total", "counter",
		       "Bounds against hostile or huge API objects that were hit (each keeps the plugin's decision; "
		       "logged once per object).");
	for (int b = 0; b < BOUND_N; b++) {
		snprintf(label, sizeof(label), "bound=\"%s\"", bound_names[b]);
		metrics_sample_u64(o, "flowsteer_agent_bounds_hit_total", label, atomic_load(&bound_hits[b]));
	}
}

void bounds_reset(void)
{
	tdestroy(logged, free);
	logged = NULL;
	nlogged = 0;
}

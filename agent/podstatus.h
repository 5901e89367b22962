/* The status duty: each tuned pod's flowsteer.io/status annotation set to
 * the status line of its attachment records (docs/agent.md).
 *
 * Keyed by pod UID, never by name: every patch carries the UID as a
 * precondition, so a pod recreated under the same name (a StatefulSet's)
 * is never given the line of the pod it replaced (409: that pending patch
 * is dropped, and that UID is never patched again). The line last patched
 * is remembered per UID, so an unchanged line is never sent twice; a line
 * that changes while its patch is in flight is sent again afterwards.
 * Failures (no answer, 401, 403, 429, 5xx) are retried per UID with
 * exponential backoff and jitter; 404 (the pod is gone) and other 4xx are
 * not retried.
 *
 * Patches are asynchronous transfers on the agent's loop (at most
 * PODSTATUS_INFLIGHT at once): a pod start never waits for the API
 * server, and a slow or hung server never stalls the loop. */
#ifndef FLOWSTEER_AGENT_PODSTATUS_H
#define FLOWSTEER_AGENT_PODSTATUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube.h"
#include "loop.h"
#include "metrics.h"
#include "pace.h"

#define PODSTATUS_INFLIGHT 4
/* A patch is small and nothing waits on it: a hung server must give the
 * slot back well before --request-timeout-seconds (60) would. */
#define PODSTATUS_TIMEOUT_MS 15000

/* One attachment's contribution, as the records say now. */
struct podstatus_item {
	const char *uid, *ns, *name, *ifname, *line;
	long long time;         /* the record's time: the newest of one ifname wins */
};

struct podstatus_entry;

struct podstatus_slot {
	struct loop_xfer x;
	struct kube_patch_req req;
	struct podstatus_entry *e;
	char *line;             /* what this transfer sends */
};

struct podstatus {
	struct loop *loop;          /* set from start to stop: the one "started" marker */
	struct kube_client *kube;
	long long backoff_base_ms, backoff_max_ms;
	struct podstatus_entry **v; /* sorted by uid */
	size_t n, cap;
	struct podstatus_slot slot[PODSTATUS_INFLIGHT];
	struct loop_timer timer;
	/* Read by the metrics thread. */
	_Atomic uint64_t results[KUBE_PATCH_NRESULTS];
	_Atomic uint64_t pending;
};

void podstatus_init(struct podstatus *p);
/* Patches go to kube, failures back off from base to max ms. Cannot fail. */
int podstatus_start(struct podstatus *p, struct kube_client *kube, long long backoff_base_ms,
		    long long backoff_max_ms, struct loop *l);
/* What every record says now (items in any order; the array is sorted in
 * place): changed lines are queued, UIDs without a record are forgotten
 * and their retries dropped. */
void podstatus_sync(struct podstatus *p, struct podstatus_item *items, size_t n);
/* Aborts the patches in flight; safe twice, and after init alone. */
void podstatus_stop(struct podstatus *p);
void podstatus_collect(struct metrics_out *o, void *arg);

/* The line of one pod from its items (sorted by ifname, then time), for
 * podstatus_sync and the unit tests: one interface gives its line as it
 * is; several give "IFNAME: LINE; IFNAME: LINE". Returns a malloc'ed
 * string. */
char *podstatus_compose(const struct podstatus_item *items, size_t n);
int podstatus_item_cmp(const void *a, const void *b);

#endif

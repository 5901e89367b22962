/* List-then-watch of one resource, as client-go's Reflector does it:
 *  - list (paged, `limit`/`continue`), replace the store, remember the
 *    list's resourceVersion;
 *  - watch from it with allowWatchBookmarks=true and a randomised
 *    timeoutSeconds in [min, 2*min); every event and bookmark moves the
 *    resourceVersion on;
 *  - a watch the server ends (its timeoutSeconds) is resumed from the last
 *    resourceVersion, without a list: a quiet resource is no fault, and
 *    an API server that sends no bookmarks is healthy;
 *  - 410 Gone (an ERROR event with code 410, or HTTP 410) relists: first at
 *    the last resourceVersion, then, if that list is 410 too, with none
 *    (a consistent read);
 *  - a dropped connection, or a watch the server did not end in time,
 *    resumes too (after a backoff), as client-go's does;
 *  - failures back off exponentially with jitter (800 ms doubling to 30 s,
 *    reset after 2 min quiet).
 * Every transfer is bounded: connect+TLS, a whole list page, and a watch by
 * timeoutSeconds plus a margin (a server that did not end it by then is
 * hung). A dead peer is found sooner by TCP keepalive (kube.c), never by
 * an idle bound on the data. */
#ifndef FLOWSTEER_AGENT_REFLECTOR_H
#define FLOWSTEER_AGENT_REFLECTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kobj.h"
#include "kube.h"
#include "loop.h"
#include "pace.h"

struct reflector_cfg {
	long watch_min_s;      /* client-go's minWatchTimeout: 300 */
	long margin_s;         /* a watch not ended this long after its timeoutSeconds: hung (60) */
	long page_size;        /* 500 */
	long long backoff_base_ms, backoff_max_ms, backoff_reset_ms;
};

enum reflector_state { RF_WAIT, RF_LIST, RF_WATCH };
enum reflector_next { RF_NEXT_LIST, RF_NEXT_WATCH };

struct reflector_buf {
	char *data;
	size_t len, cap;
};

struct reflector {
	const char *name;              /* "namespaces", "pods": logs and metric labels */
	char path[64];
	char selector[512];            /* escaped fieldSelector value, or "" */
	bool namespaced;
	struct kube_client *kube;
	const struct reflector_cfg *cfg;
	struct kstore store, pending;
	enum reflector_state state;
	enum reflector_next next;
	bool synced;                   /* a list completed at least once */
	bool established;              /* the current watch answered 200 */
	char rv[128], list_rv[128];
	char *cont;
	struct loop_xfer xfer;
	struct reflector_buf buf;
	long http;
	bool relist, failed;
	bool page_over;                /* the list page overflowed its bound */
	long page;                     /* objects per list page after one did; 0: cfg->page_size */
	unsigned long long watch_events;
	long long started;
	struct backoff bo;
	struct loop_timer timer;
	/* The store changed (or the first list completed). */
	void (*changed)(struct reflector *r, void *arg);
	void *arg;
	/* Read by the metrics thread. */
	_Atomic uint64_t m_restarts, m_lists, m_events, m_errors;
};

int reflector_init(struct reflector *r, const char *name, const char *path, const char *field_selector,
		   bool namespaced, struct kube_client *kube, const struct reflector_cfg *cfg);
void reflector_start(struct loop *l, struct reflector *r);
void reflector_stop(struct loop *l, struct reflector *r);
/* The watch is established (answered 200 and is streaming). */
bool reflector_healthy(struct reflector *r);

#endif

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

/* The states, in one field (struct reflector.state):
 *
 *                       next page, 410 at a version
 *                       (fresh list), page over
 *                       (smaller pages): at once
 *                          +------+
 *                          v      |    last page: at once
 *   STOPPED --start--> LISTING ---+----------------------> WATCHING <--+
 *                       ^   |                               |  |  |    | the server ended
 *                 timer |   | failure: backoff              |  |  +----+ it: at once, at
 *                       |   v                               |  |         the last version
 *                     WAIT_LIST <---------------------------+  |
 *                         410, ERROR event, undecodable,       | dropped, ended at once,
 *                         non-200, a bound: backoff,           | hung: backoff
 *                         relist at the last version           v
 *                                                          WAIT_WATCH --timer--> WATCHING
 *   any state --stop--> STOPPED
 *
 * rf_next() is the whole table. Each transfer ends in one completion
 * handler (rf_done(), from the loop's reap step), which maps it to an
 * outcome (rf_list_outcome(), rf_watch_outcome()). The backoff timer is
 * the reflector's (a loop timer); the hung bound is the watch transfer's
 * own (libcurl's CURLOPT_TIMEOUT_MS, rf_watch_bound_ms()), so it ends
 * through that same handler. */
enum rf_state { RF_STOPPED, RF_WAIT_LIST, RF_LISTING, RF_WAIT_WATCH, RF_WATCHING, RF_NSTATES };

enum rf_outcome {
	RF_O_START,      /* reflector_start() */
	RF_O_TIMER,      /* the backoff timer fired */
	RF_O_PAGE,       /* a list page, and a continue token */
	RF_O_LISTED,     /* the last list page */
	RF_O_LIST_GONE,  /* a list at a resourceVersion or continue token: 410 */
	RF_O_PAGE_OVER,  /* a list page over its bound: again in smaller pages */
	RF_O_FAILED,     /* connect, TLS, non-200, undecodable, an ERROR event, a bound */
	RF_O_GONE,       /* the watch: 410 (HTTP, or an ERROR event) */
	RF_O_ENDED,      /* the server ended the watch (its timeoutSeconds) */
	RF_O_DROPPED,    /* the watch dropped, or ended at once with no event */
	RF_O_HUNG,       /* the watch not ended by timeoutSeconds + margin */
	RF_O_STOP,       /* reflector_stop() */
	RF_NOUTCOMES
};

/* Where the next list starts. */
enum rf_from {
	RF_FROM_SAME,    /* where it was (the continue token, the list's resourceVersion) */
	RF_FROM_START,   /* the first page again (pending and continue token dropped) */
	RF_FROM_RV,      /* the first page, at the last watched resourceVersion */
	RF_FROM_NONE,    /* the first page, no resourceVersion: a consistent read */
};

struct rf_step {
	enum rf_state state;
	bool backoff;    /* a WAIT_* state: for a backoff delay (else at once) */
	bool error;      /* counted in m_errors, logged as a warning */
	enum rf_from from;
	bool stay;       /* `o` does not happen in `s`: nothing to do */
};

/* Pure: the next step from `s` on `o`. An outcome that cannot happen in
 * `s` leaves it as it is. */
struct rf_step rf_next(enum rf_state s, enum rf_outcome o);

/* What a finished list transfer says, before its body is read: RF_NOUTCOMES
 * when the body is a page to decode (PAGE, LISTED or FAILED then). */
enum rf_outcome rf_list_outcome(CURLcode rc, long http, bool over, long page, bool at_place);

/* What a finished watch transfer says. */
struct rf_watch_end {
	CURLcode rc;
	long http;
	bool gone;              /* an ERROR event with code 410 */
	bool failed;            /* another ERROR event, an undecodable event, a bound */
	long long lasted_ms;
	unsigned long long events;
};
enum rf_outcome rf_watch_outcome(const struct rf_watch_end *w);
/* The hung bound of a watch asking for timeoutSeconds t (libcurl's
 * transfer timeout: the backoff timer is the loop's). */
long rf_watch_bound_ms(const struct reflector_cfg *cfg, long t);
const char *rf_state_name(enum rf_state s);
const char *rf_outcome_name(enum rf_outcome o);

struct reflector_buf {
	char *data;
	size_t len, cap;
	size_t line;                   /* where the last, partial line starts */
};

struct reflector {
	const char *name;              /* "namespaces", "pods": logs and metric labels */
	char path[64];
	char selector[512];            /* escaped fieldSelector value, or "" */
	bool namespaced;
	struct kube_client *kube;
	const struct reflector_cfg *cfg;
	struct kstore store, pending;
	enum rf_state state;
	bool synced;                   /* a list completed at least once */
	char rv[128], list_rv[128];
	char *cont;
	struct loop_xfer xfer;
	struct reflector_buf buf;
	/* Set by the write callbacks (buffering only) and the data hook. */
	bool over;                     /* the buffer passed its bound */
	bool gone, failed;             /* the watch stream said 410 / broke */
	long page;                     /* objects per list page after one overflowed; 0: cfg->page_size */
	unsigned long long watch_events;
	long long started;
	struct backoff bo;
	struct loop_timer backoff;     /* WAIT_LIST, WAIT_WATCH end here */
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
/* Watching, and the watch answered 200 (it streams, quiet or not).
 * Changes nothing. */
bool reflector_streaming(const struct reflector *r);

/* Between reflector.c and reflector_body.c (libcurl's callbacks, which
 * only buffer, and the readers of what they buffered, on the loop). */
size_t rf_list_write(char *p, size_t size, size_t n, void *arg);
size_t rf_watch_write(char *p, size_t size, size_t n, void *arg);
/* A page that answered 200: LISTED (the store replaced), PAGE (r->cont
 * set) or FAILED (e set). */
enum rf_outcome rf_list_page(struct reflector *r, struct fs_err *e);
/* Whole watch lines out of r->buf: RF_NOUTCOMES while the watch goes on,
 * RF_O_GONE or RF_O_FAILED when it must end. */
enum rf_outcome rf_watch_lines(struct reflector *r);
/* "what: HTTP 403 (message)" for a log line. */
void rf_http_why(const struct reflector *r, const char *what, long http, char *out, size_t len);

#endif

/* The plugin's records, seen from the agent (docs/agent.md): inotify on
 * <stateDir>/attachments and <stateDir> (which may not exist before the
 * first ADD), a debounced rescan through plugin/record.c (the only reader of
 * the records' format), and from each rescan:
 *  - every pod's status line for the status duty (podstatus.c);
 *  - the gauges flowsteer_attachments{mode,scope} and
 *    flowsteer_node_device_holders{device}, published to the metrics
 *    thread under the records lock, so a scrape reads no file;
 * and the drift gauges (verify.c reads every recorded device's live
 * values) from a thread of their own: a scrape kicks a pass when the last
 * is older than --drift-interval-seconds and serves the last one; a pass
 * never holds a lock the loop needs, and one a re-mask overlapped is
 * thrown away, so a re-mask never waits for it. */
#ifndef FLOWSTEER_AGENT_RECORDS_H
#define FLOWSTEER_AGENT_RECORDS_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dirwatch.h"
#include "loop.h"
#include "metrics.h"
#include "model.h"
#include "pace.h"
#include "podstatus.h"

/* Names logged once while they last (records without a podUid, records
 * that cannot be read). */
struct onceset {
	char **v;
	size_t n;
};

struct records {
	struct loop *loop;          /* set from start to stop: the one "started" marker */
	const char *state_dir;
	struct podstatus *ps;       /* NULL: no status duty (--no-kube) */
	struct dirwatch dw_state, dw_att;
	struct loop_debounce scan;
	struct onceset no_uid, bad;
	long long drift_interval_ms;
	/* Shared with the metrics thread, under lock. */
	pthread_mutex_t lock;
	uint64_t by[3][4];          /* [enum fs_mode][enum fs_scope] */
	int holders, ndev;
	char devs[MODEL_MAX_DEVS][MODEL_NAME_MAX];
	/* The last drift pass (drift thread), under lock. */
	long long drift_at, drift_wall;
	int drift, unreadable;
	bool drift_kicked;
	pthread_cond_t drift_cond;      /* with lock: kicks and the stop */
	pthread_t drift_thread;
	bool drift_on;
	atomic_bool drift_stop;
	_Atomic uint64_t scans, unreadable_records;
};

void records_init(struct records *r);
/* ps: the status duty to feed (NULL: none). Returns 0 or -1 (logged);
 * records_stop() then releases what it took. */
int records_start(struct records *r, const char *state_dir, struct podstatus *ps, long long drift_interval_ms,
		  struct loop *l);
/* Safe twice, and after init alone or a failed start. */
void records_stop(struct records *r);
void records_collect(struct metrics_out *o, void *arg);

/* Around a re-mask (the loop): a drift pass that overlaps one would see
 * its half-done writes, and is thrown away instead (a seqlock: the
 * re-mask never waits). */
void records_remask_begin(void);
void records_remask_end(void);

/* The drift thread (drift.c), for records_start() and records_stop():
 * 0 or -1 (logged); stop is safe when it never started. */
int records_drift_start(struct records *r);
void records_drift_stop(struct records *r);

#endif

/* The plugin's records, seen from the agent (docs/agent.md): inotify on
 * <stateDir>/attachments and <stateDir> (which may not exist before the
 * first ADD), a debounced rescan through plugin/state.c (the only reader of
 * the records' format), and from each rescan:
 *  - every pod's status line for the status duty (podstatus.c);
 *  - the gauges flowsteer_attachments{mode,scope} and
 *    flowsteer_node_device_holders{device}, published to the metrics
 *    thread under the records lock, so a scrape reads no file;
 * and at scrape time, at most every --drift-interval-seconds, the drift
 * gauges (verify.c reads every recorded device's live values). */
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
	const char *state_dir;
	struct loop *loop;
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
	/* The metrics thread's own (drift, at most every drift_interval_ms). */
	long long drift_at;
	int drift, unreadable;
	_Atomic uint64_t scans, unreadable_records;
};

int records_start(struct loop *l, struct records *r, const char *state_dir, struct podstatus *ps,
		  long long drift_interval_ms);
void records_release(struct loop *l, struct records *r);
void records_collect(struct metrics_out *o, void *arg);

/* The main loop (re-masking) and the metrics thread (drift) both read the
 * records and enter the same pod netns (each thread returns to its own,
 * netns.c): they hold this so that one pass never sees the other's
 * half-done writes. */
void records_netns_lock(void);
void records_netns_unlock(void);

#endif

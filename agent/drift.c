/* The drift gauges' thread (records.h): a pass over every record's
 * devices when a scrape asks for one, thrown away when a re-mask overlaps
 * it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "alog.h"
#include "records.h"
#include "state.h"
#include "util.h"
#include "verify.h"

/* A drift pass that has not finished this long after the first kick is
 * retried this often while re-masks keep cutting it short. */
#define DRIFT_RETRY_MS 200
#define DRIFT_NICE 10

/* Odd while a re-mask runs (seqlock): a drift pass that saw it change
 * read records and devices half-way through a re-mask; it is thrown away,
 * never waited for. */
static _Atomic unsigned remask_seq;

void records_remask_begin(void)
{
	atomic_fetch_add(&remask_seq, 1);
}

void records_remask_end(void)
{
	atomic_fetch_add(&remask_seq, 1);
}

struct drift_scan {
	int drift, unreadable, nnode;
	unsigned seq;               /* remask_seq when the pass began */
	const atomic_bool *stop;
	char node[MODEL_MAX_DEVS][MODEL_NAME_MAX];
	struct verify_dev v[MODEL_MAX_DEVS];
};

/* A node device is in every holder's record: counted once. */
static bool node_seen(struct drift_scan *d, const char *name)
{
	for (int i = 0; i < d->nnode; i++)
		if (!strcmp(d->node[i], name))
			return true;
	if (d->nnode < MODEL_MAX_DEVS)
		snprintf(d->node[d->nnode++], MODEL_NAME_MAX, "%s", name);
	return false;
}

static int drift_visit(const char *file, struct attachment *a, const struct fs_err *err, void *arg)
{
	struct drift_scan *d = arg;
	int n = 0;

	(void)file;
	(void)err;
	/* A re-mask began (or the agent stops): this pass is void. */
	if (atomic_load(&remask_seq) != d->seq || atomic_load(d->stop))
		return 1;
	if (!a)
		return 0;
	/* a is this pass's copy: a node device an earlier holder had checked is
	 * not read again. */
	for (int i = 0; i < a->ndev; i++)
		if (a->devs[i].scope == DEV_SCOPE_NODE && model_dev_held(&a->devs[i]) &&
		    node_seen(d, a->devs[i].name))
			a->devs[i].status = DEV_SKIPPED;
	verify_attachment(a, NULL, d->v, &n);
	for (int i = 0; i < n; i++) {
		if (d->v[i].state == VERIFY_DRIFT)
			d->drift++;
		else if (d->v[i].state == VERIFY_UNREADABLE)
			d->unreadable++;
	}
	return 0;
}

/* What a pass came to: a void one is tried again shortly. */
enum drift_pass {
	DRIFT_PUBLISHED,
	DRIFT_VOID,     /* a re-mask overlapped it; or no memory, no stateDir */
};

/* One pass over every record (the drift thread); published under r->lock
 * only when no re-mask ran meanwhile. */
static enum drift_pass records_drift_pass(struct records *r)
{
	struct drift_scan *d = calloc(1, sizeof(*d));
	struct state st = STATE_INIT;
	struct fs_err e = { 0 };
	enum drift_pass res = DRIFT_VOID;
	int ret = -1;

	if (!d)
		return DRIFT_VOID;
	d->seq = atomic_load(&remask_seq);
	d->stop = &r->drift_stop;
	if (!(d->seq & 1) && state_open(&st, r->state_dir, false, &e) == 0)
		ret = state_records_foreach(&st, drift_visit, d);
	state_close(&st);
	if (ret >= 0 && atomic_load(&remask_seq) == d->seq && !(d->seq & 1)) {
		pthread_mutex_lock(&r->lock);
		r->drift = d->drift;
		r->unreadable = d->unreadable;
		r->drift_at = mono_ms();
		r->drift_wall = time(NULL);
		pthread_mutex_unlock(&r->lock);
		res = DRIFT_PUBLISHED;
	}
	free(d);
	return res;
}

/* The drift thread: a pass when a scrape found the last one older than
 * --drift-interval-seconds (records_collect kicks it), never on the scrape
 * itself; a pass a re-mask voided is tried again shortly. */
static void *records_drift_main(void *arg)
{
	struct records *r = arg;
	bool retry = false;

	/* Background work: on a busy node the loop and the re-mask go first
	 * (on Linux a nice value is per thread). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), DRIFT_NICE))
		alog(ALOG_DEBUG, "records: drift thread: nice %d: %s", DRIFT_NICE, strerror(errno));
	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->drift_stop)) {
		if (!r->drift_kicked && !retry) {
			pthread_cond_wait(&r->drift_cond, &r->lock);
			continue;
		}
		if (retry) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += DRIFT_RETRY_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&r->drift_cond, &r->lock, &ts);
			if (atomic_load(&r->drift_stop))
				break;
		}
		r->drift_kicked = false;
		pthread_mutex_unlock(&r->lock);
		retry = records_drift_pass(r) == DRIFT_VOID;
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int records_drift_start(struct records *r)
{
	pthread_condattr_t ca;
	int ret;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->drift_cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&r->drift_stop, false);
	ret = pthread_create(&r->drift_thread, NULL, records_drift_main, r);
	if (ret) {
		pthread_cond_destroy(&r->drift_cond);
		alog(ALOG_ERROR, "records: starting the drift thread: %s", strerror(ret));
		return -1;
	}
	r->drift_on = true;
	return 0;
}

void records_drift_stop(struct records *r)
{
	if (!r->drift_on)
		return;
	pthread_mutex_lock(&r->lock);
	atomic_store(&r->drift_stop, true);
	pthread_cond_signal(&r->drift_cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->drift_thread, NULL);
	pthread_cond_destroy(&r->drift_cond);
	r->drift_on = false;
}

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <time.h>

#include "alog.h"
#include "config.h"
#include "records.h"
#include "state.h"
#include "util.h"

/* A burst (a storm of ADDs, a re-mask rewriting every record) is read once
 * it is quiet, at most this late: each rescan reads every record. */
#define SCAN_QUIET_MS 10
#define SCAN_MAX_MS 100
#define WATCH_MASK (IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)
#define LINE_MAX_LEN 1024

static void once_clear(struct onceset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* Adds key to cur; true when it was not in old (the caller logs it). */
static bool once_note(const struct onceset *old, struct onceset *cur, const char *key)
{
	char **nv = realloc(cur->v, (cur->n + 1) * sizeof(*nv));

	if (nv) {
		cur->v = nv;
		if ((cur->v[cur->n] = strdup(key)))
			cur->n++;
	}
	for (size_t i = 0; i < old->n; i++)
		if (!strcmp(old->v[i], key))
			return false;
	return true;
}

struct scan {
	struct records *r;
	struct podstatus_item *items;
	size_t n, cap;
	uint64_t by[3][4];
	struct onceset no_uid, bad;
};

static void item_free(struct podstatus_item *it)
{
	free((char *)it->uid);
	free((char *)it->ns);
	free((char *)it->name);
	free((char *)it->ifname);
	free((char *)it->line);
}

static int scan_item(struct scan *s, const struct attachment *a)
{
	struct podstatus_item it = { .time = a->time };
	char *line = malloc(LINE_MAX_LEN);

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct podstatus_item *nv = realloc(s->items, cap * sizeof(*nv));

		if (!nv) {
			free(line);
			return -ENOMEM;
		}
		s->items = nv;
		s->cap = cap;
	}
	if (line)
		model_status_line(a, line, LINE_MAX_LEN);
	it.line = line;
	it.uid = strdup(a->pod_uid);
	it.ns = strdup(a->pod_namespace);
	it.name = strdup(a->pod_name);
	it.ifname = strdup(a->ifname);
	if (!it.line || !it.uid || !it.ns || !it.name || !it.ifname) {
		item_free(&it);
		return -ENOMEM;
	}
	s->items[s->n++] = it;
	return 0;
}

static int scan_visit(const char *file, struct attachment *a, const struct fs_err *err, void *arg)
{
	struct scan *s = arg;

	if (!a) {
		if (once_note(&s->r->bad, &s->bad, file))
			alog(ALOG_WARN, "records: %s", err->msg);
		return 0;
	}
	if ((unsigned)a->mode < 3 && (unsigned)a->scope < 4)
		s->by[a->mode][a->scope]++;
	if (!s->r->ps)
		return 0;
	/* Without the uid precondition a patch could reach a pod recreated
	 * under the same name (a StatefulSet's) with the line of the one it
	 * replaced: such a record is not patched at all. */
	if (!a->pod_uid[0] || !a->pod_namespace[0] || !a->pod_name[0]) {
		if (once_note(&s->r->no_uid, &s->no_uid, file))
			alog(ALOG_INFO, "status: record %s (pod \"%s/%s\") has no pod UID (the runtime passed no "
			     "K8S_POD_UID): its status is not patched", file, a->pod_namespace, a->pod_name);
		return 0;
	}
	if (scan_item(s, a))
		alog(ALOG_ERROR, "status: record %s: out of memory", file);
	return 0;
}

/* The node devices (node.json) and their holders, under the lock. */
static void scan_node(struct scan *s, struct state *st)
{
	struct records *r = s->r;
	struct node_state *n = calloc(1, sizeof(*n));
	struct fs_err e = { 0 };
	int holders = state_holders(st), ret = -1;

	if (!n)
		alog(ALOG_ERROR, "records: %s/node.json: out of memory", r->state_dir);
	else
		ret = state_node_read(st, n, &e);
	if (n && ret == -1 && once_note(&r->bad, &s->bad, "node.json"))
		alog(ALOG_WARN, "records: %s", e.msg);
	pthread_mutex_lock(&r->lock);
	r->holders = holders < 0 ? 0 : holders;
	r->ndev = 0;
	for (int i = 0; n && !ret && i < n->ndev; i++)
		snprintf(r->devs[r->ndev++], MODEL_NAME_MAX, "%s", n->devs[i].name);
	pthread_mutex_unlock(&r->lock);
	if (n)
		node_state_clear(n);
	free(n);
}

static void records_scan(void *arg)
{
	struct records *r = arg;
	struct scan s = { .r = r };
	struct state st = STATE_INIT;
	struct fs_err e = { 0 };

	if (state_open(&st, r->state_dir, false, &e)) {
		if (once_note(&r->bad, &s.bad, r->state_dir))
			alog(ALOG_WARN, "records: %s", e.msg);
	} else {
		state_records_foreach(&st, scan_visit, &s);
		scan_node(&s, &st);
	}
	state_close(&st);
	pthread_mutex_lock(&r->lock);
	memcpy(r->by, s.by, sizeof(r->by));
	pthread_mutex_unlock(&r->lock);
	atomic_store(&r->unreadable_records, s.bad.n);
	atomic_fetch_add(&r->scans, 1);
	if (r->ps)
		podstatus_sync(r->ps, s.items, s.n);
	for (size_t i = 0; i < s.n; i++)
		item_free(&s.items[i]);
	free(s.items);
	once_clear(&r->no_uid);
	once_clear(&r->bad);
	r->no_uid = s.no_uid;
	r->bad = s.bad;
}

/* Records and node.json; not the lock, boot_id or temp files. */
static void records_on_change(struct dirwatch *w, const char *name, void *arg)
{
	struct records *r = arg;
	size_t len = name ? strlen(name) : 0;

	if (name && (len < 5 || strcmp(name + len - 5, ".json") || file_is_tmp(name)))
		return;
	if (name && w == &r->dw_state && strcmp(name, "node.json"))
		return;
	loop_debounce_kick(&r->scan);
}

void records_init(struct records *r)
{
	r->dw_state.ifd = r->dw_att.ifd = -1;
	r->drift_at = -1;
}

int records_start(struct records *r, const char *state_dir, struct podstatus *ps, long long drift_interval_ms,
		  struct loop *l)
{
	char att[PATH_MAX];

	r->loop = l;
	r->state_dir = state_dir;
	r->ps = ps;
	r->drift_interval_ms = drift_interval_ms;
	pthread_mutex_init(&r->lock, NULL);
	loop_debounce_init(l, &r->scan, SCAN_QUIET_MS, SCAN_MAX_MS, records_scan, r);
	if (records_drift_start(r))
		return -1;
	if (snprintf(att, sizeof(att), "%s/attachments", state_dir) >= (int)sizeof(att)) {
		alog(ALOG_ERROR, "--state-dir %.200s...: too long", state_dir);
		return -1;
	}
	if (dirwatch_start(l, &r->dw_state, state_dir, WATCH_MASK, records_on_change, r) ||
	    dirwatch_start(l, &r->dw_att, att, WATCH_MASK, records_on_change, r))
		return -1;
	alog(ALOG_INFO, "records: watching %s", att);
	loop_debounce_kick(&r->scan);
	return 0;
}

void records_stop(struct records *r)
{
	if (!r->loop)
		return;
	records_drift_stop(r);
	dirwatch_release(r->loop, &r->dw_state);
	dirwatch_release(r->loop, &r->dw_att);
	loop_debounce_forget(&r->scan);
	once_clear(&r->no_uid);
	once_clear(&r->bad);
	pthread_mutex_destroy(&r->lock);
	r->loop = NULL;
}

static void collect_gauges(struct metrics_out *o, struct records *r)
{
	static const char *const modes[] = { "rps", "rfs" };
	static const char *const scopes[] = { "container", "host", "both" };
	char label[96];

	metrics_family(o, "flowsteer_attachments", "gauge",
		       "Tuned pod interfaces (attachment records in stateDir) by mode and scope.");
	for (int m = 0; m < 2; m++)
		for (int s = 0; s < 3; s++) {
			snprintf(label, sizeof(label), "mode=\"%s\",scope=\"%s\"", modes[m], scopes[s]);
			metrics_sample_u64(o, "flowsteer_attachments", label, r->by[m + 1][s + 1]);
		}
	metrics_family(o, "flowsteer_node_device_holders", "gauge",
		       "Node devices tuned by flowsteer (node.json) and how many attachments hold them; "
		       "the originals come back after the last one leaves.");
	for (int i = 0; i < r->ndev; i++) {
		snprintf(label, sizeof(label), "device=\"%s\"", r->devs[i]);
		metrics_sample_u64(o, "flowsteer_node_device_holders", label, (unsigned long long)r->holders);
	}
}

/* Metrics thread: never reads a device; only the last pass's numbers,
 * copied under the short lock, and a kick when they are old. */
void records_collect(struct metrics_out *o, void *arg)
{
	struct records *r = arg;
	int drift, unreadable;
	long long wall;

	pthread_mutex_lock(&r->lock);
	collect_gauges(o, r);
	drift = r->drift;
	unreadable = r->unreadable;
	wall = r->drift_wall;
	if (r->drift_at < 0 || mono_ms() - r->drift_at >= r->drift_interval_ms) {
		r->drift_kicked = true;
		pthread_cond_signal(&r->drift_cond);
	}
	pthread_mutex_unlock(&r->lock);
	metrics_single_u64(o, "flowsteer_drift_devices", "gauge",
			   "Tuned devices whose live rps_cpus or rps_flow_cnt differ from what flowsteer wants "
			   "(changed by someone else, or a re-mask write that failed: such a device may steer onto "
			   "a CPU the kubelet made exclusive); node devices counted once. Pod interfaces are read inside "
			   "their netns (needs CAP_SYS_ADMIN). From the last drift pass (a thread of its own, at most "
			   "every --drift-interval-seconds, started by a scrape).",
			   (unsigned long long)drift);
	metrics_single_u64(o, "flowsteer_drift_unreadable_devices", "gauge",
			   "Tuned devices whose live values the agent could not read (no privilege to enter the "
			   "pod netns, a sysfs error): their drift is unknown.",
			   (unsigned long long)unreadable);
	metrics_single_u64(o, "flowsteer_drift_last_pass_timestamp_seconds", "gauge",
			   "When the drift gauges were computed (0: not yet); a scrape serves the last pass.",
			   (unsigned long long)wall);
	metrics_single_u64(o, "flowsteer_state_records_unreadable", "gauge",
			   "Files of stateDir (records, node.json) that cannot be read or trusted (logged once each).",
			   atomic_load(&r->unreadable_records));
	metrics_single_u64(o, "flowsteer_agent_state_scans_total", "counter",
			   "Rescans of stateDir's records (after inotify events, debounced).",
			   atomic_load(&r->scans));
}

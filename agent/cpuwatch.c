#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "alog.h"
#include "conflist.h"
#include "cpuwatch.h"
#include "records.h"
#include "remask.h"
#include "state.h"
#include "util.h"

/* The kubelet writes its checkpoint once per change, but admitting a pod
 * can take two (allocate, then the container's start): one pass for both. */
#define REMASK_QUIET_MS 100
#define REMASK_MAX_MS 1000
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE)

char *cpuwatch_config_json(const char *entry_json, const char *state_dir, const char *file, struct fs_err *e)
{
	static const char *const keys[] = { "cpus", "excludeCpus", "respectExclusiveCpus" };
	cJSON *entry = NULL, *conf;
	char *text = NULL;

	if (conflist_entry_parse(entry_json, &entry, e))
		return NULL;
	conf = cJSON_CreateObject();
	if (conf && cJSON_AddStringToObject(conf, "cniVersion", "1.0.0") &&
	    cJSON_AddStringToObject(conf, "name", "k8s-pod-network")) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, keys[i]);

			if (v)
				cJSON_AddItemToObject(conf, keys[i], cJSON_Duplicate(v, 1));
		}
		if (cJSON_AddStringToObject(conf, "stateDir", state_dir) &&
		    cJSON_AddStringToObject(conf, "cpuManagerStateFile", file))
			text = cJSON_PrintUnformatted(conf);
	}
	cJSON_Delete(conf);
	cJSON_Delete(entry);
	if (!text)
		err_set(e, CNI_ERR_IO, "the re-mask configuration: out of memory");
	return text;
}

int cpuwatch_config(const char *entry_json, const char *state_dir, const char *file, struct fs_config *cfg,
		    struct fs_err *e)
{
	char *conf = cpuwatch_config_json(entry_json, state_dir, file, e);
	int ret = conf ? config_parse(conf, strlen(conf), cfg, e) : -1;

	cJSON_free(conf);
	if (ret)
		config_free(cfg);
	return ret;
}

static void cpuwatch_log(const struct remask_result *r, const char *why, long long ms)
{
	for (int i = 0; i < r->warn.n; i++)
		alog(ALOG_WARN, "%s", r->warn.items[i]);
	alog(r->devices ? ALOG_INFO : ALOG_DEBUG,
	     "re-mask (%s): %d attachment(s), %d device(s) changed (%d queue writes), %d left as they were, %d failed or partial, %lld ms",
	     why, r->attachments, r->devices, r->queues, r->left, r->failed, ms);
}

static void cpuwatch_run(struct cpuwatch *c, const char *why)
{
	struct remask_result r = { 0 };
	struct state st = STATE_INIT;
	struct fs_err e = { 0 };
	long long t0 = mono_ms();
	int ret;

	/* remask_all would create a stateDir nobody used yet (the lock). */
	if (state_open(&st, c->cfg.state_dir, false, &e) == 0 && st.attfd < 0) {
		state_close(&st);
		alog(ALOG_DEBUG, "re-mask (%s): nothing tuned yet (%s/attachments absent)", why, c->cfg.state_dir);
		return;
	}
	state_close(&st);
	memset(&e, 0, sizeof(e));
	records_remask_begin();
	ret = remask_all(&c->cfg, &r, &e);
	records_remask_end();
	if (ret) {
		atomic_fetch_add(&c->errors, 1);
		alog(ALOG_ERROR, "re-mask (%s): %s", why, e.msg);
	} else {
		atomic_fetch_add(&c->runs, 1);
		atomic_fetch_add(&c->devices, (uint64_t)r.devices);
		atomic_fetch_add(&c->device_failures, (uint64_t)r.failed);
		cpuwatch_log(&r, why, mono_ms() - t0);
	}
	warn_free(&r.warn);
}

/* The re-mask thread: a pass per kick; kicks during a pass make one more
 * pass after it (the state changed while it ran). */
static void *cpuwatch_main(void *arg)
{
	struct cpuwatch *c = arg;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		const char *why = c->why;

		if (!why) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		c->why = NULL;
		pthread_mutex_unlock(&c->mu);
		cpuwatch_run(c, why);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void cpuwatch_kick(struct cpuwatch *c, const char *why)
{
	pthread_mutex_lock(&c->mu);
	c->why = why;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void cpuwatch_on_settled(void *arg)
{
	cpuwatch_kick(arg, "CPU manager state changed");
}

static void cpuwatch_on_change(struct dirwatch *w, const char *name, void *arg)
{
	struct cpuwatch *c = arg;

	(void)w;
	if (name && strcmp(name, c->base))
		return;
	loop_debounce_kick(&c->deb);
}

static int cpuwatch_dir(const char *file, char *dir, size_t len, char *base, size_t blen)
{
	const char *slash = strrchr(file, '/');

	if (file[0] != '/' || !slash[1] || strlen(slash + 1) >= blen || path_dirname(file, dir, len))
		return -1;
	snprintf(base, blen, "%s", slash + 1);
	return 0;
}

void cpuwatch_init(struct cpuwatch *c)
{
	c->dw.ifd = c->dw.wd = -1;
}

int cpuwatch_start(struct cpuwatch *c, const char *file, const char *state_dir, const char *entry_json,
		   struct loop *l)
{
	struct fs_err e = { 0 };
	char dir[PATH_MAX];
	int r;

	c->loop = l;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	loop_debounce_init(l, &c->deb, REMASK_QUIET_MS, REMASK_MAX_MS, cpuwatch_on_settled, c);
	if (cpuwatch_dir(file, dir, sizeof(dir), c->base, sizeof(c->base))) {
		alog(ALOG_ERROR, "--cpu-manager-state \"%.200s\": not an absolute path to a file", file);
		return -1;
	}
	if (cpuwatch_config(entry_json, state_dir, file, &c->cfg, &e)) {
		alog(ALOG_ERROR, "re-mask configuration (--entry, --state-dir, --cpu-manager-state): %s", e.msg);
		return -1;
	}
	c->stop = false;
	if ((r = pthread_create(&c->th, NULL, cpuwatch_main, c))) {
		alog(ALOG_ERROR, "re-mask: starting its thread: %s", strerror(r));
		return -1;
	}
	c->th_on = true;
	if (dirwatch_start(l, &c->dw, dir, WATCH_MASK, cpuwatch_on_change, c))
		return -1;
	alog(ALOG_INFO, "re-mask: watching %s (cpus %s%s%s, respectExclusiveCpus %s)", file, c->cfg.cpus.text,
	     c->cfg.exclude_text[0] ? ", excludeCpus " : "", c->cfg.exclude_text,
	     c->cfg.respect_exclusive ? "true" : "false");
	cpuwatch_kick(c, "agent start");
	return 0;
}

void cpuwatch_stop(struct cpuwatch *c)
{
	if (!c->loop)
		return;
	if (c->th_on) {
		/* A pass under way ends first (it holds the plugin's lock). */
		pthread_mutex_lock(&c->mu);
		c->stop = true;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->th, NULL);
		c->th_on = false;
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	dirwatch_release(c->loop, &c->dw);
	loop_debounce_forget(&c->deb);
	config_free(&c->cfg);
	c->loop = NULL;
}

void cpuwatch_collect(struct metrics_out *o, void *arg)
{
	struct cpuwatch *c = arg;

	metrics_single_u64(o, "flowsteer_remask_total", "counter",
			   "Re-mask passes over every tuned device (at start, and after each change of the kubelet's "
			   "CPU manager state).",
			   atomic_load(&c->runs));
	metrics_single_u64(o, "flowsteer_remask_devices_total", "counter",
			   "Devices whose rps_cpus a re-mask changed.",
			   atomic_load(&c->devices));
	metrics_single_u64(o, "flowsteer_remask_errors_total", "counter",
			   "Re-mask passes that could not run (the stateDir lock, the CPU lists, no writable sysfs).",
			   atomic_load(&c->errors));
	metrics_single_u64(o, "flowsteer_remask_device_failures_total", "counter",
			   "Devices a re-mask pass could not bring to the new mask (a write failed: the device is "
			   "failed or partial in its record and status annotation, and counts as drift).",
			   atomic_load(&c->device_failures));
}

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "alog.h"
#include "bounds.h"
#include "procstat.h"
#include "uninstall.h"

/* /healthz fails when the loop has not gone round for this long. */
#define HEALTH_STALE_MS 30000
/* Of the DaemonSet's 30 s terminationGracePeriodSeconds, what the undo of
 * the node may take after the DaemonSet was asked about (10 s at most),
 * the stateDir lock's wait included. */
#define UNINSTALL_UNDO_MS 15000

static void agent_on_signal(struct loop *l, int fd, short revents, void *arg)
{
	struct signalfd_siginfo si;

	(void)revents;
	(void)arg;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		alog(ALOG_INFO, "SIG%s: stopping", sigabbrev_np((int)si.ssi_signo));
		loop_stop(l);
	}
}

/* The first sync is written; at once without an API server. */
static bool agent_ready(void *arg)
{
	struct agent *a = arg;

	return a->o.no_kube || atomic_load(&a->af.synced_once);
}

static void agent_collect(struct metrics_out *o, void *arg)
{
	struct agent *a = arg;

	metrics_single_u64(o, "flowsteer_agent_last_sync_timestamp_seconds", "gauge",
			   "When the annotations file was last written in sync with the API server (Unix time; 0 = never).",
			   (unsigned long long)atomic_load(&a->af.last_sync));
	metrics_single_u64(o, "flowsteer_agent_annotations_file_writes_total", "counter",
			   "Writes of the annotations file.",
			   atomic_load(&a->af.writes));
	metrics_single_u64(o, "flowsteer_agent_annotations_file_write_errors_total", "counter",
			   "Failed writes of the annotations file (retried).",
			   atomic_load(&a->af.errors));
	metrics_single_u64(o, "flowsteer_agent_conflist_writes_total", "counter",
			   "Rewrites of the CNI config to chain flowsteer (install duty).",
			   atomic_load(&a->in.writes));
	metrics_single_u64(o, "flowsteer_agent_ready", "gauge",
			   "1 once the first sync is done (what /readyz reports).",
			   (unsigned long long)agent_ready(a));
	metrics_family(o, "flowsteer_agent_build_info", "gauge", "The agent's version.");
	metrics_printf(o, "flowsteer_agent_build_info{version=\"%s\"} 1\n", FLOWSTEER_VERSION);
}

static bool agent_healthy(void *arg)
{
	struct agent *a = arg;

	return mono_ms() - loop_heartbeat_ms(a->loop) < HEALTH_STALE_MS;
}

/* A collector, logged when the registry is full. */
static int agent_register(struct agent *a, metrics_collect_fn fn, void *arg, const char *duty)
{
	if (metrics_register(a->metrics, fn, arg) == 0)
		return 0;
	/* -ENOSPC, its one failure. */
	alog(ALOG_ERROR, "%s: its metrics: the registry is full", duty);
	return -1;
}

/* The metrics server: first up, last down, so /healthz answers all along;
 * each later duty takes its collector out before it stops. */
static int agent_metrics_start(struct agent *a)
{
	struct fs_err e = { 0 };
	unsigned port = 0;

	metrics_set_probes(a->metrics, agent_healthy, agent_ready, a);
	if (agent_register(a, agent_collect, a, "agent") || agent_register(a, bounds_collect, NULL, "bounds") ||
	    agent_register(a, procstat_collect_softnet, (void *)a->o.proc_dir, "softnet") ||
	    agent_register(a, procstat_collect_softirqs, (void *)a->o.proc_dir, "softirqs"))
		return -1;
	if (metrics_start(a->metrics, a->o.metrics_addr, &port, &e)) {
		alog(ALOG_ERROR, "%s", e.msg);
		return -1;
	}
	alog(ALOG_INFO, "metrics on %s (port %u): /metrics /healthz /readyz", a->o.metrics_addr, port);
	return 0;
}

static void agent_metrics_stop(struct agent *a)
{
	metrics_stop(a->metrics);
}

static int agent_install_start(struct agent *a)
{
	return install_start(&a->in, a->o.bin_dir, a->o.conf_dir, a->o.plugin_src, a->o.entry, a->loop);
}

static void agent_install_stop(struct agent *a)
{
	install_stop(&a->in);
}

static int agent_status_start(struct agent *a)
{
	return podstatus_start(&a->ps, a->kube, a->o.backoff_base_ms, a->o.backoff_max_ms, a->loop);
}

static void agent_status_stop(struct agent *a)
{
	podstatus_stop(&a->ps);
}

static int agent_records_start(struct agent *a)
{
	return records_start(&a->rec, a->o.state_dir, a->o.no_kube ? NULL : &a->ps, a->o.drift_s * 1000, a->loop);
}

static void agent_records_stop(struct agent *a)
{
	records_stop(&a->rec);
}

static int agent_cpuallowed_start(struct agent *a)
{
	return cpuallowed_start(&a->ca, a->o.entry, a->o.state_dir, a->o.cpu_state, a->loop);
}

static void agent_cpuallowed_stop(struct agent *a)
{
	cpuallowed_stop(&a->ca);
}

static int agent_remask_start(struct agent *a)
{
	return cpuwatch_start(&a->cw, a->o.cpu_state, a->o.state_dir, a->o.entry, a->loop);
}

static void agent_remask_stop(struct agent *a)
{
	cpuwatch_stop(&a->cw);
}

static bool agent_want_metrics(const struct agent_opts *o)
{
	return strcmp(o->metrics_addr, "off") != 0;
}

static bool agent_want_install(const struct agent_opts *o)
{
	return !o->no_install;
}

static bool agent_want_kube(const struct agent_opts *o)
{
	return !o->no_kube;
}

static bool agent_want_remask(const struct agent_opts *o)
{
	return strcmp(o->cpu_state, "off") != 0;
}

#define AT(field) offsetof(struct agent, field)

/* The duties in start order; agent_duties_stop() stops what started in
 * reverse. A later row may use an earlier one (the reflectors the API
 * client; records feed the status duty), never the other way round. */
const struct agent_duty agent_duties[AGENT_NDUTIES] = {
	{ "metrics", agent_metrics_start, agent_metrics_stop, NULL, 0, agent_want_metrics, NULL },
	{ "install", agent_install_start, agent_install_stop, NULL, 0, agent_want_install, NULL },
	{ "API client", agent_kube_start, agent_kube_stop, NULL, 0, agent_want_kube,
	  "--no-kube: no API server; no watch, no status patches" },
	{ "annotations file", agent_annfile_start, agent_annfile_stop, NULL, 0, agent_want_kube, NULL },
	{ "watch", agent_watch_start, agent_watch_stop, agent_watch_collect, 0, agent_want_kube, NULL },
	{ "status", agent_status_start, agent_status_stop, podstatus_collect, AT(ps), agent_want_kube, NULL },
	{ "records", agent_records_start, agent_records_stop, records_collect, AT(rec), NULL, NULL },
	{ "cpu allowed", agent_cpuallowed_start, agent_cpuallowed_stop, cpuallowed_collect, AT(ca), NULL, NULL },
	{ "re-mask", agent_remask_start, agent_remask_stop, cpuwatch_collect, AT(cw), agent_want_remask,
	  "--cpu-manager-state off: no re-masking when the kubelet's CPU pool changes" },
};

/* A duty whose start failed is stopped too: its stop releases what the
 * start took before it failed. */
static int agent_duties_start(struct agent *a, const struct agent_duty *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].applies && !t[i].applies(&a->o)) {
			if (t[i].off_msg)
				alog(ALOG_INFO, "%s", t[i].off_msg);
			continue;
		}
		a->up[a->nup++] = &t[i];
		if (t[i].start(a) ||
		    (t[i].collect && agent_register(a, t[i].collect, (char *)a + t[i].at, t[i].name))) {
			alog(ALOG_DEBUG, "%s: start failed; stopping what started", t[i].name);
			agent_duties_stop(a);
			return -1;
		}
	}
	return 0;
}

/* A stopped duty is never scraped: its collector goes first. */
void agent_duties_stop(struct agent *a)
{
	while (a->nup > 0) {
		const struct agent_duty *d = a->up[--a->nup];

		if (d->collect)
			metrics_unregister(a->metrics, d->collect, (char *)a + d->at);
		d->stop(a);
	}
}

int agent_start(struct agent *a, const struct agent_duty *t, size_t n)
{
	a->loop = loop_new();
	a->metrics = metrics_new();
	if (!a->loop || !a->metrics || loop_add_fd(a->loop, a->sfd, agent_on_signal, a)) {
		alog(ALOG_ERROR, "the event loop: out of memory");
		return -1;
	}
	install_init(&a->in);
	annfile_init(&a->af);
	podstatus_init(&a->ps);
	records_init(&a->rec);
	cpuallowed_init(&a->ca);
	cpuwatch_init(&a->cw);
	return agent_duties_start(a, t, n);
}

static void agent_uninstall_say(bool warn, const char *line, void *arg)
{
	(void)arg;
	alog(warn ? ALOG_WARN : ALOG_INFO, "%s", line);
}

/* The entry is out: no new ADD starts, and the runtimes run the tuned
 * pods' DELs without flowsteer (containerd takes the conflist as it is
 * then). What those DELs would have undone is undone here. */
static int agent_uninstall(struct agent *a)
{
	struct uninstall_result r = { 0 };
	struct fs_err e = { 0 };

	if (uninstall_all(a->o.state_dir, UNINSTALL_UNDO_MS, agent_uninstall_say, NULL, &r, &e)) {
		alog(ALOG_ERROR, "uninstall: nothing undone: %s", e.msg);
		return -1;
	}
	return 0;
}

int agent_run(struct agent *a)
{
	int ret = 1;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		alog(ALOG_ERROR, "curl_global_init failed");
		return 1;
	}
	alog(ALOG_INFO, "flowsteer-agent %s starting (pid %d)", FLOWSTEER_VERSION, (int)getpid());
	if (agent_start(a, agent_duties, AGENT_NDUTIES) || loop_run(a->loop))
		goto out;
	ret = 0;
	/* Only after SIGTERM/SIGINT: an agent that fails or crashes (and a
	 * crash loop) never takes the entry out. The binary always stays, for
	 * the DEL of pods that still exist. */
	if (a->in.chained_once && agent_uninstalling(a) && (install_unchain(&a->in) || agent_uninstall(a)))
		ret = 1;
out:
	alog(ALOG_INFO, "exiting with status %d", ret);
	return ret;
}

void agent_free(struct agent *a)
{
	agent_duties_stop(a);
	loop_free(a->loop);
	metrics_free(a->metrics);
	bounds_reset();
	if (a->sfd >= 0)
		close(a->sfd);
	curl_global_cleanup();
	free(a);
}

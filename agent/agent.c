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

/* Annotation changes reach the file once a burst is quiet, at most this
 * late: a pod start reads a cache at most ~100 ms behind the server, and a
 * burst of a thousand events costs ten writes, not a thousand. */
#define FLUSH_QUIET_MS 5
#define FLUSH_MAX_MS 100
#define FLUSH_RETRY_MS 1000

/* /healthz fails when the loop has not gone round for this long. */
#define HEALTH_STALE_MS 30000
/* Asking whether the DaemonSet is gone, within terminationGracePeriod (30 s). */
#define UNINSTALL_ASK_MS 10000

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

static bool agent_synced(const struct agent *a)
{
	return a->reflectors_on && a->ns.synced && a->pods.synced;
}

static void agent_flush(struct agent *a, bool refresh)
{
	struct fs_err e = { 0 };
	bool written;
	long long now = (long long)time(NULL);

	if (!agent_synced(a))
		return;
	if (annfile_sync(&a->af, &a->ns.store, &a->pods.store, now, refresh, &written, &e)) {
		atomic_fetch_add(&a->file_errors, 1);
		alog(ALOG_ERROR, "%s; retrying in %d ms", e.msg, FLUSH_RETRY_MS);
		a->refresh_due |= refresh;
		loop_debounce_retry(&a->flush, FLUSH_RETRY_MS);
		return;
	}
	a->dirty = a->refresh_due = false;
	if (written) {
		atomic_fetch_add(&a->file_writes, 1);
		atomic_store(&a->last_sync, now);
		alog(ALOG_DEBUG, "%s written: %zu namespaces, %zu pods", a->af.path, a->ns.store.n, a->pods.store.n);
	}
	if (!atomic_exchange(&a->ready, 1))
		alog(ALOG_INFO, "first sync done: %s written (%zu namespaces, %zu pods with flowsteer.io annotations)",
		     a->af.path, a->ns.store.n, a->pods.store.n);
}

static void agent_on_flush(void *arg)
{
	struct agent *a = arg;

	if (a->dirty || a->refresh_due)
		agent_flush(a, a->refresh_due);
}

static void agent_on_refresh(struct loop *l, struct loop_timer *t)
{
	struct agent *a = t->arg;

	/* Only while both watches stream: syncedAt claims "in sync". */
	if (reflector_streaming(&a->ns) && reflector_streaming(&a->pods))
		agent_flush(a, true);
	loop_timer_after(l, t, a->o.refresh_s * 1000);
}

static void agent_on_change(struct reflector *r, void *arg)
{
	struct agent *a = arg;

	(void)r;
	a->dirty = true;
	if (agent_synced(a))
		loop_debounce_kick(&a->flush);
}

static void agent_collect(struct metrics_out *o, void *arg)
{
	struct agent *a = arg;
	const struct reflector *rs[] = { &a->ns, &a->pods };
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} fam[] = {
		{ "flowsteer_agent_watch_restarts_total", "counter", "Watches that ended and were restarted (resumed or relisted).",
		  offsetof(struct reflector, m_restarts) },
		{ "flowsteer_agent_lists_total", "counter", "List requests (pages) sent.", offsetof(struct reflector, m_lists) },
		{ "flowsteer_agent_watch_events_total", "counter", "Watch events received (bookmarks included).",
		  offsetof(struct reflector, m_events) },
		{ "flowsteer_agent_api_errors_total", "counter", "Failed list or watch requests (each one backs off).",
		  offsetof(struct reflector, m_errors) },
	};

	for (size_t f = 0; a->reflectors_on && f < sizeof(fam) / sizeof(fam[0]); f++) {
		metrics_family(o, fam[f].name, fam[f].type, fam[f].help);
		for (int i = 0; i < 2; i++) {
			char label[64];

			snprintf(label, sizeof(label), "resource=\"%s\"", rs[i]->name);
			metrics_sample_u64(o, fam[f].name, label,
					   atomic_load((_Atomic uint64_t *)((char *)rs[i] + fam[f].off)));
		}
	}
	metrics_single_u64(o, "flowsteer_agent_last_sync_timestamp_seconds", "gauge",
			   "When the annotations file was last written in sync with the API server (Unix time; 0 = never).",
			   (unsigned long long)atomic_load(&a->last_sync));
	metrics_single_u64(o, "flowsteer_agent_annotations_file_writes_total", "counter",
			   "Writes of the annotations file.",
			   atomic_load(&a->file_writes));
	metrics_single_u64(o, "flowsteer_agent_annotations_file_write_errors_total", "counter",
			   "Failed writes of the annotations file (retried).",
			   atomic_load(&a->file_errors));
	metrics_single_u64(o, "flowsteer_agent_conflist_writes_total", "counter",
			   "Rewrites of the CNI config to chain flowsteer (install duty).",
			   atomic_load(&a->in.writes));
	metrics_single_u64(o, "flowsteer_agent_ready", "gauge",
			   "1 once the first sync is done (what /readyz reports).",
			   (unsigned long long)atomic_load(&a->ready));
	metrics_family(o, "flowsteer_agent_build_info", "gauge", "The agent's version.");
	metrics_printf(o, "flowsteer_agent_build_info{version=\"%s\"} 1\n", FLOWSTEER_VERSION);
}

static bool agent_healthy(void *arg)
{
	struct agent *a = arg;

	return mono_ms() - loop_heartbeat_ms(a->loop) < HEALTH_STALE_MS;
}

static bool agent_ready(void *arg)
{
	return atomic_load(&((struct agent *)arg)->ready) != 0;
}

static int agent_kube_start(struct agent *a)
{
	struct kube_timeouts t = { .connect_ms = a->o.connect_s * 1000, .request_ms = a->o.request_s * 1000 };
	struct fs_err e = { 0 };
	char sel[512];

	a->kube = a->o.kubeconfig ? kube_client_kubeconfig(a->o.kubeconfig, &t, &e)
				  : kube_client_incluster(a->o.sa_dir, &t, &e);
	if (!a->kube) {
		alog(ALOG_ERROR, "API server credentials: %s", e.msg);
		return -1;
	}
	a->rcfg = (struct reflector_cfg){
		.watch_min_s = a->o.watch_min_s, .margin_s = a->o.margin_s, .page_size = a->o.page_size,
		.backoff_base_ms = a->o.backoff_base_ms, .backoff_max_ms = a->o.backoff_max_ms,
		.backoff_reset_ms = BACKOFF_RESET_MS,
	};
	snprintf(sel, sizeof(sel), "spec.nodeName=%s", a->o.node_name);
	if (reflector_init(&a->ns, "namespaces", "/api/v1/namespaces", NULL, false, a->kube, &a->rcfg) ||
	    reflector_init(&a->pods, "pods", "/api/v1/pods", sel, true, a->kube, &a->rcfg)) {
		alog(ALOG_ERROR, "setting up the watches: out of memory");
		return -1;
	}
	a->reflectors_on = true;
	a->ns.changed = a->pods.changed = agent_on_change;
	a->ns.arg = a->pods.arg = a;
	alog(ALOG_INFO, "API server %s; node %s; annotations file %s", kube_server(a->kube), a->o.node_name,
	     a->af.path);
	reflector_start(a->loop, &a->ns);
	reflector_start(a->loop, &a->pods);
	loop_timer_after(a->loop, &a->refresh_timer, a->o.refresh_s * 1000);
	return 0;
}

static int agent_metrics_start(struct agent *a)
{
	struct fs_err e = { 0 };
	unsigned port = 0;

	metrics_set_probes(a->metrics, agent_healthy, agent_ready, a);
	if (metrics_register(a->metrics, agent_collect, a) || metrics_register(a->metrics, bounds_collect, NULL) ||
	    metrics_register(a->metrics, procstat_collect_softnet, (void *)a->o.proc_dir) ||
	    metrics_register(a->metrics, procstat_collect_softirqs, (void *)a->o.proc_dir))
		return -1;
	if (!strcmp(a->o.metrics_addr, "off"))
		return 0;
	if (metrics_start(a->metrics, a->o.metrics_addr, &port, &e)) {
		alog(ALOG_ERROR, "%s", e.msg);
		return -1;
	}
	alog(ALOG_INFO, "metrics on %s (port %u): /metrics /healthz /readyz", a->o.metrics_addr, port);
	return 0;
}

/* The duties on the plugin's records: status patches (with an API server),
 * their metrics, and re-masking. */
static int agent_records_start(struct agent *a)
{
	if (a->kube)
		podstatus_init(&a->ps, a->loop, a->kube, a->o.backoff_base_ms, a->o.backoff_max_ms);
	if (records_start(a->loop, &a->rec, a->o.state_dir, a->kube ? &a->ps : NULL, a->o.drift_s * 1000) ||
	    metrics_register(a->metrics, records_collect, &a->rec) ||
	    (a->kube && metrics_register(a->metrics, podstatus_collect, &a->ps)) ||
	    cpuallowed_init(&a->ca, a->o.entry, a->o.state_dir, a->o.cpu_state) ||
	    metrics_register(a->metrics, cpuallowed_collect, &a->ca))
		return -1;
	if (!strcmp(a->o.cpu_state, "off")) {
		alog(ALOG_INFO, "--cpu-manager-state off: no re-masking when the kubelet's CPU pool changes");
		return 0;
	}
	if (cpuwatch_start(a->loop, &a->cw, a->o.cpu_state, a->o.state_dir, a->o.entry))
		return -1;
	return metrics_register(a->metrics, cpuwatch_collect, &a->cw);
}

static int agent_setup(struct agent *a)
{
	a->loop = loop_new();
	a->metrics = metrics_new();
	if (!a->loop || !a->metrics || loop_add_fd(a->loop, a->sfd, agent_on_signal, a))
		return -1;
	snprintf(a->af.path, sizeof(a->af.path), "%s", a->o.annotations_file);
	loop_debounce_init(a->loop, &a->flush, FLUSH_QUIET_MS, FLUSH_MAX_MS, agent_on_flush, a);
	loop_timer_init(&a->refresh_timer, agent_on_refresh, a);
	if (agent_metrics_start(a))
		return -1;
	if (!a->o.no_install) {
		a->in.bin_dir = a->o.bin_dir;
		a->in.conf_dir = a->o.conf_dir;
		a->in.src = a->o.plugin_src;
		a->install_on = true;
		if (install_start(a->loop, &a->in, a->o.entry))
			return -1;
	}
	if (a->o.no_kube) {
		atomic_store(&a->ready, 1);
		alog(ALOG_INFO, "--no-kube: no API server; no watch, no status patches");
	} else if (agent_kube_start(a)) {
		return -1;
	}
	return agent_records_start(a);
}

/* The DaemonSet's deletion, as the API server tells it: 1 gone or being
 * deleted, 0 there, -1 no answer (logged). */
static int agent_ds_deleted(struct agent *a, const char *ns, const char *name)
{
	char path[512], *body = NULL, why[256];
	struct fs_err e = { 0 };
	const cJSON *ts;
	cJSON *j;
	long code;

	snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/daemonsets/%s", ns, name);
	code = kube_get(a->kube, path, UNINSTALL_ASK_MS, &body, &e);
	if (code == 404) {
		free(body);
		return 1;
	}
	if (code > 0 && code != 200) {
		kube_status_message(body, body ? strlen(body) : 0, why, sizeof(why));
		err_set(&e, CNI_ERR_IO, "GET %s%s: HTTP %ld (%s)%s", kube_server(a->kube), path, code, why,
			code == 403 ? ": the ServiceAccount lacks `get` on it (conf/rbac.yaml)" : "");
	}
	if (code != 200) {
		alog(ALOG_WARN, "DaemonSet %s/%s: %s; keeping the entry", ns, name, e.msg);
		free(body);
		return -1;
	}
	j = cJSON_Parse(body);
	ts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "metadata"), "deletionTimestamp");
	code = cJSON_IsString(ts) && ts->valuestring[0];
	cJSON_Delete(j);
	free(body);
	return (int)code;
}

/* SIGTERM also comes with a rolling update, a node shutdown or a restart:
 * the entry stays then, so that pods created before the next agent starts
 * are tuned (the plugin works without the agent: it never calls it, and
 * ignores a stale annotations file). Only the DaemonSet's own deletion is
 * an uninstall: gone (kubectl delete's default background cascade removes
 * it before its pods) or with a deletionTimestamp (foreground cascade: its
 * pods go first). Without an answer the entry stays: one left behind
 * costs nothing, one missing leaves pods untuned. Outside Kubernetes
 * (--no-kube) there is no DaemonSet: the stop is the uninstall. */
static bool agent_uninstalling(struct agent *a)
{
	char ns[64], name[254];
	const char *slash = strchr(a->o.daemonset, '/');
	int del;

	if (!a->kube)
		return true;
	snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - a->o.daemonset) : 0, a->o.daemonset);
	snprintf(name, sizeof(name), "%s", slash ? slash + 1 : "");
	del = agent_ds_deleted(a, ns, name);
	if (del > 0)
		alog(ALOG_INFO, "DaemonSet %s is gone or being deleted: uninstall, taking the entry out", a->o.daemonset);
	else if (del == 0)
		alog(ALOG_INFO, "DaemonSet %s is there (rolling update, restart, node shutdown): keeping the entry",
		     a->o.daemonset);
	return del > 0;
}

int agent_run(struct agent *a)
{
	int ret = 1;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		alog(ALOG_ERROR, "curl_global_init failed");
		return 1;
	}
	alog(ALOG_INFO, "flowsteer-agent %s starting (pid %d)", FLOWSTEER_VERSION, (int)getpid());
	if (agent_setup(a) || loop_run(a->loop))
		goto out;
	ret = 0;
	/* Only after SIGTERM/SIGINT: an agent that fails or crashes (and a
	 * crash loop) never takes the entry out. The binary always stays, for
	 * the DEL of pods that still exist. */
	if (a->install_on && a->in.chained_once && agent_uninstalling(a) && install_unchain(&a->in))
		ret = 1;
out:
	alog(ALOG_INFO, "exiting with status %d", ret);
	return ret;
}

void agent_free(struct agent *a)
{
	metrics_free(a->metrics);
	a->metrics = NULL;
	if (a->reflectors_on) {
		reflector_stop(a->loop, &a->ns);
		reflector_stop(a->loop, &a->pods);
	}
	if (a->loop) {
		cpuwatch_release(a->loop, &a->cw);
		cpuallowed_release(&a->ca);
		records_release(a->loop, &a->rec);
		podstatus_release(&a->ps);
		if (a->install_on)
			install_release(a->loop, &a->in);
		loop_free(a->loop);
	}
	annfile_release(&a->af);
	bounds_reset();
	kube_client_free(a->kube);
	if (a->sfd >= 0)
		close(a->sfd);
	curl_global_cleanup();
	free(a);
}

/* The duties that talk to the API server (agent.c's table runs them): the
 * client, the two reflectors (namespaces, pods) and the annotations file
 * they feed; and, at exit, whether the DaemonSet is being deleted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "alog.h"

/* Asking whether the DaemonSet is gone, within terminationGracePeriod (30 s). */
#define UNINSTALL_ASK_MS 10000

static bool agent_synced(void *arg)
{
	struct agent *a = arg;

	return a->ns.synced && a->pods.synced;
}

static bool agent_streaming(void *arg)
{
	struct agent *a = arg;

	return reflector_streaming(&a->ns) && reflector_streaming(&a->pods);
}

static void agent_on_change(struct reflector *r, void *arg)
{
	struct agent *a = arg;

	(void)r;
	annfile_changed(&a->af);
}

/* The reflectors' counters (the watch row's collector). */
void agent_watch_collect(struct metrics_out *o, void *arg)
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

	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		metrics_family(o, fam[f].name, fam[f].type, fam[f].help);
		for (int i = 0; i < 2; i++) {
			char label[64];

			snprintf(label, sizeof(label), "resource=\"%s\"", rs[i]->name);
			metrics_sample_u64(o, fam[f].name, label,
					   atomic_load((_Atomic uint64_t *)((char *)rs[i] + fam[f].off)));
		}
	}
}

int agent_kube_start(struct agent *a)
{
	struct kube_timeouts t = { .connect_ms = a->o.connect_s * 1000, .request_ms = a->o.request_s * 1000 };
	struct fs_err e = { 0 };

	a->kube = a->o.kubeconfig ? kube_client_kubeconfig(a->o.kubeconfig, &t, &e)
				  : kube_client_incluster(a->o.sa_dir, &t, &e);
	if (!a->kube) {
		alog(ALOG_ERROR, "API server credentials: %s", e.msg);
		return -1;
	}
	return 0;
}

void agent_kube_stop(struct agent *a)
{
	kube_client_free(a->kube);
	a->kube = NULL;
}

/* The annotations file, from the reflectors' stores (the next row). */
int agent_annfile_start(struct agent *a)
{
	const struct annfile_src src = {
		.ns = &a->ns.store, .pods = &a->pods.store, .synced = agent_synced, .streaming = agent_streaming, .arg = a,
	};

	return annfile_start(&a->af, a->o.annotations_file, a->o.refresh_s * 1000, &src, a->loop);
}

void agent_annfile_stop(struct agent *a)
{
	annfile_stop(&a->af);
}

/* The two reflectors (namespaces, pods); reflector_stop() is safe on one
 * whose init failed. */
int agent_watch_start(struct agent *a)
{
	char sel[512];

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
	a->ns.changed = a->pods.changed = agent_on_change;
	a->ns.arg = a->pods.arg = a;
	alog(ALOG_INFO, "API server %s; node %s; annotations file %s", kube_server(a->kube), a->o.node_name,
	     a->af.path);
	reflector_start(a->loop, &a->ns);
	reflector_start(a->loop, &a->pods);
	return 0;
}

void agent_watch_stop(struct agent *a)
{
	reflector_stop(a->loop, &a->pods);
	reflector_stop(a->loop, &a->ns);
}

/* The DaemonSet's deletion, as the API server tells it. */
enum ds_answer { DS_THERE, DS_DELETED, DS_NO_ANSWER };

/* DS_NO_ANSWER is logged here. */
static enum ds_answer agent_ds_deleted(struct agent *a, const char *ns, const char *name)
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
		return DS_DELETED;
	}
	if (code > 0 && code != 200) {
		kube_status_message(body, body ? strlen(body) : 0, why, sizeof(why));
		err_set(&e, CNI_ERR_IO, "GET %s%s: HTTP %ld (%s)%s", kube_server(a->kube), path, code, why,
			code == 403 ? ": the ServiceAccount lacks `get` on it (conf/rbac.yaml)" : "");
	}
	if (code != 200) {
		alog(ALOG_WARN, "DaemonSet %s/%s: %s; keeping the entry", ns, name, e.msg);
		free(body);
		return DS_NO_ANSWER;
	}
	j = cJSON_Parse(body);
	ts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "metadata"), "deletionTimestamp");
	code = cJSON_IsString(ts) && ts->valuestring[0];
	cJSON_Delete(j);
	free(body);
	return code ? DS_DELETED : DS_THERE;
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
bool agent_uninstalling(struct agent *a)
{
	char ns[64], name[254];
	const char *slash = strchr(a->o.daemonset, '/');
	enum ds_answer del;

	if (!a->kube)
		return true;
	snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - a->o.daemonset) : 0, a->o.daemonset);
	snprintf(name, sizeof(name), "%s", slash ? slash + 1 : "");
	del = agent_ds_deleted(a, ns, name);
	if (del == DS_DELETED)
		alog(ALOG_INFO, "DaemonSet %s is gone or being deleted: uninstall, taking the entry out", a->o.daemonset);
	else if (del == DS_THERE)
		alog(ALOG_INFO, "DaemonSet %s is there (rolling update, restart, node shutdown): keeping the entry",
		     a->o.daemonset);
	return del == DS_DELETED;
}

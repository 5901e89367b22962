/* CNI ADD: tune the new pod, record it, pass prevResult on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annot.h"
#include "cmd.h"
#include "devices.h"
#include "log.h"
#include "netns.h"
#include "prevres.h"
#include "tune.h"
#include "util.h"


/* Annotations: the runtime's only, until the node agent's cache lands. */
static void add_decide(struct cni_ctx *ctx, const struct cpumask *node_mask,
		       struct fs_decision *d, struct fs_warn *w)
{
	const struct fs_config *cfg = &ctx->cfg;

	if (cfg->kube_legacy)
		warn_add(w, "config key \"kubernetes\" is no longer used: the flowsteer agent reads the API server");
	annot_decide(cfg, node_mask, cfg->runtime_annotations, "runtime", NULL, d, w);
}

/* The host side of the pod's veth: prevResult's, else the container side's
 * IFLA_LINK peer looked up here. */
static struct rps_dev *add_host_veth(const struct prevres_ifaces *pi, const struct rps_dev *pod,
				     int classfd, const char *hex, long long flow,
				     const struct fs_config *cfg, struct fs_warn *w)
{
	struct dev_nl *nl = NULL;
	struct dev_link l;
	char name[16] = "";
	struct rps_dev *d;

	snprintf(name, sizeof(name), "%s", pi->host);
	if (pod && pod->peer_ifindex > 0 && dev_nl_open(&nl) == 0) {
		if (dev_get(nl, NULL, pod->peer_ifindex, &l) == 0) {
			if (!name[0])
				snprintf(name, sizeof(name), "%s", l.name);
			else if (strcmp(name, l.name))
				warn_add(w, "prevResult names host veth %s but the peer of the pod interface is %s",
					 name, l.name);
		}
		dev_nl_close(nl);
	}
	if (!name[0]) {
		d = rps_dev_new("?", RPS_SCOPE_HOST, 0);
		if (d) {
			d->status = RPS_ABSENT;
			snprintf(d->reason, sizeof(d->reason),
				 "host veth not in prevResult and its peer could not be found");
		}
		return d;
	}
	return tune_host_dev(classfd, name, RPS_SCOPE_HOST, hex, flow, cfg);
}

static struct rps_dev *failed_dev(const char *name, int scope, const char *reason)
{
	struct rps_dev *d = rps_dev_new(name, scope, 0);

	if (d) {
		d->status = RPS_FAILED;
		snprintf(d->reason, sizeof(d->reason), "%.250s", reason);
	}
	return d;
}

/* Puts back everything this ADD changed (failurePolicy fail, or an error).
 * st NULL: the lock was never taken, so no record or node device changed. */
static void add_rollback(struct cni_ctx *ctx, int nsfd, int classfd, struct state *st,
			 const struct tune_report *r)
{
	for (int i = 0; i < r->n; i++) {
		const struct rps_dev *d = r->devs[i];
		struct tune_pod_req req = { .op = TUNE_POD_RESTORE, .restore = d, .flow = -1 };
		struct fs_err ignored = { 0 };
		struct rps_dev *out = NULL;

		if (d->status != RPS_APPLIED)
			continue;
		if (d->scope == RPS_SCOPE_CONTAINER) {
			snprintf(req.ifname, sizeof(req.ifname), "%s", d->name);
			tune_pod(nsfd, ctx->env.netns, &req, &out, NULL, &ignored);
			free(out);
		} else if (d->scope == RPS_SCOPE_HOST) {
			rps_dev_restore(classfd, d);
		}
	}
	if (!st)
		return;
	state_record_remove(st, ctx->env.container_id, ctx->env.ifname);
	tune_node_release(st, true);
}

int cni_add(struct cni_ctx *ctx, struct fs_err *e)
{
	struct fs_config *cfg = &ctx->cfg;
	struct tune_report r = { .sock_flow = -1 };
	struct state st = { .lockfd = -1 };
	struct prevres_ifaces pi;
	struct cpumask online, node_mask;
	struct fs_decision d;
	char pod_hex[CPUMASK_HEX_MAX], node_hex[CPUMASK_HEX_MAX], first[512], line[1024];
	int nsfd = -1, classfd = -1, gone, ret = -1;
	unsigned nbits;
	long long flow;
	struct rps_dev *pod = NULL;
	const struct rps_dev *pod_ref;
	cJSON *rec = NULL;
	bool host;

	if (!cfg->prev_result) {
		err_set(e, CNI_ERR_INVALID_CONFIG,
			"ADD needs prevResult: flowsteer is a chained plugin and must follow calico in a conflist");
		goto out;
	}
	nsfd = netns_open(ctx->env.netns, &gone, e);
	if (nsfd < 0)
		goto out;
	if (prevres_find(cfg->prev_result, ctx->env.netns, ctx->env.ifname, &pi, e) ||
	    tune_cpus_online(&online, &nbits, e) ||
	    tune_cpus_resolve(cfg, &online, &node_mask, e))
		goto out;
	ctx->out = prevres_convert(cfg->prev_result, cfg->cni_version, e);
	if (!ctx->out)
		goto out;

	add_decide(ctx, &node_mask, &d, &r.warn);
	r.mode = d.tune ? d.mode : FS_MODE_OFF;
	r.scope = d.scope;
	snprintf(r.source, sizeof(r.source), "%s", d.source);
	cpumask_format_list(&d.cpus, r.cpus, sizeof(r.cpus));
	if (!d.tune) {
		log_msg(LOG_LVL_INFO, "pod %s/%s not tuned (mode off, source %s)", ctx->env.k8s_namespace,
			ctx->env.k8s_pod, r.source);
		ret = 0;
		goto report;
	}
	if (cpumask_format_hex(&d.cpus, nbits, pod_hex, sizeof(pod_hex)) ||
	    cpumask_format_hex(&node_mask, nbits, node_hex, sizeof(node_hex))) {
		err_set(e, CNI_ERR_IO, "formatting the CPU mask for %u CPUs", nbits);
		goto out;
	}
	flow = d.mode == FS_MODE_RFS ? -2 : -1;
	host = d.scope & FS_SCOPE_HOST;

	/* Pod side (and, when prevResult lacks the host veth, its peer index). */
	if ((d.scope & FS_SCOPE_CONTAINER) || (host && !pi.host[0])) {
		struct tune_pod_req req = { .flow = flow, .cfg = cfg };
		struct fs_err perr = { 0 };

		req.op = d.scope & FS_SCOPE_CONTAINER ? TUNE_POD_APPLY : TUNE_POD_READ;
		snprintf(req.ifname, sizeof(req.ifname), "%s", ctx->env.ifname);
		snprintf(req.hex, sizeof(req.hex), "%s", pod_hex);
		if (tune_pod(nsfd, ctx->env.netns, &req, &pod, NULL, &perr)) {
			if (perr.code == FS_ERR_PRIVILEGE) {
				*e = perr;
				goto out;
			}
			pod = failed_dev(ctx->env.ifname, RPS_SCOPE_CONTAINER, perr.msg);
		}
		/* Absent counts too: Calico just created it (tune_report_failures). */
		if (pod && (pod->status == RPS_FAILED || pod->status == RPS_ABSENT) &&
		    (d.scope & FS_SCOPE_CONTAINER))
			warn_add(&r.warn, "container device %s: %s", pod->name, pod->reason);
	}
	pod_ref = pod;
	if (d.scope & FS_SCOPE_CONTAINER) {
		tune_report_add(&r, pod); /* r owns it from here */
		pod = NULL;
		debug_hook("after-container");
	}
	if (host) {
		struct rps_dev *hd;

		classfd = netns_open_host_class();
		if (classfd < 0) {
			err_set(e, CNI_ERR_IO, "opening /sys/class/net: %s", strerror(errno));
			goto rollback_unlocked;
		}
		hd = add_host_veth(&pi, pod_ref, classfd, pod_hex, flow, cfg, &r.warn);
		if (hd && (hd->status == RPS_FAILED || hd->status == RPS_ABSENT))
			warn_add(&r.warn, "host device %s: %s", hd->name, hd->reason);
		tune_report_add(&r, hd);
	}
	free(pod);
	pod = NULL;
	debug_hook("after-host");

	/* Node devices and the record, under the lock. node.json holds the
	 * originals before any node device changes; a crash before the record
	 * lands leaves no reference, so the runtime's DEL (or GC) for this
	 * container finds the count at zero and restores the node. */
	if (state_lock(&st, cfg->state_dir, e))
		goto rollback_unlocked;
	debug_hook("after-lock");
	if (host && tune_node_apply(&st, classfd, cfg, d.mode, node_hex, &r, e))
		goto rollback;
	debug_hook("after-node");
	if (tune_report_failures(&r, first, sizeof(first)) && cfg->failure_fail) {
		add_rollback(ctx, nsfd, classfd, &st, &r);
		err_set(e, FS_ERR_TUNE_FAILED, "tuning failed (failurePolicy fail), nothing left applied: %s",
			first);
		goto out;
	}
	rec = tune_record(&r, ctx->env.container_id, ctx->env.ifname, ctx->env.netns,
			  ctx->env.k8s_namespace, ctx->env.k8s_pod, "done");
	cJSON_AddStringToObject(rec, "network", cfg->name);
	if (state_record_write(&st, ctx->env.container_id, ctx->env.ifname, host, rec, e))
		goto rollback;
	debug_hook("after-record");
	state_unlock(&st);
	ret = 0;
report:
	tune_report_line(&r, line, sizeof(line));
	log_msg(LOG_LVL_INFO, "pod %s/%s netns %s: %s", ctx->env.k8s_namespace, ctx->env.k8s_pod,
		ctx->env.netns, line);
	cJSON_AddItemToObject(ctx->out, "flowsteer", tune_report_json(&r));
	goto out;

rollback_unlocked:
	add_rollback(ctx, nsfd, classfd, NULL, &r);
	goto abandon;
rollback:
	add_rollback(ctx, nsfd, classfd, &st, &r);
abandon:
	/* A tuning problem never blocks the pod unless the operator asked. */
	if (!cfg->failure_fail && e->code != FS_ERR_PRIVILEGE && ctx->out) {
		warn_add(&r.warn, "tuning abandoned and rolled back: %s", e->msg);
		for (int i = 0; i < r.n; i++) {
			if (r.devs[i]->status != RPS_APPLIED)
				continue;
			r.devs[i]->status = RPS_FAILED;
			snprintf(r.devs[i]->reason, sizeof(r.devs[i]->reason), "rolled back");
		}
		memset(e, 0, sizeof(*e));
		ret = 0;
		goto report;
	}
out:
	free(pod);
	state_unlock(&st);
	cJSON_Delete(rec);
	tune_report_free(&r);
	if (nsfd >= 0)
		close(nsfd);
	if (classfd >= 0)
		close(classfd);
	return ret;
}

/* CNI ADD: plan, apply, record; pass prevResult on with what was done. */
#include <string.h>

#include "apply.h"
#include "cmd.h"
#include "log.h"
#include "plan.h"
#include "prevres.h"
#include "result.h"
#include "state.h"
#include "util.h"

/* A tuning problem never blocks the pod unless the operator asked for
 * that (failurePolicy: fail); a missing privilege always does. */
static int add_abandon(const struct fs_config *cfg, struct attachment *a, const char *how,
		       struct fs_err *e)
{
	if (cfg->failure_fail || e->code == FS_ERR_PRIVILEGE)
		return -1;
	warn_add(&a->warn, "tuning abandoned, %s: %s", how, e->msg);
	memset(e, 0, sizeof(*e));
	return 0;
}

/* 0 when planned, 1 when the plan was abandoned (nothing changed), -1
 * with e set. Bad input (a CNI_NETNS that is no network namespace, a
 * configuration that leaves no CPU online) fails whatever the policy; the
 * node's state (no sysfs, no rtnetlink, unreadable CPU lists) is a tuning
 * problem like any other. */
static int add_plan(const struct plan_req *req, struct kview *kv, struct attachment *a,
		    struct fs_err *e)
{
	if (plan_add(req, kv, a, e) == 0)
		return 0;
	if (e->code == CNI_ERR_INVALID_ENV || e->code == CNI_ERR_INVALID_CONFIG)
		return -1;
	/* Nothing decided yet when the CPU lists failed: mode off. */
	if (!a->scope)
		a->scope = req->cfg->scope;
	return add_abandon(req->cfg, a, "nothing changed", e) ? -1 : 1;
}

static int add_apply(struct cni_ctx *ctx, struct kview *kv, struct state *st, struct attachment *a,
		     struct fs_err *e)
{
	const struct fs_config *cfg = &ctx->cfg;
	char first[512];

	apply_pod(kv, a);
	debug_hook("after-host");
	if (state_lock(st, cfg->state_dir, e))
		goto rollback;
	/* The lock read the boot ID (its sweep): the record is of this boot. */
	snprintf(a->boot_id, sizeof(a->boot_id), "%s", st->boot_id);
	debug_hook("after-lock");
	if (apply_node(st, kv, cfg, a, e))
		goto rollback;
	debug_hook("after-node");
	if (model_failures(a, first, sizeof(first)) && cfg->failure_fail) {
		apply_rollback(st, kv, a);
		return err_set(e, FS_ERR_TUNE_FAILED,
			       "tuning failed (failurePolicy fail), nothing left applied: %s", first);
	}
	if (state_record_write(st, a, e))
		goto rollback;
	debug_hook("after-record");
	return 0;
rollback:
	apply_rollback(st, kv, a);
	return add_abandon(cfg, a, "rolled back", e);
}

static void add_report(struct cni_ctx *ctx, const struct attachment *a)
{
	char line[1024];

	model_status_line(a, line, sizeof(line));
	log_msg(LOG_LVL_INFO, "pod %s/%s netns %s source %s: %s", a->pod_namespace, a->pod_name,
		ctx->env.netns, model_source_name(a->source), line);
	cJSON_AddItemToObject(ctx->out, "flowsteer", result_json(a));
}

int cni_add(struct cni_ctx *ctx, struct fs_err *e)
{
	const struct fs_config *cfg = &ctx->cfg;
	struct plan_req req = { .cfg = cfg, .env = &ctx->env, .host_hint = "" };
	struct attachment *a = attachment_new();
	struct state st = STATE_INIT;
	struct kview kv = KVIEW_INIT;
	char host[16];
	int ret = -1, planned;

	if (!a)
		return err_set(e, CNI_ERR_IO, "ADD: out of memory");
	if (!cfg->prev_result) {
		err_set(e, CNI_ERR_INVALID_CONFIG,
			"ADD needs prevResult: flowsteer is a chained plugin and must follow calico in a conflist");
		goto out;
	}
	if (prevres_host(cfg->prev_result, host, e))
		goto out;
	req.host_hint = host;
	ctx->out = prevres_convert(cfg->prev_result, cfg->cni_version, e);
	planned = ctx->out ? add_plan(&req, &kv, a, e) : -1;
	if (planned < 0)
		goto out;
	if (planned == 0 && a->mode != FS_MODE_OFF && add_apply(ctx, &kv, &st, a, e))
		goto out;
	add_report(ctx, a);
	/* Still under the lock: what the runtime cannot be told of is undone. */
	if (cni_result_deliver(ctx, e)) {
		apply_rollback(&st, &kv, a);
		log_msg(LOG_LVL_ERROR, "%s: everything this ADD changed was rolled back", e->msg);
		goto out;
	}
	ret = 0;
out:
	state_close(&st);
	kview_close(&kv);
	attachment_free(a);
	return ret;
}

/* CNI DEL: forget the attachment; restore the node when it was the last.
 * Works from stateDir alone: no prevResult, maybe no netns (containerd's
 * second DEL), maybe no record. The pod's own devices go with the pod. */
#include <string.h>

#include "apply.h"
#include "cmd.h"
#include "log.h"
#include "state.h"
#include "util.h"

int cni_del(struct cni_ctx *ctx, struct fs_err *e)
{
	const struct fs_config *cfg = &ctx->cfg;
	struct state st = STATE_INIT;
	int holders;

	if (ctx->config_err.code)
		log_msg(LOG_LVL_WARN, "configuration did not parse (%s); cleaning up with defaults",
			ctx->config_err.msg);
	if (state_lock(&st, cfg->state_dir, e)) {
		/* A lock held too long: the runtime retries DEL. An unusable
		 * stateDir: nothing can be done safely, and a pod must not
		 * hang in deletion over it unless the operator asked. */
		if (e->code == CNI_ERR_TRY_LATER || cfg->failure_fail)
			return -1;
		log_msg(LOG_LVL_ERROR, "nothing forgotten or restored: %s", e->msg);
		memset(e, 0, sizeof(*e));
		return 0;
	}
	state_record_remove(&st, ctx->env.container_id, ctx->env.ifname);
	/* Temp files of writers that died mid-write. */
	state_tmp_sweep(&st);
	debug_hook("del-after-forget");
	holders = apply_node_release(&st, cfg->restore_on_last_del, -1);
	log_msg(LOG_LVL_INFO, "forgot %s/%s; %d attachment(s) left holding node devices",
		ctx->env.container_id, ctx->env.ifname, holders < 0 ? 0 : holders);
	state_close(&st);
	return 0;
}

/* CNI DEL: forget the attachment; restore the node when it was the last.
 * Works from stateDir alone: no prevResult, possibly no netns. */
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "state.h"
#include "tune.h"
#include "util.h"

int cni_del(struct cni_ctx *ctx, struct fs_err *e)
{
	const struct fs_config *cfg = &ctx->cfg;
	struct state st = { .lockfd = -1 };
	bool node_ref = false, had_record;
	cJSON *rec;
	int refs;

	if (ctx->config_err.code)
		log_msg(LOG_LVL_WARN, "configuration did not parse (%s); cleaning up with defaults",
			ctx->config_err.msg);
	if (state_lock(&st, cfg->state_dir, e))
		return -1;
	rec = state_record_read(&st, ctx->env.container_id, ctx->env.ifname, &node_ref);
	had_record = rec != NULL;
	cJSON_Delete(rec);
	state_record_remove(&st, ctx->env.container_id, ctx->env.ifname);
	/* Temp files of writers that died mid-write (crash tests: before-rename). */
	state_tmp_sweep(&st);
	debug_hook("del-after-forget");
	refs = tune_node_release(&st, cfg->restore_on_last_del);
	log_msg(LOG_LVL_INFO, "forgot %s/%s (%s); %d attachment(s) left holding node devices",
		ctx->env.container_id, ctx->env.ifname, had_record ? "had a record" : "no record",
		refs < 0 ? 0 : refs);
	state_unlock(&st);
	return 0;
}

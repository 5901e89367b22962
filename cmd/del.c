/* CNI DEL: forget the attachment; restore the node when it was the last.
 * Works from stateDir alone: no prevResult, possibly no netns. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "netns.h"
#include "state.h"
#include "tune.h"
#include "util.h"

int cni_del(struct cni_ctx *ctx, struct fs_err *e)
{
	const struct fs_config *cfg = &ctx->cfg;
	struct state st = { .lockfd = -1 };
	bool node_ref = false;
	cJSON *rec;
	int refs, classfd, ret;

	if (ctx->config_err.code)
		log_msg(LOG_LVL_WARN, "configuration did not parse (%s); cleaning up with defaults",
			ctx->config_err.msg);
	if (state_lock(&st, cfg->state_dir, e))
		return -1;
	rec = state_record_read(&st, ctx->env.container_id, ctx->env.ifname, &node_ref);
	state_record_remove(&st, ctx->env.container_id, ctx->env.ifname);
	cJSON_Delete(rec);
	/* Temp files of writers that died mid-write (crash tests: before-rename). */
	state_tmp_sweep(&st);
	debug_hook("del-after-forget");
	refs = state_node_refs(&st);
	log_msg(LOG_LVL_INFO, "forgot %s/%s (%s); %d attachment(s) left holding node devices",
		ctx->env.container_id, ctx->env.ifname, rec ? "had a record" : "no record", refs < 0 ? 0 : refs);
	if (refs == 0 && cfg->restore_on_last_del) {
		classfd = netns_open_host_class();
		if (classfd >= 0) {
			ret = tune_node_restore(&st, classfd);
			if (ret)
				log_msg(LOG_LVL_WARN, "node restore incomplete: %s", strerror(-ret));
			close(classfd);
		}
	}
	state_unlock(&st);
	return 0;
}

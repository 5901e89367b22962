/* CNI CHECK: every value recorded for the attachment must still hold. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "netns.h"
#include "rps.h"
#include "state.h"
#include "tune.h"
#include "verify.h"

int cni_check(struct cni_ctx *ctx, struct fs_err *e)
{
	const struct fs_config *cfg = &ctx->cfg;
	struct state st = { .lockfd = -1 };
	bool node_ref;
	cJSON *rec;
	int ret;

	if (!cfg->prev_result)
		return err_set(e, CNI_ERR_INVALID_CONFIG, "CHECK needs prevResult");
	if (state_lock(&st, cfg->state_dir, e))
		return -1;
	rec = state_record_read(&st, ctx->env.container_id, ctx->env.ifname, &node_ref);
	state_unlock(&st);
	if (!rec) {
		/* Pods left untuned (mode off) have nothing to verify. */
		log_msg(LOG_LVL_INFO, "no record for %s/%s: nothing to check", ctx->env.container_id,
			ctx->env.ifname);
		return 0;
	}
	ret = verify_record(rec, ctx->env.netns, e);
	cJSON_Delete(rec);
	return ret;
}

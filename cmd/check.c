/* CNI CHECK: every value recorded for the attachment must still hold. */
#include <errno.h>

#include "cmd.h"
#include "log.h"
#include "state.h"
#include "verify.h"

int cni_check(struct cni_ctx *ctx, struct fs_err *e)
{
	const struct fs_config *cfg = &ctx->cfg;
	struct state st = STATE_INIT;
	struct attachment *a;
	int ret;

	if (!cfg->prev_result)
		return err_set(e, CNI_ERR_INVALID_CONFIG, "CHECK needs prevResult");
	a = attachment_new();
	if (!a)
		return err_set(e, CNI_ERR_IO, "CHECK: out of memory");
	ret = state_lock(&st, cfg->state_dir, e);
	if (!ret)
		ret = state_record_read(&st, ctx->env.container_id, ctx->env.ifname, a, e);
	state_close(&st);
	if (ret == -ENOENT) {
		/* Pods left untuned (mode off) have nothing to verify. */
		log_msg(LOG_LVL_INFO, "no record for %s/%s: nothing to check", ctx->env.container_id,
			ctx->env.ifname);
		ret = 0;
	} else if (!ret) {
		ret = verify_check(a, ctx->env.netns, e);
	}
	attachment_free(a);
	return ret;
}

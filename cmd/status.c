/* CNI STATUS (1.1): containerd >= 2.0 marks the node NetworkReady=false
 * when a plugin's STATUS fails. A tuning plugin must not take a node down
 * over a tuning problem: under failurePolicy ignore every problem is a
 * logged warning; only under fail is it code 50. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "state.h"
#include "util.h"

static int status_probe(const char *dir, struct fs_err *e)
{
	struct state st = STATE_INIT;
	int ret;

	/* Every netdev has rx-0; its rps_cpus exists only with CONFIG_RPS. */
	if (access("/sys/class/net/lo/queues/rx-0/rps_cpus", F_OK) < 0)
		return err_set(e, CNI_ERR_NOT_READY, "kernel has no RPS: /sys/class/net/lo/queues/rx-0/rps_cpus: %s",
			       strerror(errno));
	if (state_open(&st, dir, true, e))
		return -1;
	ret = file_write_atomic_at(st.dirfd, ".status-probe", "", 0, 0600);
	if (!ret)
		unlinkat(st.dirfd, ".status-probe", 0);
	state_close(&st);
	if (ret)
		return err_set(e, CNI_ERR_NOT_READY, "stateDir %s is not writable: %s", dir, strerror(-ret));
	return 0;
}

int cni_status(struct cni_ctx *ctx, struct fs_err *e)
{
	if (!status_probe(ctx->cfg.state_dir, e))
		return 0;
	e->code = CNI_ERR_NOT_READY;
	if (ctx->cfg.failure_fail)
		return -1;
	log_msg(LOG_LVL_WARN, "not ready, but reported ready (failurePolicy ignore): %s", e->msg);
	memset(e, 0, sizeof(*e));
	return 0;
}

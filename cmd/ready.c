/* CNI STATUS (1.1): ready when the kernel has RPS and stateDir is writable. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "util.h"

int cni_status(struct cni_ctx *ctx, struct fs_err *e)
{
	const char *dir = ctx->cfg.state_dir;
	char path[PATH_MAX + 64];
	int fd, ret;

	/* Every netdev has rx-0; its rps_cpus exists only with CONFIG_RPS. */
	if (access("/sys/class/net/lo/queues/rx-0/rps_cpus", F_OK) < 0)
		return err_set(e, CNI_ERR_NOT_READY,
			       "kernel has no RPS: /sys/class/net/lo/queues/rx-0/rps_cpus: %s",
			       strerror(errno));
	ret = mkdir_p(dir, 0700);
	if (ret)
		return err_set(e, CNI_ERR_NOT_READY, "stateDir %s cannot be created: %s", dir,
			       strerror(-ret));
	snprintf(path, sizeof(path), "%s/.status-probe.%d", dir, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(e, CNI_ERR_NOT_READY, "stateDir %s is not writable: %s", dir,
			       strerror(errno));
	close(fd);
	unlink(path);
	return 0;
}

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/nsfs.h>

#include "log.h"
#include "netns.h"
#include "sysfs.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

int netns_open(const char *path)
{
	struct statfs sfs;
	int fd, type;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	/* /proc/PID/ns/net is a magic link; the nsfs check below is what
	 * matters for it. */
	if (fd < 0 && errno == ELOOP && !strncmp(path, "/proc/", 6))
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) < 0 || (unsigned long)sfs.f_type != NSFS_MAGIC) {
		/* An unmounted bind target is what a closed netns leaves behind. */
		close(fd);
		return -ESTALE;
	}
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type >= 0 && type != CLONE_NEWNET) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* Inside the target netns: a sysfs superblock shows the netns that is
 * current when it is created, so this must run between the two setns().
 * Any failure sends the caller to the forked way, which reports its own. */
static int detached_class(void)
{
	int fsfd, mfd = -1, classfd = -EOPNOTSUPP;

	fsfd = fsopen("sysfs", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -EOPNOTSUPP;
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
		mfd = fsmount(fsfd, FSMOUNT_CLOEXEC,
			      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV);
	if (mfd >= 0) {
		classfd = openat(mfd, "class/net", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (classfd < 0)
			classfd = -EOPNOTSUPP;
		close(mfd);
	}
	close(fsfd);
	return classfd;
}

/* Fast path: no fork, no mount namespace (neither the host's mounts nor
 * CAP_SYS_CHROOT are involved). Returns -EOPNOTSUPP when detached mounts
 * are unavailable, so that the caller forks instead. */
static int class_here(int nsfd)
{
	int hostfd, classfd, ret;

	/* The calling thread's own netns, not the thread group leader's: in
	 * the agent, the drift pass runs on the metrics thread. */
	hostfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (hostfd < 0)
		return -EOPNOTSUPP;
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		ret = -errno;
		close(hostfd);
		return ret;
	}
	classfd = detached_class();
	/* Nothing after this may run in the pod's netns: staying there would
	 * tune the pod's devices as if they were the node's. */
	if (setns(hostfd, CLONE_NEWNET) < 0)
		abort();
	close(hostfd);
	return classfd;
}

static int fd_send(int sock, int fd, int status)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &status, .iov_len = sizeof(status) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int fd_recv(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	int status = -EIO, fd = -1;
	struct iovec iov = { .iov_base = &status, .iov_len = sizeof(status) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(status))
		return -EPIPE;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (status < 0) {
		if (fd >= 0)
			close(fd);
		return status;
	}
	return fd >= 0 ? fd : -EPIPE;
}

/* The child's mount of a fresh sysfs on /sys (as iproute2's `ip netns
 * exec`), in its private mount namespace: nothing may propagate back to the
 * caller's. "/" is made a slave; where it is no mount point (EINVAL: a
 * chroot into a plain directory), /sys is instead, and the new sysfs goes
 * on top of it, so that its parent mount is that slave. */
static int child_mount(void)
{
	const char *what = "making / a slave mount";
	int ret;

	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0) {
		if (errno != EINVAL)
			goto fail;
		what = "making /sys a slave mount (/ is no mount point)";
		if (mount(NULL, "/sys", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			goto fail;
	}
	what = "mounting sysfs on /sys";
	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) < 0)
		goto fail;
	return 0;
fail:
	ret = -errno;
	log_msg(LOG_LVL_ERROR, "netns: a pod sysfs without fsopen: %s in a private "
		"mount namespace: %s", what, strerror(-ret));
	return ret;
}

/* The child, when detached mounts are unavailable: the open directory goes
 * back to the parent, which never leaves its own namespaces. */
static void __attribute__((noreturn)) child_class(int nsfd, int sock)
{
	int fd;

	if (setns(nsfd, CLONE_NEWNET) < 0 || unshare(CLONE_NEWNS) < 0)
		fd = -errno;
	else if ((fd = child_mount()) == 0 &&
		 (fd = open("/sys/class/net", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		fd = -errno;
	_exit(fd_send(sock, fd, fd < 0 ? fd : 0) ? 1 : 0);
}

static int class_forked(int nsfd)
{
	int sv[2], status, fd;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		fd = -errno;
		close(sv[0]);
		close(sv[1]);
		return fd;
	}
	if (pid == 0) {
		close(sv[0]);
		child_class(nsfd, sv[1]);
	}
	close(sv[1]);
	fd = fd_recv(sv[0]);
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return fd;
}

int netns_sysfs_class(int nsfd)
{
	int fd = class_here(nsfd);

	return fd == -EOPNOTSUPP ? class_forked(nsfd) : fd;
}

int netns_class_open(const char *path)
{
	int nsfd = netns_open(path), classfd;

	if (nsfd < 0)
		return nsfd;
	classfd = netns_sysfs_class(nsfd);
	close(nsfd);
	return classfd;
}

/* The host's /sys/class/net, writable. In a container (the agent's, with
 * hostNetwork) /sys shows the host's devices but is mounted read-only; a
 * sysfs of our own network namespace made with fsmount (above, needs
 * CAP_SYS_ADMIN) is not. */
int netns_host_class_open(struct fs_err *e)
{
	struct statvfs sv;
	int fd = sysfs_class_open(), own;

	if (fd < 0)
		return err_set(e, CNI_ERR_IO, "opening /sys/class/net: %s", strerror(-fd));
	if (fstatvfs(fd, &sv) < 0 || !(sv.f_flag & ST_RDONLY))
		return fd;
	close(fd);
	own = netns_class_open("/proc/thread-self/ns/net");
	if (own < 0)
		return err_set(e, own == -EPERM ? FS_ERR_PRIVILEGE : CNI_ERR_IO,
			       "/sys/class/net is read-only and a sysfs of this network namespace cannot be "
			       "made: %s (CAP_SYS_ADMIN?)", strerror(-own));
	return own;
}

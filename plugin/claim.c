#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "claim.h"
#include "log.h"
#include "util.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* Named after the network namespace's cookie: unlike its inode number, a
 * cookie is never given to another namespace in the same boot (Linux >=
 * 5.14; older kernels fall back to the inode). */
static int claim_name(char *out, size_t len)
{
	unsigned long long cookie = 0;
	socklen_t sl = sizeof(cookie);
	struct stat sb;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &sl) == 0) {
		close(fd);
		snprintf(out, len, "flowsteer-netns-%llu.claim", cookie);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	if (stat("/proc/self/ns/net", &sb) < 0)
		return -errno;
	snprintf(out, len, "flowsteer-netino-%llu.claim", (unsigned long long)sb.st_ino);
	return 0;
}

/* The classic lock file: the holder of the flock may unlink it, so a
 * waiter that then gets the lock checks that its file is still the one at
 * the name, and tries again when it is not. */
static int claim_open(struct state *st, bool create)
{
	char name[64], why[96];
	struct stat a, b;
	int dfd, fd = -1, ret, tries = 0;

	ret = claim_name(name, sizeof(name));
	if (ret)
		return ret;
	dfd = open(CLAIM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	do {
		if (fd >= 0)
			close(fd);
		fd = file_open_trusted(dfd, name, O_RDWR | (create ? O_CREAT : 0), 0600, why, sizeof(why));
		if (fd == ERR_UNTRUSTED)
			log_msg(LOG_LVL_ERROR, "node claim %s/%s is not safe to use: %s", CLAIM_DIR, name, why);
		/* Always taken after the stateDir lock: no two invocations
		 * can wait on each other's. */
		ret = fd < 0 ? fd : file_lock(fd, STATE_LOCK_TIMEOUT_MS);
		if (!ret && (fstat(fd, &a) < 0 || fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
			     a.st_ino != b.st_ino))
			ret = -EAGAIN;
	} while (ret == -EAGAIN && ++tries < 100);
	close(dfd);
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	st->claimfd = fd;
	return 0;
}

int claim_take(struct state *st, char *other, size_t len)
{
	char owner[PATH_MAX] = "", path[PATH_MAX + 16];
	ssize_t n;
	int ret;

	if (st->claimfd < 0 && (ret = claim_open(st, true)))
		return ret;
	n = pread(st->claimfd, owner, sizeof(owner) - 1, 0);
	owner[n > 0 ? n : 0] = '\0';
	if (owner[0] && strcmp(owner, st->dir)) {
		/* A holder whose node.json is gone has released the devices
		 * (or its boot is over): the claim is free. */
		snprintf(path, sizeof(path), "%s/" STATE_NODE_FILE, owner);
		if (access(path, F_OK) == 0) {
			snprintf(other, len, "%s", owner);
			return -EBUSY;
		}
	}
	if (strcmp(owner, st->dir) &&
	    (ftruncate(st->claimfd, 0) < 0 || pwrite(st->claimfd, st->dir, strlen(st->dir), 0) < 0))
		return -errno;
	return 0;
}

void claim_release(struct state *st)
{
	char owner[PATH_MAX] = "", name[64];
	ssize_t n;

	if (st->claimfd < 0 && claim_open(st, false))
		return;
	n = pread(st->claimfd, owner, sizeof(owner) - 1, 0);
	owner[n > 0 ? n : 0] = '\0';
	/* Unlinked while locked: see claim_open. */
	if (!strcmp(owner, st->dir) && claim_name(name, sizeof(name)) == 0) {
		char path[128];

		snprintf(path, sizeof(path), CLAIM_DIR "/%s", name);
		unlink(path);
	}
	close(st->claimfd);
	st->claimfd = -1;
}

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

bool ifname_valid(const char *name)
{
	size_t len;

	if (!name)
		return false;
	len = strlen(name);
	if (len == 0 || len > 15 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p == '/' || *p == ':' || *p == ' ' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

bool containerid_valid(const char *id)
{
	size_t len;

	if (!id || !isalnum((unsigned char)id[0]))
		return false;
	len = strlen(id);
	if (len > 200)
		return false;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}

int path_dirname(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash) {
		if (len < 2)
			return -ENAMETOOLONG;
		strcpy(out, ".");
		return 0;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

int mkdir_p(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

ssize_t file_read_at(int dirfd, const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd, ret;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return n;
}

int file_write_at(int dirfd, const char *path, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;
	int fd, ret = 0;

	fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

/* pid + nanoseconds: two writers that share a pid number (PID 1 of two
 * containers on one hostPath) never share a temp file; created O_EXCL.
 * Digits only, as file_is_tmp() expects. */
static int tmp_name(const char *name, char *out, size_t len)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (snprintf(out, len, "%s.tmp.%d%09ld", name, (int)getpid(), ts.tv_nsec) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* An inherited O_NONBLOCK (a runtime's pipe) waits like a blocking fd. */
int fd_wait(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (errno != EAGAIN)
		return -errno;
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int fd_write_all(int fd, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		int ret;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if ((ret = fd_wait(fd, POLLOUT)))
				return ret;
			continue;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Temp file in the same directory, then rename: readers and a crashed
 * writer only ever see the old or the new whole file. */
static int write_atomic(int dirfd, const char *name, const char *data, size_t len, mode_t mode,
			bool durable)
{
	char tmp[PATH_MAX];
	int fd, ret;

	ret = tmp_name(name, tmp, sizeof(tmp));
	if (ret)
		return ret;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	ret = fchmod(fd, mode) < 0 ? -errno : fd_write_all(fd, data, len);
	if (!ret && durable && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	debug_hook("before-rename");
	if (!ret && renameat(dirfd, tmp, dirfd, name) < 0)
		ret = -errno;
	if (ret)
		unlinkat(dirfd, tmp, 0);
	return ret;
}

int file_write_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
	char dir[PATH_MAX];
	const char *base = strrchr(path, '/');
	int dfd, ret;

	ret = path_dirname(path, dir, sizeof(dir));
	if (ret)
		return ret;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	ret = write_atomic(dfd, base ? base + 1 : path, data, len, mode, true);
	/* A configuration file must survive a power loss: the rename too. */
	if (!ret)
		fsync(dfd);
	close(dfd);
	return ret;
}

int file_write_atomic_at(int dirfd, const char *name, const char *data, size_t len, mode_t mode)
{
	return write_atomic(dirfd, name, data, len, mode, false);
}

bool file_is_tmp(const char *name)
{
	const char *t = strstr(name, ".tmp.");

	if (!t || !t[5])
		return false;
	for (t += 5; *t; t++)
		if (*t < '0' || *t > '9')
			return false;
	return true;
}

static int file_check_trusted(int fd, bool dir, char *why, size_t whylen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		snprintf(why, whylen, "not a %s", dir ? "directory" : "regular file");
	else if (st.st_uid != 0)
		snprintf(why, whylen, "owned by uid %u, not root", (unsigned)st.st_uid);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, whylen, "writable by group or others (mode %04o)",
			 (unsigned)(st.st_mode & 07777));
	else
		return 0;
	return ERR_UNTRUSTED;
}

int file_open_trusted(int dirfd, const char *path, int flags, mode_t mode, char *why, size_t whylen)
{
	int fd = openat(dirfd, path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, mode);
	int ret;

	if (fd < 0)
		return -errno;
	ret = file_check_trusted(fd, flags & O_DIRECTORY, why, whylen);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int file_read_trusted(int dirfd, const char *path, size_t max, char **out, size_t *outlen, char *why,
		      size_t whylen)
{
	int fd = file_open_trusted(dirfd, path, O_RDONLY, 0, why, whylen), ret;

	if (fd == -ENOENT || fd == ERR_UNTRUSTED)
		return fd;
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(-fd));
		return fd;
	}
	ret = file_read_fd(fd, max, out, outlen);
	close(fd);
	if (ret)
		snprintf(why, whylen, "%s", strerror(-ret));
	return ret;
}

int file_read_fd(int fd, size_t max, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= max) {
				ret = -EFBIG;
				break;
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (ret) {
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*out = buf;
	if (outlen)
		*outlen = len;
	return 0;
}

int file_read_all(const char *path, size_t max, char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = file_read_fd(fd, max, out, outlen);
	close(fd);
	return ret;
}

/* ---- a bounded flock() ----------------------------------------------- */

long long util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A flock belongs to the open file description, not to a process: what
 * this child wins on the caller's fd, the caller holds. It dies with the
 * caller (it must never hold the caller's descriptors alone). */
static void __attribute__((noreturn)) lock_child(int fd, int out, pid_t parent)
{
	int r;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	do
		r = flock(fd, LOCK_EX) ? errno : 0;
	while (r == EINTR);
	_exit(write(out, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
}

/* The child's word (0 or an errno) before the deadline: 0, -ETIMEDOUT, or
 * -EPIPE when it ended without one. */
static int lock_word(int rfd, long long deadline, int *word)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };

	for (;;) {
		long long left = deadline - util_mono_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			return read(rfd, word, sizeof(*word)) == (ssize_t)sizeof(*word) ? 0 : -EPIPE;
	}
}

/* Sleeps in flock() in a child, so that the kernel's queue of blocked
 * waiters keeps its order (polling with LOCK_NB let latecomers overtake:
 * in a storm of 100 ADDs, 8 at a time on 2 CPUs, the p99 of an ADD was
 * ~34 ms against ~17 ms, test/bench/bench.sh), while the caller's wait is
 * a poll() timeout: no signal, so no inherited mask or disposition can
 * stretch it. -EAGAIN when no child could do it. */
static int lock_forked(int fd, long long deadline)
{
	pid_t self = getpid(), pid;
	int p[2], word = 0, ret;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -EAGAIN;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		lock_child(fd, p[1], self);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -EAGAIN;
	}
	ret = lock_word(p[0], deadline, &word);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (!ret)
		return -word;
	/* It may have won in the instant it was killed. */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	return ret == -ETIMEDOUT ? ret : -EAGAIN;
}

static int lock_poll(int fd, long long deadline)
{
	struct timespec ts = { 0, 1000000 };

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (util_mono_ms() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
		if (ts.tv_nsec < 50000000)
			ts.tv_nsec *= 2;
	}
}

int file_lock(int fd, int timeout_ms)
{
	long long deadline = util_mono_ms() + timeout_ms;
	int ret;

	/* An uncontended lock costs one call. */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK && errno != EINTR)
		return -errno;
	ret = lock_forked(fd, deadline);
	return ret == -EAGAIN ? lock_poll(fd, deadline) : ret;
}

int parse_long(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

#ifdef FLOWSTEER_DEBUG_HOOKS
void debug_hook(const char *step)
{
	const char *at = getenv("FLOWSTEER_DEBUG_KILL_AT"), *stop = getenv("FLOWSTEER_DEBUG_STOP_AT");

	if (at && !strcmp(at, step))
		kill(getpid(), SIGKILL);
	/* A test changes the kernel at this step, then sends SIGCONT. */
	if (stop && !strcmp(stop, step))
		kill(getpid(), SIGSTOP);
}

int debug_fail(const char *step, const char *what, int index)
{
	const char *at = getenv("FLOWSTEER_DEBUG_FAIL_AT");
	char want[64];

	snprintf(want, sizeof(want), "%s:%s:%d", step, what, index);
	return at && !strcmp(at, want) ? -EIO : 0;
}
#endif

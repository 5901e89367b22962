#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procstate.h"
#include "util.h"

/* A closed standard descriptor gets /dev/null (or, without one, any
 * placeholder): the log or a state file opened later would otherwise take
 * its number and receive the result or a library's message. */
static unsigned std_fds_open(void)
{
	unsigned closed = 0;

	for (int fd = 0; fd <= 2; fd++) {
		int nfd;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		closed |= 1u << fd;
		/* The lowest free number: this one, as those below are open. */
		nfd = open("/dev/null", O_RDWR | O_NOCTTY);
		if (nfd < 0)
			nfd = open("/", O_RDONLY | O_DIRECTORY);
		if (nfd >= 0 && nfd != fd) {
			dup2(nfd, fd);
			close(nfd);
		}
	}
	return closed;
}

static void signals_reset(void)
{
	static const int ignored[] = { SIGPIPE, SIGXFSZ, SIGTTIN, SIGTTOU };
	struct sigaction dfl = { .sa_handler = SIG_DFL }, ign = { .sa_handler = SIG_IGN }, old;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Only SIG_IGN survives an exec; handlers (a sanitizer's) are ours. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			sigaction(sig, &dfl, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
		sigaction(ignored[i], &ign, NULL);
}

/* Raises the soft limit to `want`, and the hard one with it where
 * permitted (root, before the capabilities are dropped); else as far as
 * the hard limit allows. */
static void limit_raise(int resource, rlim_t want)
{
	struct rlimit r, n;

	if (getrlimit(resource, &r) < 0 || r.rlim_cur >= want)
		return;
	n.rlim_cur = want;
	n.rlim_max = r.rlim_max >= want ? r.rlim_max : want;
	if (setrlimit(resource, &n) == 0)
		return;
	n.rlim_cur = r.rlim_max;
	n.rlim_max = r.rlim_max;
	setrlimit(resource, &n);
}

/* Descriptors a runtime leaked: they would pin what they point at for as
 * long as the plugin (or a child of it) waits, and count against
 * RLIMIT_NOFILE. */
static void inherited_fds_close(void)
{
	DIR *d;
	struct dirent *de;

	if (close_range(3, ~0U, 0) == 0)
		return;
	d = opendir("/proc/self/fd");
	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (fd > 2 && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
}

unsigned procstate_reset(bool cni)
{
	unsigned closed = std_fds_open();

	signals_reset();
	limit_raise(RLIMIT_NOFILE, PROCSTATE_MIN_FILES);
	limit_raise(RLIMIT_FSIZE, RLIM_INFINITY);
	umask(022);
	if (cni) {
		inherited_fds_close();
		if (chdir("/") < 0) {
			/* "/" is always there; nothing uses a relative path anyway. */
		}
	}
	return closed;
}

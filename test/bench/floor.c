/*
 * The floor for an ADD: the least a process can do to put the same values
 * in the same sysfs files as flowsteer, with the same mechanism (a forked
 * child that enters the pod netns, unshares its mount namespace and mounts a
 * fresh sysfs) and nothing else: no JSON, no state, no libraries (built with
 * -static by test/bench/bench.sh).
 *
 * usage: floor NETNS IFNAME HEX FLOW [HOSTDEV...]
 *   writes rx-0 rps_cpus=HEX and rps_flow_cnt=FLOW of IFNAME inside NETNS,
 *   then of every HOSTDEV in the caller's netns. Exit 0 when all writes held.
 * usage: floor --noop
 *   exits at once: the cost of starting a static process, for reference.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_file(const char *dev, const char *file, const char *val)
{
	char path[256];
	int fd, ok;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-0/%s", dev, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	return close(fd) == 0 && ok ? 0 : -1;
}

static int tune(const char *dev, const char *hex, const char *flow)
{
	return write_file(dev, "rps_cpus", hex) || write_file(dev, "rps_flow_cnt", flow) ? -1 : 0;
}

int main(int argc, char **argv)
{
	int nsfd, status = 0, bad = 0;
	pid_t pid;

	if (argc == 2 && !strcmp(argv[1], "--noop"))
		return 0;
	if (argc < 5) {
		fprintf(stderr, "usage: floor NETNS IFNAME HEX FLOW [HOSTDEV...]\n");
		return 2;
	}
	nsfd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		if (setns(nsfd, CLONE_NEWNET) || unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL))
			_exit(1);
		umount2("/sys", MNT_DETACH);
		if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL))
			_exit(1);
		_exit(tune(argv[2], argv[3], argv[4]) ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		bad = 1;
	for (int i = 5; i < argc; i++)
		bad |= tune(argv[i], argv[3], argv[4]) ? 1 : 0;
	return bad;
}

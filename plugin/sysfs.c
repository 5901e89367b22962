#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "log.h"
#include "sysfs.h"
#include "util.h"

int sysfs_class_open(void)
{
	int fd = open("/sys/class/net", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* sysfs's class entry is itself a symlink to the device, so only the
 * components below it are opened with O_NOFOLLOW. */
int sysfs_queues_open(int classfd, const char *dev)
{
	int devfd, qfd;

	if (!ifname_valid(dev))
		return -EINVAL;
	devfd = openat(classfd, dev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (devfd < 0)
		return -errno;
	qfd = openat(devfd, "queues", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (qfd < 0)
		qfd = -errno;
	close(devfd);
	return qfd;
}

int sysfs_queues_count(int qfd)
{
	int dfd = dup(qfd), n = 0;
	struct dirent *de;
	DIR *dir;

	if (dfd < 0)
		return -errno;
	dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(dir)))
		if (!strncmp(de->d_name, "rx-", 3))
			n++;
	closedir(dir);
	return n;
}

int sysfs_queue_read(int qfd, int i, struct cpumask *cpus, long long *flow)
{
	char path[64], buf[CPUMASK_HEX_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "rx-%d/rps_cpus", i);
	n = file_read_at(qfd, path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (cpumask_parse_hex(buf, cpus))
		return -EINVAL;
	snprintf(path, sizeof(path), "rx-%d/rps_flow_cnt", i);
	n = file_read_at(qfd, path, buf, sizeof(buf));
	if (n == -ENOENT) {
		*flow = -1;
		return 0;
	}
	if (n < 0)
		return (int)n;
	return parse_long(buf, 0, 1LL << 40, flow) ? -EINVAL : 0;
}

/* The root of the mount that fd lies in when that mount is detached, as
 * every pod-netns sysfs netns.c makes is (fsmount's, or the forked child's
 * once its mount namespace died): there ".." is the directory itself. An
 * attached mount (the host's /sys) reaches another file system first and
 * gives -EXDEV: it is never reconfigured. */
static int detached_root(int fd)
{
	struct stat cur, up;
	int dir = openat(fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC), parent;

	for (int depth = 0; dir >= 0 && depth < 32; depth++) {
		parent = openat(dir, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0 || fstat(dir, &cur) < 0 || fstat(parent, &up) < 0) {
			if (parent >= 0)
				close(parent);
			break;
		}
		if (cur.st_dev != up.st_dev) {
			close(parent);
			close(dir);
			return -EXDEV;
		}
		if (cur.st_ino == up.st_ino) {
			close(parent);
			return dir;
		}
		close(dir);
		dir = parent;
	}
	if (dir >= 0)
		close(dir);
	return -ELOOP;
}

static int sb_flag(int fsfd, const char *flag)
{
	if (fsconfig(fsfd, FSCONFIG_SET_FLAG, flag, NULL, 0) < 0 ||
	    fsconfig(fsfd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* A pod's netns sysfs superblock is read-only once a container of the pod
 * mounted its /sys read-only (runc does: the first mount of a netns's
 * sysfs makes the superblock, and later ones share it). netns.c's own
 * mount is never read-only itself, so read-only here means the
 * superblock's: it is made writable for one write and put back. The
 * containers' /sys stay read-only throughout: each is a read-only mount
 * itself. Every flowsteer writer holds the state lock, so none puts it
 * back under another's write. Returns the fspick context (for
 * sb_put_back) or -errno when the superblock is not the cause or cannot
 * be reconfigured (no fspick before Linux 5.2: the write stays refused). */
static int sb_writable(int fd)
{
	struct statvfs sv;
	int root = detached_root(fd), fsfd, ret;

	if (root < 0)
		return root;
	if (fstatvfs(root, &sv) < 0 || !(sv.f_flag & ST_RDONLY)) {
		close(root);
		return -EROFS;
	}
	fsfd = fspick(root, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC);
	close(root);
	if (fsfd < 0)
		return -errno;
	ret = sb_flag(fsfd, "rw");
	if (ret) {
		close(fsfd);
		return ret;
	}
	return fsfd;
}

/* Read-only again, as it was found. A writer that holds a file of it open
 * (a privileged container's read-write /sys) makes the kernel refuse
 * (EBUSY): it stays writable then, which only that container's own
 * read-write mount can use, and the log says so. */
static void sb_put_back(int fsfd)
{
	int ret = sb_flag(fsfd, "ro");

	for (int tries = 0; ret == -EBUSY && tries < 3; tries++) {
		usleep(1000);
		ret = sb_flag(fsfd, "ro");
	}
	if (ret)
		log_msg(LOG_LVL_WARN, "sysfs: a pod netns's sysfs superblock stays writable: "
			"reconfiguring it read-only again: %s", strerror(-ret));
	close(fsfd);
}

/* file_write_at(), through a read-only superblock when needed. */
static int attr_write(int qfd, const char *path, const char *buf)
{
	int ret = file_write_at(qfd, path, buf), fsfd;

	if (ret != -EROFS)
		return ret;
	fsfd = sb_writable(qfd);
	if (fsfd < 0)
		return ret;
	ret = file_write_at(qfd, path, buf);
	sb_put_back(fsfd);
	return ret;
}

int sysfs_queue_write(int qfd, int i, const struct cpumask *cpus, unsigned nbits, long long flow)
{
	char path[64], buf[CPUMASK_HEX_MAX];
	int ret;

	if (cpus) {
		if (cpumask_format_hex(cpus, nbits, buf, sizeof(buf)))
			return -EINVAL;
		snprintf(path, sizeof(path), "rx-%d/rps_cpus", i);
		ret = attr_write(qfd, path, buf);
		if (ret)
			return ret;
	}
	if (flow >= 0) {
		snprintf(path, sizeof(path), "rx-%d/rps_flow_cnt", i);
		snprintf(buf, sizeof(buf), "%lld", flow);
		return attr_write(qfd, path, buf);
	}
	return 0;
}

static int dev_attr(int classfd, const char *dev, const char *attr, int *out)
{
	char path[64], buf[32];
	long long v;
	ssize_t n;

	if (!ifname_valid(dev))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", dev, attr);
	/* Through the class symlink; the attribute itself is a plain file. */
	n = file_read_at(classfd, path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (parse_long(buf, 0, 0x7fffffff, &v))
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int sysfs_dev_index(int classfd, const char *dev, int *ifindex, int *iflink)
{
	int ret = dev_attr(classfd, dev, "ifindex", ifindex);

	return ret ? ret : dev_attr(classfd, dev, "iflink", iflink);
}

long long sysfs_sockflow_read(void)
{
	char buf[32];
	long long v;
	ssize_t n = file_read_at(AT_FDCWD, SYSFS_SOCKFLOW, buf, sizeof(buf));

	if (n < 0)
		return n;
	return parse_long(buf, 0, 1LL << 40, &v) ? -EINVAL : v;
}

/* A container's /proc/sys (the agent's, at uninstall) is a read-only bind
 * mount of the host's: a detached clone of it made writable (a mount flag,
 * not the superblock's; needs CAP_SYS_ADMIN) takes the write, and the
 * container's own mount stays read-only. */
static int sockflow_write_clone(const char *buf)
{
	struct mount_attr attr = { .attr_clr = MOUNT_ATTR_RDONLY };
	int fd = open_tree(AT_FDCWD, "/proc/sys/net/core", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC), ret;

	if (fd < 0)
		return -EROFS;
	ret = mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0 ? -EROFS
									    : file_write_at(fd, "rps_sock_flow_entries", buf);
	close(fd);
	return ret;
}

int sysfs_sockflow_write(long long v)
{
	char buf[32];
	int ret;

	snprintf(buf, sizeof(buf), "%lld", v);
	ret = file_write_at(AT_FDCWD, SYSFS_SOCKFLOW, buf);
	return ret == -EROFS ? sockflow_write_clone(buf) : ret;
}

int sysfs_cpulist_read(const char *name, struct cpumask *m)
{
	char path[128], buf[4096];
	ssize_t n;

	snprintf(path, sizeof(path), SYSFS_CPU_DIR "/%s", name);
	n = file_read_at(AT_FDCWD, path, buf, sizeof(buf));
	if (n == -ENOENT) {
		cpumask_zero(m);
		return 0;
	}
	if (n < 0)
		return (int)n;
	return cpumask_parse_list(buf, m, NULL) ? -EINVAL : 0;
}

int sysfs_cpus_online(struct cpumask *online, unsigned *nbits)
{
	struct cpumask possible;
	int ret = sysfs_cpulist_read("online", online);

	if (!ret)
		ret = sysfs_cpulist_read("possible", &possible);
	if (ret)
		return ret;
	if (cpumask_empty(online) || cpumask_empty(&possible))
		return -ENOENT;
	*nbits = (unsigned)cpumask_last(&possible) + 1;
	return 0;
}

int sysfs_boot_id(char *out, size_t len)
{
	ssize_t n = file_read_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", out, len);

	if (n < 0)
		return (int)n;
	return n == 36 ? 0 : -EINVAL;
}

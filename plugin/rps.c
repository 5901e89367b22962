#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rps.h"
#include "util.h"

const char *rps_status_name(int status)
{
	static const char *const names[] = { "applied", "absent", "skipped", "failed" };

	return status >= 0 && status < (int)ARRAY_SIZE(names) ? names[status] : "failed";
}

const char *rps_scope_name(int scope)
{
	static const char *const names[] = { "container", "host", "node" };

	return scope >= 0 && scope < (int)ARRAY_SIZE(names) ? names[scope] : "?";
}

long long rps_roundup_pow2(long long v)
{
	long long p = 1;

	if (v <= 0)
		return 0;
	while (p < v)
		p <<= 1;
	return p;
}

struct rps_dev *rps_dev_new(const char *name, int scope, int nq)
{
	struct rps_dev *d = calloc(1, sizeof(*d) + (size_t)nq * sizeof(struct rps_queue));

	if (!d)
		return NULL;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->scope = scope;
	d->flow_set = -1;
	d->nq = nq;
	return d;
}

size_t rps_dev_size(const struct rps_dev *d)
{
	return sizeof(*d) + (size_t)d->nq * sizeof(struct rps_queue);
}

/* The device's queues directory; sysfs's class entry is itself a symlink, so
 * only the later components are opened with O_NOFOLLOW. */
static int queues_open(int classfd, const char *name)
{
	int devfd, qfd;

	if (!ifname_valid(name))
		return -EINVAL;
	devfd = openat(classfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (devfd < 0)
		return -errno;
	qfd = openat(devfd, "queues", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (qfd < 0)
		qfd = -errno;
	close(devfd);
	return qfd;
}

/* Number of rx-N entries; they are numbered 0..n-1 by the kernel. */
static int queues_count(int qfd)
{
	int dup_fd = dup(qfd), n = 0;
	struct dirent *de;
	DIR *dir;

	if (dup_fd < 0)
		return -errno;
	dir = fdopendir(dup_fd);
	if (!dir) {
		close(dup_fd);
		return -errno;
	}
	while ((de = readdir(dir)))
		if (!strncmp(de->d_name, "rx-", 3))
			n++;
	closedir(dir);
	return n;
}

int rps_dev_queues(int classfd, const char *name)
{
	int qfd = queues_open(classfd, name), n;

	if (qfd < 0)
		return qfd;
	n = queues_count(qfd);
	close(qfd);
	return n;
}

static int queue_read(int qfd, int i, struct rps_queue *q)
{
	char path[64], buf[32];
	ssize_t n;

	snprintf(path, sizeof(path), "rx-%d/rps_cpus", i);
	n = file_read_at(qfd, path, q->rps_cpus, sizeof(q->rps_cpus));
	if (n < 0)
		return (int)n;
	snprintf(path, sizeof(path), "rx-%d/rps_flow_cnt", i);
	n = file_read_at(qfd, path, buf, sizeof(buf));
	if (n == -ENOENT) {
		q->flow_cnt = -1;
		return 0;
	}
	if (n < 0)
		return (int)n;
	return parse_long(buf, 0, 1LL << 40, &q->flow_cnt) ? -EINVAL : 0;
}

static int queue_write(int qfd, int i, const char *hex, long long flow)
{
	char path[64], buf[32];
	int ret;

	if (hex && hex[0]) {
		snprintf(path, sizeof(path), "rx-%d/rps_cpus", i);
		ret = file_write_at(qfd, path, hex);
		if (ret)
			return ret;
	}
	if (flow >= 0) {
		snprintf(path, sizeof(path), "rx-%d/rps_flow_cnt", i);
		snprintf(buf, sizeof(buf), "%lld", flow);
		ret = file_write_at(qfd, path, buf);
		if (ret)
			return ret;
	}
	return 0;
}

static bool queue_holds_mask(const struct rps_queue *q, const char *hex)
{
	struct cpumask have, want;

	return hex && hex[0] && cpumask_parse_hex(q->rps_cpus, &have) == 0 &&
	       cpumask_parse_hex(hex, &want) == 0 && cpumask_equal(&have, &want);
}

struct rps_dev *rps_dev_load(int classfd, const char *name, int scope)
{
	struct rps_dev *d;
	int qfd, n, ret;

	qfd = queues_open(classfd, name);
	if (qfd < 0) {
		d = rps_dev_new(name, scope, 0);
		if (!d)
			return NULL;
		d->status = qfd == -ENOENT ? RPS_ABSENT : RPS_FAILED;
		snprintf(d->reason, sizeof(d->reason), "%s", qfd == -ENOENT ? "no such device" : strerror(-qfd));
		return d;
	}
	n = queues_count(qfd);
	if (n > RPS_MAX_QUEUES)
		n = RPS_MAX_QUEUES;
	d = rps_dev_new(name, scope, n < 0 ? 0 : n);
	if (!d)
		goto out;
	if (n < 0) {
		d->status = RPS_FAILED;
		snprintf(d->reason, sizeof(d->reason), "listing %s/queues: %s", name, strerror(-n));
		goto out;
	}
	if (n == 0) {
		d->status = RPS_SKIPPED;
		snprintf(d->reason, sizeof(d->reason), "no rx queues (kernel without CONFIG_RPS?)");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		ret = queue_read(qfd, i, &d->orig[i]);
		if (ret) {
			d->status = ret == -ENOENT ? RPS_SKIPPED : RPS_FAILED;
			snprintf(d->reason, sizeof(d->reason), "reading %s rx-%d: %s", name, i, strerror(-ret));
			goto out;
		}
	}
out:
	close(qfd);
	return d;
}

int rps_dev_apply(int classfd, struct rps_dev *d, const char *hex, long long flow)
{
	int qfd, ret = 0, i;

	qfd = queues_open(classfd, d->name);
	if (qfd < 0) {
		d->status = qfd == -ENOENT ? RPS_ABSENT : RPS_FAILED;
		snprintf(d->reason, sizeof(d->reason), "opening %s/queues: %s", d->name, strerror(-qfd));
		return qfd;
	}
	if (flow >= 0 && d->nq > 0 && d->orig[0].flow_cnt < 0)
		flow = -1; /* kernel without RFS: rps_cpus alone */
	for (i = 0; i < d->nq; i++) {
		/* A value the queue already holds is not written again: each write
		 * makes the kernel build a new map or flow table (rps_flow_cnt:
		 * 8 bytes an entry) and an RFS table starts over empty, so every
		 * pod start would reset the node devices' steering. */
		ret = queue_write(qfd, i, queue_holds_mask(&d->orig[i], hex) ? NULL : hex,
				  d->orig[i].flow_cnt == flow ? -1 : flow);
		if (ret)
			break;
	}
	if (ret) {
		d->status = RPS_FAILED;
		snprintf(d->reason, sizeof(d->reason), "writing %s rx-%d %s%s: %s", d->name, i,
			 hex && hex[0] ? "rps_cpus=" : "", hex ? hex : "", strerror(-ret));
		/* Nothing half-applied: put back what this call already changed. */
		for (int j = i; j >= 0; j--)
			queue_write(qfd, j, d->orig[j].rps_cpus, flow >= 0 ? d->orig[j].flow_cnt : -1);
	} else {
		d->status = RPS_APPLIED;
		snprintf(d->rps_set, sizeof(d->rps_set), "%s", hex ? hex : "");
		d->flow_set = flow;
	}
	close(qfd);
	return ret;
}

int rps_queues_write(int classfd, const char *name, const struct rps_queue *q, int nq,
		     char *reason, size_t reason_len)
{
	int qfd, first = 0;

	qfd = queues_open(classfd, name);
	if (qfd < 0) {
		snprintf(reason, reason_len, "opening %s/queues: %s", name, strerror(-qfd));
		return qfd;
	}
	for (int i = 0; i < nq; i++) {
		int ret = queue_write(qfd, i, q[i].rps_cpus, q[i].flow_cnt);

		if (ret && !first) {
			first = ret;
			snprintf(reason, reason_len, "writing %s rx-%d: %s", name, i, strerror(-ret));
		}
	}
	close(qfd);
	return first;
}

int rps_dev_restore(int classfd, const struct rps_dev *d)
{
	char reason[256];

	return rps_queues_write(classfd, d->name, d->orig, d->nq, reason, sizeof(reason));
}

int rps_dev_verify(int classfd, const char *name, const char *hex, long long flow,
		   char *msg, size_t msg_len)
{
	struct cpumask want, have;
	struct rps_queue q;
	int qfd, n, ret = 0;

	qfd = queues_open(classfd, name);
	if (qfd < 0) {
		snprintf(msg, msg_len, "device %s: %s", name, strerror(-qfd));
		return qfd;
	}
	n = queues_count(qfd);
	if (hex && hex[0] && cpumask_parse_hex(hex, &want)) {
		snprintf(msg, msg_len, "device %s: recorded rps_cpus \"%s\" is not a mask", name, hex);
		ret = -EINVAL;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int r = queue_read(qfd, i, &q);

		if (r) {
			snprintf(msg, msg_len, "device %s rx-%d: %s", name, i, strerror(-r));
			ret = r;
			goto out;
		}
		if (hex && hex[0] && (cpumask_parse_hex(q.rps_cpus, &have) || !cpumask_equal(&want, &have))) {
			snprintf(msg, msg_len, "device %s queue rx-%d: rps_cpus expected %s, actual %s",
				 name, i, hex, q.rps_cpus);
			ret = 1;
			goto out;
		}
		if (flow >= 0 && q.flow_cnt >= 0 && q.flow_cnt != flow) {
			snprintf(msg, msg_len, "device %s queue rx-%d: rps_flow_cnt expected %lld, actual %lld",
				 name, i, flow, q.flow_cnt);
			ret = 1;
			goto out;
		}
	}
out:
	close(qfd);
	return ret;
}

long long rps_sysctl_read(void)
{
	char buf[32];
	long long v;
	ssize_t n = file_read_at(AT_FDCWD, RPS_SYSCTL_PATH, buf, sizeof(buf));

	if (n < 0)
		return n;
	if (parse_long(buf, 0, 1LL << 40, &v))
		return -EINVAL;
	return v;
}

int rps_sysctl_write(long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	return file_write_at(AT_FDCWD, RPS_SYSCTL_PATH, buf);
}

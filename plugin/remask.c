#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/statvfs.h>

#include "log.h"
#include "netns.h"
#include "plan.h"
#include "remask.h"
#include "state.h"
#include "sysfs.h"

struct remask {
	const struct fs_config *cfg;
	struct state *st;
	struct cpumask node_mask;
	struct cpus_excluded excluded;
	unsigned nbits;
	int host_class;
	struct remask_result *r;
};

/* The new mask of one queue set, written where the kernel still holds
 * flowsteer's value. Returns 1 when something was written, 0 when nothing
 * had to change, -1 when the device is left as it is. */
static int dev_remask(struct remask *m, int classfd, struct dev *d, const struct cpumask *want)
{
	struct dev live = { .status = DEV_APPLIED };
	int qfd, n = 0, ret = 0;

	snprintf(live.name, sizeof(live.name), "%s", d->name);
	plan_dev_read(classfd, &live);
	/* A queue flowsteer did not write held what it wanted already: the
	 * original is what it must still hold. */
	for (int i = 0; live.status == DEV_APPLIED && i < d->nq && i < live.nq; i++)
		if (!cpumask_equal(&live.q[i].orig_cpus, d->q[i].wrote_cpus ? &d->q[i].set_cpus : &d->q[i].orig_cpus))
			live.status = DEV_SKIPPED;
	if (live.status != DEV_APPLIED) {
		/* A warning, not a log line: the agent, which runs this, has no
		 * plugin log and reports the warnings itself. */
		warn_add(&m->r->warn, "re-mask: %s device %s left as it is (%s)", model_scope_name(d->scope),
			 d->name, live.status == DEV_SKIPPED ? "changed by someone else" : live.reason);
		model_dev_free(&live);
		return -1;
	}
	qfd = sysfs_queues_open(classfd, d->name);
	for (int i = 0; qfd >= 0 && i < d->nq && i < live.nq && !ret; i++) {
		if (cpumask_equal(&live.q[i].orig_cpus, want))
			continue;
		ret = sysfs_queue_write(qfd, i, want, m->nbits, -1);
		if (!ret) {
			d->q[i].set_cpus = *want;
			d->q[i].wrote_cpus = true;
			n++;
		}
	}
	if (qfd >= 0)
		close(qfd);
	else
		ret = qfd;
	m->r->queues += n;
	model_dev_free(&live);
	/* The record keeps wanting the old mask where the new one could not
	 * be written (a pod in a user namespace without CAP_DAC_OVERRIDE):
	 * what it says must be what flowsteer asked of the kernel. Queues
	 * written before the failure are noted all the same (1: the record
	 * must be saved). */
	if (ret) {
		warn_add(&m->r->warn, "re-mask: writing %s: %s", d->name, strerror(-ret));
		return n > 0 ? 1 : -1;
	}
	d->want_cpus = *want;
	return n > 0;
}

static void count(struct remask *m, int ret)
{
	if (ret > 0)
		m->r->devices++;
	else if (ret < 0)
		m->r->left++;
}

/* The pod's own mask: its annotation's narrowing kept where it can be, else
 * the node's. */
static void pod_mask(struct remask *m, struct attachment *a, struct cpumask *out)
{
	*out = m->node_mask;
	if (!a->cpus_narrowed)
		return;
	cpumask_and(out, &a->cpus_annotation, &m->node_mask);
	if (cpumask_empty(out)) {
		warn_add(&m->r->warn, "re-mask: %s/%s: flowsteer.io/cpus leaves no CPU now; the node's set is used",
			 a->pod_namespace, a->pod_name);
		*out = m->node_mask;
	}
}

static int record_remask(const char *file, struct attachment *a, const struct fs_err *err, void *arg)
{
	struct remask *m = arg;
	struct fs_err e = { 0 };
	struct cpumask want;
	int podfd = -1, ret;
	bool pod_tried = false;
	bool changed = false;

	if (!a) {
		log_msg(LOG_LVL_WARN, "re-mask: %s: %s", file, err->msg);
		return 0;
	}
	m->r->attachments++;
	pod_mask(m, a, &want);
	for (int i = 0; i < a->ndev; i++) {
		struct dev *d = &a->devs[i];

		if (d->status != DEV_APPLIED || d->scope == DEV_SCOPE_NODE)
			continue;
		if (d->scope == DEV_SCOPE_CONTAINER && !pod_tried) {
			pod_tried = true;
			podfd = netns_class_open(a->netns);
		}
		ret = dev_remask(m, d->scope == DEV_SCOPE_HOST ? m->host_class : podfd, d, &want);
		count(m, ret);
		changed |= ret > 0;
	}
	for (int i = 0; i < a->ndev; i++)
		if (a->devs[i].scope == DEV_SCOPE_NODE && a->devs[i].status == DEV_APPLIED &&
		    !cpumask_equal(&a->devs[i].want_cpus, &m->node_mask)) {
			a->devs[i].want_cpus = m->node_mask;
			changed = true;
		}
	changed |= !cpumask_equal(&a->cpus, &want) || memcmp(&a->excluded, &m->excluded, sizeof(a->excluded));
	a->cpus = want;
	a->excluded = m->excluded;
	/* Only a record that changed is written: the agent watches them, and
	 * an unchanged pass must not look like news. */
	if (changed && state_record_write(m->st, a, &e))
		warn_add(&m->r->warn, "re-mask: %s", e.msg);
	if (podfd >= 0)
		close(podfd);
	return 0;
}

static void node_remask(struct remask *m)
{
	struct node_state *n = calloc(1, sizeof(*n));
	struct fs_err e = { 0 };
	bool dirty = false;
	int ret;

	if (!n || state_node_read(m->st, n, &e)) {
		if (e.code)
			warn_add(&m->r->warn, "re-mask: node devices: %s", e.msg);
		free(n);
		return;
	}
	for (int i = 0; i < n->ndev; i++) {
		ret = dev_remask(m, m->host_class, &n->devs[i], &m->node_mask);
		count(m, ret);
		dirty |= ret > 0;
	}
	if (dirty && state_node_write(m->st, n, &e))
		warn_add(&m->r->warn, "re-mask: %s", e.msg);
	node_state_clear(n);
	free(n);
}

/* The host's /sys/class/net, writable. In a container (the agent's, with
 * hostNetwork) /sys shows the host's devices but is mounted read-only; a
 * sysfs of our own network namespace made with fsmount (netns.c, needs
 * CAP_SYS_ADMIN) is not. */
static int host_class_open(struct fs_err *e)
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

int remask_all(const struct fs_config *cfg, struct remask_result *r, struct fs_err *e)
{
	struct state st = STATE_INIT;
	struct remask m = { .cfg = cfg, .st = &st, .r = r };
	int ret = -1;

	if (plan_masks(cfg, &m.node_mask, &m.excluded, &m.nbits, &r->warn, e))
		return -1;
	/* Never an empty mask: with no CPU left, the kernel refuses what the
	 * masks would need, and the old ones stay (a warning says so). */
	if (cpumask_empty(&m.node_mask) && cfg->cpus.kind != FS_CPUS_NONE) {
		warn_add(&r->warn, "re-mask: no CPU left to steer onto; masks left as they are");
		return 0;
	}
	m.host_class = host_class_open(e);
	if (m.host_class < 0)
		return -1;
	if (state_lock(&st, cfg->state_dir, e))
		goto out;
	state_records_foreach(&st, record_remask, &m);
	node_remask(&m);
	ret = 0;
	log_msg(LOG_LVL_INFO, "re-mask: %d attachment(s), %d device(s) changed (%d queue writes), %d left as they were",
		r->attachments, r->devices, r->queues, r->left);
out:
	state_close(&st);
	close(m.host_class);
	return ret;
}

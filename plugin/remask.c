#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	struct node_state *node;        /* node.json as re-masked: its devices' outcomes */
	struct remask_result *r;
};

/* Queues of d whose recorded value (what flowsteer wrote, else the
 * original) is want: after a pass, what the kernel holds. */
static int dev_set_count(const struct dev *d, int live_nq, const struct cpumask *want)
{
	int set = 0;

	for (int i = 0; i < d->nq && i < live_nq; i++)
		set += cpumask_equal(d->q[i].wrote_cpus ? &d->q[i].set_cpus : &d->q[i].orig_cpus, want);
	return set;
}

/* d's outcome after a pass towards want: the record wants want, and says
 * how many queues hold it (a write that failed keeps the old value). */
static void dev_remask_outcome(struct remask *m, struct dev *d, const struct dev *live,
			       const struct cpumask *want, int err, const char *why)
{
	char list[128] = "";

	d->want_cpus = *want;
	cpumask_format_list(want, list, sizeof(list));
	model_dev_settle(d, dev_set_count(d, live->nq, want), live->nq_total ? live->nq_total : d->nq_total, err,
			 "re-mask to CPUs %s: %s", list[0] ? list : "-", why);
	if (d->status != DEV_APPLIED) {
		m->r->failed++;
		warn_add(&m->r->warn, "re-mask: %s device %s: %s: %s", model_scope_name(d->scope), d->name,
			 model_status_name(d->status), d->reason);
	}
}

/* The new mask of one queue set, written where the kernel still holds
 * flowsteer's value. Returns 1 when something was written, 0 when nothing
 * had to change, -1 when the device is left as it is or failed. */
/* What the kernel holds for d now, in live: -1 (live freed, a warning)
 * when d is gone or someone else changed it, so it is left alone. */
static int dev_remask_live(struct remask *m, int classfd, struct dev *d, struct dev *live)
{
	int i;

	snprintf(live->name, sizeof(live->name), "%s", d->name);
	if (classfd >= 0)
		plan_dev_read(classfd, live);
	else
		model_dev_fail(live, DEV_FAILED, "its netns's sysfs: %s", strerror(-classfd));
	/* A queue flowsteer did not write held what it wanted already: the
	 * original is what it must still hold. */
	for (i = 0; live->status == DEV_APPLIED && i < d->nq && i < live->nq; i++)
		if (!cpumask_equal(&live->q[i].orig_cpus, d->q[i].wrote_cpus ? &d->q[i].set_cpus : &d->q[i].orig_cpus))
			live->status = DEV_SKIPPED;
	if (live->status != DEV_SKIPPED && live->status != DEV_ABSENT)
		return 0;
	/* A warning, not a log line: the agent, which runs this, has no
	 * plugin log and reports the warnings itself. */
	warn_add(&m->r->warn, "re-mask: %s device %s left as it is (%s)", model_scope_name(d->scope), d->name,
		 live->status == DEV_SKIPPED ? "changed by someone else" : live->reason);
	model_dev_free(live);
	return -1;
}

static int dev_remask(struct remask *m, int classfd, struct dev *d, const struct cpumask *want)
{
	struct dev live = { .status = DEV_APPLIED };
	char why[160] = "queues beyond those recorded left as they are";
	int qfd = classfd, n = 0, ret = 0, i;

	if (dev_remask_live(m, classfd, d, &live))
		return -1;
	if (live.status == DEV_APPLIED)
		qfd = sysfs_queues_open(classfd, d->name);
	for (i = 0; live.status == DEV_APPLIED && qfd >= 0 && i < d->nq && i < live.nq && !ret; i++) {
		if (cpumask_equal(&live.q[i].orig_cpus, want))
			continue;
		ret = sysfs_queue_write(qfd, i, want, m->nbits, -1);
		if (!ret) {
			d->q[i].set_cpus = *want;
			d->q[i].wrote_cpus = true;
			n++;
		}
	}
	if (live.status != DEV_APPLIED)
		snprintf(why, sizeof(why), "%.150s", live.reason);
	else if (qfd < 0 || ret)
		snprintf(why, sizeof(why), "writing %s rx-%d: %s", d->name, qfd < 0 ? 0 : i - 1,
			 strerror(qfd < 0 ? -qfd : -ret));
	if (qfd >= 0 && live.status == DEV_APPLIED)
		close(qfd);
	m->r->queues += n;
	/* The record wants the new mask; the queues a write could not reach
	 * (a read-only sysfs, a pod in a user namespace without
	 * CAP_DAC_OVERRIDE) keep what the kernel holds, and the device says
	 * failed or partial with the errno (docs/agent.md). */
	dev_remask_outcome(m, d, &live, want,
			   classfd < 0 ? -classfd : live.status != DEV_APPLIED ? 0 : qfd < 0 ? -qfd : -ret, why);
	model_dev_free(&live);
	if (d->status != DEV_APPLIED)
		return n > 0 ? 1 : -1;
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

/* Whether a pass changed what the record says of d. */
static bool dev_outcome_changed(const struct dev *d, const struct dev *before)
{
	return d->status != before->status || d->nq_set != before->nq_set || d->nq_total != before->nq_total ||
	       d->err != before->err || strcmp(d->reason, before->reason) ||
	       !cpumask_equal(&d->want_cpus, &before->want_cpus);
}

/* A node device in a record takes the node's mask and the outcome of
 * node.json's pass over it. */
static void record_node_dev(struct remask *m, struct dev *d)
{
	const struct dev *nd = m->node ? model_dev_find(m->node->devs, m->node->ndev, d->name) : NULL;

	d->want_cpus = m->node_mask;
	if (!nd || !nd->nq_total)
		return;
	d->status = nd->status;
	d->nq_set = nd->nq_set;
	d->nq_total = nd->nq_total;
	d->err = nd->err;
	snprintf(d->reason, sizeof(d->reason), "%s", nd->reason);
}

static int record_remask(const char *file, struct attachment *a, const struct fs_err *err, void *arg)
{
	struct remask *m = arg;
	struct fs_err e = { 0 };
	struct cpumask want;
	int podfd = -ENOENT, ret;
	bool pod_tried = false, changed = false;

	if (!a) {
		log_msg(LOG_LVL_WARN, "re-mask: %s: %s", file, err->msg);
		return 0;
	}
	m->r->attachments++;
	pod_mask(m, a, &want);
	for (int i = 0; i < a->ndev; i++) {
		struct dev *d = &a->devs[i], before = *d;

		if (!model_dev_held(d))
			continue;
		if (d->scope == DEV_SCOPE_NODE) {
			record_node_dev(m, d);
		} else {
			if (d->scope == DEV_SCOPE_CONTAINER && !pod_tried) {
				pod_tried = true;
				podfd = netns_class_open(a->netns);
			}
			ret = dev_remask(m, d->scope == DEV_SCOPE_HOST ? m->host_class : podfd, d, &want);
			count(m, ret);
			changed |= ret > 0;
		}
		changed |= dev_outcome_changed(d, &before);
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

/* node.json first: the records' node devices then say how it went. */
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
	m->node = n;
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
	m.host_class = netns_host_class_open(e);
	if (m.host_class < 0)
		return -1;
	if (state_lock(&st, cfg->state_dir, e))
		goto out;
	node_remask(&m);
	state_records_foreach(&st, record_remask, &m);
	ret = 0;
	log_msg(LOG_LVL_INFO, "re-mask: %d attachment(s), %d device(s) changed (%d queue writes), %d left as they were, %d failed or partial",
		r->attachments, r->devices, r->queues, r->left, r->failed);
out:
	if (m.node) {
		node_state_clear(m.node);
		free(m.node);
	}
	state_close(&st);
	close(m.host_class);
	return ret;
}

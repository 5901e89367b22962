#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "claim.h"
#include "log.h"
#include "sysfs.h"
#include "util.h"

/* ---- one device ------------------------------------------------------ */

static int queue_apply(int qfd, int i, struct dev *d, unsigned nbits)
{
	struct dev_queue *q = &d->q[i];
	int ret;

	if (!cpumask_equal(&q->orig_cpus, &d->want_cpus)) {
		ret = sysfs_queue_write(qfd, i, &d->want_cpus, nbits, -1);
		if (ret)
			return ret;
		q->wrote_cpus = true;
		q->set_cpus = d->want_cpus;
	}
	if (d->want_flow >= 0 && q->orig_flow >= 0 && q->orig_flow != d->want_flow) {
		ret = sysfs_queue_write(qfd, i, NULL, nbits, d->want_flow);
		if (ret)
			return ret;
		q->wrote_flow = true;
		q->set_flow = d->want_flow;
	}
	return 0;
}

/* Returns 1 when the queue still holds flowsteer's value (its restore
 * failed: the record keeps it, a later DEL tries again), else 0. */
static int queue_revert(int qfd, int i, struct dev *d, unsigned nbits)
{
	struct dev_queue *q = &d->q[i];
	struct cpumask live;
	char now[128], set[128];
	long long flow;
	int ret, kept = 0;

	if (!q->wrote_cpus && !q->wrote_flow)
		return 0;
	ret = sysfs_queue_read(qfd, i, &live, &flow);
	if (ret) {
		log_msg(LOG_LVL_WARN, "restoring %s device %s: reading %s rx-%d: %s", model_scope_name(d->scope),
			d->name, d->name, i, strerror(-ret));
		return ret != -ENOENT;
	}
	if (q->wrote_cpus && !cpumask_equal(&live, &q->set_cpus)) {
		cpumask_format_list(&live, now, sizeof(now));
		cpumask_format_list(&q->set_cpus, set, sizeof(set));
		log_msg(LOG_LVL_WARN, "%s rx-%d: rps_cpus is CPUs \"%s\", not flowsteer's \"%s\": left as it is",
			d->name, i, now, set);
	} else if (q->wrote_cpus && (ret = sysfs_queue_write(qfd, i, &q->orig_cpus, nbits, -1))) {
		log_msg(LOG_LVL_WARN, "restoring %s device %s: writing %s rx-%d rps_cpus: %s",
			model_scope_name(d->scope), d->name, d->name, i, strerror(-ret));
		kept = 1;
	}
	if (q->wrote_flow && flow != q->set_flow)
		log_msg(LOG_LVL_WARN, "%s rx-%d: rps_flow_cnt is %lld, not flowsteer's %lld: left as it is",
			d->name, i, flow, q->set_flow);
	else if (q->wrote_flow && (ret = sysfs_queue_write(qfd, i, NULL, nbits, q->orig_flow)))
		log_msg(LOG_LVL_WARN, "restoring %s device %s: writing %s rx-%d rps_flow_cnt: %s",
			model_scope_name(d->scope), d->name, d->name, i, strerror(-ret));
	if (!kept)
		q->wrote_cpus = q->wrote_flow = false;
	return kept;
}

/* The outcome once d was written: its queues are counted again, since one
 * that appeared meanwhile does not hold flowsteer's value. A device beyond
 * the safety bound is logged. */
static void dev_outcome(int qfd, struct dev *d, int set, int err, const char *why)
{
	int now = sysfs_queues_count(qfd), total = d->nq_total > now ? d->nq_total : now;

	if (d->nq_total > d->nq)
		log_msg(LOG_LVL_WARN, "%s device %s has %d rx queues: flowsteer writes the first %d (a safety bound, docs/devices.md); the others are left as they are",
			model_scope_name(d->scope), d->name, d->nq_total, d->nq);
	if (err)
		model_dev_settle(d, set, total, err, "%s", why);
	else if (now > d->nq_total)
		model_dev_settle(d, set, total, 0, "rx-%d to rx-%d appeared while %s was written: left as they are",
				 d->nq_total, now - 1, d->name);
	else
		model_dev_settle(d, set, total, 0, "rx-%d and above left as they are (at most %d queues are written, a safety bound)",
				 d->nq, MODEL_MAX_QUEUES);
}

/* Writes d's wanted values on every queue that does not hold them yet (a
 * write makes the kernel start a new RFS table: a value held is never
 * written again). On a failure, puts back what it wrote and marks d
 * failed. Returns 0 or -errno. */
static int apply_dev(int classfd, struct dev *d, unsigned nbits)
{
	char hex[CPUMASK_HEX_MAX] = "", why[sizeof(d->reason)] = "";
	int qfd, ret = 0, i, kept = 0;

	if (d->status != DEV_APPLIED)
		return 0;
	qfd = sysfs_queues_open(classfd, d->name);
	if (qfd < 0) {
		model_dev_fail(d, qfd == -ENOENT ? DEV_ABSENT : DEV_FAILED, "opening %s/queues: %s", d->name,
			       strerror(-qfd));
		d->err = -qfd;
		return qfd;
	}
	for (i = 0; i < d->nq && !ret; i++)
		ret = debug_fail("queue-write", d->name, i) ?: queue_apply(qfd, i, d, nbits);
	debug_hook("queues-written");
	if (ret) {
		/* Nothing half-applied: what this call wrote goes back. */
		for (int j = 0; j < d->nq; j++)
			kept += queue_revert(qfd, j, d, nbits);
		cpumask_format_hex(&d->want_cpus, nbits, hex, sizeof(hex));
		snprintf(why, sizeof(why), "writing %s rx-%d rps_cpus=%.64s: %s", d->name, i - 1, hex,
			 strerror(-ret));
	}
	dev_outcome(qfd, d, ret ? kept : d->nq, -ret, why);
	close(qfd);
	return ret;
}

/* The inverse, for every queue d says was written. */
static void apply_revert_dev(int classfd, struct dev *d, unsigned nbits)
{
	int qfd;

	if (!model_dev_wrote(d))
		return;
	qfd = sysfs_queues_open(classfd, d->name);
	if (qfd < 0) {
		log_msg(LOG_LVL_INFO, "%s device %s: nothing to restore: %s", model_scope_name(d->scope), d->name,
			qfd == -ENOENT ? "it is gone" : strerror(-qfd));
		return;
	}
	for (int i = 0; i < d->nq; i++)
		queue_revert(qfd, i, d, nbits);
	close(qfd);
	log_msg(LOG_LVL_INFO, "restored %s device %s (%d queues)", model_scope_name(d->scope), d->name, d->nq);
}

/* ---- the pod's devices ---------------------------------------------- */

static int pod_classfd(const struct kview *kv, const struct dev *d)
{
	if (d->scope == DEV_SCOPE_CONTAINER)
		return kv->pod_class;
	return d->scope == DEV_SCOPE_HOST ? kv->host_class : -1;
}

void apply_pod(const struct kview *kv, struct attachment *a)
{
	for (int i = 0; i < a->ndev; i++) {
		struct dev *d = &a->devs[i];
		int fd = pod_classfd(kv, d);

		if (fd < 0)
			continue;
		apply_dev(fd, d, a->nbits);
		if (d->scope == DEV_SCOPE_CONTAINER)
			debug_hook("after-container");
		/* Absent counts too: Calico just created it. */
		if (d->status == DEV_FAILED || d->status == DEV_ABSENT || d->status == DEV_PARTIAL)
			warn_add(&a->warn, "%s device %s: %s%s", model_scope_name(d->scope), d->name,
				 d->status == DEV_PARTIAL ? "partial: " : "", d->reason);
	}
}

void apply_revert_pod(const struct kview *kv, struct attachment *a)
{
	for (int i = 0; i < a->ndev; i++) {
		int fd = pod_classfd(kv, &a->devs[i]);

		if (fd >= 0)
			apply_revert_dev(fd, &a->devs[i], a->nbits);
	}
}

/* ---- node devices --------------------------------------------------- */

/* Queues a node device gained while held start from the kernel default. */
static int node_extend(struct dev *nd, int nq, bool has_flow)
{
	struct dev_queue *q;

	if (nq <= nd->nq)
		return 0;
	q = realloc(nd->q, (size_t)nq * sizeof(*q));
	if (!q)
		return -ENOMEM;
	memset(q + nd->nq, 0, (size_t)(nq - nd->nq) * sizeof(*q));
	for (int i = nd->nq; i < nq; i++)
		q[i].orig_flow = has_flow ? 0 : -1;
	nd->q = q;
	nd->nq = nq;
	return 0;
}

/* A queue whose value is neither what flowsteer wrote nor the original
 * was changed by someone else: returns its index, or -1. */
static int node_foreign(const struct dev *nd, const struct dev *live)
{
	for (int i = 0; i < nd->nq && i < live->nq; i++) {
		const struct dev_queue *q = &nd->q[i], *l = &live->q[i];

		if (q->wrote_cpus && !cpumask_equal(&l->orig_cpus, &q->set_cpus) &&
		    !cpumask_equal(&l->orig_cpus, &q->orig_cpus))
			return i;
		if (q->wrote_flow && l->orig_flow != q->set_flow && l->orig_flow != q->orig_flow)
			return i;
	}
	return -1;
}

/* The entry of d in node.json: new ones take the values found now as the
 * originals. */
static struct dev *node_entry(struct node_state *n, const struct dev *live)
{
	struct dev *nd = model_dev_find(n->devs, n->ndev, live->name);

	if (nd)
		return nd;
	nd = model_dev_add(n->devs, &n->ndev, live->name, DEV_SCOPE_NODE);
	if (!nd || model_dev_set_queues(nd, live->nq))
		return NULL;
	for (int i = 0; i < live->nq; i++) {
		nd->q[i].orig_cpus = live->q[i].orig_cpus;
		nd->q[i].orig_flow = live->q[i].orig_flow;
	}
	return nd;
}

/* Records in nd that flowsteer owns d's wanted values on every queue. */
static bool node_intent(struct dev *nd, const struct dev *d)
{
	bool dirty = false;

	for (int i = 0; i < d->nq; i++) {
		struct dev_queue *q = &nd->q[i];

		if (!q->wrote_cpus || !cpumask_equal(&q->set_cpus, &d->want_cpus)) {
			q->set_cpus = d->want_cpus;
			q->wrote_cpus = dirty = true;
		}
		if (d->want_flow >= 0 && d->q[i].orig_flow >= 0 &&
		    (!q->wrote_flow || q->set_flow != d->want_flow)) {
			q->set_flow = d->want_flow;
			q->wrote_flow = dirty = true;
		}
	}
	return dirty;
}

/* What node.json said of a device before this ADD, to go back to when
 * the device cannot be written after all. */
struct node_undo {
	char name[MODEL_NAME_MAX];
	struct dev_queue *q;    /* NULL: the device had no entry */
	int nq;
};

/* Under the lock: d's queues are re-read (another ADD may have written
 * since the plan), and node.json's entry gains originals and intent. */
static int node_prepare(int classfd, struct node_state *n, struct dev *d, struct node_undo *u,
			bool *dirty)
{
	struct dev *nd;
	int foreign;

	/* Absent, skipped (RSS) or unreadable at the plan: nothing to claim. */
	if (d->status != DEV_APPLIED)
		return 0;
	model_dev_free(d);
	plan_dev_read(classfd, d);
	if (d->status != DEV_APPLIED)
		return 0;
	snprintf(u->name, sizeof(u->name), "%s", d->name);
	nd = model_dev_find(n->devs, n->ndev, d->name);
	if (nd && nd->nq) {
		u->q = malloc((size_t)nd->nq * sizeof(*u->q));
		if (!u->q)
			return -ENOMEM;
		memcpy(u->q, nd->q, (size_t)nd->nq * sizeof(*u->q));
		u->nq = nd->nq;
	}
	nd = node_entry(n, d);
	if (!nd || node_extend(nd, d->nq, d->q[0].orig_flow >= 0))
		return -ENOMEM;
	foreign = node_foreign(nd, d);
	if (foreign >= 0) {
		model_dev_fail(d, DEV_SKIPPED, "rx-%d changed by someone else since flowsteer set it: left as it is",
			       foreign);
		return 0;
	}
	*dirty |= node_intent(nd, d);
	return 0;
}

/* A device that failed (its own writes already undone) gets back its
 * node.json entry of before. Returns whether anything changed. */
static bool node_undo(struct node_state *n, const struct dev *d, struct node_undo *u)
{
	struct dev *nd = model_dev_find(n->devs, n->ndev, d->name);

	if (!nd || strcmp(u->name, d->name))
		return false;
	if (!u->q) {
		model_dev_free(nd);
		*nd = n->devs[--n->ndev];
		memset(&n->devs[n->ndev], 0, sizeof(n->devs[n->ndev]));
		return true;
	}
	free(nd->q);
	nd->q = u->q;
	nd->nq = u->nq;
	u->q = NULL;
	return true;
}

static void node_sock(struct node_state *n, const struct fs_config *cfg, struct attachment *a,
		      bool *dirty)
{
	long long want = model_roundup_pow2(cfg->sock_flow_entries), cur = sysfs_sockflow_read();

	a->sock.found = cur < 0 ? -1 : cur;
	a->sock.value = a->sock.found;
	if (cur == -ENOENT) {
		a->sock.status = SOCK_ABSENT;
		log_msg(LOG_LVL_INFO, "net.core.rps_sock_flow_entries does not exist in this network namespace (it exists only in the initial one)");
	} else if (cur < 0) {
		a->sock.status = SOCK_FAILED;
		warn_add(&a->warn, "reading net.core.rps_sock_flow_entries: %s", strerror((int)-cur));
	} else if (cur >= want) {
		/* Never lowered: a larger value found stays. */
		a->sock.status = SOCK_APPLIED;
	} else {
		if (!n->sock_held)
			n->sock_orig = cur;
		n->sock_held = true;
		n->sock_set = want;
		a->sock.value = want;
		*dirty = true;
	}
}

static void node_sock_write(struct attachment *a)
{
	int ret;

	if (a->sock.status != SOCK_UNTOUCHED || a->sock.value == a->sock.found)
		return;
	ret = sysfs_sockflow_write(a->sock.value);
	a->sock.status = ret ? SOCK_FAILED : SOCK_APPLIED;
	if (ret) {
		warn_add(&a->warn, "writing net.core.rps_sock_flow_entries=%lld: %s", a->sock.value, strerror(-ret));
		a->sock.value = a->sock.found;
	}
}

/* The node devices are not this attachment's to touch: say why on each. */
static void node_skip_all(struct attachment *a, const char *why)
{
	warn_add(&a->warn, "node devices not tuned: %s", why);
	for (int i = 0; i < a->ndev; i++)
		if (a->devs[i].scope == DEV_SCOPE_NODE && a->devs[i].status == DEV_APPLIED)
			model_dev_fail(&a->devs[i], DEV_SKIPPED, "%s", why);
	a->node_ref = false;
}

static int node_load(struct state *st, struct attachment *a, struct node_state *n)
{
	char other[PATH_MAX];
	struct fs_err err = { 0 };
	int ret = state_node_read(st, n, &err);

	/* Never tuned values saved as originals: a node.json that cannot be
	 * read is left for the operator. */
	if (ret && ret != -ENOENT) {
		node_skip_all(a, err.msg);
		return -1;
	}
	ret = claim_take(st, other, sizeof(other));
	if (ret == -EBUSY) {
		char why[PATH_MAX + 64];

		snprintf(why, sizeof(why), "they are held by stateDir %s (one stateDir per node tunes them)", other);
		node_skip_all(a, why);
		return -1;
	}
	if (ret)
		log_msg(LOG_LVL_WARN, "node claim in %s: %s", CLAIM_DIR,
			ret == ERR_UNTRUSTED ? "not safe to use" : strerror(-ret));
	snprintf(n->boot_id, sizeof(n->boot_id), "%s", st->boot_id);
	return 0;
}

static int node_write_all(const struct kview *kv, struct node_state *n, struct attachment *a,
			  struct node_undo *u)
{
	bool undone = false;

	for (int i = 0, k = 0; i < a->ndev; i++) {
		struct dev *d = &a->devs[i];

		if (d->scope != DEV_SCOPE_NODE)
			continue;
		if (k++ == 1)
			debug_hook("node-partial");
		if (apply_dev(kv->host_class, d, a->nbits) == 0) {
			if (d->status == DEV_PARTIAL)
				warn_add(&a->warn, "node device %s: partial: %s", d->name, d->reason);
			continue;
		}
		warn_add(&a->warn, "node device %s: %s", d->name, d->reason);
		undone |= node_undo(n, d, &u[i]);
	}
	node_sock_write(a);
	return undone;
}

int apply_node(struct state *st, const struct kview *kv, const struct fs_config *cfg,
	       struct attachment *a, struct fs_err *e)
{
	struct node_state *n = calloc(1, sizeof(*n));
	struct node_undo u[MODEL_MAX_DEVS] = { 0 };
	bool dirty = false;
	int ret = 0;

	if (!n)
		return err_set(e, CNI_ERR_IO, "node state: out of memory");
	if (!a->node_ref || node_load(st, a, n))
		goto out;
	for (int i = 0; i < a->ndev && !ret; i++)
		if (a->devs[i].scope == DEV_SCOPE_NODE)
			ret = node_prepare(kv->host_class, n, &a->devs[i], &u[i], &dirty);
	if (a->mode == FS_MODE_RFS)
		node_sock(n, cfg, a, &dirty);
	if (ret) {
		ret = err_set(e, CNI_ERR_IO, "node devices: %s", strerror(-ret));
		goto out;
	}
	/* The originals are on disk before the first value changes. */
	if (dirty && (ret = state_node_write(st, n, e)))
		goto out;
	debug_hook("node-saved");
	if (node_write_all(kv, n, a, u))
		ret = state_node_write(st, n, e);
out:
	for (int i = 0; i < MODEL_MAX_DEVS; i++)
		free(u[i].q);
	node_state_clear(n);
	free(n);
	return ret;
}

static void node_restore(struct node_state *n, int hostfd)
{
	struct cpumask online;
	unsigned nbits = 1;
	int classfd = hostfd >= 0 ? hostfd : sysfs_class_open();
	long long cur;

	sysfs_cpus_online(&online, &nbits);
	for (int i = 0; classfd >= 0 && i < n->ndev; i++) {
		apply_revert_dev(classfd, &n->devs[i], nbits);
		debug_hook("restore-partial");
	}
	if (classfd < 0)
		log_msg(LOG_LVL_WARN, "node devices not restored: opening /sys/class/net: %s", strerror(-classfd));
	else if (classfd != hostfd)
		close(classfd);
	if (!n->sock_held)
		return;
	cur = sysfs_sockflow_read();
	if (cur != n->sock_set)
		log_msg(LOG_LVL_WARN, "net.core.rps_sock_flow_entries is %lld, not flowsteer's %lld: left as it is",
			cur, n->sock_set);
	else if (sysfs_sockflow_write(n->sock_orig))
		log_msg(LOG_LVL_WARN, "restoring net.core.rps_sock_flow_entries=%lld failed", n->sock_orig);
	else
		log_msg(LOG_LVL_INFO, "restored net.core.rps_sock_flow_entries=%lld", n->sock_orig);
}

int apply_node_release(struct state *st, bool restore, int classfd)
{
	struct node_state *n;
	struct fs_err err = { 0 };
	int holders = state_holders(st), ret;

	if (holders != 0 || !restore)
		return holders;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	ret = state_node_read(st, n, &err);
	if (ret && ret != -ENOENT) {
		log_msg(LOG_LVL_ERROR, "node devices not restored, %s left for the operator: %s", st->dir, err.msg);
	} else if (!ret) {
		node_restore(n, classfd);
		/* Forgotten even where a value was left: retrying would fight
		 * whoever changed it since; the log names what was left. */
		state_node_remove(st);
	}
	if (ret != -1)
		claim_release(st);
	node_state_clear(n);
	free(n);
	return 0;
}

void apply_rollback(struct state *st, const struct kview *kv, struct attachment *a)
{
	apply_revert_pod(kv, a);
	if (st->lockfd >= 0) {
		state_record_remove(st, a->container_id, a->ifname);
		apply_node_release(st, true, -1);
	}
	for (int i = 0; i < a->ndev; i++)
		if (a->devs[i].status == DEV_APPLIED || a->devs[i].status == DEV_PARTIAL)
			model_dev_fail(&a->devs[i], DEV_FAILED, "rolled back");
	/* The sysctl as it is now: still raised only while a pod holds the
	 * node. */
	if (a->sock.status == SOCK_APPLIED && sysfs_sockflow_read() < a->sock.value) {
		a->sock.status = SOCK_UNTOUCHED;
		a->sock.value = a->sock.found;
	}
}

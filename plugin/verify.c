#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "netns.h"
#include "plan.h"
#include "sysfs.h"
#include "verify.h"

const char *verify_state_name(enum verify_state s)
{
	static const char *const names[] = { "ok", "drift", "gone", "unreadable" };

	return (unsigned)s < 4 ? names[s] : "?";
}

/* Compares the live queues (read into live->q[].orig) with what d wants;
 * masks are named as sysfs shows them (nbits wide). */
static void verify_compare(struct verify_dev *v, const struct dev *live, unsigned nbits)
{
	const struct dev *d = v->dev;
	char want[CPUMASK_HEX_MAX], have[CPUMASK_HEX_MAX];

	v->queues = live->nq_total > live->nq ? live->nq_total : live->nq;
	if (live->status != DEV_APPLIED) {
		v->state = live->status == DEV_ABSENT ? VERIFY_GONE : VERIFY_UNREADABLE;
		snprintf(v->msg, sizeof(v->msg), "device %s (%s): %s", d->name, model_scope_name(d->scope),
			 live->status == DEV_ABSENT ? "gone" : live->reason);
		return;
	}
	for (int i = 0; i < live->nq; i++) {
		const struct dev_queue *q = &live->q[i];

		if (i == 0 || !cpumask_equal(&q->orig_cpus, &d->want_cpus) ||
		    (d->want_flow >= 0 && q->orig_flow >= 0 && q->orig_flow != d->want_flow)) {
			v->live_cpus = q->orig_cpus;
			v->live_flow = q->orig_flow;
		}
		if (!cpumask_equal(&q->orig_cpus, &d->want_cpus)) {
			cpumask_format_hex(&d->want_cpus, nbits, want, sizeof(want));
			cpumask_format_hex(&q->orig_cpus, nbits, have, sizeof(have));
			v->state = VERIFY_DRIFT;
			snprintf(v->msg, sizeof(v->msg),
				 "device %s (%s) queue rx-%d: rps_cpus expected %.64s, actual %.64s",
				 d->name, model_scope_name(d->scope), i, want, have);
			return;
		}
		if (d->want_flow >= 0 && q->orig_flow >= 0 && q->orig_flow != d->want_flow) {
			v->state = VERIFY_DRIFT;
			snprintf(v->msg, sizeof(v->msg),
				 "device %s (%s) queue rx-%d: rps_flow_cnt expected %lld, actual %lld", d->name,
				 model_scope_name(d->scope), i, d->want_flow, q->orig_flow);
			return;
		}
	}
}

/* The pod netns's /sys/class/net, opened on first use; a netns that is
 * gone (its path removed, or left behind unmounted) leaves its devices
 * gone with it. */
struct pod_view {
	int classfd;
	int err;                /* 0 until tried */
};

static int pod_view(struct pod_view *p, const char *netns, struct verify_dev *v)
{
	if (!p->err && p->classfd < 0) {
		p->classfd = netns_class_open(netns);
		p->err = p->classfd < 0 ? p->classfd : 1;
	}
	if (p->classfd >= 0)
		return p->classfd;
	v->state = p->err == -ENOENT || p->err == -ESTALE ? VERIFY_GONE : VERIFY_UNREADABLE;
	snprintf(v->msg, sizeof(v->msg), "device %s (container): netns %.400s: %s", v->dev->name, netns,
		 v->state == VERIFY_GONE ? "gone" : strerror(-p->err));
	return -1;
}

int verify_attachment(const struct attachment *a, const char *netns, struct verify_dev *out, int *n)
{
	struct pod_view pv = { .classfd = -1 };
	struct cpumask online;
	unsigned nbits = 1;
	int host = -1;

	*n = 0;
	sysfs_cpus_online(&online, &nbits);
	if (!netns || !*netns)
		netns = a->netns;
	for (int i = 0; i < a->ndev; i++) {
		const struct dev *d = &a->devs[i];
		struct verify_dev *v = &out[*n];
		struct dev live = { 0 };
		int fd;

		if (!model_dev_held(d))
			continue;
		memset(v, 0, sizeof(*v));
		v->dev = d;
		v->live_flow = -1;
		(*n)++;
		if (d->scope == DEV_SCOPE_CONTAINER) {
			fd = pod_view(&pv, netns, v);
		} else {
			if (host < 0)
				host = sysfs_class_open();
			fd = host;
			if (fd < 0) {
				v->state = VERIFY_UNREADABLE;
				snprintf(v->msg, sizeof(v->msg), "device %s: /sys/class/net: %s", d->name,
					 strerror(-fd));
			}
		}
		if (fd < 0)
			continue;
		snprintf(live.name, sizeof(live.name), "%s", d->name);
		live.status = DEV_APPLIED;
		plan_dev_read(fd, &live);
		verify_compare(v, &live, nbits);
		model_dev_free(&live);
	}
	if (pv.classfd >= 0)
		close(pv.classfd);
	if (host >= 0)
		close(host);
	return 0;
}

int verify_check(const struct attachment *a, const char *netns, struct fs_err *e)
{
	struct verify_dev v[MODEL_MAX_DEVS];
	long long cur;
	int n = 0;

	verify_attachment(a, netns, v, &n);
	/* What flowsteer could not write fails as a drift does: the kernel
	 * does not hold the recorded values on every queue. */
	for (int i = 0; i < n; i++)
		if (v[i].dev->status != DEV_APPLIED)
			return err_set(e, FS_ERR_DRIFT, "device %s (%s) is %s: %s", v[i].dev->name,
				       model_scope_name(v[i].dev->scope), model_status_name(v[i].dev->status),
				       v[i].dev->reason);
	for (int i = 0; i < n; i++)
		if (v[i].state != VERIFY_OK)
			return err_set(e, FS_ERR_DRIFT, "drift: %s", v[i].msg);
	if (a->sock.status == SOCK_APPLIED && a->sock.value > 0) {
		cur = sysfs_sockflow_read();
		if (cur < a->sock.value)
			return err_set(e, FS_ERR_DRIFT,
				       "drift: net.core.rps_sock_flow_entries expected >= %lld, actual %lld",
				       a->sock.value, cur);
	}
	return 0;
}

/* ADD's first step: decide and read, with no side effect. Which devices
 * (the kernel says which host device is the pod's peer), which queues,
 * which values they hold now and which they should hold. apply.c then
 * writes exactly that. */
#ifndef FLOWSTEER_PLAN_H
#define FLOWSTEER_PLAN_H

#include "cni.h"
#include "config.h"
#include "err.h"
#include "model.h"
#include "netlink.h"

/* The kernel handles one invocation works through. */
struct kview {
	int nsfd;               /* the pod netns */
	int pod_class;          /* its /sys/class/net */
	int host_class;         /* the host's /sys/class/net */
	struct netlink *nl;     /* rtnetlink in the host netns */
};

#define KVIEW_INIT { .nsfd = -1, .pod_class = -1, .host_class = -1 }

void kview_close(struct kview *kv);

struct plan_req {
	const struct fs_config *cfg;
	const struct cni_env *env;
	const char *host_hint;  /* prevResult's host-side interface, "" if none */
};

/* Fills a (ids, decision, devices with their queues' current values and
 * the values they should get). Tuning problems (a device absent, no CPU
 * left to steer onto) are device statuses and warnings; -1 with e set only
 * for what must fail the ADD whatever the failurePolicy: a configuration
 * error, a bad CNI_NETNS, a missing privilege. */
int plan_add(const struct plan_req *req, struct kview *kv, struct attachment *a, struct fs_err *e);

/* The CPUs every mask may use on this node (online, minus isolated,
 * nohz_full and, unless respect_exclusive is off, the kubelet's exclusive
 * ones), with why each was left out. nbits: nr_cpu_ids. Warnings name
 * a kubelet state file that cannot be read. */
int plan_cpus(const struct fs_config *cfg, struct cpumask *allowed, struct cpus_excluded *why,
	      unsigned *nbits, struct fs_warn *w, struct fs_err *e);

/* The node's mask: the configuration's cpus within plan_cpus' set, less
 * excludeCpus (code 7 when the configuration alone leaves no online CPU). */
int plan_masks(const struct fs_config *cfg, struct cpumask *node_mask, struct cpus_excluded *why,
	       unsigned *nbits, struct fs_warn *w, struct fs_err *e);

/* Reads every rx queue of a device below classfd into d (its originals).
 * A missing device is DEV_ABSENT, an unreadable one DEV_FAILED. */
void plan_dev_read(int classfd, struct dev *d);

#endif

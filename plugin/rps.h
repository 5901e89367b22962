/* RPS/RFS sysfs and sysctl access. Works on a /sys/class/net directory fd so
 * the same code serves the host's sysfs and a pod netns's fresh one. */
#ifndef FLOWSTEER_RPS_H
#define FLOWSTEER_RPS_H

#include <stdbool.h>

#include "cpumask.h"

#define RPS_MAX_QUEUES 1024
#define RPS_SYSCTL_PATH "/proc/sys/net/core/rps_sock_flow_entries"

enum rps_scope { RPS_SCOPE_CONTAINER, RPS_SCOPE_HOST, RPS_SCOPE_NODE };
enum rps_status { RPS_APPLIED, RPS_ABSENT, RPS_SKIPPED, RPS_FAILED };

struct rps_queue {
	char rps_cpus[CPUMASK_HEX_MAX];
	long long flow_cnt;         /* -1: the file is absent (no CONFIG_RFS_ACCEL...) */
};

/* One device: what was found (orig[]) and what was written. Allocated as one
 * block (flexible array) so it can cross a pipe from the netns child as is. */
struct rps_dev {
	char name[16];
	int scope;                  /* enum rps_scope */
	int status;                 /* enum rps_status */
	char reason[256];
	char rps_set[CPUMASK_HEX_MAX]; /* "" when nothing was written */
	long long flow_set;         /* -1 when rps_flow_cnt was not written */
	int ifindex;
	int peer_ifindex;           /* IFLA_LINK (veth/netkit peer), 0 if none */
	int nq;
	struct rps_queue orig[];
};

struct rps_dev *rps_dev_new(const char *name, int scope, int nq);
size_t rps_dev_size(const struct rps_dev *d);

/* Opens "<classfd>/<name>/queues" and reads every rx-* queue's values.
 * Returns a device with status RPS_ABSENT when the device does not exist,
 * NULL only on allocation failure. */
struct rps_dev *rps_dev_load(int classfd, const char *name, int scope);
/* Writes rps_cpus (hex, kernel format) and, when flow >= 0, rps_flow_cnt on
 * every rx queue, skipping values a queue already holds (per orig[]); on
 * failure restores the queues already written and sets status/reason.
 * Returns 0 or -errno. */
int rps_dev_apply(int classfd, struct rps_dev *d, const char *hex, long long flow);
/* Writes the values found at load time back (best effort; returns the first
 * error as -errno). */
int rps_dev_restore(int classfd, const struct rps_dev *d);
/* Writes explicit per-queue values (node originals from the state file). */
int rps_queues_write(int classfd, const char *name, const struct rps_queue *q, int nq,
		     char *reason, size_t reason_len);

/* Compares every rx queue against the expected mask/flow (flow < 0: not
 * checked). Returns 0 when all hold, 1 on drift (msg names device, queue,
 * expected and actual), -errno when the device cannot be read. */
int rps_dev_verify(int classfd, const char *name, const char *hex, long long flow,
		   char *msg, size_t msg_len);

/* Number of rx-* queues, or -errno. */
int rps_dev_queues(int classfd, const char *name);

/* net.core.rps_sock_flow_entries: -ENOENT outside the initial netns. */
long long rps_sysctl_read(void);
int rps_sysctl_write(long long v);

/* Kernel rounds table sizes up to a power of two; so do we, to report (and
 * later verify) what the kernel actually holds. */
long long rps_roundup_pow2(long long v);

const char *rps_status_name(int status);
const char *rps_scope_name(int scope);

#endif

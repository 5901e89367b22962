/* The data model (docs/state.md): what an ADD plans, applies, records and
 * what DEL, GC and a rollback revert. plan.c fills it from the kernel,
 * apply.c changes the kernel and notes what it changed, model_json.h alone
 * turns it into JSON and back. Nothing here touches the kernel. */
#ifndef FLOWSTEER_MODEL_H
#define FLOWSTEER_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "cpumask.h"
#include "cpuset.h"
#include "err.h"

#define MODEL_NAME_MAX 16        /* IFNAMSIZ */
#define MODEL_MAX_DEVS 48        /* pod interface + host veth + node devices */
/* A safety bound: the rx queues of a device that flowsteer reads, writes
 * and records (docs/devices.md). Queues above it are left untouched and
 * make the device partial. */
#define MODEL_MAX_QUEUES 1024
#define MODEL_BOOT_ID_LEN 36     /* /proc/sys/kernel/random/boot_id */
#define MODEL_NETNS_MAX 512
#define MODEL_K8S_NAME_MAX 254   /* DNS-1123 subdomain + NUL */

enum dev_scope { DEV_SCOPE_CONTAINER, DEV_SCOPE_HOST, DEV_SCOPE_NODE };
/* partial: some queues but not all hold the wanted values. */
enum dev_status { DEV_APPLIED, DEV_ABSENT, DEV_SKIPPED, DEV_FAILED, DEV_PARTIAL };
enum sock_status { SOCK_UNTOUCHED, SOCK_APPLIED, SOCK_ABSENT, SOCK_FAILED };
/* Where a pod's decision came from; the order is the precedence. */
enum decision_source { SRC_CONFIG, SRC_NAMESPACE, SRC_AGENT_POD, SRC_RUNTIME };

/* One rx queue. `orig` is what the queue held before flowsteer wrote it
 * (for a queue flowsteer never saw: the kernel default); `set` is what
 * flowsteer wrote, kept so that a revert only touches a value that is still
 * flowsteer's. flow -1: the kernel has no rps_flow_cnt (no CONFIG_RFS). */
struct dev_queue {
	struct cpumask orig_cpus;
	long long orig_flow;
	struct cpumask set_cpus;
	long long set_flow;
	bool wrote_cpus;
	bool wrote_flow;
};

struct dev {
	char name[MODEL_NAME_MAX];
	enum dev_scope scope;
	enum dev_status status;
	char reason[200];
	/* The plan: the mask for every queue, and rps_flow_cnt (-1: left alone,
	 * as in rps mode; 0 or more: written). */
	struct cpumask want_cpus;
	long long want_flow;
	int nq;
	struct dev_queue *q;
	/* The outcome of the last write (ADD or re-mask): queues holding the
	 * wanted values, of all the device had (queues beyond MODEL_MAX_QUEUES
	 * or created while it was written count, unwritten); the errno that
	 * stopped the write (0: none). */
	int nq_set;
	int nq_total;
	int err;
};

/* net.core.rps_sock_flow_entries (initial netns only). */
struct sock_flow {
	enum sock_status status;
	long long found;            /* before this ADD; -1 unknown */
	long long value;            /* in effect after it; -1 unknown */
};

/* One pod interface tuned by one ADD. */
struct attachment {
	char boot_id[MODEL_BOOT_ID_LEN + 1];
	char container_id[201];
	char ifname[MODEL_NAME_MAX];
	char netns[MODEL_NETNS_MAX];
	char pod_namespace[MODEL_K8S_NAME_MAX];
	char pod_name[MODEL_K8S_NAME_MAX];
	char pod_uid[64];
	char network[256];
	long long time;
	enum fs_mode mode;
	enum fs_scope scope;
	struct cpumask cpus;        /* the pod's mask (node devices get the node's) */
	/* flowsteer.io/cpus when it narrowed the node's set: a re-mask keeps
	 * the narrowing (cpus_narrowed false: the pod follows the node). */
	bool cpus_narrowed;
	struct cpumask cpus_annotation;
	unsigned nbits;             /* nr_cpu_ids: the width the kernel prints masks with */
	enum decision_source source;
	struct cpus_excluded excluded;
	bool node_ref;              /* holds a reference on the node devices */
	struct sock_flow sock;
	int ndev;
	struct dev devs[MODEL_MAX_DEVS];
	struct fs_warn warn;
};

/* Node devices and the sysctl, shared by every attachment holding a node
 * reference: the originals to restore after the last one leaves. */
struct node_state {
	char boot_id[MODEL_BOOT_ID_LEN + 1];
	int ndev;
	struct dev devs[MODEL_MAX_DEVS];
	bool sock_held;             /* flowsteer raised the sysctl */
	long long sock_orig;
	long long sock_set;
};

struct attachment *attachment_new(void);
void attachment_free(struct attachment *a);
void node_state_init(struct node_state *n);
void node_state_clear(struct node_state *n);

/* A device slot in devs[] (NULL when full); queues allocated zeroed with
 * the kernel defaults as originals. */
struct dev *model_dev_add(struct dev *devs, int *ndev, const char *name, enum dev_scope scope);
int model_dev_set_queues(struct dev *d, int nq);
void model_dev_free(struct dev *d);
void model_dev_fail(struct dev *d, enum dev_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct dev *model_dev_find(struct dev *devs, int ndev, const char *name);

/* Whether any queue of d was written (a revert has something to do). */
bool model_dev_wrote(const struct dev *d);
/* Whether flowsteer tunes d: applied, partial, or failed while queues
 * still hold flowsteer's values (a re-mask that could not write). A re-mask
 * follows these, CHECK and `flowsteer status` verify them. */
bool model_dev_held(const struct dev *d);
/* Settles d's outcome from its counts: every queue set is applied, some
 * partial, none failed; the reason says "S of T queues: why". */
void model_dev_settle(struct dev *d, int set, int total, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* "EROFS" for 30 (its number when the C library has no name); 0 for an
 * unknown name. */
const char *model_errno_name(int err, char *buf, size_t len);
int model_errno_parse(const char *name);

const char *model_scope_name(enum dev_scope s);
const char *model_status_name(enum dev_status s);
const char *model_sock_status_name(enum sock_status s);
const char *model_source_name(enum decision_source s);
int model_scope_parse(const char *s, enum dev_scope *out);
int model_status_parse(const char *s, enum dev_status *out);
int model_sock_status_parse(const char *s, enum sock_status *out);
int model_source_parse(const char *s, enum decision_source *out);

/* rps_flow_cnt for a device of nq queues: flowCnt, or auto = sockFlowEntries
 * / nq, rounded up to a power of two as the kernel stores it. */
long long model_flow_cnt(const struct fs_config *cfg, int nq);
long long model_roundup_pow2(long long v);

/* Devices that failed (an absent pod-side device counts: Calico just made
 * it, and so does a partial one whose write failed); the first is
 * described in `first`. */
int model_failures(const struct attachment *a, char *first, size_t len);
/* One line for the log and the flowsteer.io/status annotation: each
 * applied, partial or failed device, the last two with their counts and
 * errno ("eth0:failed(0/1,EROFS)"). */
void model_status_line(const struct attachment *a, char *buf, size_t len);

#endif

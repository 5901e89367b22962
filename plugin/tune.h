/* The tuning engine: resolves masks, tunes the pod side (in its netns), the
 * host veth and the node devices, restores them, and reports. The CNI verbs
 * in cmd/ are thin sequences of these steps. */
#ifndef FLOWSTEER_TUNE_H
#define FLOWSTEER_TUNE_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "cpumask.h"
#include "err.h"
#include "rps.h"
#include "state.h"

#define TUNE_MAX_DEVS 48

struct tune_report {
	enum fs_mode mode;
	enum fs_scope scope;
	char cpus[256];             /* cpulist of the pod's mask */
	long long sock_flow;        /* value in effect; -1 when the sysctl is absent/untouched */
	const char *sock_status;    /* NULL, "applied", "absent", "failed" */
	char source[16];
	int n;
	struct rps_dev *devs[TUNE_MAX_DEVS];
	struct fs_warn warn;
};

void tune_report_free(struct tune_report *r);
/* Takes ownership of d (NULL is ignored). */
void tune_report_add(struct tune_report *r, struct rps_dev *d);
cJSON *tune_report_json(const struct tune_report *r);
/* One line for the flowsteer.io/status annotation and the log. */
void tune_report_line(const struct tune_report *r, char *buf, size_t len);
/* Devices that failed (absent pod devices count: Calico just created them). */
int tune_report_failures(const struct tune_report *r, char *first, size_t len);

/* CPUs: online set and nr_cpu_ids (the width sysfs prints masks with). */
int tune_cpus_online(struct cpumask *online, unsigned *nbits, struct fs_err *e);
/* cfg cpus ∩ online − excludeCpus; code 7 when that leaves nothing. */
int tune_cpus_resolve(const struct fs_config *cfg, const struct cpumask *online,
		      struct cpumask *out, struct fs_err *e);
/* rps_flow_cnt for a device: flowCnt, or auto = sockFlowEntries / queues,
 * rounded up to a power of two as the kernel stores it. */
long long tune_flow_cnt(const struct fs_config *cfg, int queues);

/* Pod side, in a child inside the netns. */
enum tune_pod_op { TUNE_POD_APPLY, TUNE_POD_READ, TUNE_POD_RESTORE, TUNE_POD_VERIFY };
struct tune_pod_req {
	int op;
	char ifname[16];
	char hex[CPUMASK_HEX_MAX];
	long long flow;             /* -1: leave rps_flow_cnt alone; -2: auto per queue count */
	const struct fs_config *cfg;
	const struct rps_dev *restore;  /* TUNE_POD_RESTORE */
};
/* APPLY/READ/RESTORE: *out gets the device (status set). VERIFY: *msg gets a
 * malloc()ed drift message or NULL when everything holds. */
int tune_pod(int nsfd, const char *netns, const struct tune_pod_req *req,
	     struct rps_dev **out, char **msg, struct fs_err *e);

/* A host-netns device: load, then write hex/flow (-2 = auto). */
struct rps_dev *tune_host_dev(int classfd, const char *name, int scope, const char *hex,
			      long long flow, const struct fs_config *cfg);

/* Node devices and the sysctl, under the state lock: saves originals to
 * node.json before the first change, then applies. Adds devices to r. */
int tune_node_apply(struct state *st, int classfd, const struct fs_config *cfg,
		    enum fs_mode mode, const char *hex, struct tune_report *r, struct fs_err *e);
/* Puts node devices and the sysctl back to node.json's originals and
 * forgets them. Missing devices are fine (they are gone). */
int tune_node_restore(struct state *st, int classfd);

/* DEL, GC and a rolled-back ADD end the same way: when no attachment holds
 * the node devices any more and `restore` is set, they (and the sysctl) go
 * back to their originals. Returns the holders left, or -errno. */
int tune_node_release(struct state *st, bool restore);

/* The record kept in stateDir for an attachment. */
cJSON *tune_record(const struct tune_report *r, const char *cid, const char *ifname,
		   const char *netns, const char *pod_ns, const char *pod, const char *phase);

#endif

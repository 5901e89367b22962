/* Which CPUs flowsteer may steer onto (docs/cpus.md): never an isolated or
 * nohz_full CPU, and with the kubelet's static CPU manager never a CPU
 * outside its shared pool (those are promised to one container). The
 * kernel only keeps RPS off isolcpus=/nohz_full= CPUs itself; the kubelet's
 * exclusive CPUs are cpusets the kernel does not protect from RPS. Pure:
 * the caller reads the files. */
#ifndef FLOWSTEER_CPUSET_H
#define FLOWSTEER_CPUSET_H

#include <stdbool.h>
#include <stddef.h>

#include "cpumask.h"

enum cpumgr_policy { CPUMGR_ABSENT, CPUMGR_NONE, CPUMGR_STATIC };

/* /var/lib/kubelet/cpu_manager_state: {"policyName", "defaultCpuSet",
 * "entries", "checksum"}; entries are {podUID: {container: cpus}} (v2) or
 * {containerID: cpus} (v1). */
struct cpumgr_state {
	enum cpumgr_policy policy;
	struct cpumask shared;      /* defaultCpuSet */
	struct cpumask exclusive;   /* every CPU of an entry */
	int entries;
};

/* Returns 0, or -1 with errbuf naming the key and the value. */
int cpumgr_parse(const char *buf, size_t len, struct cpumgr_state *out, char *errbuf, size_t errlen);

/* CPUs left out of every mask, and why (flowsteer status shows them). */
struct cpus_excluded {
	struct cpumask isolated;
	struct cpumask nohz_full;
	struct cpumask kubelet;     /* outside the kubelet's shared pool */
};

struct cpuset_in {
	struct cpumask online;
	struct cpumask isolated;    /* /sys/devices/system/cpu/isolated */
	struct cpumask nohz_full;   /* /sys/devices/system/cpu/nohz_full */
	struct cpumgr_state kubelet;
	bool respect_exclusive;     /* respectExclusiveCpus */
};

/* online − isolated − nohz_full − (static policy: CPUs outside the shared
 * pool); *why gets each part that was taken out (of the online CPUs). */
void cpuset_allowed(const struct cpuset_in *in, struct cpumask *allowed, struct cpus_excluded *why);

#endif

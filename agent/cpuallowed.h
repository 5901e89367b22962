/* flowsteer_cpu_allowed{cpu}: which online CPUs the node's masks may hold
 * now (docs/agent.md), the set a re-mask would write: the configuration the
 * agent installs (--entry's cpus, excludeCpus, respectExclusiveCpus) within
 * what the node allows (no isolated, nohz_full or, with the kubelet's static
 * policy, exclusive CPU). The softirq imbalance alert
 * (conf/prometheus/flowsteer.rules.yml) asks whether the busiest CPU has
 * allowed CPUs beside it. Read at scrape time: the kubelet's pool moves. */
#ifndef FLOWSTEER_AGENT_CPUALLOWED_H
#define FLOWSTEER_AGENT_CPUALLOWED_H

#include <stdbool.h>

#include "config.h"
#include "cpumask.h"
#include "loop.h"
#include "metrics.h"

struct cpuallowed {
	/* Set from start to stop: the one "started" marker (the collector
	 * itself runs on the metrics thread, never on the loop). */
	struct loop *loop;
	struct fs_config cfg;       /* read-only once parsed: the metrics thread reads it */
};

void cpuallowed_init(struct cpuallowed *c);
/* cpu_state: --cpu-manager-state ("off": no kubelet state, so no CPU is
 * exclusive). Returns 0 or -1 (logged). */
int cpuallowed_start(struct cpuallowed *c, const char *entry_json, const char *state_dir, const char *cpu_state,
		     struct loop *l);
/* Safe twice, and after init alone or a failed start. */
void cpuallowed_stop(struct cpuallowed *c);
void cpuallowed_collect(struct metrics_out *o, void *arg);
/* The family: one sample per online CPU, 1 when mask holds it. */
void cpuallowed_render(struct metrics_out *o, const struct cpumask *online, const struct cpumask *mask,
		       unsigned nbits);

#endif

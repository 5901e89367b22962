/* Per-pod decision from annotations (docs/annotations.md). Pure: no kernel, no network. */
#ifndef FLOWSTEER_ANNOT_H
#define FLOWSTEER_ANNOT_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "cpumask.h"
#include "err.h"
#include "model.h"

#define ANNOT_MODE   "flowsteer.io/mode"
#define ANNOT_SCOPE  "flowsteer.io/scope"
#define ANNOT_CPUS   "flowsteer.io/cpus"
#define ANNOT_STATUS "flowsteer.io/status"
/* A longer value is ignored with a warning, whatever it holds: the longest
 * sane one, a cpulist of every other CPU of CPUMASK_MAX_CPUS, is ~22 kB.
 * The agent writes a longer one cut to just past this (docs/agent.md). */
#define ANNOT_VALUE_MAX 32768

struct fs_decision {
	bool tune;              /* false: leave this pod alone (opted out / not opted in / mode off) */
	enum fs_mode mode;
	enum fs_scope scope;
	struct cpumask cpus;    /* the effective mask for this pod's own devices */
	enum decision_source source;
};

/*
 * Combines, in precedence order and key by key, the pod's annotations
 * (pod_source says whose: SRC_RUNTIME or SRC_AGENT_POD; may be NULL), its
 * namespace's (from the agent's cache; may be NULL) and the configuration.
 * node_cpus is the configuration's resolved mask: flowsteer.io/cpus may
 * only narrow it. Bad values are warnings naming the annotation and value,
 * never errors.
 */
void annot_decide(const struct fs_config *cfg, const struct cpumask *node_cpus,
		  const cJSON *pod_ann, enum decision_source pod_source,
		  const cJSON *ns_ann, struct fs_decision *d, struct fs_warn *w);

#endif

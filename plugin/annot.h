/* Per-pod decision from annotations (SPEC §5). Pure: no kernel, no network. */
#ifndef FLOWSTEER_ANNOT_H
#define FLOWSTEER_ANNOT_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "cpumask.h"
#include "err.h"

#define ANNOT_MODE   "flowsteer.io/mode"
#define ANNOT_SCOPE  "flowsteer.io/scope"
#define ANNOT_CPUS   "flowsteer.io/cpus"
#define ANNOT_STATUS "flowsteer.io/status"

struct fs_decision {
	bool tune;              /* false: leave this pod alone (opted out / not opted in / mode off) */
	enum fs_mode mode;
	enum fs_scope scope;
	struct cpumask cpus;    /* the effective mask for this pod's own devices */
	char source[16];        /* "runtime" | "pod" | "namespace" | "config" */
};

/*
 * Combines, in precedence order, pod annotations (from the runtime or the API
 * server; pod_source says which: "runtime" or "pod"), namespace annotations
 * (API server only, may be NULL) and the configuration. node_cpus is the
 * configuration's resolved mask: flowsteer.io/cpus may only narrow it. Bad
 * values are warnings naming the annotation and value, never errors.
 */
void annot_decide(const struct fs_config *cfg, const struct cpumask *node_cpus,
		  const cJSON *pod_ann, const char *pod_source,
		  const cJSON *ns_ann, struct fs_decision *d, struct fs_warn *w);

/* Whether ann (may be NULL) holds any of the keys above that steer the
 * decision (mode, scope, cpus; not status). When the runtime's pod
 * annotations hold none, the namespace's defaults can still apply, and only
 * the API server has those. */
bool annot_has_ours(const cJSON *ann);

#endif

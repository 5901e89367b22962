/* The agent's bounds against hostile or huge objects from the API server
 * (docs/agent.md, "Bounds"). None of them may drop what the plugin reads:
 * each keeps the plugin's decision the same (a value cut is one the plugin
 * rejects as too long, a replaced byte one it rejects as invalid). A hit is
 * counted in flowsteer_agent_bounds_hit_total{bound} at every event or list
 * item, and logged once per object (a bounded set remembers which). Called
 * from the loop thread only; the counters are read by the metrics thread. */
#ifndef FLOWSTEER_AGENT_BOUNDS_H
#define FLOWSTEER_AGENT_BOUNDS_H

#include "metrics.h"

enum bound {
	BOUND_VALUE,     /* an annotation value over ANNOT_VALUE_MAX: cut to one the plugin rejects */
	BOUND_UNICODE,   /* an escaped NUL, a lone surrogate or invalid UTF-8: written as U+FFFD */
	BOUND_NAME,      /* a name or uid no Kubernetes object has: the object is left out */
	BOUND_EVENT,     /* a watch event over the reflector's line bound: relisted */
	BOUND_PAGE,      /* a list page over the reflector's body bound: listed again in smaller pages */
	BOUND_FILE,      /* the file would not fit the plugin's reader: the largest entries left out */
	BOUND_N
};

/* obj: "ns/name", "name" or the resource; detail: what was cut. */
void bounds_hit(enum bound b, const char *obj, const char *detail);
void bounds_collect(struct metrics_out *o, void *arg);
/* Forgets what was logged (tests, and the agent's exit). */
void bounds_reset(void);

#endif

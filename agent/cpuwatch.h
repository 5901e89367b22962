/* The re-mask duty (docs/cpus.md, docs/agent.md): when the kubelet's CPU
 * manager state changes (a guaranteed pod admitted or gone changes the
 * shared pool), every tuned device gets the mask the node allows now
 * (plugin/remask.c), with the flowsteer configuration the agent installs
 * (--entry's cpus, excludeCpus, respectExclusiveCpus). The kubelet replaces
 * the file by rename, so its directory is watched; a burst (the kubelet
 * may write twice) is acted on once. Also once at start: the pool may have
 * changed while no agent ran. A pass reads and writes every pod's sysfs
 * (hundreds of ms for hundreds of pods): it runs on a thread of its own,
 * never on the loop; the loop only kicks it. */
#ifndef FLOWSTEER_AGENT_CPUWATCH_H
#define FLOWSTEER_AGENT_CPUWATCH_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "dirwatch.h"
#include "loop.h"
#include "metrics.h"
#include "pace.h"

struct cpuwatch {
	struct loop *loop;          /* set from start to stop: the one "started" marker */
	char base[NAME_MAX + 1];    /* the state file's name in its directory */
	struct dirwatch dw;
	struct loop_debounce deb;
	struct fs_config cfg;       /* cfg.root set: parsed */
	/* The re-mask thread: why is the pending kick (NULL: none), under mu. */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const char *why;
	bool stop, th_on;
	/* Read by the metrics thread. */
	_Atomic uint64_t runs, devices, errors, device_failures;
};

void cpuwatch_init(struct cpuwatch *c);
/* file: --cpu-manager-state; entry_json: --entry (NULL: the default).
 * Kicks one re-mask (nothing when no stateDir was used yet). Returns 0 or
 * -1 (logged); cpuwatch_stop() then releases what it took. */
int cpuwatch_start(struct cpuwatch *c, const char *file, const char *state_dir, const char *entry_json,
		   struct loop *l);
/* Waits for a pass under way; safe twice, and after init alone or a
 * failed start. */
void cpuwatch_stop(struct cpuwatch *c);
void cpuwatch_collect(struct metrics_out *o, void *arg);

/* The network configuration the re-mask uses: the mask keys of the entry,
 * the agent's stateDir and state file (a JSON text to free, or NULL with e
 * set). */
char *cpuwatch_config_json(const char *entry_json, const char *state_dir, const char *file, struct fs_err *e);
/* The same, parsed into cfg (config_free() it); -1 with e set. */
int cpuwatch_config(const char *entry_json, const char *state_dir, const char *file, struct fs_config *cfg,
		    struct fs_err *e);

#endif

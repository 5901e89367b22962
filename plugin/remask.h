/* Re-masking (docs/cpus.md): when the CPUs a mask may use change — the
 * kubelet admitted or released a guaranteed pod — every tuned device gets
 * the new mask. One rps_cpus write per queue, only where the kernel still
 * holds what flowsteer wrote, never an empty mask; the records and
 * node.json follow (a record only when something in it changed). The node
 * agent runs it; it takes the stateDir lock. Devices left as they were
 * (changed by someone else, gone) are named in the warnings. Where
 * /sys is read-only (a container), host devices are written through a
 * sysfs of the caller's own network namespace (needs CAP_SYS_ADMIN). */
#ifndef FLOWSTEER_REMASK_H
#define FLOWSTEER_REMASK_H

#include "config.h"
#include "err.h"
#include "model.h"

struct remask_result {
	int attachments;        /* records looked at */
	int devices;            /* devices whose mask changed */
	int queues;             /* rps_cpus writes */
	int left;               /* devices left as they were (changed by someone else, gone) */
	int failed;             /* devices a write could not bring to the new mask (failed, partial) */
	struct fs_warn warn;
};

/* Re-masks every attachment of cfg->state_dir and the node devices to what
 * cfg allows now. Returns 0, or -1 with e set (the lock, the CPU lists). */
int remask_all(const struct fs_config *cfg, struct remask_result *r, struct fs_err *e);

#endif

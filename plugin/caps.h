/* Capability hygiene: keep only what the verb needs. */
#ifndef FLOWSTEER_CAPS_H
#define FLOWSTEER_CAPS_H

#include <stdbool.h>

#include "err.h"

/* With need_priv, keeps CAP_SYS_ADMIN (setns, a sysfs of the pod netns)
 * and CAP_NET_ADMIN (rps_cpus/rps_flow_cnt writes) and fails with code 102
 * naming whichever is missing. With need_dac, also keeps CAP_DAC_OVERRIDE
 * when it is there: the sysfs files of a pod in a user namespace belong to
 * that namespace's root, not to ours. Without need_priv, drops everything. */
int caps_drop(bool need_priv, bool need_dac, struct fs_err *e);

#endif

/* Capability hygiene (SPEC §9): keep only what the verb needs. */
#ifndef FLOWSTEER_CAPS_H
#define FLOWSTEER_CAPS_H

#include <stdbool.h>

#include "err.h"

/* With need_priv, keeps CAP_SYS_ADMIN (setns, mount) and CAP_NET_ADMIN
 * (rps_cpus/rps_flow_cnt writes) and fails with code 102 naming whichever is
 * missing; without, drops every capability. */
int caps_drop(bool need_priv, struct fs_err *e);

#endif

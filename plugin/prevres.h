/* prevResult: which interfaces Calico reported, and the result we pass on.
 * Pure JSON work: nothing here touches the kernel. */
#ifndef FLOWSTEER_PREVRES_H
#define FLOWSTEER_PREVRES_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "err.h"

/* Every interface entry is checked (a name the kernel could have, a string
 * or null sandbox; code 7 names the bad one) and the first entry without a
 * sandbox — the host side, as Calico reports it — is copied to host ("" when
 * there is none). It is only a hint: the kernel says which device is the
 * pod's peer (docs/devices.md). */
int prevres_host(const cJSON *prev, char host[16], struct fs_err *e);
/* A copy of prevResult in cniVersion `version` (ips[].version is a 0.x field;
 * ips[].interface and everything else pass through unchanged). */
cJSON *prevres_convert(const cJSON *prev, const char *version, struct fs_err *e);

#endif

/* prevResult: which interfaces Calico reported, and the result we pass on.
 * Pure JSON work: nothing here touches the kernel. */
#ifndef FLOWSTEER_PREVRES_H
#define FLOWSTEER_PREVRES_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "err.h"

struct prevres_ifaces {
	char host[16];        /* host-side veth ("" when not reported) */
	char container[16];   /* the pod interface ("" when not reported) */
	char host_mac[32];
};

/* Finds the container entry (sandbox == netns, name == ifname; a sandboxed
 * entry named ifname when the paths are spelt differently) and the host entry
 * (no sandbox). Interface names are validated: code 7 names the bad one. */
int prevres_find(const cJSON *prev, const char *netns, const char *ifname,
		 struct prevres_ifaces *out, struct fs_err *e);
/* A copy of prevResult in cniVersion `version` (ips[].version is a 0.x field;
 * ips[].interface and everything else pass through unchanged). */
cJSON *prevres_convert(const cJSON *prev, const char *version, struct fs_err *e);

#endif

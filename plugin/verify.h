/* Recorded vs live values of an attachment: CHECK's drift test and the
 * `flowsteer status` view share this. */
#ifndef FLOWSTEER_VERIFY_H
#define FLOWSTEER_VERIFY_H

#include <cjson/cJSON.h>

#include "cpumask.h"
#include "err.h"

struct verify_dev {
	char name[16];
	int scope;                 /* enum rps_scope */
	char want_rps[CPUMASK_HEX_MAX];
	long long want_flow;       /* -1: not recorded */
	int state;                 /* 0 holds, 1 drift, 2 gone, 3 unreadable */
	char msg[512];             /* drift: device, queue, expected, actual */
	int queues;
	char live_rps[CPUMASK_HEX_MAX]; /* queue rx-0, or the first that drifted */
	long long live_flow;
};

/* Live values for every applied device in a record (container devices read
 * inside netns, or the record's own netns when NULL). *out is malloc()ed. */
int verify_devices(const cJSON *rec, const char *netns, struct verify_dev **out, int *n);

/* CHECK: 0 when everything holds; code 101 naming device, queue, expected
 * and actual otherwise. */
int verify_record(const cJSON *rec, const char *netns, struct fs_err *e);

#endif

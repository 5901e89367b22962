/* Recorded vs live values of an attachment: CHECK's drift test, `flowsteer
 * status` and the agent's drift metric share this. */
#ifndef FLOWSTEER_VERIFY_H
#define FLOWSTEER_VERIFY_H

#include "err.h"
#include "model.h"

enum verify_state { VERIFY_OK, VERIFY_DRIFT, VERIFY_GONE, VERIFY_UNREADABLE };

struct verify_dev {
	const struct dev *dev;          /* the recorded device */
	enum verify_state state;
	char msg[512];                  /* device, queue, expected and actual */
	int queues;
	struct cpumask live_cpus;       /* rx-0, or the first queue that drifted */
	long long live_flow;
};

/* Live values of every applied device of a (pod devices read inside
 * netns, or a's own netns when NULL or ""). out has a->ndev entries; n
 * gets how many are filled. Returns 0 or -errno. */
int verify_attachment(const struct attachment *a, const char *netns, struct verify_dev *out, int *n);

/* CHECK: 0 when everything holds; code 101 naming device, queue, expected
 * and actual otherwise. */
int verify_check(const struct attachment *a, const char *netns, struct fs_err *e);

const char *verify_state_name(enum verify_state s);

#endif

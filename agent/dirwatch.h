/* inotify on a directory that may not exist yet, or may be removed and
 * made again: the plugin creates its stateDir at the first ADD, and a
 * kubelet that never ran leaves no /var/lib/kubelet. While the directory
 * is missing, its deepest existing ancestor is watched for the next
 * component to appear, and the watch moves down as the path is made. */
#ifndef FLOWSTEER_AGENT_DIRWATCH_H
#define FLOWSTEER_AGENT_DIRWATCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

struct dirwatch;

/* name: the entry of the directory an event was about; NULL: look at
 * everything (the directory appeared, went away, or events were lost). */
typedef void (*dirwatch_fn)(struct dirwatch *w, const char *name, void *arg);

struct dirwatch {
	char path[PATH_MAX];
	uint32_t mask;          /* events wanted on the directory itself */
	int ifd, wd;
	size_t at;              /* length of the prefix of path watched now */
	dirwatch_fn fn;
	void *arg;
};

/* Watches path (absolute) for mask; fn is called from the loop. Returns 0
 * or -1 (logged). */
int dirwatch_start(struct loop *l, struct dirwatch *w, const char *path, uint32_t mask, dirwatch_fn fn,
		   void *arg);
/* Whether the directory itself is watched now (it exists). */
bool dirwatch_present(const struct dirwatch *w);
void dirwatch_release(struct loop *l, struct dirwatch *w);

#endif

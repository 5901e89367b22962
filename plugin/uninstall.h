/* Uninstall (docs/agent.md, "Uninstall"): once the entry is out of the
 * conflist no new ADD starts, and a runtime runs a later DEL with the
 * conflist as it is then (containerd 1.6): without flowsteer. So whoever
 * uninstalls undoes on the node itself, under the stateDir lock, what the
 * pods' DELs would have: for every record its pod devices put back (the
 * pods keep running, untuned) and the record removed; then, the last
 * record gone, the node devices and the RFS sysctl back to their
 * originals as the last DEL puts them (only where the kernel still holds
 * what flowsteer wrote). A later DEL finds no record and succeeds. */
#ifndef FLOWSTEER_UNINSTALL_H
#define FLOWSTEER_UNINSTALL_H

#include <stdbool.h>

#include "err.h"

struct uninstall_result {
	int records;            /* records undone and removed */
	int kept;               /* records left: unreadable, or past the time bound */
	int devices;            /* pod devices put back */
	int left;               /* pod devices that still hold a flowsteer value (a write failed) */
	bool node_restored;     /* node.json's originals put back and forgotten */
	bool timed_out;
};

/* One line per pod (warn false) or per problem (warn true), for the
 * caller to log: the agent has no plugin log. */
typedef void (*uninstall_say_fn)(bool warn, const char *line, void *arg);

/* Undoes every record of state_dir, then the node devices when none is
 * left; stops taking records after budget_ms (those left are what a DEL
 * finds later, and they keep the node devices). 0, or -1 with e set (the
 * lock, the host's sysfs). */
int uninstall_all(const char *state_dir, long long budget_ms, uninstall_say_fn say, void *arg,
		  struct uninstall_result *r, struct fs_err *e);

#endif

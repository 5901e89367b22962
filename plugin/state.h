/* stateDir: per-attachment records, the node's original values, and the
 * lock that serialises invocations (flock: released when a process dies). */
#ifndef FLOWSTEER_STATE_H
#define FLOWSTEER_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "err.h"

#define STATE_LOCK_TIMEOUT_MS 10000

struct state {
	char dir[PATH_MAX - 128];
	int lockfd;
};

/* Creates the directory layout and takes the exclusive lock (bounded wait:
 * code 11 "try again later" when another invocation holds it too long). */
int state_lock(struct state *st, const char *dir, struct fs_err *e);
void state_unlock(struct state *st);

/* An attachment record is "<containerID>@<ifname>.n.json" when it holds a
 * reference on the node devices, ".p.json" when not: the node's reference
 * count is a directory listing, never a counter that a crash could skew. */
int state_record_write(struct state *st, const char *cid, const char *ifname, bool node_ref,
		       const cJSON *rec, struct fs_err *e);
/* NULL when there is no record (or it is unreadable: logged). */
cJSON *state_record_read(struct state *st, const char *cid, const char *ifname, bool *node_ref);
void state_record_remove(struct state *st, const char *cid, const char *ifname);
int state_node_refs(struct state *st);

/* Calls fn for every record (parsed); stops when fn returns non-zero. */
typedef int (*state_record_fn)(const char *file, const cJSON *rec, bool node_ref, void *arg);
int state_records_foreach(struct state *st, state_record_fn fn, void *arg);
/* Same, without taking the lock (read-only views such as `flowsteer status`). */
int state_records_foreach_dir(const char *dir, state_record_fn fn, void *arg);
void state_record_remove_file(struct state *st, const char *file);
/* Removes the temp files ("*.tmp.<pid>") of atomic writes whose writer died
 * before its rename. Only lock holders write, so under the lock every one
 * of them is garbage. Returns how many were removed. */
int state_tmp_sweep(struct state *st);

/* node.json: originals of node devices and the sysctl; NULL when absent. */
cJSON *state_node_read(struct state *st);
cJSON *state_node_read_dir(const char *dir);
int state_node_write(struct state *st, const cJSON *node, struct fs_err *e);
void state_node_remove(struct state *st);

#endif

/* stateDir (docs/state.md): attachment records, the node's originals and
 * the lock that serialises invocations (statedir.c, record.c); the model
 * they hold becomes JSON in model_json.h alone. Every file is opened without
 * following links or blocking and must be root's and not writable by group
 * or others; every record is read against a strict schema; state from
 * another boot (records carry the boot ID) is discarded, never restored
 * nor counted. */
#ifndef FLOWSTEER_STATE_H
#define FLOWSTEER_STATE_H

#include <limits.h>
#include <stdbool.h>

#include "err.h"
#include "model.h"

#define STATE_LOCK_TIMEOUT_MS 10000
#define STATE_NODE_FILE "node.json"

struct state {
	char dir[PATH_MAX - 256];
	int dirfd;
	int attfd;                  /* <dir>/attachments */
	int lockfd;
	int claimfd;                /* the node claim, while held (claim.h) */
	char boot_id[MODEL_BOOT_ID_LEN + 1];
};

#define STATE_INIT { .dirfd = -1, .attfd = -1, .lockfd = -1, .claimfd = -1 }

/* Opens stateDir (created 0700 when absent and `create`) and checks it.
 * Code 5 naming the directory and what is wrong with it. */
int state_open(struct state *st, const char *dir, bool create, struct fs_err *e);
/* state_open + the exclusive lock (bounded wait: code 11 when another
 * invocation holds it too long) + discarding state of another boot. */
int state_lock(struct state *st, const char *dir, struct fs_err *e);
void state_close(struct state *st);

/* Records: "<containerID>@<ifname>.n.json" when the attachment holds a
 * reference on the node devices, ".p.json" when not: the node's reference
 * count is a directory listing, never a counter a crash could skew. */
int state_record_write(struct state *st, const struct attachment *a, struct fs_err *e);
/* 0, -ENOENT when there is none, -1 with e set when it cannot be trusted. */
int state_record_read(struct state *st, const char *cid, const char *ifname,
		      struct attachment *a, struct fs_err *e);
void state_record_remove(struct state *st, const char *cid, const char *ifname);
int state_record_remove_file(struct state *st, const char *file);
/* Attachments holding the node devices, or -errno. */
int state_holders(struct state *st);
/* Calls fn for every record of this boot in name order, a NULL attachment
 * with err set when one cannot be read; stops when fn returns non-zero. fn
 * may change a and write it back (the lock held). */
typedef int (*state_record_fn)(const char *file, struct attachment *a,
			       const struct fs_err *err, void *arg);
int state_records_foreach(struct state *st, state_record_fn fn, void *arg);
/* Temp files whose writer died before its rename (only lock holders
 * write: under the lock every one is garbage). Returns how many went. */
int state_tmp_sweep(struct state *st);

/* node.json: 0, -ENOENT when absent, -1 with e set when it cannot be
 * trusted (the caller must then leave it alone: it holds originals). */
int state_node_read(struct state *st, struct node_state *n, struct fs_err *e);
int state_node_write(struct state *st, const struct node_state *n, struct fs_err *e);
void state_node_remove(struct state *st);

#endif

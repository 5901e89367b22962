/* The executor: writes what plan.c decided, notes every value it wrote,
 * and its inverse puts back a value only where the kernel still holds what
 * flowsteer wrote (an operator's later change is kept). Rollback, DEL, GC
 * and the last pod's restore all go through apply_revert_dev. */
#ifndef FLOWSTEER_APPLY_H
#define FLOWSTEER_APPLY_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "model.h"
#include "plan.h"
#include "state.h"

/* The pod's own devices: its interface (in its netns) and its host veth. */
void apply_pod(const struct kview *kv, struct attachment *a);
/* The inverse (a rollback, the uninstall's undo). */
void apply_revert_pod(const struct kview *kv, struct attachment *a);

/* Puts back everything an ADD changed: its pod devices, its record, and
 * the node devices when no other attachment holds them (st locked: the
 * ADD got that far). Applied devices become failed, "rolled back". */
void apply_rollback(struct state *st, const struct kview *kv, struct attachment *a);

/* Under the stateDir lock: node devices and the RFS sysctl. Their
 * originals reach node.json before the first value changes. A node device
 * someone else changed since flowsteer set it is left alone. -1 with e
 * set when node.json cannot be trusted or written (nothing changed). */
int apply_node(struct state *st, const struct kview *kv, const struct fs_config *cfg,
	       struct attachment *a, struct fs_err *e);
/* When no attachment holds the node devices any more and `restore`: puts
 * node.json's originals back (through classfd, the host's
 * /sys/class/net, or /sys/class/net itself when -1) and forgets them.
 * Returns the holders left or -errno. */
int apply_node_release(struct state *st, bool restore, int classfd);

#endif

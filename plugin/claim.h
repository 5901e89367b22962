/* The node claim: node devices are the node's, whatever a configuration
 * says, and one stateDir per node tunes them. The claim is a file named
 * after the host network namespace in CLAIM_DIR (tmpfs: it lasts exactly
 * one boot) naming the stateDir that holds them, locked while it is read
 * and written. */
#ifndef FLOWSTEER_CLAIM_H
#define FLOWSTEER_CLAIM_H

#include <stddef.h>

#include "state.h"

#define CLAIM_DIR "/run/lock"

/* 0 when st's stateDir holds (or may take) the node devices; -EBUSY with
 * `other` naming the stateDir that holds them; ERR_UNTRUSTED (logged)
 * when the claim file is not safe to use; -errno. The lock is kept until
 * claim_release or state_close. */
int claim_take(struct state *st, char *other, size_t len);
/* Gives the claim up when st's stateDir holds it (after the node devices
 * were released). */
void claim_release(struct state *st);

#endif

/* Inside the stateDir module (statedir.c, record.c): its files' names and
 * their trusted JSON I/O. Everything else goes through state.h. */
#ifndef FLOWSTEER_STATEDIR_H
#define FLOWSTEER_STATEDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "err.h"
#include "state.h"

/* 0 with *out parsed, -ENOENT, or -1 with e set (code 5; "not safe to
 * use" when the file cannot be trusted). */
int statedir_json_read(int dirfd, const char *name, const char *shown, cJSON **out, struct fs_err *e);
/* Replaces the file atomically; 0 or -1 with e set. */
int statedir_json_write(int dirfd, const char *name, const char *shown, const cJSON *j, struct fs_err *e);
/* "<cid>@<ifname>.n.json" when node_ref, ".p.json" when not; and whether
 * a name is one (with its node_ref). */
void statedir_record_name(const char *cid, const char *ifname, bool node_ref, char *out, size_t len);
bool statedir_record_file(const char *name, bool *node_ref);

#endif

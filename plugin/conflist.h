/* Chaining flowsteer into a CNI configuration file: the pure JSON edits
 * (conflist.c: buffer in, buffer out) and the file-level atomic write
 * around them (conflist_file.c).
 *
 * Edits splice text: everything outside the flowsteer entry keeps its bytes,
 * so `remove` after `insert` gives back the original file byte for byte and
 * an operator's diff shows only the entry. cJSON does all the parsing; the
 * edit only uses the byte offsets where cJSON's values start and end. */
#ifndef FLOWSTEER_CONFLIST_H
#define FLOWSTEER_CONFLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "err.h"

#define CONFLIST_DEFAULT_ENTRY \
	"{\"type\":\"flowsteer\",\"capabilities\":{\"io.kubernetes.cri.pod-annotations\":true}}"

/* CNI config files are small; anything bigger is not one. */
#define CONFLIST_MAX_SIZE (4u << 20)

/* Return value of the edits when the input already is the wanted result. */
#define CONFLIST_UNCHANGED 1

/* Parses and checks an entry: a JSON object with "type": "flowsteer" whose
 * keys flowsteer itself accepts (docs/config.md). NULL json = the default entry.
 * Returns 0 and *out (caller deletes), or -1 with e set. */
int conflist_entry_parse(const char *json, cJSON **out, struct fs_err *e);

/* Chains `entry` (NULL = default) into a .conflist buffer: after the first
 * "calico" plugin, else at the end; an existing flowsteer entry is replaced
 * where it is (moved after calico when it sits before it, where it could
 * not get a prevResult), duplicates dropped. A single-plugin .conf buffer
 * becomes a conflist (cniVersion and name move up; *converted set).
 * Returns 0 with *out (malloc()ed, NUL-terminated), CONFLIST_UNCHANGED
 * (*out NULL) when the buffer already holds exactly this entry, or -1 with
 * e set (nothing is ever half-done). */
int conflist_insert(const char *buf, size_t len, const cJSON *entry, char **out, size_t *outlen,
		    bool *converted, struct fs_err *e);

/* Drops every flowsteer entry. Same returns as conflist_insert. A .conf
 * buffer holds no chain: unchanged (an error when it is flowsteer alone). */
int conflist_remove(const char *buf, size_t len, char **out, size_t *outlen, struct fs_err *e);

enum conflist_op { CONFLIST_OP_INSERT, CONFLIST_OP_REMOVE };

struct conflist_file_result {
	char path[4096];      /* the file edited (or found already right) */
	char removed[4096];   /* the .conf replaced by path, else "" */
	bool redirected;      /* the .conf asked for was converted earlier */
	bool changed;
	char *content;        /* dry run: the would-be file (caller frees) */
	size_t content_len;
};

/* Edits a file in place: read, edit, then temp file + fsync + rename in the
 * same directory keeping mode and owner; a .conf becomes <base>.conflist
 * and the .conf is removed only once the new file is in place. A symlink is
 * followed (its target is edited). When FILE.conf is gone but the
 * .conflist it was converted to exists, that one is edited. dry_run: only
 * fills res->content. An unparseable file is refused and left untouched.
 * Returns 0, or -1 with e set (code CNI_ERR_TRY_LATER when the file changed
 * while it was being edited: retry). */
int conflist_file_edit(const char *path, enum conflist_op op, const cJSON *entry, bool dry_run,
		       struct conflist_file_result *res, struct fs_err *e);

/* True for the names libcni loads: *.conf, *.conflist, *.json. */
bool conflist_name_is_config(const char *name);

/* The file the runtime uses: the first .conf/.conflist/.json of dir in byte
 * order (libcni's ConfFiles, then sort). out = "" when there is none.
 * Returns 0, or -1 with e set when dir cannot be read. */
int conflist_pick(const char *dir, char *out, size_t len, struct fs_err *e);

#endif

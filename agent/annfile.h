/* The node-local cache the plugin reads (annotationsFile):
 *
 *   {"namespaces":{"<ns>":{"flowsteer.io/mode":"off"}},
 *    "pods":{"<ns>/<name>":{"annotations":{"flowsteer.io/...":"..."},"uid":"..."}},
 *    "syncedAt":"2025-01-02T03:04:05Z","version":1}
 *
 * Keys sorted at every level, only flowsteer.io/... keys (never
 * flowsteer.io/status), objects without any such key left out. Written by
 * temp file + fsync + rename, and only when the namespaces or pods changed.
 *
 * syncedAt is the last time the agent knew the file matched the API server
 * (both watches established). A change of syncedAt alone does not trigger a
 * write on every event; instead the agent refreshes it every
 * --refresh-seconds while its watches are healthy, so the plugin can tell a
 * fresh cache from one whose agent is gone or cut off (no refresh). */
#ifndef FLOWSTEER_AGENT_ANNFILE_H
#define FLOWSTEER_AGENT_ANNFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "kobj.h"

#define ANNFILE_VERSION 1

struct annfile {
	char path[4096];
	char *last_body;          /* namespaces + pods as last written */
	uint64_t writes;
};

/* The whole file for synced_at (epoch s); *body (may be NULL) gets the
 * part that is compared (namespaces and pods). Both malloc()ed. */
char *annfile_render(const struct kstore *ns, const struct kstore *pods, long long synced_at, char **body);

/* Writes when the content changed, or when refresh is set (syncedAt moves).
 * *written tells. Returns 0 or -1 with e set (the old file stays). */
int annfile_sync(struct annfile *f, const struct kstore *ns, const struct kstore *pods, long long now,
		 bool refresh, bool *written, struct fs_err *e);
void annfile_release(struct annfile *f);

#endif

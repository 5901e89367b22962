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

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "kobj.h"
#include "loop.h"
#include "metrics.h"

#define ANNFILE_VERSION 1

/* What the file is made of (watch.c): the two stores, whether both were
 * listed once (nothing is written before), and whether both watches
 * stream now (only then may syncedAt move). */
struct annfile_src {
	const struct kstore *ns, *pods;
	bool (*synced)(void *arg);
	bool (*streaming)(void *arg);
	void *arg;
};

struct annfile {
	struct loop *loop;        /* set from start to stop: the one "started" marker */
	char path[4096];
	char *last_body;          /* namespaces + pods as last written */
	struct annfile_src src;
	long long refresh_ms;
	/* dirty: the stores changed since the last write; refresh_due: a
	 * refresh (syncedAt) failed and its retry must write anyway. */
	bool dirty, refresh_due;
	struct loop_debounce flush;
	struct loop_timer refresh;
	/* Read by the metrics thread. */
	_Atomic int synced_once;  /* the first sync is written */
	_Atomic uint64_t writes, errors;
	_Atomic long long last_sync;
};

void annfile_init(struct annfile *f);
/* Writes path from src once a burst of changes is quiet (annfile_changed),
 * and every refresh_ms while src streams. Returns 0 or -1 (logged). */
int annfile_start(struct annfile *f, const char *path, long long refresh_ms, const struct annfile_src *src,
		  struct loop *l);
/* The stores changed (the reflectors' callback). */
void annfile_changed(struct annfile *f);
/* Safe twice, and after init alone. */
void annfile_stop(struct annfile *f);

/* The whole file for synced_at (epoch s); *body (may be NULL) gets the
 * part that is compared (namespaces and pods). Both malloc()ed. */
char *annfile_render(const struct kstore *ns, const struct kstore *pods, long long synced_at, char **body);

/* Writes when the content changed, or when refresh is set (syncedAt moves).
 * *written tells. Returns 0 or -1 with e set (the old file stays). */
int annfile_sync(struct annfile *f, const struct kstore *ns, const struct kstore *pods, long long now,
		 bool refresh, bool *written, struct fs_err *e);

#endif

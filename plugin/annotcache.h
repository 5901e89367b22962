/* The node agent's cache of namespace and pod annotations (docs/agent.md),
 * as written to annotationsFile, parsed strictly. Pure: the caller reads
 * the file. Schema:
 *   {"version":1, "syncedAt":"RFC 3339",
 *    "namespaces":{"<ns>":{"flowsteer.io/mode":"off",...}},
 *    "pods":{"<ns>/<name>":{"uid":"...","annotations":{...}}}} */
#ifndef FLOWSTEER_ANNOTCACHE_H
#define FLOWSTEER_ANNOTCACHE_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "err.h"

/* The agent refreshes syncedAt at least once a minute while its watches
 * are healthy; an older file means the agent is not keeping it current. */
#define ANNOTCACHE_MAX_AGE_S 300
/* The plugin reads no bigger file; the agent never writes one. */
#define ANNOTCACHE_FILE_MAX (4u << 20)

struct annotcache {
	cJSON *root;
	long long synced_at;        /* seconds since the epoch */
	const cJSON *ns;            /* the pod's namespace's annotations, or NULL */
	const cJSON *pod;           /* the pod's annotations, or NULL */
	char pod_uid[64];           /* the cached pod's uid ("" without an entry) */
};

/* Parses buf (every entry is checked) and picks namespace ns and pod
 * ns/name. Returns 0, or -1 with e set (code 6 naming the key that is
 * wrong). */
int annotcache_parse(const char *buf, size_t len, const char *ns, const char *pod,
		     struct annotcache *c, struct fs_err *e);
void annotcache_free(struct annotcache *c);

/* RFC 3339 ("2026-11-29T17:47:27Z", fractions and offsets allowed) to
 * seconds since the epoch; -1 when it is not one. */
long long annotcache_time(const char *s);

#endif

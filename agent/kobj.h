/* Kubernetes objects as the agent keeps them: the parts of a namespace or a
 * pod that the annotations file needs, a sorted store of them (tsearch), and
 * the parsing of one watch event line. All pure: unit-tested. */
#ifndef FLOWSTEER_AGENT_KOBJ_H
#define FLOWSTEER_AGENT_KOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "err.h"

#define KOBJ_PREFIX "flowsteer.io/"

struct kobj {
	char *key;          /* "name" (namespaces) or "namespace/name" (pods) */
	char *uid;
	char *rv;           /* metadata.resourceVersion */
	cJSON *ann;         /* the annotations the plugin reads (mode, scope, cpus), keys sorted; never NULL */
	unsigned bounds;    /* 1 << enum bound: what kobj_from_json cut (kobj_report logs it) */
};

void kobj_free(struct kobj *o);
/* Counts and logs (once per object) the bounds o->bounds says were hit. */
void kobj_report(const struct kobj *o);
/* JSON text whose "\u0000" escapes or lone surrogate escapes ("\ud800")
 * cJSON would cut a string at or refuse the whole document for: each
 * becomes "\ufffd" (same length, in place) when apply is set. Returns how
 * many there are. Escapes are found by backslash parity, not by a parse. */
size_t kjson_defuse(char *s, size_t len, bool apply);
/* Extracts from a Namespace or Pod object. Returns 0, or -1 with e set when
 * metadata or its name is missing or of the wrong type. */
int kobj_from_json(const cJSON *obj, bool namespaced, struct kobj *out, struct fs_err *e);

enum kwatch_type { KW_ADDED, KW_MODIFIED, KW_DELETED, KW_BOOKMARK, KW_ERROR };

struct kwatch_event {
	enum kwatch_type type;
	struct kobj obj;     /* ADDED/MODIFIED/DELETED; BOOKMARK: only rv */
	long code;           /* ERROR: the Status code (410 = Gone), else 0 */
	char reason[64];     /* ERROR: Status.reason */
	char message[256];   /* ERROR: Status.message (control chars blanked) */
};

/* One line of a watch stream ({"type":..., "object":{...}}). Returns 0, or -1
 * with e set (unknown type, not JSON, object malformed). */
int kwatch_event_parse(const char *line, size_t len, bool namespaced, struct kwatch_event *ev,
		       struct fs_err *e);
void kwatch_event_free(struct kwatch_event *ev);

/* A sorted map key -> kobj (only objects that hold flowsteer.io keys are
 * worth keeping; the caller decides). */
struct kstore {
	void *root;
	size_t n;
};

/* Takes ownership of o's fields (o is zeroed); replaces an entry of the
 * same key. Returns 0 or -ENOMEM. */
int kstore_put(struct kstore *s, struct kobj *o);
/* Returns true when something was removed. */
bool kstore_del(struct kstore *s, const char *key);
const struct kobj *kstore_get(const struct kstore *s, const char *key);
void kstore_clear(struct kstore *s);
/* Visits entries in key order. */
void kstore_walk(const struct kstore *s, void (*fn)(const struct kobj *o, void *arg), void *arg);
/* Equal keys, uids and annotations. */
bool kobj_same(const struct kobj *a, const struct kobj *b);

#endif

/* JSON in, strictly: one whole document with no escaped NUL, and typed,
 * ranged reads of an object's keys with messages that name the key and the
 * value. Pure: cJSON does the parsing. */
#ifndef FLOWSTEER_JSON_H
#define FLOWSTEER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "err.h"

/* Parses buf as one JSON document. Code 6 (CNI_ERR_DECODE) when it is not
 * valid JSON or has trailing data; `nul_code` naming the key when any string
 * or key holds an escaped NUL ("\u0000"), which C strings would silently cut
 * ("/x\u0000/../y" would become "/x"). what: "network configuration", ... */
cJSON *json_parse_strict(const char *buf, size_t len, const char *what, int nul_code,
			 struct fs_err *e);

/* Schema reads: `where` names the document in messages, `code` is the
 * error code of a violation. */
struct jschema {
	const char *where;
	int code;
	struct fs_err *e;
};

/* Every key of obj is one of keys[] (unknown keys are an error here). */
int js_keys(const struct jschema *s, const cJSON *obj, const char *const *keys, size_t n);
/* A required key of the given type; `nullable` also accepts null (*out
 * untouched / NULL). */
int js_str(const struct jschema *s, const cJSON *obj, const char *key, bool nullable,
	   char *out, size_t len);
int js_int(const struct jschema *s, const cJSON *obj, const char *key, bool nullable,
	   long long min, long long max, long long *out);
int js_bool(const struct jschema *s, const cJSON *obj, const char *key, bool *out);
const cJSON *js_obj(const struct jschema *s, const cJSON *obj, const char *key, bool nullable);
const cJSON *js_arr(const struct jschema *s, const cJSON *obj, const char *key);


#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* U+E000 (private use), put where an escaped NUL was so the key holding it
 * can be found after parsing. */
#define NUL_MARK "\xee\x80\x80"

/* Offset of the first "\u0000" escape (an odd run of backslashes before
 * the 'u': "\\u0000" is a backslash and text), or -1. */
static long nul_escape(const char *buf, size_t len, size_t from)
{
	for (size_t i = from; i + 6 <= len; i++) {
		size_t bs = 0;

		if (buf[i] != '\\' || memcmp(buf + i + 1, "u0000", 5))
			continue;
		while (bs < i && buf[i - 1 - bs] == '\\')
			bs++;
		if (bs % 2 == 0)
			return (long)i;
	}
	return -1;
}

static bool marked_path(const cJSON *j, char *path, size_t len, size_t off)
{
	const cJSON *c;
	int i = 0;

	if (cJSON_IsString(j) && strstr(j->valuestring, NUL_MARK))
		return true;
	cJSON_ArrayForEach(c, j) {
		size_t n;

		if (cJSON_IsObject(j))
			n = (size_t)snprintf(path + off, len - off, "%s%s", off ? "." : "", c->string);
		else
			n = (size_t)snprintf(path + off, len - off, "[%d]", i);
		i++;
		if (off + n >= len)
			n = len - off - 1;
		if ((c->string && strstr(c->string, NUL_MARK)) || marked_path(c, path, len, off + n))
			return true;
		path[off] = '\0';
	}
	return false;
}

static int nul_report(const char *buf, size_t len, const char *what, int code, struct fs_err *e)
{
	char *copy = malloc(len + 1), path[256] = "";
	cJSON *j;
	long at;

	if (!copy)
		return err_set(e, CNI_ERR_IO, "%s: out of memory", what);
	memcpy(copy, buf, len);
	copy[len] = '\0';
	for (at = nul_escape(copy, len, 0); at >= 0; at = nul_escape(copy, len, (size_t)at + 6))
		memcpy(copy + at, "\\ue000", 6);
	j = cJSON_ParseWithLength(copy, len);
	if (!j || !marked_path(j, path, sizeof(path), 0) || !path[0])
		snprintf(path, sizeof(path), "(top level)");
	cJSON_Delete(j);
	free(copy);
	return err_set(e, code, "%s: key \"%s\" holds an escaped NUL (\\u0000); refused rather than cut short",
		       what, path);
}

cJSON *json_parse_strict(const char *buf, size_t len, const char *what, int nul_code,
			 struct fs_err *e)
{
	const char *end = NULL;
	cJSON *j;

	j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!j) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at && at >= buf && at <= buf + len ? (size_t)(at - buf) : len;

		err_set(e, CNI_ERR_DECODE, "%s is not valid JSON (error near byte %zu of %zu)", what, off, len);
		return NULL;
	}
	/* cJSON stops after the first value: anything but whitespace after it
	 * means the input is not one JSON document. */
	while (end && end < buf + len && *end && strchr(" \t\r\n", *end))
		end++;
	if (end && end < buf + len) {
		err_set(e, CNI_ERR_DECODE, "%s is not valid JSON (trailing data at byte %zu of %zu)", what,
			(size_t)(end - buf), len);
		cJSON_Delete(j);
		return NULL;
	}
	if (nul_escape(buf, len, 0) >= 0) {
		nul_report(buf, len, what, nul_code, e);
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int js_keys(const struct jschema *s, const cJSON *obj, const char *const *keys, size_t n)
{
	const cJSON *c;

	if (!cJSON_IsObject(obj))
		return err_set(s->e, s->code, "%s: an object is expected here", s->where);
	cJSON_ArrayForEach(c, obj) {
		size_t i = 0;

		while (i < n && strcmp(c->string, keys[i]))
			i++;
		if (i == n)
			return err_set(s->e, s->code, "%s: unknown key \"%.60s\"", s->where, c->string);
	}
	return 0;
}

static const cJSON *js_get(const struct jschema *s, const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v)
		err_set(s->e, s->code, "%s: key \"%s\" is missing", s->where, key);
	return v;
}

int js_str(const struct jschema *s, const cJSON *obj, const char *key, bool nullable,
	   char *out, size_t len)
{
	const cJSON *v = js_get(s, obj, key);

	if (!v)
		return -1;
	if (nullable && cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return err_set(s->e, s->code, "%s: key \"%s\" must be a string", s->where, key);
	if (strlen(v->valuestring) >= len)
		return err_set(s->e, s->code, "%s: key \"%s\" = \"%.40s...\" is longer than %zu bytes",
			       s->where, key, v->valuestring, len - 1);
	memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

/* A number that is an integer within [min, max] (no float→int cast of an
 * out-of-range double). */
static bool json_int_in(const cJSON *v, long long min, long long max, long long *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
		return false;
	*out = (long long)d;
	return true;
}

int js_int(const struct jschema *s, const cJSON *obj, const char *key, bool nullable,
	   long long min, long long max, long long *out)
{
	const cJSON *v = js_get(s, obj, key);

	if (!v)
		return -1;
	if (nullable && cJSON_IsNull(v))
		return 0;
	if (!json_int_in(v, min, max, out))
		return err_set(s->e, s->code, "%s: key \"%s\" must be an integer in [%lld, %lld]",
			       s->where, key, min, max);
	return 0;
}

int js_bool(const struct jschema *s, const cJSON *obj, const char *key, bool *out)
{
	const cJSON *v = js_get(s, obj, key);

	if (!v)
		return -1;
	if (!cJSON_IsBool(v))
		return err_set(s->e, s->code, "%s: key \"%s\" must be true or false", s->where, key);
	*out = cJSON_IsTrue(v);
	return 0;
}

const cJSON *js_obj(const struct jschema *s, const cJSON *obj, const char *key, bool nullable)
{
	const cJSON *v = js_get(s, obj, key);

	if (!v || (nullable && cJSON_IsNull(v)))
		return NULL;
	if (!cJSON_IsObject(v)) {
		err_set(s->e, s->code, "%s: key \"%s\" must be an object", s->where, key);
		return NULL;
	}
	return v;
}

const cJSON *js_arr(const struct jschema *s, const cJSON *obj, const char *key)
{
	const cJSON *v = js_get(s, obj, key);

	if (v && !cJSON_IsArray(v)) {
		err_set(s->e, s->code, "%s: key \"%s\" must be a list", s->where, key);
		return NULL;
	}
	return v;
}

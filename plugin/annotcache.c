#include <stdio.h>
#include <string.h>
#include <time.h>

#include "annotcache.h"
#include "json.h"

long long annotcache_time(const char *s)
{
	int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
	struct tm tm = { 0 };
	const char *p;
	long long t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return -1;
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '+' || *p == '-') {
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || p[6])
			return -1;
		if (*p == '-')
			oh = -oh, om = -om;
	} else if ((*p != 'Z' && *p != 'z') || p[1]) {
		return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (long long)timegm(&tm);
	return t - (oh * 3600LL + om * 60LL);
}

static int strings_only(const cJSON *o, const char *where, struct fs_err *e)
{
	const cJSON *v;

	if (!cJSON_IsObject(o))
		return err_set(e, CNI_ERR_DECODE, "%.120s must be an object", where);
	cJSON_ArrayForEach(v, o) {
		if (!cJSON_IsString(v))
			return err_set(e, CNI_ERR_DECODE, "%.120s[\"%.60s\"] must be a string", where, v->string);
	}
	return 0;
}

static int namespaces_check(const cJSON *nss, struct fs_err *e)
{
	const cJSON *n;
	char where[160];

	if (!cJSON_IsObject(nss))
		return err_set(e, CNI_ERR_DECODE, "\"namespaces\" is missing or not an object");
	cJSON_ArrayForEach(n, nss) {
		snprintf(where, sizeof(where), "namespaces[\"%.60s\"]", n->string);
		if (strings_only(n, where, e))
			return -1;
	}
	return 0;
}

static int pods_check(const cJSON *pods, struct fs_err *e)
{
	const cJSON *p, *uid;
	char where[200];

	if (!cJSON_IsObject(pods))
		return err_set(e, CNI_ERR_DECODE, "\"pods\" is missing or not an object");
	cJSON_ArrayForEach(p, pods) {
		snprintf(where, sizeof(where), "pods[\"%.120s\"]", p->string);
		uid = cJSON_GetObjectItemCaseSensitive(p, "uid");
		if (!cJSON_IsObject(p) || !cJSON_IsString(uid) || strlen(uid->valuestring) >= 64)
			return err_set(e, CNI_ERR_DECODE, "%s must be an object with a string \"uid\"", where);
		strcat(where, ".annotations");
		if (strings_only(cJSON_GetObjectItemCaseSensitive(p, "annotations"), where, e))
			return -1;
	}
	return 0;
}

static int header_check(const cJSON *root, struct annotcache *c, struct fs_err *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(root, "syncedAt");

	if (!cJSON_IsObject(root))
		return err_set(e, CNI_ERR_DECODE, "not a JSON object");
	if (!cJSON_IsNumber(v) || v->valuedouble != 1)
		return err_set(e, CNI_ERR_DECODE, "\"version\" is not 1");
	c->synced_at = cJSON_IsString(at) ? annotcache_time(at->valuestring) : -1;
	if (c->synced_at < 0)
		return err_set(e, CNI_ERR_DECODE, "\"syncedAt\" is missing or not an RFC 3339 time");
	return 0;
}

int annotcache_parse(const char *buf, size_t len, const char *ns, const char *pod,
		     struct annotcache *c, struct fs_err *e)
{
	const cJSON *nss, *pods, *p;
	char key[520];

	memset(c, 0, sizeof(*c));
	c->root = json_parse_strict(buf, len, "annotationsFile", CNI_ERR_DECODE, e);
	if (!c->root)
		return -1;
	nss = cJSON_GetObjectItemCaseSensitive(c->root, "namespaces");
	pods = cJSON_GetObjectItemCaseSensitive(c->root, "pods");
	if (header_check(c->root, c, e) || namespaces_check(nss, e) || pods_check(pods, e)) {
		annotcache_free(c);
		return -1;
	}
	c->ns = ns && *ns ? cJSON_GetObjectItemCaseSensitive(nss, ns) : NULL;
	snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", pod ? pod : "");
	p = ns && *ns && pod && *pod ? cJSON_GetObjectItemCaseSensitive(pods, key) : NULL;
	if (p) {
		c->pod = cJSON_GetObjectItemCaseSensitive(p, "annotations");
		snprintf(c->pod_uid, sizeof(c->pod_uid), "%s",
			 cJSON_GetObjectItemCaseSensitive(p, "uid")->valuestring);
	}
	return 0;
}

void annotcache_free(struct annotcache *c)
{
	cJSON_Delete(c->root);
	memset(c, 0, sizeof(*c));
}

/* The agent's annotations file: schema, the entries picked for one pod,
 * and RFC 3339 times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "annotcache.h"

#define GOOD "{\"version\":1,\"syncedAt\":\"2026-11-29T17:47:27Z\"," \
	"\"namespaces\":{\"team-a\":{\"flowsteer.io/mode\":\"rps\"},\"b\":{}}," \
	"\"pods\":{\"team-a/web\":{\"uid\":\"u-1\",\"annotations\":{\"flowsteer.io/mode\":\"off\"}}}}"

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_pick(void **state)
{
	struct annotcache c;
	struct fs_err e = { 0 };

	(void)state;
	assert_int_equal(annotcache_parse(GOOD, strlen(GOOD), "team-a", "web", &c, &e), 0);
	assert_string_equal(str(c.ns, "flowsteer.io/mode"), "rps");
	assert_string_equal(str(c.pod, "flowsteer.io/mode"), "off");
	assert_string_equal(c.pod_uid, "u-1");
	assert_int_equal(c.synced_at, 1795974447LL);
	annotcache_free(&c);
	/* Another pod of the namespace: the namespace only. */
	assert_int_equal(annotcache_parse(GOOD, strlen(GOOD), "team-a", "db", &c, &e), 0);
	assert_non_null(c.ns);
	assert_null(c.pod);
	assert_string_equal(c.pod_uid, "");
	annotcache_free(&c);
	/* No CNI_ARGS names: nothing picked. */
	assert_int_equal(annotcache_parse(GOOD, strlen(GOOD), "", "", &c, &e), 0);
	assert_null(c.ns);
	assert_null(c.pod);
	annotcache_free(&c);
}

static void bad(const char *json, const char *needle)
{
	struct annotcache c;
	struct fs_err e = { 0 };

	if (!annotcache_parse(json, strlen(json), "a", "b", &c, &e)) {
		annotcache_free(&c);
		fail_msg("%s: accepted", json);
	}
	assert_int_equal(e.code, CNI_ERR_DECODE);
	if (!strstr(e.msg, needle))
		fail_msg("%s: \"%s\" does not name %s", json, e.msg, needle);
	assert_null(c.root);
}

static void test_bad(void **state)
{
	(void)state;
	bad("{", "not valid JSON");
	bad("[]", "not a JSON object");
	bad("{\"version\":2,\"syncedAt\":\"2026-11-29T17:47:27Z\",\"namespaces\":{},\"pods\":{}}", "version");
	bad("{\"version\":1,\"syncedAt\":\"yesterday\",\"namespaces\":{},\"pods\":{}}", "syncedAt");
	bad("{\"version\":1,\"syncedAt\":\"2026-11-29T17:47:27Z\",\"pods\":{}}", "namespaces");
	bad("{\"version\":1,\"syncedAt\":\"2026-11-29T17:47:27Z\",\"namespaces\":{\"x\":{\"k\":1}},\"pods\":{}}",
	    "namespaces[\"x\"][\"k\"]");
	bad("{\"version\":1,\"syncedAt\":\"2026-11-29T17:47:27Z\",\"namespaces\":{},\"pods\":{\"a/b\":{\"annotations\":{}}}}",
	    "pods[\"a/b\"]");
	bad("{\"version\":1,\"syncedAt\":\"2026-11-29T17:47:27Z\",\"namespaces\":{},"
	    "\"pods\":{\"a/b\":{\"uid\":\"u\",\"annotations\":{\"x\":[]}}}}", "pods[\"a/b\"].annotations[\"x\"]");
	bad("{\"version\":1,\"syncedAt\":\"2026-11-29T17:47:27Z\",\"namespaces\":{\"a\":{\"k\":\"o\\u0000ff\"}},\"pods\":{}}",
	    "escaped NUL");
}

static void test_time(void **state)
{
	(void)state;
	assert_int_equal(annotcache_time("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(annotcache_time("2026-11-29T17:47:27.123456Z"), 1795974447LL);
	assert_int_equal(annotcache_time("2026-11-29T18:47:27+01:00"), 1795974447LL);
	assert_int_equal(annotcache_time("2026-11-29T16:47:27-01:00"), 1795974447LL);
	assert_int_equal(annotcache_time("2026-11-29 17:47:27Z"), -1);
	assert_int_equal(annotcache_time("2026-13-29T17:47:27Z"), -1);
	assert_int_equal(annotcache_time("2026-11-29T17:47:27"), -1);
	assert_int_equal(annotcache_time("2026-11-29T17:47:27Zjunk"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

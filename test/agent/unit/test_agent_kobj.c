/* Watch events and the object store: each event type, the flowsteer.io/
 * filter (only the plugin's keys, sorted; values made safe), ERROR Status
 * codes (410 Gone), malformed lines refused; the store keeps key order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "annot.h"
#include "bounds.h"
#include "kobj.h"

static int parse(const char *line, bool ns, struct kwatch_event *ev)
{
	struct fs_err e = { 0 };

	return kwatch_event_parse(line, strlen(line), ns, ev, &e);
}

static void test_event_pod(void **state)
{
	struct kwatch_event ev;
	char *ann;

	(void)state;
	assert_int_equal(parse("{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\","
			       "\"namespace\":\"team-a\",\"uid\":\"u1\",\"resourceVersion\":\"42\",\"annotations\":{"
			       "\"flowsteer.io/scope\":\"host\",\"flowsteer.io/status\":\"applied\",\"other.io/x\":\"1\","
			       "\"flowsteer.io/cpus\":\"0-1\",\"flowsteer.io/bad\":7}}}}", true, &ev), 0);
	assert_int_equal(ev.type, KW_MODIFIED);
	assert_string_equal(ev.obj.key, "team-a/web");
	assert_string_equal(ev.obj.uid, "u1");
	assert_string_equal(ev.obj.rv, "42");
	ann = cJSON_PrintUnformatted(ev.obj.ann);
	assert_string_equal(ann, "{\"flowsteer.io/cpus\":\"0-1\",\"flowsteer.io/scope\":\"host\"}");
	cJSON_free(ann);
	kwatch_event_free(&ev);
}

static void test_event_types(void **state)
{
	struct kwatch_event ev;

	(void)state;
	assert_int_equal(parse("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"ns1\",\"resourceVersion\":\"5\"}}}",
			       false, &ev), 0);
	assert_int_equal(ev.type, KW_ADDED);
	assert_string_equal(ev.obj.key, "ns1");
	assert_int_equal(cJSON_GetArraySize(ev.obj.ann), 0);
	kwatch_event_free(&ev);
	assert_int_equal(parse("{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"ns1\"}}}", false, &ev), 0);
	assert_int_equal(ev.type, KW_DELETED);
	kwatch_event_free(&ev);
	assert_int_equal(parse("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"99\"}}}",
			       true, &ev), 0);
	assert_int_equal(ev.type, KW_BOOKMARK);
	assert_string_equal(ev.obj.rv, "99");
	assert_null(ev.obj.key);
	kwatch_event_free(&ev);
}

static void test_event_error_gone(void **state)
{
	struct kwatch_event ev;

	(void)state;
	assert_int_equal(parse("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":\"Failure\","
			       "\"message\":\"too old resource version: 1 (20)\\nX\",\"reason\":\"Expired\",\"code\":410}}",
			       true, &ev), 0);
	assert_int_equal(ev.type, KW_ERROR);
	assert_int_equal(ev.code, 410);
	assert_string_equal(ev.reason, "Expired");
	assert_string_equal(ev.message, "too old resource version: 1 (20) X");
	kwatch_event_free(&ev);
}

static void test_event_malformed(void **state)
{
	struct kwatch_event ev;

	(void)state;
	assert_int_equal(parse("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"", true, &ev), -1);
	assert_int_equal(parse("{\"type\":\"SOMETHING\",\"object\":{}}", true, &ev), -1);
	assert_int_equal(parse("{\"type\":\"ADDED\"}", true, &ev), -1);
	assert_int_equal(parse("[1,2]", true, &ev), -1);
	/* A pod without a namespace cannot be keyed. */
	assert_int_equal(parse("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}", true, &ev), -1);
	assert_int_equal(parse("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":7}}}", false, &ev), -1);
}

static struct kobj mk(const char *key, const char *ann_json)
{
	struct kobj o = { .key = strdup(key), .uid = strdup("u"), .rv = strdup("1"), .ann = cJSON_Parse(ann_json) };

	return o;
}

static void collect(const struct kobj *o, void *arg)
{
	strcat(arg, o->key);
	strcat(arg, ",");
}

static void test_store(void **state)
{
	struct kstore s = { 0 };
	struct kobj o;
	char order[256] = "";

	(void)state;
	o = mk("b", "{}");
	assert_int_equal(kstore_put(&s, &o), 0);
	o = mk("a/z", "{}");
	assert_int_equal(kstore_put(&s, &o), 0);
	o = mk("c", "{\"flowsteer.io/mode\":\"off\"}");
	assert_int_equal(kstore_put(&s, &o), 0);
	o = mk("b", "{\"flowsteer.io/mode\":\"rps\"}");
	assert_int_equal(kstore_put(&s, &o), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(cJSON_GetArraySize(kstore_get(&s, "b")->ann), 1);
	kstore_walk(&s, collect, order);
	assert_string_equal(order, "a/z,b,c,");
	assert_true(kstore_del(&s, "b"));
	assert_false(kstore_del(&s, "b"));
	assert_null(kstore_get(&s, "b"));
	assert_int_equal(s.n, 2);
	kstore_clear(&s);
	assert_int_equal(s.n, 0);
}

/* Escapes cJSON would cut at or refuse become U+FFFD, by backslash parity;
 * valid pairs and escaped backslashes are left alone. */
static void test_defuse(void **state)
{
	char s[] = "\"a\\u0000b\\\\u0000\\ud800x\\ud83d\\ude00\\udc00\"";

	(void)state;
	assert_int_equal(kjson_defuse(s, strlen(s), false), 3);
	assert_int_equal(kjson_defuse(s, strlen(s), true), 3);
	assert_string_equal(s, "\"a\\ufffdb\\\\u0000\\ufffdx\\ud83d\\ude00\\ufffd\"");
	assert_int_equal(kjson_defuse(s, strlen(s), false), 0);
}

/* Only the plugin's keys, whatever else comes, in whatever order; a value
 * with a NUL is not cut short; invalid UTF-8 as U+FFFD; a long value cut
 * just past ANNOT_VALUE_MAX. */
static void test_values(void **state)
{
	size_t big = 40000, n = 0;
	char *line = malloc(big + 8192);
	struct kwatch_event ev;
	const cJSON *v;

	(void)state;
	n += (size_t)sprintf(line, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\","
			     "\"annotations\":{");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(line + n, "\"flowsteer.io/a%d\":\"x\",", i);
	n += (size_t)sprintf(line + n, "\"flowsteer.io/mode\":\"rps\\u0000off\",\"flowsteer.io/scope\":\"h\xff\",");
	n += (size_t)sprintf(line + n, "\"flowsteer.io/cpus\":\"");
	memset(line + n, '1', big);
	n += big;
	sprintf(line + n, "\"}}}}");
	assert_int_equal(parse(line, true, &ev), 0);
	assert_int_equal(cJSON_GetArraySize(ev.obj.ann), 3);
	assert_string_equal(cJSON_GetObjectItem(ev.obj.ann, "flowsteer.io/mode")->valuestring, "rps\xef\xbf\xbdoff");
	assert_string_equal(cJSON_GetObjectItem(ev.obj.ann, "flowsteer.io/scope")->valuestring, "h\xef\xbf\xbd");
	v = cJSON_GetObjectItem(ev.obj.ann, "flowsteer.io/cpus");
	assert_int_equal(strlen(v->valuestring), ANNOT_VALUE_MAX + 1);
	assert_true(ev.obj.bounds & (1u << BOUND_VALUE));
	assert_true(ev.obj.bounds & (1u << BOUND_UNICODE));
	kwatch_event_free(&ev);
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_pod),
		cmocka_unit_test(test_event_types),
		cmocka_unit_test(test_event_error_gone),
		cmocka_unit_test(test_event_malformed),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_defuse),
		cmocka_unit_test(test_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

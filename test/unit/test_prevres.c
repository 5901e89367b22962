/* prevres: which interfaces Calico reported (both result shapes), name
 * validation, and the version conversion of the result we pass on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "prevres.h"
#include "util.h"

#define V331_FILE "calico-v3.31-prevresult-1.0.0.json"
#define V330_FILE "calico-v3.30-prevresult-0.3.1.json"
#define SANDBOX "/var/run/netns/cni-5f0e7a3c-1d2b-4c8e-9a6f-3e2d1c0b9a87"

/* The committed fixtures (test/fixtures; make unit runs from the repository
 * root), or $FIXTURES. */
static cJSON *fixture(const char *file)
{
	const char *dir = getenv("FIXTURES") && getenv("FIXTURES")[0] ? getenv("FIXTURES") : "test/fixtures";
	char path[4096], *buf = NULL;
	size_t len = 0;
	cJSON *j;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (file_read_all(path, 1 << 20, &buf, &len))
		fail_msg("fixture %s cannot be read", path);
	j = cJSON_Parse(buf);
	free(buf);
	assert_non_null(j);
	return j;
}

static cJSON *json(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	if (!j)
		fail_msg("test JSON does not parse: %s", s);
	return j;
}

/* prevres_host, with the output buffer dirty first: it must clear it. */
static int find(const cJSON *prev, char *host, struct fs_err *e)
{
	memset(e, 0, sizeof(*e));
	memset(host, 'x', 16);
	return prevres_host(prev, host, e);
}

static void test_v331_both(void **state)
{
	cJSON *prev = fixture(V331_FILE);
	char host[16];
	struct fs_err e;

	assert_int_equal(find(prev, host, &e), 0);
	assert_string_equal(host, "cali18275fba05a");
	cJSON_Delete(prev);
}

static void test_v330_host_only(void **state)
{
	cJSON *prev = fixture(V330_FILE);
	char host[16];
	struct fs_err e;

	assert_int_equal(find(prev, host, &e), 0);
	assert_string_equal(host, "cali18275fba05a");
	cJSON_Delete(prev);
}

static void host_is(const char *prevjson, const char *want)
{
	cJSON *prev = json(prevjson);
	char host[16];
	struct fs_err e;

	assert_int_equal(find(prev, host, &e), 0);
	assert_string_equal(host, want);
	cJSON_Delete(prev);
}

static void test_shapes(void **state)
{
	/* Container entry only: the host side is left to the kernel. */
	host_is("{\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/p\"}]}", "");
	/* The first unsandboxed entry is the host side; an empty or null
	 * sandbox counts as none. */
	host_is("{\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/p\"},"
		"{\"name\":\"calia\",\"mac\":\"ee:ee:ee:ee:ee:ee\",\"sandbox\":\"\"},"
		"{\"name\":\"calib\",\"sandbox\":null}]}", "calia");
	/* A bridge-plugin result: the bridge comes first (only a hint). */
	host_is("{\"interfaces\":[{\"name\":\"cni0\"},{\"name\":\"veth1\"},"
		"{\"name\":\"eth0\",\"sandbox\":\"/run/netns/p\"}]}", "cni0");
	/* No interfaces at all (or null, or empty): none, not an error. */
	host_is("{\"cniVersion\":\"1.0.0\",\"ips\":[]}", "");
	host_is("{\"interfaces\":null}", "");
	host_is("{\"interfaces\":[]}", "");
}

static void expect_find_err(const char *prevjson, const char *needle)
{
	cJSON *prev = json(prevjson);
	char host[16];
	struct fs_err e;

	assert_int_equal(find(prev, host, &e), -1);
	assert_int_equal(e.code, 7);
	if (!strstr(e.msg, needle))
		fail_msg("message does not name \"%s\": %s", needle, e.msg);
	cJSON_Delete(prev);
}

static void test_bad_names(void **state)
{
	expect_find_err("{\"interfaces\":[{\"name\":\"../../etc\"}]}", "../../etc");
	expect_find_err("{\"interfaces\":[{\"name\":\"cali0123456789abc\"}]}", "cali0123456789abc");
	expect_find_err("{\"interfaces\":[{\"name\":\"abcdefghijklmnop\"}]}", "abcdefghijklmnop");
	expect_find_err("{\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/p\"},"
			"{\"name\":\"..\"}]}", "interfaces[1]");
	expect_find_err("{\"interfaces\":[{\"name\":\".\",\"sandbox\":\"/run/netns/p\"}]}", "\".\"");
	expect_find_err("{\"interfaces\":[{\"name\":\"\"}]}", "interfaces[0]");
	expect_find_err("{\"interfaces\":[{\"name\":\"a b\"}]}", "a b");
	/* Wrong shapes are named too. */
	expect_find_err("{\"interfaces\":[{\"mac\":\"x\"}]}", "interfaces[0]");
	expect_find_err("{\"interfaces\":[{\"name\":7}]}", "interfaces[0]");
	expect_find_err("{\"interfaces\":[\"eth0\"]}", "interfaces[0]");
	expect_find_err("{\"interfaces\":{\"name\":\"eth0\"}}", "interfaces");
	expect_find_err("{\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":1}]}", "sandbox");
}

/* Everything but cniVersion and ips[].version must pass through. */
static void test_convert_030_to_100(void **state)
{
	cJSON *prev = fixture(V330_FILE), *out, *want, *ip;
	struct fs_err e = { 0 };

	out = prevres_convert(prev, "1.0.0", &e);
	assert_non_null(out);
	/* cniVersion is the first key, as plugins print it. */
	assert_non_null(out->child);
	assert_string_equal(out->child->string, "cniVersion");
	assert_string_equal(out->child->valuestring, "1.0.0");
	cJSON_ArrayForEach(ip, cJSON_GetObjectItemCaseSensitive(out, "ips"))
		assert_null(cJSON_GetObjectItemCaseSensitive(ip, "version"));

	want = cJSON_Duplicate(prev, 1);
	cJSON_ReplaceItemInObjectCaseSensitive(want, "cniVersion", cJSON_CreateString("1.0.0"));
	cJSON_ArrayForEach(ip, cJSON_GetObjectItemCaseSensitive(want, "ips"))
		cJSON_DeleteItemFromObjectCaseSensitive(ip, "version");
	assert_true(cJSON_Compare(out, want, 1));
	/* The input is not modified. */
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(prev, "cniVersion")->valuestring, "0.3.1");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(prev, "ips"), 0), "version"));
	cJSON_Delete(want);
	cJSON_Delete(out);

	out = prevres_convert(prev, "1.1.0", &e);
	assert_non_null(out);
	assert_null(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "ips"), 0), "version"));
	cJSON_Delete(out);
	cJSON_Delete(prev);
}

static void test_convert_100_to_031(void **state)
{
	cJSON *prev = fixture(V331_FILE), *out, *want, *ip;
	struct fs_err e = { 0 };

	out = prevres_convert(prev, "0.3.1", &e);
	assert_non_null(out);
	assert_string_equal(out->child->string, "cniVersion");
	assert_string_equal(out->child->valuestring, "0.3.1");

	want = cJSON_Duplicate(prev, 1);
	cJSON_ReplaceItemInObjectCaseSensitive(want, "cniVersion", cJSON_CreateString("0.3.1"));
	ip = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(want, "ips"), 0);
	cJSON_AddStringToObject(ip, "version", "4");
	assert_true(cJSON_Compare(out, want, 1));
	/* ips[].interface passes through (it is a 0.3+ field). */
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "ips"), 0), "interface")->valueint, 1);
	cJSON_Delete(want);
	cJSON_Delete(out);
	cJSON_Delete(prev);
}

static void test_convert_versions(void **state)
{
	cJSON *prev = json("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"cali1\"}],"
			   "\"ips\":[{\"address\":\"10.0.0.1/32\"},{\"address\":\"fd00::1/128\",\"gateway\":\"fe80::1\"}],"
			   "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{\"nameservers\":[\"10.96.0.10\"]},"
			   "\"x-extra\":{\"kept\":true}}");
	cJSON *out, *back;
	struct fs_err e = { 0 };

	/* 0.4.0 and 0.3.0 need ips[].version, by address family. */
	out = prevres_convert(prev, "0.4.0", &e);
	assert_non_null(out);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "ips"), 0), "version")->valuestring, "4");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "ips"), 1), "version")->valuestring, "6");
	/* ...and back: the original exactly. */
	back = prevres_convert(out, "1.0.0", &e);
	assert_non_null(back);
	assert_true(cJSON_Compare(back, prev, 1));
	cJSON_Delete(back);
	cJSON_Delete(out);

	/* Same version: an identical copy. */
	out = prevres_convert(prev, "1.0.0", &e);
	assert_true(cJSON_Compare(out, prev, 1));
	cJSON_Delete(out);

	/* A version already present in a 0.x result is left alone. */
	cJSON_Delete(prev);
	prev = json("{\"cniVersion\":\"0.3.0\",\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.1/32\"}]}");
	out = prevres_convert(prev, "0.4.0", &e);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(out, "cniVersion")->valuestring, "0.4.0");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "ips"), 0)), 2);
	cJSON_Delete(out);

	/* No cniVersion and no ips: cniVersion is added. */
	cJSON_Delete(prev);
	prev = json("{\"interfaces\":[]}");
	out = prevres_convert(prev, "0.3.1", &e);
	assert_string_equal(out->child->string, "cniVersion");
	assert_string_equal(out->child->valuestring, "0.3.1");
	assert_int_equal(cJSON_GetArraySize(out), 2);
	cJSON_Delete(out);
	cJSON_Delete(prev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v331_both),
		cmocka_unit_test(test_v330_host_only),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_convert_030_to_100),
		cmocka_unit_test(test_convert_100_to_031),
		cmocka_unit_test(test_convert_versions),
	};

	return cmocka_run_group_tests_name("prevres", tests, NULL, NULL);
}

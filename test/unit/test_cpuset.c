/* cpu_manager_state shapes (none, static with and without entries, v1 and
 * v2 entries, a checksum) and the rules that make the allowed set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cpuset.h"

static void list_is(const struct cpumask *m, const char *want)
{
	char buf[256];

	cpumask_format_list(m, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void parse_ok(const char *json, struct cpumgr_state *k)
{
	char err[256] = "";

	if (cpumgr_parse(json, strlen(json), k, err, sizeof(err)))
		fail_msg("%s: refused: %s", json, err);
}

static void parse_bad(const char *json, const char *needle)
{
	struct cpumgr_state k;
	char err[256] = "";

	if (!cpumgr_parse(json, strlen(json), &k, err, sizeof(err)))
		fail_msg("%s: accepted", json);
	if (!strstr(err, needle))
		fail_msg("%s: \"%s\" does not name %s", json, err, needle);
}

static void test_policy_none(void **state)
{
	struct cpumgr_state k;

	(void)state;
	parse_ok("{\"policyName\":\"none\",\"defaultCpuSet\":\"\",\"checksum\":1353318690}", &k);
	assert_int_equal(k.policy, CPUMGR_NONE);
	assert_true(cpumask_empty(&k.shared));
	assert_int_equal(k.entries, 0);
}

static void test_static_without_entries(void **state)
{
	struct cpumgr_state k;

	(void)state;
	parse_ok("{\"policyName\":\"static\",\"defaultCpuSet\":\"0-7\",\"checksum\":14413152}", &k);
	assert_int_equal(k.policy, CPUMGR_STATIC);
	list_is(&k.shared, "0-7");
	assert_true(cpumask_empty(&k.exclusive));
}

static void test_static_entries_v2_and_v1(void **state)
{
	struct cpumgr_state k;

	(void)state;
	parse_ok("{\"policyName\":\"static\",\"defaultCpuSet\":\"0-1,6-7\","
		 "\"entries\":{\"5c7b5f86-5b1d-4d1c-9b8e-7d8e1f0a2b3c\":{\"app\":\"2-3\",\"side\":\"4\"},"
		 "\"0b1c2d3e-0000-4000-8000-000000000000\":{\"db\":\"5\"}},\"checksum\":3019275391}", &k);
	list_is(&k.shared, "0-1,6-7");
	list_is(&k.exclusive, "2-5");
	assert_int_equal(k.entries, 2);
	/* v1 (kubelet < 1.19): containerID -> cpuset. */
	parse_ok("{\"policyName\":\"static\",\"defaultCpuSet\":\"0,3\",\"entries\":{\"abc\":\"1-2\"}}", &k);
	list_is(&k.exclusive, "1-2");
}

static void test_bad_shapes(void **state)
{
	(void)state;
	parse_bad("[]", "not a JSON object");
	parse_bad("{\"defaultCpuSet\":\"0\"}", "policyName");
	parse_bad("{\"policyName\":\"greedy\",\"defaultCpuSet\":\"0\"}", "\"greedy\"");
	parse_bad("{\"policyName\":\"static\"}", "defaultCpuSet");
	parse_bad("{\"policyName\":\"static\",\"defaultCpuSet\":\"0-x\"}", "defaultCpuSet");
	parse_bad("{\"policyName\":\"static\",\"defaultCpuSet\":\"0\",\"entries\":{\"p\":{\"c\":7}}}",
		  "entries[\"p\"][\"c\"]");
	parse_bad("{\"policyName\":\"static\",\"defaultCpuSet\":\"0\",\"entries\":[]}", "entries");
	parse_bad("{\"policyName\":\"static\",\"defaultCpuSet\":\"0\",\"checksum\":\"x\"}", "checksum");
	parse_bad("{\"policyName\":\"static\",\"defaultCpuSet\":\"0\\u0000-7\"}", "escaped NUL");
}

static void in_init(struct cpuset_in *in, const char *online)
{
	memset(in, 0, sizeof(*in));
	cpumask_parse_list(online, &in->online, NULL);
	in->respect_exclusive = true;
}

static void test_allowed(void **state)
{
	struct cpus_excluded why;
	struct cpuset_in in;
	struct cpumask a;

	(void)state;
	in_init(&in, "0-7");
	cpuset_allowed(&in, &a, &why);
	list_is(&a, "0-7");
	/* isolated and nohz_full go, each reported. */
	cpumask_parse_list("6-7", &in.isolated, NULL);
	cpumask_parse_list("5,7", &in.nohz_full, NULL);
	cpuset_allowed(&in, &a, &why);
	list_is(&a, "0-4");
	list_is(&why.isolated, "6-7");
	list_is(&why.nohz_full, "5,7");
	/* static policy: only the shared pool. */
	parse_ok("{\"policyName\":\"static\",\"defaultCpuSet\":\"0-1,6\",\"entries\":{\"p\":{\"c\":\"2-5\"}}}",
		 &in.kubelet);
	cpuset_allowed(&in, &a, &why);
	list_is(&a, "0-1");
	list_is(&why.kubelet, "2-5,7");
	/* respectExclusiveCpus false: the kubelet's part is off. */
	in.respect_exclusive = false;
	cpuset_allowed(&in, &a, &why);
	list_is(&a, "0-4");
	assert_true(cpumask_empty(&why.kubelet));
}

static void test_allowed_edges(void **state)
{
	struct cpus_excluded why;
	struct cpuset_in in;
	struct cpumask a;

	(void)state;
	in_init(&in, "0-3");
	/* policy none: every online CPU is shared. */
	parse_ok("{\"policyName\":\"none\",\"defaultCpuSet\":\"\"}", &in.kubelet);
	cpuset_allowed(&in, &a, &why);
	list_is(&a, "0-3");
	/* static with an empty pool (the kubelet fills it on start): the
	 * entries are what is known to be promised. */
	parse_ok("{\"policyName\":\"static\",\"defaultCpuSet\":\"\",\"entries\":{\"p\":{\"c\":\"3\"}}}",
		 &in.kubelet);
	cpuset_allowed(&in, &a, &why);
	list_is(&a, "0-2");
	list_is(&why.kubelet, "3");
	/* Everything isolated: nothing is left. */
	cpumask_parse_list("0-3", &in.isolated, NULL);
	cpuset_allowed(&in, &a, &why);
	assert_true(cpumask_empty(&a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_none),
		cmocka_unit_test(test_static_without_entries),
		cmocka_unit_test(test_static_entries_v2_and_v1),
		cmocka_unit_test(test_bad_shapes),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_allowed_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

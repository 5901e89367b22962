/* A pod's status line from its records (one interface, several, a stale
 * sandbox's record), and the re-mask configuration built from --entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpuwatch.h"
#include "podstatus.h"

static char *line_of(struct podstatus_item *it, size_t n)
{
	qsort(it, n, sizeof(*it), podstatus_item_cmp);
	return podstatus_compose(it, n);
}

static void test_one_interface_is_its_line(void **state)
{
	struct podstatus_item it[] = { { "u", "ns", "p", "eth0", "mode=rfs scope=both cpus=0-3 (2 applied, 0 failed)", 5 } };
	char *l = line_of(it, 1);

	(void)state;
	assert_string_equal(l, "mode=rfs scope=both cpus=0-3 (2 applied, 0 failed)");
	free(l);
}

static void test_newest_record_of_an_interface_wins(void **state)
{
	/* An old sandbox's record lingers until its DEL. */
	struct podstatus_item it[] = {
		{ "u", "ns", "p", "eth0", "new", 20 },
		{ "u", "ns", "p", "eth0", "old", 10 },
	};
	char *l = line_of(it, 2);

	(void)state;
	assert_string_equal(l, "new");
	free(l);
}

static void test_several_interfaces_by_name(void **state)
{
	struct podstatus_item it[] = {
		{ "u", "ns", "p", "net1", "B", 1 },
		{ "u", "ns", "p", "eth0", "A-old", 1 },
		{ "u", "ns", "p", "eth0", "A", 2 },
	};
	char *l = line_of(it, 3);

	(void)state;
	assert_string_equal(l, "eth0: A; net1: B");
	free(l);
}

static void test_items_sort_by_uid_first(void **state)
{
	struct podstatus_item it[] = {
		{ "u2", "ns", "b", "eth0", "x", 1 },
		{ "u1", "ns", "a", "eth0", "y", 9 },
	};

	(void)state;
	qsort(it, 2, sizeof(*it), podstatus_item_cmp);
	assert_string_equal(it[0].uid, "u1");
}

static void test_remask_config_takes_the_mask_keys_only(void **state)
{
	struct fs_err e = { 0 };
	char *j = cpuwatch_config_json("{\"type\":\"flowsteer\",\"cpus\":\"0-3\",\"excludeCpus\":\"1\","
				       "\"respectExclusiveCpus\":false,\"stateDir\":\"/host/elsewhere\",\"mode\":\"rps\"}",
				       "/run/flowsteer", "/var/lib/kubelet/cpu_manager_state", &e);

	(void)state;
	assert_non_null(j);
	assert_string_equal(j, "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"cpus\":\"0-3\","
			       "\"excludeCpus\":\"1\",\"respectExclusiveCpus\":false,\"stateDir\":\"/run/flowsteer\","
			       "\"cpuManagerStateFile\":\"/var/lib/kubelet/cpu_manager_state\"}");
	free(j);
	j = cpuwatch_config_json(NULL, "/s", "/k", &e);
	assert_string_equal(j, "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"stateDir\":\"/s\","
			       "\"cpuManagerStateFile\":\"/k\"}");
	free(j);
	assert_null(cpuwatch_config_json("{\"type\":\"other\"}", "/s", "/k", &e));
	assert_int_equal(e.code, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_interface_is_its_line),
		cmocka_unit_test(test_newest_record_of_an_interface_wins),
		cmocka_unit_test(test_several_interfaces_by_name),
		cmocka_unit_test(test_items_sort_by_uid_first),
		cmocka_unit_test(test_remask_config_takes_the_mask_keys_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

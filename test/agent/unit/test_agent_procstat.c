/* softnet_stat and softirqs parsing on fixture text: hex columns, the CPU
 * from column 13 (an offline CPU leaves a gap in the rows), the row number
 * on kernels that do not print it, malformed input refused; and the
 * collectors' exposition over a fixture proc root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"
#include "procstat.h"
#include "util.h"

#ifndef FIXTURES
#define FIXTURES "test/agent/fixtures"
#endif

static char *fixture(const char *name)
{
	char path[512], *buf = NULL;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	assert_int_equal(file_read_all(path, 1 << 20, &buf, NULL), 0);
	return buf;
}

static void test_softnet_cpu_column(void **state)
{
	struct softnet_row rows[8];
	char *t = fixture("softnet_stat.offline-cpu1");

	(void)state;
	assert_int_equal(softnet_parse(t, rows, 8), 3);
	assert_int_equal(rows[0].cpu, 0);
	assert_int_equal(rows[0].processed, 0x4c67e);
	assert_int_equal(rows[0].dropped, 2);
	assert_int_equal(rows[0].time_squeeze, 10);
	assert_int_equal(rows[0].cpu_collision, 5);
	assert_int_equal(rows[0].received_rps, 0x1113e);
	assert_int_equal(rows[0].flow_limit_count, 3);
	assert_int_equal(rows[0].backlog_len, 1);
	/* Row 2 is CPU 2: CPU 1 is offline. */
	assert_int_equal(rows[1].cpu, 2);
	assert_int_equal(rows[1].processed, 0xffffffffu);
	assert_int_equal(rows[1].received_rps, 16);
	assert_int_equal(rows[2].cpu, 3);
	assert_int_equal(rows[2].width, 13);
	free(t);
}

static void test_softnet_old_kernel(void **state)
{
	struct softnet_row rows[8];
	char *t = fixture("softnet_stat.4.17");

	(void)state;
	assert_int_equal(softnet_parse(t, rows, 8), 2);
	assert_int_equal(rows[1].cpu, 1);
	assert_int_equal(rows[1].processed, 0x11);
	assert_int_equal(rows[1].received_rps, 0x21);
	free(t);
}

static void test_softnet_malformed(void **state)
{
	struct softnet_row rows[8];

	(void)state;
	assert_int_equal(softnet_parse("00000001 00000002\n", rows, 8), -1);
	assert_int_equal(softnet_parse("0000000g 0 0 0 0 0 0 0 0\n", rows, 8), -1);
	assert_int_equal(softnet_parse("100000000 0 0 0 0 0 0 0 0\n", rows, 8), -1);
	assert_int_equal(softnet_parse("", rows, 8), 0);
	/* Never more rows than room. */
	assert_int_equal(softnet_parse("1 0 0 0 0 0 0 0 0\n2 0 0 0 0 0 0 0 0\n", rows, 1), 1);
}

static void test_softirqs(void **state)
{
	struct softirq_cpu c[8];
	char *t = fixture("softirqs");

	(void)state;
	assert_int_equal(softirqs_parse(t, "NET_RX", c, 8), 4);
	assert_int_equal(c[0].cpu, 0);
	assert_int_equal(c[0].count, 138625);
	assert_int_equal(c[3].cpu, 3);
	assert_true(c[3].count == 4294967300ull);
	assert_int_equal(softirqs_parse(t, "NET_TX", c, 8), 4);
	assert_int_equal(c[1].count, 221);
	assert_int_equal(softirqs_parse(t, "NET_R", c, 8), -1);
	assert_int_equal(softirqs_parse(t, "NET_RX", c, 2), -1);
	assert_int_equal(softirqs_parse("CPU0 CPU1\nNET_RX: 1\n", "NET_RX", c, 8), -1);
	assert_int_equal(softirqs_parse("garbage\nNET_RX: 1\n", "NET_RX", c, 8), -1);
	free(t);
}

static void test_collectors(void **state)
{
	struct metrics *m = metrics_new();
	char root[] = "/tmp/fs-procstat-XXXXXX", cmd[1024];
	size_t len;
	char *out;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/net && cp %s/softnet_stat.offline-cpu1 %s/net/softnet_stat && cp %s/softirqs %s/",
		 root, FIXTURES, root, FIXTURES, root);
	assert_int_equal(system(cmd), 0);
	metrics_register(m, procstat_collect_softnet, root);
	metrics_register(m, procstat_collect_softirqs, root);
	out = metrics_render(m, &len);
	assert_non_null(out);
	assert_non_null(strstr(out, "# TYPE flowsteer_softnet_processed_total counter\n"));
	assert_non_null(strstr(out, "flowsteer_softnet_processed_total{cpu=\"0\"} 312958\n"));
	assert_non_null(strstr(out, "flowsteer_softnet_processed_total{cpu=\"2\"} 4294967295\n"));
	assert_null(strstr(out, "{cpu=\"1\"} 4294967295"));
	assert_non_null(strstr(out, "flowsteer_softnet_times_squeezed_total{cpu=\"0\"} 10\n"));
	assert_non_null(strstr(out, "flowsteer_softnet_received_rps_total{cpu=\"0\"} 69950\n"));
	assert_non_null(strstr(out, "# TYPE flowsteer_softnet_backlog_len gauge\n"));
	assert_non_null(strstr(out, "flowsteer_softirqs_net_rx_total{cpu=\"3\"} 4294967300\n"));
	free(out);
	metrics_free(m);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_softnet_cpu_column),
		cmocka_unit_test(test_softnet_old_kernel),
		cmocka_unit_test(test_softnet_malformed),
		cmocka_unit_test(test_softirqs),
		cmocka_unit_test(test_collectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* flowsteer_cpu_allowed's exposition: one sample per online CPU (an
 * offline CPU has none), 1 where the mask holds it, CPUs past the first
 * 64-bit word included; nothing when no CPU is online. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpuallowed.h"
#include "metrics.h"

static struct cpumask online, mask;

static void render(struct metrics_out *o, void *arg)
{
	cpuallowed_render(o, &online, &mask, *(unsigned *)arg);
}

static char *exposition(unsigned nbits)
{
	struct metrics *m = metrics_new();
	size_t len;
	char *out;

	metrics_register(m, render, &nbits);
	out = metrics_render(m, &len);
	metrics_free(m);
	assert_non_null(out);
	return out;
}

static void test_online_and_mask(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(cpumask_parse_list("0,2-3,70", &online, NULL), 0);
	assert_int_equal(cpumask_parse_list("2,70", &mask, NULL), 0);
	out = exposition(72);
	assert_non_null(strstr(out, "# TYPE flowsteer_cpu_allowed gauge\n"));
	assert_non_null(strstr(out, "flowsteer_cpu_allowed{cpu=\"0\"} 0\n"
				    "flowsteer_cpu_allowed{cpu=\"2\"} 1\n"
				    "flowsteer_cpu_allowed{cpu=\"3\"} 0\n"
				    "flowsteer_cpu_allowed{cpu=\"70\"} 1\n"));
	assert_null(strstr(out, "{cpu=\"1\"}"));
	free(out);
	/* nbits (nr_cpu_ids) bounds what is read. */
	out = exposition(4);
	assert_null(strstr(out, "{cpu=\"70\"}"));
	free(out);
}

static void test_nothing_online(void **state)
{
	char *out;

	(void)state;
	cpumask_zero(&online);
	cpumask_zero(&mask);
	out = exposition(8);
	assert_null(strstr(out, "flowsteer_cpu_allowed{"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_online_and_mask),
		cmocka_unit_test(test_nothing_online),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* cpumask: cpulist parsing and formatting, the kernel's rps_cpus hex form
 * (comma-separated 32-bit groups, first group only as wide as nr_cpu_ids
 * needs), and the set algebra the CPU resolution relies on. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpumask.h"

static struct cpumask list(const char *s)
{
	struct cpumask m;
	struct fs_err e = { 0 };

	if (cpumask_parse_list(s, &m, &e))
		fail_msg("cpulist \"%s\" did not parse: %s", s, e.msg);
	return m;
}

/* Bits 0..n-1 set. */
static struct cpumask first_n(unsigned n)
{
	struct cpumask m;

	cpumask_zero(&m);
	for (unsigned i = 0; i < n; i++)
		cpumask_set(&m, i);
	return m;
}

/* m holds exactly the CPUs of the cpulist want. */
static void expect_cpus(const struct cpumask *m, const char *want)
{
	char buf[256];

	assert_int_equal(cpumask_format_list(m, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_parse_list_valid(void **state)
{
	struct cpumask m;

	m = list("0-3,8");
	expect_cpus(&m, "0-3,8");
	for (unsigned c = 0; c <= 3; c++)
		assert_true(cpumask_test(&m, c));
	assert_false(cpumask_test(&m, 4));
	assert_false(cpumask_test(&m, 7));
	assert_true(cpumask_test(&m, 8));
	assert_false(cpumask_test(&m, 9));
	assert_int_equal(cpumask_last(&m), 8);

	m = list("0");
	expect_cpus(&m, "0");
	assert_true(cpumask_test(&m, 0));

	/* The empty list is the empty set (excludeCpus default). */
	m = list("");
	assert_true(cpumask_empty(&m));
	assert_int_equal(cpumask_last(&m), -1);

	/* Overlapping and unordered parts, single-CPU ranges, the top CPU. */
	m = list("5,1-2,2-3,7-7");
	expect_cpus(&m, "1-3,5,7");
	assert_true(cpumask_test(&m, 7));
	m = list("8191");
	assert_int_equal(cpumask_last(&m), 8191);
	m = list("0-8191");
	expect_cpus(&m, "0-8191");
}

static void expect_bad_list(const char *s, const char *must_quote)
{
	struct cpumask m;
	struct fs_err e = { 0 };

	if (cpumask_parse_list(s, &m, &e) == 0)
		fail_msg("cpulist \"%s\" was accepted", s);
	assert_int_equal(e.code, CNI_ERR_DECODE);
	if (!strstr(e.msg, must_quote))
		fail_msg("error for \"%s\" does not quote \"%s\": %s", s, must_quote, e.msg);
}

static void test_parse_list_invalid(void **state)
{
	expect_bad_list("3-1", "3-1");
	expect_bad_list("a", "a");
	expect_bad_list("0-99999", "0-99999");
	expect_bad_list("8192", "8192");
	expect_bad_list("1,,2", "1,,2");
	expect_bad_list("-1", "-1");
	expect_bad_list(" 1", " 1");
	expect_bad_list("1 ", "1 ");
	expect_bad_list("1,", "1,");
	expect_bad_list(",1", ",1");
	expect_bad_list("1-", "1-");
	expect_bad_list("0x3", "0x3");
	expect_bad_list("1;2", "1;2");
	expect_bad_list("18446744073709551617", "18446744073709551617");
}

static void expect_list_fmt(const char *in, const char *want)
{
	struct cpumask m = list(in);

	expect_cpus(&m, want);
}

static void test_format_list(void **state)
{
	struct cpumask m;
	char small[4];

	expect_list_fmt("", "");
	expect_list_fmt("0", "0");
	expect_list_fmt("0-3,8", "0-3,8");
	expect_list_fmt("8,3,2,1,0", "0-3,8");
	expect_list_fmt("0,2,4", "0,2,4");
	expect_list_fmt("0-1,2-3", "0-3");
	expect_list_fmt("63-64", "63-64");
	expect_list_fmt("8190-8191", "8190-8191");
	/* Too small a buffer is an error, never a truncated list. */
	m = list("0-3,8");
	assert_int_equal(cpumask_format_list(&m, small, sizeof(small)), -ENOSPC);
}

struct hex_case {
	unsigned nbits;
	const char *all;    /* CPUs 0..nbits-1 set, as the kernel prints */
	const char *cpu0;   /* only CPU 0 set */
};

static const struct hex_case hex_cases[] = {
	{ 2, "3", "1" },
	{ 4, "f", "1" },
	{ 16, "ffff", "0001" },
	{ 32, "ffffffff", "00000001" },
	{ 33, "1,ffffffff", "0,00000001" },
	{ 40, "ff,ffffffff", "00,00000001" },
	{ 64, "ffffffff,ffffffff", "00000000,00000001" },
	{ 65, "1,ffffffff,ffffffff", "0,00000000,00000001" },
	{ 128, "ffffffff,ffffffff,ffffffff,ffffffff",
	  "00000000,00000000,00000000,00000001" },
};

static void test_format_hex(void **state)
{
	char buf[CPUMASK_HEX_MAX];

	for (size_t i = 0; i < sizeof(hex_cases) / sizeof(hex_cases[0]); i++) {
		const struct hex_case *c = &hex_cases[i];
		struct cpumask m = first_n(c->nbits), one;

		assert_int_equal(cpumask_format_hex(&m, c->nbits, buf, sizeof(buf)), 0);
		if (strcmp(buf, c->all))
			fail_msg("nbits %u all set: got \"%s\", want \"%s\"", c->nbits, buf, c->all);
		cpumask_zero(&one);
		cpumask_set(&one, 0);
		assert_int_equal(cpumask_format_hex(&one, c->nbits, buf, sizeof(buf)), 0);
		if (strcmp(buf, c->cpu0))
			fail_msg("nbits %u cpu 0: got \"%s\", want \"%s\"", c->nbits, buf, c->cpu0);
	}
}

static void test_format_hex_patterns(void **state)
{
	char buf[CPUMASK_HEX_MAX];
	struct cpumask m;

	/* The study's RPS-7: 8 CPUs, CPU 0 left out. */
	m = list("1-7");
	assert_int_equal(cpumask_format_hex(&m, 8, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "fe");
	/* Bits across the 32-bit group boundary and the 64-bit word boundary. */
	m = list("31-32,63-64");
	assert_int_equal(cpumask_format_hex(&m, 72, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "01,80000001,80000000");
	/* The empty mask keeps the full width. */
	cpumask_zero(&m);
	assert_int_equal(cpumask_format_hex(&m, 40, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "00,00000000");
	assert_int_equal(cpumask_format_hex(&m, 2, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0");
}

static void test_format_hex_8192(void **state)
{
	static char buf[CPUMASK_HEX_MAX], want[CPUMASK_HEX_MAX];
	struct cpumask m = first_n(8192);
	size_t off = 0;

	for (int g = 0; g < 256; g++)
		off += (size_t)snprintf(want + off, sizeof(want) - off, "%sffffffff", g ? "," : "");
	assert_int_equal(cpumask_format_hex(&m, 8192, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 256 * 8 + 255);
	assert_string_equal(buf, want);

	/* Only the top CPU: 255 zero groups after an "80000000". */
	cpumask_zero(&m);
	cpumask_set(&m, 8191);
	assert_int_equal(cpumask_format_hex(&m, 8192, buf, sizeof(buf)), 0);
	assert_int_equal(strncmp(buf, "80000000,00000000,", 18), 0);
	assert_string_equal(buf + strlen(buf) - 9, ",00000000");
}

static void test_format_hex_bad_args(void **state)
{
	char buf[CPUMASK_HEX_MAX], small[8];
	struct cpumask m = first_n(64);

	assert_int_equal(cpumask_format_hex(&m, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(cpumask_format_hex(&m, 8193, buf, sizeof(buf)), -EINVAL);
	/* "ffffffff,ffffffff" needs 18 bytes. */
	assert_int_equal(cpumask_format_hex(&m, 64, small, sizeof(small)), -ENOSPC);
}

static void test_parse_hex(void **state)
{
	struct cpumask m, want;

	assert_int_equal(cpumask_parse_hex("3", &m), 0);
	want = list("0-1");
	assert_true(cpumask_equal(&m, &want));

	/* What sysfs prints, trailing newline included, either case. */
	assert_int_equal(cpumask_parse_hex("00000000,00000001\n", &m), 0);
	want = list("0");
	assert_true(cpumask_equal(&m, &want));
	assert_int_equal(cpumask_parse_hex("FF,FFFFFFFF", &m), 0);
	want = list("0-39");
	assert_true(cpumask_equal(&m, &want));
	assert_int_equal(cpumask_parse_hex("0", &m), 0);
	assert_true(cpumask_empty(&m));

	assert_int_equal(cpumask_parse_hex("", &m), -EINVAL);
	assert_int_equal(cpumask_parse_hex("\n", &m), -EINVAL);
	assert_int_equal(cpumask_parse_hex("xyz", &m), -EINVAL);
	assert_int_equal(cpumask_parse_hex("0x3", &m), -EINVAL);
	assert_int_equal(cpumask_parse_hex("-1", &m), -EINVAL);
}

static void test_hex_round_trip(void **state)
{
	static const char *const lists[] = {
		"0", "1", "0-1", "1-7", "0-3,8", "31-32", "0,63,64,127",
		"5,40-47,100", "0-8191", "8191", "4095-4100",
	};
	static const unsigned widths[] = { 8, 40, 64, 65, 128, 8192 };
	static char buf[CPUMASK_HEX_MAX];

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct cpumask m = list(lists[i]), back;

		for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
			if ((unsigned)cpumask_last(&m) >= widths[w])
				continue;
			assert_int_equal(cpumask_format_hex(&m, widths[w], buf, sizeof(buf)), 0);
			assert_int_equal(cpumask_parse_hex(buf, &back), 0);
			if (!cpumask_equal(&m, &back))
				fail_msg("\"%s\" at %u bits: %s did not parse back", lists[i],
					 widths[w], buf);
		}
	}
}

static void test_set_algebra(void **state)
{
	struct cpumask a = list("0-7"), b = list("4-11"), d, want;

	cpumask_and(&d, &a, &b);
	want = list("4-7");
	assert_true(cpumask_equal(&d, &want));

	cpumask_andnot(&d, &a, &b);
	want = list("0-3");
	assert_true(cpumask_equal(&d, &want));

	/* dst may alias a source, as tune_cpus_resolve does. */
	d = a;
	cpumask_andnot(&d, &d, &b);
	assert_true(cpumask_equal(&d, &want));
	d = a;
	cpumask_and(&d, &d, &b);
	want = list("4-7");
	assert_true(cpumask_equal(&d, &want));

	/* Across 64-bit words. */
	a = list("60-70,8000");
	b = list("64-8191");
	cpumask_and(&d, &a, &b);
	want = list("64-70,8000");
	assert_true(cpumask_equal(&d, &want));
	cpumask_andnot(&d, &a, &b);
	want = list("60-63");
	assert_true(cpumask_equal(&d, &want));

	/* Everything excluded leaves the empty set. */
	a = list("0-1");
	cpumask_andnot(&d, &a, &a);
	assert_true(cpumask_empty(&d));
}

static void test_last(void **state)
{
	struct cpumask m = list("");

	assert_int_equal(cpumask_last(&m), -1);
	m = list("0");
	assert_int_equal(cpumask_last(&m), 0);
	m = list("0-3,8");
	assert_int_equal(cpumask_last(&m), 8);
	m = list("63");
	assert_int_equal(cpumask_last(&m), 63);
	m = list("64");
	assert_int_equal(cpumask_last(&m), 64);
	m = list("1,200,4000-4001");
	expect_cpus(&m, "1,200,4000-4001");
	assert_int_equal(cpumask_last(&m), 4001);
	m = list("0-8191");
	assert_int_equal(cpumask_last(&m), 8191);

	/* Out-of-range CPUs are ignored, never written past the array. */
	cpumask_zero(&m);
	cpumask_set(&m, 8192);
	cpumask_set(&m, 100000);
	assert_true(cpumask_empty(&m));
	assert_false(cpumask_test(&m, 8192));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_list_valid),
		cmocka_unit_test(test_parse_list_invalid),
		cmocka_unit_test(test_format_list),
		cmocka_unit_test(test_format_hex),
		cmocka_unit_test(test_format_hex_patterns),
		cmocka_unit_test(test_format_hex_8192),
		cmocka_unit_test(test_format_hex_bad_args),
		cmocka_unit_test(test_parse_hex),
		cmocka_unit_test(test_hex_round_trip),
		cmocka_unit_test(test_set_algebra),
		cmocka_unit_test(test_last),
	};

	return cmocka_run_group_tests_name("cpumask", tests, NULL, NULL);
}

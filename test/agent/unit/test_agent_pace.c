/* Debounce, throttle and backoff with a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pace.h"

static void test_debounce_quiet_and_max(void **state)
{
	struct debounce d;

	(void)state;
	debounce_init(&d, 150, 600);
	assert_int_equal(debounce_wait(&d, 0), -1);
	assert_false(debounce_fire(&d, 1000));
	debounce_kick(&d, 1000);
	assert_int_equal(debounce_wait(&d, 1000), 150);
	assert_false(debounce_fire(&d, 1149));
	/* A burst keeps pushing it out... */
	for (long long t = 1100; t <= 1500; t += 100)
		debounce_kick(&d, t);
	assert_int_equal(debounce_wait(&d, 1500), 100);
	/* ...but never past first + max. */
	debounce_kick(&d, 1590);
	assert_int_equal(debounce_wait(&d, 1590), 10);
	assert_true(debounce_fire(&d, 1600));
	assert_false(debounce_fire(&d, 1601));
	assert_int_equal(debounce_wait(&d, 1601), -1);
	debounce_retry(&d, 2000, 1000);
	assert_false(debounce_fire(&d, 2999));
	assert_true(debounce_fire(&d, 3000));
}

static void test_throttle(void **state)
{
	struct throttle t;

	(void)state;
	throttle_init(&t, 3, 10000);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(throttle_wait(&t, 100 * i), 0);
		throttle_record(&t, 100 * i);
	}
	/* The 4th write waits until the oldest of the burst is 10 s old. */
	assert_int_equal(throttle_wait(&t, 300), 9700);
	assert_int_equal(throttle_wait(&t, 10000), 0);
	throttle_record(&t, 10000);
	assert_int_equal(throttle_wait(&t, 10000), 100);
}

static void test_backoff(void **state)
{
	struct backoff b;

	(void)state;
	backoff_init(&b, 800, 30000, 120000);
	assert_int_equal(backoff_next(&b, 0, 0.0), 800);
	assert_int_equal(backoff_next(&b, 1000, 0.0), 1600);
	assert_int_equal(backoff_next(&b, 2000, 0.5), 4800);
	for (int i = 0; i < 10; i++)
		backoff_next(&b, 3000 + i, 0.0);
	assert_int_equal(backoff_next(&b, 4000, 0.0), 30000);
	/* Jitter stays below 2x. */
	assert_true(backoff_next(&b, 5000, 0.9999) < 60000);
	/* Quiet for longer than reset: back to the base. */
	assert_int_equal(backoff_next(&b, 5000 + 120001, 0.0), 800);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debounce_quiet_and_max),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

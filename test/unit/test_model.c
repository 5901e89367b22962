/* A device's outcome (model.c): its status follows from the queues set of
 * all it has, and the status line shows partial and failed devices with
 * their counts and errno. Pure: no kernel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"

static struct dev *dev_new(struct attachment *a, const char *name, int nq)
{
	struct dev *d = model_dev_add(a->devs, &a->ndev, name, DEV_SCOPE_CONTAINER);

	assert_int_equal(model_dev_set_queues(d, nq), 0);
	d->nq_total = nq;
	return d;
}

static void test_settle(void **state)
{
	struct attachment *a = attachment_new();
	struct dev *d = dev_new(a, "eth0", 4);

	(void)state;
	model_dev_settle(d, 4, 4, 0, "unused");
	assert_int_equal(d->status, DEV_APPLIED);
	assert_string_equal(d->reason, "");
	/* A queue that appeared after the plan's count: partial. */
	model_dev_settle(d, 4, 6, 0, "rx-4 to rx-5 appeared");
	assert_int_equal(d->status, DEV_PARTIAL);
	assert_string_equal(d->reason, "4 of 6 queues: rx-4 to rx-5 appeared");
	/* Fewer queues now than written: never more set than there are. */
	model_dev_settle(d, 4, 3, 0, "x");
	assert_int_equal(d->nq_total, 4);
	assert_int_equal(d->status, DEV_APPLIED);
	model_dev_settle(d, 0, 4, EROFS, "writing eth0 rx-0: %s", "Read-only file system");
	assert_int_equal(d->status, DEV_FAILED);
	assert_int_equal(d->err, EROFS);
	assert_string_equal(d->reason, "0 of 4 queues: writing eth0 rx-0: Read-only file system");
	/* An error after some queues: partial, with the errno. */
	model_dev_settle(d, 2, 4, EIO, "rx-2");
	assert_int_equal(d->status, DEV_PARTIAL);
	attachment_free(a);
}

static void test_held(void **state)
{
	struct attachment *a = attachment_new();
	struct dev *d = dev_new(a, "eth0", 1);

	(void)state;
	assert_true(model_dev_held(d));
	model_dev_fail(d, DEV_FAILED, "writing");
	assert_false(model_dev_held(d));       /* reverted at ADD: nothing of flowsteer's */
	d->q[0].wrote_cpus = true;
	assert_true(model_dev_held(d));        /* a re-mask failed: still flowsteer's */
	model_dev_fail(d, DEV_SKIPPED, "rss");
	assert_false(model_dev_held(d));
	attachment_free(a);
}

static void test_status_line(void **state)
{
	struct attachment *a = attachment_new();
	char line[512];

	(void)state;
	a->mode = FS_MODE_RPS;
	a->scope = FS_SCOPE_BOTH;
	cpumask_parse_list("0", &a->cpus, NULL);
	model_dev_settle(dev_new(a, "eth0", 1), 0, 1, EROFS, "re-mask");
	model_dev_settle(dev_new(a, "cali1", MODEL_MAX_QUEUES), 1024, 1100, 0, "bound");
	model_dev_settle(dev_new(a, "ul0", 1), 1, 1, 0, "-");
	model_dev_fail(dev_new(a, "tunl0", 0), DEV_ABSENT, "no such device");
	/* The bound is a warning; the write that failed is a failure. */
	assert_int_equal(model_failures(a, line, sizeof(line)), 2);
	assert_string_equal(line, "container device eth0: 0 of 1 queues: re-mask");
	a->devs[1].err = EIO;
	assert_int_equal(model_failures(a, NULL, 0), 3);
	a->devs[1].err = 0;
	model_status_line(a, line, sizeof(line));
	assert_string_equal(line, "mode=rps scope=both cpus=0 eth0:failed(0/1,EROFS) cali1:partial(1024/1100) "
				  "ul0:applied (1 applied, 1 partial, 1 failed)");
	attachment_free(a);
}

static void test_errno_names(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(model_errno_name(EACCES, buf, sizeof(buf)), "EACCES");
	assert_string_equal(model_errno_name(0, buf, sizeof(buf)), "");
	assert_int_equal(model_errno_parse("EROFS"), EROFS);
	assert_int_equal(model_errno_parse("EBOGUS"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settle),
		cmocka_unit_test(test_held),
		cmocka_unit_test(test_status_line),
		cmocka_unit_test(test_errno_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

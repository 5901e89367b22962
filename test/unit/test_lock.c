/* file_lock: a bounded flock() whose deadline no signal mask can stretch,
 * and whose lock, won by a child, is the caller's. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "util.h"

static char path[] = "/tmp/flowsteer-test-lock-XXXXXX";

/* A child takes the lock on its own open file, and lets it go 0.2 s
 * after it said so. */
static int hold_briefly(void)
{
	int p[2], fd;
	char c;

	if (pipe(p) < 0)
		return -1;
	if (fork() == 0) {
		fd = open(path, O_RDWR);
		if (fd < 0 || flock(fd, LOCK_EX) < 0 || write(p[1], "x", 1) != 1)
			_exit(1);
		usleep(200000);
		_exit(0);
	}
	close(p[1]);
	fd = read(p[0], &c, 1) == 1 ? 0 : -1;
	close(p[0]);
	return fd;
}

static void test_timeout_signals_blocked(void **unused)
{
	int holder = mkstemp(path), fd = open(path, O_RDWR), third = open(path, O_RDWR);
	sigset_t all, old;

	(void)unused;
	assert_true(holder >= 0 && fd >= 0 && third >= 0);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	assert_int_equal(flock(holder, LOCK_EX), 0);
	assert_int_equal(file_lock(fd, 200), -ETIMEDOUT);
	close(holder);
	/* Released while it waits: the wait ends with the lock, fd's. */
	assert_int_equal(hold_briefly(), 0);
	assert_int_equal(file_lock(fd, 5000), 0);
	wait(NULL);
	assert_int_equal(flock(third, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	close(fd);
	assert_int_equal(file_lock(third, 5000), 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(third);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeout_signals_blocked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

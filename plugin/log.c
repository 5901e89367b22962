#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static int log_fd = -1;
static enum log_level log_max = LOG_LVL_INFO;
static char log_ctx[160];

const char *const log_level_names[LOG_LVL_COUNT] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *s, enum log_level *out)
{
	int i = name_index(log_level_names, LOG_LVL_COUNT, s);

	if (i < 0)
		return -1;
	*out = (enum log_level)i;
	return 0;
}

/* The log is appended to as root: like every path flowsteer did not make,
 * it is opened without following a link or blocking (a planted FIFO), and
 * must be a regular file of root's that nobody else may write. */
void log_open(const char *path, enum log_level level)
{
	const int flags = O_WRONLY | O_APPEND | O_CREAT;
	char why[96];

	log_close();
	log_max = level;
	if (!path || !*path)
		return;
	log_fd = file_open_trusted(AT_FDCWD, path, flags, 0640, why, sizeof(why));
	if (log_fd == -ENOENT) {
		char dir[4096];

		if (path_dirname(path, dir, sizeof(dir)) == 0 && mkdir_p(dir, 0750) == 0)
			log_fd = file_open_trusted(AT_FDCWD, path, flags, 0640, why, sizeof(why));
	}
	if (log_fd < 0)
		log_fd = -1;
}

void log_set_context(const char *verb, const char *container_id)
{
	snprintf(log_ctx, sizeof(log_ctx), "%s %.64s", verb ? verb : "-",
		 container_id && *container_id ? container_id : "-");
}

void log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (log_fd < 0 || level > log_max)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%d] %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, log_level_names[level], (int)getpid(), log_ctx);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* One write() per line keeps lines whole under O_APPEND across processes. */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\n';
	if (write(log_fd, line, n) < 0) {
		/* nothing sensible to do: logging must never fail an invocation */
	}
}

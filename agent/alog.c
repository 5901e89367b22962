#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include "alog.h"
#include "util.h"

static enum alog_level alog_max = ALOG_INFO;
const char *const alog_level_names[ALOG_LEVELS] = { "error", "warn", "info", "debug" };

void alog_set_level(enum alog_level level)
{
	alog_max = level;
}

long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void alog_rfc3339(char *out, unsigned long len, long long epoch_s)
{
	time_t t = (time_t)epoch_s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void alog(enum alog_level level, const char *fmt, ...)
{
	/* One fprintf per line under a lock: the metrics thread logs too, and
	 * lines must not interleave. */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct timespec ts;
	char when[32], line[2048];
	va_list ap;

	if (level > alog_max)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	alog_rfc3339(when, sizeof(when), ts.tv_sec);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Control characters from a server's message must not forge lines. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	pthread_mutex_lock(&lock);
	fprintf(stderr, "%.19s.%03ldZ %s flowsteer-agent: %s\n", when, ts.tv_nsec / 1000000,
		alog_level_names[level], line);
	fflush(stderr);
	pthread_mutex_unlock(&lock);
}

/* The agent's log: one line per event on stderr (the container log), with
 * an RFC 3339 UTC time and a level. Nothing secret is ever passed in: the
 * callers log URLs, paths, names and HTTP statuses, never headers or the
 * token (see kube.c). */
#ifndef FLOWSTEER_AGENT_ALOG_H
#define FLOWSTEER_AGENT_ALOG_H

enum alog_level { ALOG_ERROR, ALOG_WARN, ALOG_INFO, ALOG_DEBUG };

#define ALOG_LEVELS (ALOG_DEBUG + 1)
/* Indexed by enum alog_level: --log-level's values. */
extern const char *const alog_level_names[ALOG_LEVELS];
void alog_set_level(enum alog_level level);
void alog(enum alog_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Wall-clock time as RFC 3339 UTC ("2025-01-02T03:04:05Z"). */
void alog_rfc3339(char *out, unsigned long len, long long epoch_s);
/* CLOCK_MONOTONIC in milliseconds. */
long long mono_ms(void);

#endif

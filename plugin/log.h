/* One line per event, prefixed with time, pid, verb and container ID. */
#ifndef FLOWSTEER_LOG_H
#define FLOWSTEER_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG, LOG_LVL_COUNT };
/* Indexed by enum log_level. */
extern const char *const log_level_names[LOG_LVL_COUNT];

int log_level_parse(const char *s, enum log_level *out);
/* Opens (creating the directory) the log file; failures are silent because a
 * missing log must never block a pod. */
void log_open(const char *path, enum log_level level);
void log_set_context(const char *verb, const char *container_id);
void log_close(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

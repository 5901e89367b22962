#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"

int err_set(struct fs_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->code)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void warn_add(struct fs_warn *w, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return;
	/* Warnings quote user input (annotation values, names); a control byte
	 * would break the one-line log, the status annotation or a terminal. */
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	log_msg(LOG_LVL_WARN, "%s", s);
	if (w->n >= FS_MAX_WARNINGS) {
		free(s);
		return;
	}
	w->items[w->n++] = s;
}

void warn_free(struct fs_warn *w)
{
	for (int i = 0; i < w->n; i++)
		free(w->items[i]);
	w->n = 0;
}

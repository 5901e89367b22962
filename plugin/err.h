/* Errors and warnings carried from helpers up to main, which alone prints.
 *
 * The error rule, in the plugin as in the agent:
 *  - Below a module boundary (a helper around one system call or one file,
 *    a pure parser: util.c, sysfs.c, a static function), a
 *    failure is 0 or -errno, the kernel's own value where there is one;
 *    the caller knows what was being done and names it.
 *  - At the boundary and above (what another module, a verb or an agent
 *    duty calls), it is 0 or -1 with a struct fs_err set by err_set(): a
 *    code from the enum below and a message naming the thing and the value
 *    that failed; the first error wins. It is printed once, where its trip
 *    ends: cmd/main.c in the plugin; in the agent, the duty's loop callback
 *    or its start function (alog), which then returns -1 "(logged)".
 *  - An answer that is not a failure of the call ("not trusted", "try
 *    again later", "nothing there yet") is its own result (an enum value,
 *    an fs_err code, an out-parameter), never an errno the kernel can also
 *    return: a caller testing -EPERM for "not trusted" would take the
 *    kernel's EPERM for it.
 *  - Nothing else: no bool for failure, no 0/1/-1, no char *errbuf beside
 *    these, no retry decided from a code that also means something else. */
#ifndef FLOWSTEER_ERR_H
#define FLOWSTEER_ERR_H

#include <stddef.h>

/* "Not trusted" (util.c's file_*_trusted: a link, not root's, writable by
 * others): beyond -4095, the most negative errno the kernel returns, so no
 * kernel errno can be taken for it. Never pass it to strerror(). */
#define ERR_UNTRUSTED (-4096)

/* CNI error codes (docs/cni.md). */
enum {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_LATER = 11,
	CNI_ERR_NOT_READY = 50,
	FS_ERR_TUNE_FAILED = 100,
	FS_ERR_DRIFT = 101,
	FS_ERR_PRIVILEGE = 102,
};

struct fs_err {
	int code;          /* 0 while no error was set */
	char msg[512];
};

/* Sets code and message (first error wins); always returns -1 so callers can
 * write `return err_set(e, ...)`. */
int err_set(struct fs_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define FS_MAX_WARNINGS 32

/* Non-fatal problems: reported in the result and logged. */
struct fs_warn {
	int n;
	char *items[FS_MAX_WARNINGS];
};

void warn_add(struct fs_warn *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void warn_free(struct fs_warn *w);

#endif

/* Small file-system and validation helpers shared by the plugin modules. */
#ifndef FLOWSTEER_UTIL_H
#define FLOWSTEER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What the kernel accepts as a name (dev_valid_name: IFNAMSIZ-1 bytes, no
 * '/', ':' or whitespace, not "." or ".."), UTF-8 included, less control
 * bytes: those would break the one-line log. */
bool ifname_valid(const char *name);
/* CNI spec: alphanumeric first, then [A-Za-z0-9_.-]; bounded so it can name a file. */
bool containerid_valid(const char *id);

/* The index of s in names[0..n-1], or -1: every name table's parser. */
int name_index(const char *const *names, size_t n, const char *s);

int path_dirname(const char *path, char *out, size_t len);
/* mkdir -p; returns 0 or -errno. */
int mkdir_p(const char *dir, mode_t mode);

/* Reads a small file (relative to dirfd, no symlink at the last component)
 * into buf, NUL-terminated, trailing newline stripped. Returns length or -errno. */
ssize_t file_read_at(int dirfd, const char *path, char *buf, size_t len);
/* Writes the whole string with one write(); returns 0 or -errno. */
int file_write_at(int dirfd, const char *path, const char *s);
/* CLOCK_MONOTONIC in milliseconds: deadlines. */
long long util_mono_ms(void);
/* Replaces path atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory. Keeps `mode`. Returns 0 or -errno. */
int file_write_atomic(const char *path, const char *data, size_t len, mode_t mode);
/* Reads a whole file up to max bytes into a malloc()ed NUL-terminated buffer. */
int file_read_all(const char *path, size_t max, char **out, size_t *outlen);
int file_read_fd(int fd, size_t max, char **out, size_t *outlen);

/* For a path flowsteer did not create itself and acts on as root: opened
 * without following a link at the last component and without blocking
 * (a FIFO cannot hang the caller), then checked to be a regular file (or,
 * with O_DIRECTORY, a directory) owned by root and not writable by group
 * or others. Returns the fd, -errno, or ERR_UNTRUSTED (err.h) with `why`
 * saying what is wrong (e.g. "owned by uid 1000, not root"). */
int file_open_trusted(int dirfd, const char *path, int flags, mode_t mode, char *why, size_t whylen);
/* file_open_trusted() then file_read_fd(): 0 with *out, -ENOENT,
 * ERR_UNTRUSTED with `why` saying what is wrong, or another -errno with `why` its
 * strerror(). */
int file_read_trusted(int dirfd, const char *path, size_t max, char **out, size_t *outlen, char *why,
		      size_t whylen);

/* Replaces dirfd/name atomically (unique temp file, rename) without any
 * fsync: for state describing volatile kernel values, which a machine
 * crash resets anyway, while a process crash keeps the page cache.
 * Returns 0 or -errno. */
int file_write_atomic_at(int dirfd, const char *name, const char *data, size_t len, mode_t mode);
/* "<name>.tmp.<digits>": a temp file of an atomic write. */
bool file_is_tmp(const char *name);

/* The whole buffer, through EINTR and EAGAIN: 0 or -errno. */
int fd_write_all(int fd, const char *data, size_t len);
/* After a call failed with errno: 0 once fd is ready for `events` (poll)
 * when errno is EAGAIN, else -errno. */
int fd_wait(int fd, short events);

/* flock(fd, LOCK_EX) that gives up after timeout_ms whatever the signal
 * mask and dispositions (no signal is involved): 0, -ETIMEDOUT or -errno. */
int file_lock(int fd, int timeout_ms);

/* Strict decimal parse of a whole string into [min,max]. */
int parse_long(const char *s, long long min, long long max, long long *out);

/* Crash-safety tests: with FLOWSTEER_DEBUG_HOOKS compiled in, the process
 * SIGKILLs itself at the step named by $FLOWSTEER_DEBUG_KILL_AT, and
 * SIGSTOPs itself at the one named by $FLOWSTEER_DEBUG_STOP_AT. */
/* Fault tests: debug_fail returns -EIO at the step, object and index
 * named by $FLOWSTEER_DEBUG_FAIL_AT ("queue-write:eth0:3"), else 0. */
#ifdef FLOWSTEER_DEBUG_HOOKS
void debug_hook(const char *step);
int debug_fail(const char *step, const char *what, int index);
#else
#define debug_hook(step) do { } while (0)
#define debug_fail(step, what, index) 0
#endif

#endif

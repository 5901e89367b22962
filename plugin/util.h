/* Small file-system and validation helpers shared by the plugin modules. */
#ifndef FLOWSTEER_UTIL_H
#define FLOWSTEER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Linux IFNAMSIZ-1 bytes, no '/', no whitespace or ':', not "." or "..". */
bool ifname_valid(const char *name);
/* CNI spec: alphanumeric first, then [A-Za-z0-9_.-]; bounded so it can name a file. */
bool containerid_valid(const char *id);

int path_dirname(const char *path, char *out, size_t len);
/* mkdir -p; returns 0 or -errno. */
int mkdir_p(const char *dir, mode_t mode);

/* Reads a small file (relative to dirfd, no symlink at the last component)
 * into buf, NUL-terminated, trailing newline stripped. Returns length or -errno. */
ssize_t file_read_at(int dirfd, const char *path, char *buf, size_t len);
/* Writes the whole string with one write(); returns 0 or -errno. */
int file_write_at(int dirfd, const char *path, const char *s);
/* Replaces path atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory. Keeps `mode`. Returns 0 or -errno. */
int file_write_atomic(const char *path, const char *data, size_t len, mode_t mode);
/* The same without the directory fsync. Readers and a crashed process still
 * only ever see the old or the new whole file (temp, fsync, rename); what is
 * left out is only the rename's durability across a power loss. For stateDir
 * records that describe volatile kernel state (a reboot resets every value
 * they describe) that buys nothing and costs one disk flush per write. */
int file_write_atomic_nodirsync(const char *path, const char *data, size_t len, mode_t mode);
/* Reads a whole file up to max bytes into a malloc()ed NUL-terminated buffer. */
int file_read_all(const char *path, size_t max, char **out, size_t *outlen);

/* Strict decimal parse of a whole string into [min,max]. */
int parse_long(const char *s, long long min, long long max, long long *out);

/* Crash-safety tests: with FLOWSTEER_DEBUG_HOOKS compiled in, the process
 * SIGKILLs itself at the step named by $FLOWSTEER_DEBUG_KILL_AT. */
#ifdef FLOWSTEER_DEBUG_HOOKS
void debug_hook(const char *step);
#else
#define debug_hook(step) do { } while (0)
#endif

#endif

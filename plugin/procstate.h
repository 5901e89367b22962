/* The process state a runtime, a shim or a wrapper hands over is not
 * trusted: main() makes it the one the plugin was written for before it
 * opens anything (docs/cni.md, "Process state"). */
#ifndef FLOWSTEER_PROCSTATE_H
#define FLOWSTEER_PROCSTATE_H

#include <stdbool.h>

/* The plugin needs far fewer; raised to this when lower. */
#define PROCSTATE_MIN_FILES 1024

/* fds 0, 1 and 2 open (/dev/null onto a closed one, so nothing the plugin
 * opens later takes its number); no signal blocked, none ignored but
 * SIGPIPE and SIGXFSZ (a write that fails is an error to report, not a
 * death) and SIGTTIN/SIGTTOU (a terminal never stops it); RLIMIT_NOFILE
 * at least PROCSTATE_MIN_FILES and no file-size limit, where permitted;
 * umask 022, so files get exactly the modes asked for. With `cni`, also
 * the working directory "/" and no descriptor above 2: a CNI runtime
 * hands over none. Returns the bit (1 << fd) of each standard descriptor
 * that was closed. */
unsigned procstate_reset(bool cni);

#endif

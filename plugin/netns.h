/* Entering a pod's network namespace. The pod-side work runs either here,
 * between setns() into the pod's netns and back, on a detached sysfs of that
 * netns (fsopen/fsmount, Linux >= 5.2), or, where that is unavailable, in a
 * short-lived child (fork, setns, unshare(CLONE_NEWNS), / slave, fresh
 * sysfs). Either way this process never changes mount namespace and the
 * host's mounts never change; this is also why CAP_SYS_CHROOT is not needed. */
#ifndef FLOWSTEER_NETNS_H
#define FLOWSTEER_NETNS_H

#include <stddef.h>

#include "err.h"

/* Opens path and checks it is an nsfs file of type net. Returns an fd, or
 * -1 with code 4 naming the path (-ENOENT-like conditions are kept in *gone
 * so DEL can treat a vanished netns as done). */
int netns_open(const char *path, int *gone, struct fs_err *e);

/* The child's work: classfd is its /sys/class/net. It returns a malloc()ed
 * result blob of *len bytes (or NULL with an error message in errbuf). */
typedef void *(*netns_fn)(int classfd, void *arg, size_t *len, char *errbuf, size_t errlen);

/* Runs fn inside the netns behind nsfd; *out gets a malloc()ed copy of the
 * child's blob. Errors name the netns path. */
int netns_run(int nsfd, const char *path, netns_fn fn, void *arg,
	      void **out, size_t *outlen, struct fs_err *e);

/* /sys/class/net of the calling process (the host side). */
int netns_open_host_class(void);

#endif

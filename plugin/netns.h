/* Network namespaces: CNI_NETNS opened safely, and a view of a pod netns's
 * /sys/class/net that the rest of the plugin uses from the host side.
 * The only module that enters another namespace. */
#ifndef FLOWSTEER_NETNS_H
#define FLOWSTEER_NETNS_H

#include "err.h"

/* Opens a network namespace file: without following a link at the last
 * component (except /proc/PID/ns/net, a magic link), without blocking, and
 * checked to be an nsfs file of a network namespace. Returns the fd, or
 * -ENOENT (gone), -ESTALE (a path left behind by a closed netns: not nsfs),
 * -EINVAL (a namespace of another type), -errno. */
int netns_open(const char *path);

/* A /sys/class/net directory fd showing the devices of the netns behind
 * nsfd, usable after this returns (the calling process stays in its own
 * namespaces): a detached sysfs made while briefly inside the netns
 * (fsopen/fsmount, Linux >= 5.2), or on older kernels one mounted by a
 * short-lived child in a private mount namespace and passed back over a
 * socket. Returns the fd or -errno (-EPERM: privileges). */
int netns_sysfs_class(int nsfd);
/* netns_open() then netns_sysfs_class(), for a caller that needs only the
 * devices (the sysfs keeps the netns alive); the fd or netns_open()'s or
 * netns_sysfs_class()'s -errno. */
int netns_class_open(const char *path);
/* The host's /sys/class/net, writable: /sys/class/net itself, or where it
 * is read-only (a container with hostNetwork, the agent's) a sysfs of the
 * caller's own network namespace (needs CAP_SYS_ADMIN). The fd, or -1
 * with e set. */
int netns_host_class_open(struct fs_err *e);

#endif

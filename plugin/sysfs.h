/* The kernel's files: rx-queue RPS/RFS values under a /sys/class/net
 * directory fd (the host's, or a pod netns's detached sysfs from netns.c),
 * the RFS sysctl, the CPU lists and the boot ID. The only module that
 * writes to kernel files. Everything returns 0 or a count, or -errno. */
#ifndef FLOWSTEER_SYSFS_H
#define FLOWSTEER_SYSFS_H

#include <stdbool.h>

#include "cpumask.h"

#define SYSFS_SOCKFLOW "/proc/sys/net/core/rps_sock_flow_entries"
#define SYSFS_CPU_DIR "/sys/devices/system/cpu"

/* /sys/class/net of the calling process's mount and network namespace. */
int sysfs_class_open(void);

/* "<dev>/queues" below classfd (a fd, or -ENOENT when the device is absent). */
int sysfs_queues_open(int classfd, const char *dev);
/* Number of rx-N entries (numbered 0..n-1 by the kernel). */
int sysfs_queues_count(int qfd);
/* rx-i's rps_cpus and rps_flow_cnt (*flow = -1 when the kernel has no RFS). */
int sysfs_queue_read(int qfd, int i, struct cpumask *cpus, long long *flow);
/* Writes rx-i's rps_cpus (cpus NULL: left alone) in the kernel's hex form
 * of nbits, then rps_flow_cnt (flow < 0: left alone). Through a pod
 * netns's sysfs whose superblock a running container made read-only, each
 * write is made with the superblock writable for that write only. */
int sysfs_queue_write(int qfd, int i, const struct cpumask *cpus, unsigned nbits, long long flow);

/* ifindex and iflink (the peer's index for a veth/netkit) of a device. */
int sysfs_dev_index(int classfd, const char *dev, int *ifindex, int *iflink);

/* net.core.rps_sock_flow_entries: -ENOENT outside the initial netns. */
long long sysfs_sockflow_read(void);
int sysfs_sockflow_write(long long v);

/* A cpulist file of SYSFS_CPU_DIR ("online", "isolated", "nohz_full"); an
 * absent file reads as the empty set. */
int sysfs_cpulist_read(const char *name, struct cpumask *m);
/* Online CPUs and nr_cpu_ids (the width sysfs prints masks with). */
int sysfs_cpus_online(struct cpumask *online, unsigned *nbits);

/* This boot's ID (36 characters). */
int sysfs_boot_id(char *out, size_t len);

#endif

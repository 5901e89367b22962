/* Device discovery over rtnetlink (the only module that uses libnl): links by
 * name or index, veth/netkit peers, and the devices of the default routes. */
#ifndef FLOWSTEER_DEVICES_H
#define FLOWSTEER_DEVICES_H

#include <stdbool.h>

#define DEV_MAX_UNDERLAY 8

struct dev_nl;

struct dev_link {
	int ifindex;
	char name[16];
	char kind[16];         /* "veth", "netkit", "vxlan", "" for a NIC */
	int link;              /* IFLA_LINK: the peer's ifindex for veth/netkit */
	bool link_other_netns; /* the peer lives in another netns */
	int num_rx_queues;
};

/* A socket bound to the caller's current netns; -errno on failure. */
int dev_nl_open(struct dev_nl **out);
void dev_nl_close(struct dev_nl *nl);

/* Looks a link up by name (ifindex 0) or by index (name NULL).
 * Returns 0, -ENODEV when absent, or -errno. */
int dev_get(struct dev_nl *nl, const char *name, int ifindex, struct dev_link *out);

/* Names of the devices carrying IPv4/IPv6 default routes (main table), no
 * duplicates. Returns the count or -errno. */
int dev_default_route_devs(struct dev_nl *nl, char names[][16], int max);

#endif

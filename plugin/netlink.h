/* rtnetlink over libnl, in the calling process's network namespace: links
 * by index, namespace ids, and the devices of the default routes.
 * The only module that speaks netlink. Returns 0 or a count, or -errno. */
#ifndef FLOWSTEER_NETLINK_H
#define FLOWSTEER_NETLINK_H

#define NETLINK_MAX_ROUTE_DEVS 8

struct netlink;

struct netlink_link {
	char name[16];
	char kind[16];          /* "veth", "netkit", "vxlan", "" for a NIC */
	int link;               /* IFLA_LINK: a veth/netkit peer's ifindex */
	int link_nsid;          /* IFLA_LINK_NETNSID: the peer's netns, -1 when here */
};

int netlink_open(struct netlink **out);
void netlink_close(struct netlink *nl);

/* A link by index; -ENODEV when absent. */
int netlink_link_get(struct netlink *nl, int ifindex, struct netlink_link *out);

/* The id this netns gives the netns behind nsfd (what IFLA_LINK_NETNSID
 * of a link into it says), or -ENOENT when it has none. */
int netlink_nsid(struct netlink *nl, int nsfd);

/* Devices of the IPv4/IPv6 default routes of the main table, no
 * duplicates; returns how many. */
int netlink_default_route_devs(struct netlink *nl, char names[][16], int max);

#endif

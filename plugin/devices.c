#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_link.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>

#include "devices.h"

struct dev_nl {
	struct nl_sock *sk;
};

static int nl_to_errno(int err)
{
	switch (-err) {
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		return -ENODEV;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

int dev_nl_open(struct dev_nl **out)
{
	struct dev_nl *nl = calloc(1, sizeof(*nl));
	int err;

	if (!nl)
		return -ENOMEM;
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		free(nl);
		return -ENOMEM;
	}
	err = nl_connect(nl->sk, NETLINK_ROUTE);
	if (err < 0) {
		nl_socket_free(nl->sk);
		free(nl);
		return nl_to_errno(err);
	}
	*out = nl;
	return 0;
}

void dev_nl_close(struct dev_nl *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk);
	free(nl);
}

int dev_get(struct dev_nl *nl, const char *name, int ifindex, struct dev_link *out)
{
	struct rtnl_link *link = NULL;
	const char *kind;
	int err;

	memset(out, 0, sizeof(*out));
	err = rtnl_link_get_kernel(nl->sk, ifindex, ifindex ? NULL : name, &link);
	if (err < 0)
		return nl_to_errno(err);
	out->ifindex = rtnl_link_get_ifindex(link);
	snprintf(out->name, sizeof(out->name), "%s", rtnl_link_get_name(link));
	kind = rtnl_link_get_type(link);
	snprintf(out->kind, sizeof(out->kind), "%s", kind ? kind : "");
	out->link = rtnl_link_get_link(link);
	{
		int32_t nsid = -1;

		out->link_other_netns = rtnl_link_get_link_netnsid(link, &nsid) == 0 && nsid >= 0;
	}
	out->num_rx_queues = (int)rtnl_link_get_num_rx_queues(link);
	rtnl_link_put(link);
	return 0;
}

struct route_walk {
	struct dev_nl *nl;
	char (*names)[16];
	int max, n;
};

static void route_add_dev(struct route_walk *w, int ifindex)
{
	struct dev_link l;

	if (ifindex <= 0 || dev_get(w->nl, NULL, ifindex, &l))
		return;
	for (int i = 0; i < w->n; i++)
		if (!strcmp(w->names[i], l.name))
			return;
	if (w->n < w->max)
		snprintf(w->names[w->n++], 16, "%s", l.name);
}

static void route_nh(struct rtnl_nexthop *nh, void *arg)
{
	route_add_dev(arg, rtnl_route_nh_get_ifindex(nh));
}

static void route_visit(struct nl_object *obj, void *arg)
{
	struct rtnl_route *r = (struct rtnl_route *)obj;

	if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST)
		return;
	if (nl_addr_get_prefixlen(rtnl_route_get_dst(r)) != 0)
		return;
	rtnl_route_foreach_nexthop(r, route_nh, arg);
}

int dev_default_route_devs(struct dev_nl *nl, char names[][16], int max)
{
	struct route_walk w = { .nl = nl, .names = names, .max = max };
	static const int families[] = { AF_INET, AF_INET6 };

	for (unsigned i = 0; i < 2; i++) {
		struct nl_cache *cache = NULL;
		int err = rtnl_route_alloc_cache(nl->sk, families[i], 0, &cache);

		if (err < 0)
			return nl_to_errno(err);
		nl_cache_foreach(cache, route_visit, &w);
		nl_cache_free(cache);
	}
	return w.n;
}

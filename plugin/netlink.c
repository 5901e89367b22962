#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include "netlink.h"

struct netlink {
	struct nl_sock *sk;
};

static int nl_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		return -ENODEV;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_NOACCESS:
		return -EACCES;
	default:
		return -EIO;
	}
}

static int sock_connect(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();
	int err;

	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		nl_socket_free(sk);
		return nl_errno(err);
	}
	*out = sk;
	return 0;
}

int netlink_open(struct netlink **out)
{
	struct netlink *nl = calloc(1, sizeof(*nl));
	int err;

	if (!nl)
		return -ENOMEM;
	err = sock_connect(&nl->sk);
	if (err) {
		free(nl);
		return err;
	}
	*out = nl;
	return 0;
}

/* A request that never left (qemu-user refuses RTM_GETNSID, for one) has
 * used up a libnl sequence number that no reply will consume: every later
 * request on that socket would fail its sequence check. A fresh socket
 * starts in step; without one, the old stays (and fails). */
static void sock_renew(struct netlink *nl)
{
	struct nl_sock *sk;

	if (sock_connect(&sk) == 0) {
		nl_socket_free(nl->sk);
		nl->sk = sk;
	}
}

void netlink_close(struct netlink *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk);
	free(nl);
}

int netlink_link_get(struct netlink *nl, int ifindex, struct netlink_link *out)
{
	struct rtnl_link *link = NULL;
	const char *kind;
	int32_t nsid = -1;
	int err;

	memset(out, 0, sizeof(*out));
	err = rtnl_link_get_kernel(nl->sk, ifindex, NULL, &link);
	if (err < 0)
		return nl_errno(err);
	snprintf(out->name, sizeof(out->name), "%s", rtnl_link_get_name(link));
	kind = rtnl_link_get_type(link);
	snprintf(out->kind, sizeof(out->kind), "%s", kind ? kind : "");
	out->link = rtnl_link_get_link(link);
	out->link_nsid = rtnl_link_get_link_netnsid(link, &nsid) == 0 ? nsid : -1;
	rtnl_link_put(link);
	return 0;
}

struct nsid_reply {
	int nsid;
	int err;
};

static int nsid_parse(struct nl_msg *msg, void *arg)
{
	struct nsid_reply *r = arg;
	struct nlattr *tb[NETNSA_MAX + 1];
	struct nlmsghdr *h = nlmsg_hdr(msg);

	if (h->nlmsg_type != RTM_NEWNSID)
		return NL_SKIP;
	if (nlmsg_parse(h, sizeof(struct rtgenmsg), tb, NETNSA_MAX, NULL) < 0 || !tb[NETNSA_NSID]) {
		r->err = -EIO;
		return NL_STOP;
	}
	r->nsid = (int)(int32_t)nla_get_u32(tb[NETNSA_NSID]);
	r->err = 0;
	return NL_STOP;
}

static int nsid_error(struct sockaddr_nl *who, struct nlmsgerr *err, void *arg)
{
	struct nsid_reply *r = arg;

	(void)who;
	r->err = err->error < 0 ? err->error : -EIO;
	return NL_STOP;
}

/* RTM_GETNSID has no libnl wrapper: one request, one reply. */
int netlink_nsid(struct netlink *nl, int nsfd)
{
	struct rtgenmsg g = { .rtgen_family = AF_UNSPEC };
	struct nsid_reply r = { .nsid = -1, .err = -EIO };
	struct nl_msg *msg;
	struct nl_cb *cb;
	int err;

	msg = nlmsg_alloc_simple(RTM_GETNSID, NLM_F_REQUEST);
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!msg || !cb) {
		err = -ENOMEM;
		goto out;
	}
	if (nlmsg_append(msg, &g, sizeof(g), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, NETNSA_FD, (uint32_t)nsfd) < 0) {
		err = -ENOMEM;
		goto out;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, nsid_parse, &r);
	nl_cb_err(cb, NL_CB_CUSTOM, nsid_error, &r);
	err = nl_send_auto(nl->sk, msg);
	if (err < 0)
		sock_renew(nl);
	else
		err = nl_recvmsgs(nl->sk, cb);
	/* The reply, then the ACK in a datagram of its own: read it too, or
	 * the socket's next request would find it (and libnl's sequence
	 * numbers would be off by one). An error reply is its own ACK. */
	if (err >= 0 && r.err == 0)
		err = nl_wait_for_ack(nl->sk);
	err = err < 0 ? nl_errno(err) : r.err;
	if (!err && r.nsid < 0)
		err = -ENOENT;
out:
	nl_cb_put(cb);
	nlmsg_free(msg);
	return err ? err : r.nsid;
}

struct route_walk {
	struct netlink *nl;
	char (*names)[16];
	int max, n;
};

static void route_add_dev(struct route_walk *w, int ifindex)
{
	struct netlink_link l;

	if (ifindex <= 0 || netlink_link_get(w->nl, ifindex, &l))
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

int netlink_default_route_devs(struct netlink *nl, char names[][16], int max)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct route_walk w = { .nl = nl, .names = names, .max = max };

	for (unsigned i = 0; i < 2; i++) {
		struct nl_cache *cache = NULL;
		int err = rtnl_route_alloc_cache(nl->sk, families[i], 0, &cache);

		if (err < 0)
			return nl_errno(err);
		nl_cache_foreach(cache, route_visit, &w);
		nl_cache_free(cache);
	}
	return w.n;
}

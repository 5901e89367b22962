#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "annot.h"
#include "annotcache.h"
#include "log.h"
#include "netns.h"
#include "plan.h"
#include "sysfs.h"
#include "util.h"

#define SIDE_FILE_MAX (4u << 20)

static const char *const calico_devices[] = {
	"vxlan.calico", "vxlan-v6.calico", "tunl0", "wireguard.cali", "wg-v6.cali",
};

/* ---- kernel handles ------------------------------------------------- */

void kview_close(struct kview *kv)
{
	if (kv->pod_class >= 0)
		close(kv->pod_class);
	if (kv->host_class >= 0)
		close(kv->host_class);
	if (kv->nsfd >= 0)
		close(kv->nsfd);
	netlink_close(kv->nl);
	*kv = (struct kview)KVIEW_INIT;
}

/* host_class and nl (opened once; -1 with e set on failure). */
static int kview_host(struct kview *kv, struct fs_err *e)
{
	int ret;

	if (kv->host_class < 0) {
		kv->host_class = sysfs_class_open();
		if (kv->host_class < 0)
			return err_set(e, CNI_ERR_IO, "opening /sys/class/net: %s", strerror(-kv->host_class));
	}
	if (!kv->nl && (ret = netlink_open(&kv->nl)))
		return err_set(e, CNI_ERR_IO, "opening rtnetlink: %s", strerror(-ret));
	return 0;
}

/* nsfd and pod_class for a netns path. Code 4 naming the path when it is
 * not a network namespace, 102 without the privilege to enter it. */
static int kview_pod(struct kview *kv, const char *netns, struct fs_err *e)
{
	int fd = netns_open(netns);

	if (fd == -ESTALE)
		return err_set(e, CNI_ERR_INVALID_ENV,
			       "CNI_NETNS \"%.200s\" is not a network namespace (not an nsfs file)", netns);
	if (fd == -EINVAL)
		return err_set(e, CNI_ERR_INVALID_ENV,
			       "CNI_NETNS \"%.200s\" is a namespace, but not a network namespace", netns);
	/* Out of descriptors or memory is the node's state, not a bad input. */
	if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM)
		return err_set(e, CNI_ERR_IO, "opening CNI_NETNS \"%.200s\": %s", netns, strerror(-fd));
	if (fd < 0)
		return err_set(e, CNI_ERR_INVALID_ENV, "CNI_NETNS \"%.200s\": %s", netns, strerror(-fd));
	kv->nsfd = fd;
	kv->pod_class = netns_sysfs_class(fd);
	if (kv->pod_class == -EPERM)
		return err_set(e, FS_ERR_PRIVILEGE, "netns %s: entering it: %s", netns, strerror(EPERM));
	if (kv->pod_class < 0)
		return err_set(e, CNI_ERR_IO, "netns %s: a sysfs of it: %s", netns, strerror(-kv->pod_class));
	return 0;
}

/* ---- CPUs ----------------------------------------------------------- */

/* The kubelet's state file (it is root's, written by rename): absent is
 * "no CPU manager"; unreadable is reported to the caller. */
static int kubelet_read(const char *path, struct cpumgr_state *k, char *why, size_t whylen)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	memset(k, 0, sizeof(*k));
	ret = file_read_trusted(AT_FDCWD, path, SIDE_FILE_MAX, &buf, &len, why, whylen);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return -1;
	ret = cpumgr_parse(buf, len, k, why, whylen);
	free(buf);
	return ret;
}

int plan_cpus(const struct fs_config *cfg, struct cpumask *allowed, struct cpus_excluded *why,
	      unsigned *nbits, struct fs_warn *w, struct fs_err *e)
{
	struct cpuset_in in = { .respect_exclusive = cfg->respect_exclusive };
	char msg[256] = "";
	int ret;

	ret = sysfs_cpus_online(&in.online, nbits);
	if (!ret)
		ret = sysfs_cpulist_read("isolated", &in.isolated);
	if (!ret)
		ret = sysfs_cpulist_read("nohz_full", &in.nohz_full);
	if (ret)
		return err_set(e, CNI_ERR_IO, "reading the CPU lists of %s: %s", SYSFS_CPU_DIR, strerror(-ret));
	if (cfg->respect_exclusive && kubelet_read(cfg->cpu_manager_state, &in.kubelet, msg, sizeof(msg))) {
		/* Not knowing which CPUs are promised to a container, steer
		 * onto none rather than onto someone's. */
		warn_add(w, "cpuManagerStateFile %s: %s; steering onto no CPU until it can be read",
			 cfg->cpu_manager_state, msg);
		cpuset_allowed(&in, allowed, why);
		why->kubelet = *allowed;
		cpumask_zero(allowed);
		return 0;
	}
	cpuset_allowed(&in, allowed, why);
	return 0;
}

/* The node's mask: the config's cpus within what may be used, less
 * excludeCpus. Code 7 only when the configuration alone leaves nothing
 * online; isolation leaving nothing is the node's state, not an error. */
static int plan_node_mask(const struct fs_config *cfg, const struct cpumask *allowed,
			  const struct cpus_excluded *why, struct cpumask *out, struct fs_err *e)
{
	struct cpumask online, cfg_only;
	char on[256] = "";

	if (cfg->cpus.kind == FS_CPUS_NONE) {
		cpumask_zero(out);
		return 0;
	}
	/* What was left out was online: together with what is allowed, that
	 * is every online CPU (no second read of the CPU lists). */
	cpumask_or(&online, allowed, &why->isolated);
	cpumask_or(&online, &online, &why->nohz_full);
	cpumask_or(&online, &online, &why->kubelet);
	cfg_only = cfg->cpus.kind == FS_CPUS_LIST ? cfg->cpus.list : online;
	cpumask_and(&cfg_only, &cfg_only, &online);
	cpumask_andnot(&cfg_only, &cfg_only, &cfg->exclude);
	if (cpumask_empty(&cfg_only)) {
		cpumask_format_list(&online, on, sizeof(on));
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "config key \"cpus\" = \"%s\" with \"excludeCpus\" = \"%s\" leaves no online CPU (online: %s)",
			       cfg->cpus.text, cfg->exclude_text, on);
	}
	cpumask_and(out, &cfg_only, allowed);
	return 0;
}

int plan_masks(const struct fs_config *cfg, struct cpumask *node_mask, struct cpus_excluded *why,
	       unsigned *nbits, struct fs_warn *w, struct fs_err *e)
{
	struct cpumask allowed;

	if (plan_cpus(cfg, &allowed, why, nbits, w, e))
		return -1;
	return plan_node_mask(cfg, &allowed, why, node_mask, e);
}

/* ---- annotations ---------------------------------------------------- */

/* The agent's cache: missing, stale or broken is a warning, and what is
 * not in it is decided by the configuration. */
static int cache_load(const struct plan_req *req, struct annotcache *c, struct fs_warn *w)
{
	const struct cni_env *env = req->env;
	const char *path = req->cfg->annotations_file;
	char why[256] = "", *buf = NULL;
	struct fs_err pe = { 0 };
	size_t len = 0;
	long long age;
	int ret;

	ret = file_read_trusted(AT_FDCWD, path, ANNOTCACHE_FILE_MAX, &buf, &len, why, sizeof(why));
	if (ret == -ENOENT) {
		log_msg(LOG_LVL_INFO, "annotationsFile %s does not exist (no flowsteer agent?)", path);
		return -1;
	}
	if (!ret)
		ret = annotcache_parse(buf, len, env->k8s_namespace, env->k8s_pod, c, &pe);
	free(buf);
	if (ret) {
		warn_add(w, "annotationsFile %s: %s; ignored", path, pe.code ? pe.msg : why);
		return -1;
	}
	age = (long long)time(NULL) - c->synced_at;
	if (age > ANNOTCACHE_MAX_AGE_S) {
		warn_add(w, "annotationsFile %s is stale (synced %llds ago); ignored", path, age);
		annotcache_free(c);
		return -1;
	}
	return 0;
}

/* Precedence, key by key: the runtime's pod annotations (present, even as
 * null, means the runtime speaks for the pod), else the agent's entry for
 * this pod (its uid must be this pod's), then the namespace's, then the
 * configuration. */
static void plan_decide(const struct plan_req *req, const struct cpumask *node_mask,
			struct fs_decision *d, struct fs_warn *w)
{
	const struct fs_config *cfg = req->cfg;
	const cJSON *pod = cfg->runtime_annotations, *ns = NULL;
	enum decision_source src = SRC_RUNTIME;
	struct annotcache c = { 0 };

	if (cfg->kube_legacy)
		warn_add(w, "config key \"kubernetes\" is no longer used: the flowsteer agent reads the API server");
	if (cache_load(req, &c, w) == 0) {
		ns = c.ns;
		if (!cfg->runtime_annotations_present && c.pod) {
			if (!req->env->k8s_uid[0] || !strcmp(c.pod_uid, req->env->k8s_uid)) {
				pod = c.pod;
				src = SRC_AGENT_POD;
			} else {
				log_msg(LOG_LVL_INFO, "annotationsFile entry of %s/%s is of pod uid %s, not %s: ignored",
					req->env->k8s_namespace, req->env->k8s_pod, c.pod_uid, req->env->k8s_uid);
			}
		}
	}
	annot_decide(cfg, node_mask, pod, src, ns, d, w);
	annotcache_free(&c);
}

/* ---- devices -------------------------------------------------------- */

void plan_dev_read(int classfd, struct dev *d)
{
	int qfd = sysfs_queues_open(classfd, d->name), n, ret = 0, i;

	if (qfd < 0) {
		model_dev_fail(d, qfd == -ENOENT ? DEV_ABSENT : DEV_FAILED, "%s",
			       qfd == -ENOENT ? "no such device" : strerror(-qfd));
		return;
	}
	n = sysfs_queues_count(qfd);
	d->nq_total = n > 0 ? n : 0;
	if (n < 0 || (ret = model_dev_set_queues(d, n > MODEL_MAX_QUEUES ? MODEL_MAX_QUEUES : n))) {
		model_dev_fail(d, DEV_FAILED, "listing %s/queues: %s", d->name, strerror(n < 0 ? -n : -ret));
	} else if (n == 0) {
		model_dev_fail(d, DEV_SKIPPED, "no rx queues (kernel without CONFIG_RPS?)");
	} else {
		for (i = 0; i < d->nq && !ret; i++)
			ret = sysfs_queue_read(qfd, i, &d->q[i].orig_cpus, &d->q[i].orig_flow);
		if (ret)
			model_dev_fail(d, ret == -ENOENT ? DEV_SKIPPED : DEV_FAILED, "reading %s rx-%d: %s",
				       d->name, i - 1, strerror(-ret));
	}
	close(qfd);
}

static void dev_want(struct dev *d, const struct fs_config *cfg, enum fs_mode mode,
		     const struct cpumask *mask)
{
	d->want_cpus = *mask;
	d->want_flow = mode == FS_MODE_RFS && d->nq > 0 && d->q[0].orig_flow >= 0
			       ? model_flow_cnt(cfg, d->nq) : -1;
}

/* The host side of the pod interface is the kernel's answer: its peer
 * (iflink), which must live in this (the host) netns and point back at
 * the pod interface in the pod's netns. A device that is not that peer (a
 * bridge, a node device named in prevResult) is never tuned as the veth. */
static int host_peer(const struct kview *kv, const char *ifname, char *name, char *why, size_t wl)
{
	struct netlink_link l;
	int ifindex, iflink, nsid, ret;

	ret = sysfs_dev_index(kv->pod_class, ifname, &ifindex, &iflink);
	if (ret) {
		snprintf(why, wl, "pod interface %s: %s", ifname, strerror(-ret));
		return -1;
	}
	/* iflink == ifindex means "no peer" only within one netns: a veth's
	 * two ends may well carry the same index in their two namespaces. */
	if (netlink_link_get(kv->nl, iflink, &l)) {
		snprintf(why, wl, "the peer of pod interface %s (ifindex %d) is not in the host netns",
			 ifname, iflink);
		return -1;
	}
	/* -ENOENT: the pod netns has no id here, so no host device peers into it. */
	nsid = netlink_nsid(kv->nl, kv->nsfd);
	if (nsid < 0 && nsid != -ENOENT) {
		snprintf(why, wl, "the pod netns id (RTM_GETNSID): %s", strerror(-nsid));
		return -1;
	}
	if ((strcmp(l.kind, "veth") && strcmp(l.kind, "netkit")) || l.link != ifindex ||
	    l.link_nsid < 0 || l.link_nsid != nsid) {
		snprintf(why, wl, "host device %s (ifindex %d) is not the peer of pod interface %s",
			 l.name, iflink, ifname);
		return -1;
	}
	snprintf(name, MODEL_NAME_MAX, "%s", l.name);
	return 0;
}

static void plan_host_veth(const struct plan_req *req, const struct kview *kv, struct attachment *a,
			   const struct cpumask *mask)
{
	char name[MODEL_NAME_MAX] = "", why[200] = "";
	struct dev *d;

	if (host_peer(kv, req->env->ifname, name, why, sizeof(why)) == 0 && req->host_hint[0] &&
	    strcmp(req->host_hint, name))
		warn_add(&a->warn, "prevResult names host interface %s, but the peer of the pod interface is %s: tuning %s",
			 req->host_hint, name, name);
	d = model_dev_add(a->devs, &a->ndev, name[0] ? name : (req->host_hint[0] ? req->host_hint : "?"),
			  DEV_SCOPE_HOST);
	if (!d)
		return;
	if (!name[0]) {
		model_dev_fail(d, DEV_ABSENT, "%s", why);
		return;
	}
	plan_dev_read(kv->host_class, d);
	dev_want(d, req->cfg, a->mode, mask);
}

struct node_target {
	char name[MODEL_NAME_MAX];
	bool underlay;          /* from @underlay: a multi-queue NIC is left to RSS */
	bool optional;          /* from @calico: absence is normal */
};

/* hostDevices with @calico and @underlay expanded; a name listed twice is
 * tuned once, and an explicit name wins over @underlay's RSS skip. */
static int target_add(struct node_target *t, int n, const char *name, bool underlay, bool optional)
{
	for (int i = 0; i < n; i++) {
		if (!strcmp(t[i].name, name)) {
			t[i].underlay = t[i].underlay && underlay;
			t[i].optional = t[i].optional && optional;
			return n;
		}
	}
	if (n >= MODEL_MAX_DEVS)
		return n;
	snprintf(t[n].name, sizeof(t[n].name), "%s", name);
	t[n].underlay = underlay;
	t[n].optional = optional;
	return n + 1;
}

static int node_targets(const struct fs_config *cfg, const struct kview *kv, struct node_target *t,
			struct fs_warn *w)
{
	char names[NETLINK_MAX_ROUTE_DEVS][16];
	int n = 0, k;

	for (int i = 0; i < cfg->n_host_devices; i++) {
		const char *h = cfg->host_devices[i];

		if (!strcmp(h, "@calico")) {
			for (unsigned j = 0; j < ARRAY_SIZE(calico_devices); j++)
				n = target_add(t, n, calico_devices[j], false, true);
		} else if (!strcmp(h, "@underlay")) {
			k = netlink_default_route_devs(kv->nl, names, NETLINK_MAX_ROUTE_DEVS);
			if (k < 0)
				warn_add(w, "hostDevices @underlay: reading default routes: %s", strerror(-k));
			for (int j = 0; j < k; j++)
				n = target_add(t, n, names[j], true, false);
		} else {
			n = target_add(t, n, h, false, false);
		}
	}
	return n;
}

static void plan_node(const struct plan_req *req, const struct kview *kv, struct attachment *a,
		      const struct cpumask *mask)
{
	struct node_target t[MODEL_MAX_DEVS];
	int n = node_targets(req->cfg, kv, t, &a->warn);

	for (int i = 0; i < n; i++) {
		struct dev *d = model_dev_add(a->devs, &a->ndev, t[i].name, DEV_SCOPE_NODE);

		if (!d)
			break;
		plan_dev_read(kv->host_class, d);
		if (d->status == DEV_ABSENT && !t[i].optional)
			warn_add(&a->warn, "hostDevices: device %s is absent; skipped", d->name);
		/* A NIC with several hardware queues already spreads load (RSS). */
		if (d->status == DEV_APPLIED && t[i].underlay && d->nq > 1)
			model_dev_fail(d, DEV_SKIPPED, "rss");
		dev_want(d, req->cfg, a->mode, mask);
	}
}

/* ---- the plan ------------------------------------------------------- */

static void plan_ids(const struct plan_req *req, struct attachment *a)
{
	const struct cni_env *env = req->env;

	snprintf(a->container_id, sizeof(a->container_id), "%s", env->container_id);
	snprintf(a->ifname, sizeof(a->ifname), "%s", env->ifname);
	snprintf(a->netns, sizeof(a->netns), "%s", env->netns);
	snprintf(a->pod_namespace, sizeof(a->pod_namespace), "%s", env->k8s_namespace);
	snprintf(a->pod_name, sizeof(a->pod_name), "%s", env->k8s_pod);
	snprintf(a->pod_uid, sizeof(a->pod_uid), "%s", env->k8s_uid);
	snprintf(a->network, sizeof(a->network), "%s", req->cfg->name);
	a->time = (long long)time(NULL);
}

/* Nothing may be steered onto an empty set: every device is skipped. */
static void plan_no_cpu(struct attachment *a)
{
	char iso[128] = "", nohz[128] = "", kub[128] = "";

	cpumask_format_list(&a->excluded.isolated, iso, sizeof(iso));
	cpumask_format_list(&a->excluded.nohz_full, nohz, sizeof(nohz));
	cpumask_format_list(&a->excluded.kubelet, kub, sizeof(kub));
	warn_add(&a->warn, "no CPU left to steer onto (isolated: %s, nohz_full: %s, kubelet exclusive: %s); nothing tuned",
		 iso[0] ? iso : "-", nohz[0] ? nohz : "-", kub[0] ? kub : "-");
	for (int i = 0; i < a->ndev; i++)
		if (a->devs[i].status == DEV_APPLIED)
			model_dev_fail(&a->devs[i], DEV_SKIPPED, "no CPU left to steer onto");
}

int plan_add(const struct plan_req *req, struct kview *kv, struct attachment *a, struct fs_err *e)
{
	const struct fs_config *cfg = req->cfg;
	struct cpumask node_mask;
	struct fs_decision d;
	struct dev *pod;

	plan_ids(req, a);
	if (plan_masks(cfg, &node_mask, &a->excluded, &a->nbits, &a->warn, e))
		return -1;
	plan_decide(req, &node_mask, &d, &a->warn);
	a->mode = d.mode; /* annot_decide: FS_MODE_OFF unless tuned */
	a->scope = d.scope;
	a->source = d.source;
	a->cpus = d.cpus;
	a->cpus_narrowed = !cpumask_equal(&d.cpus, &node_mask);
	if (a->cpus_narrowed)
		a->cpus_annotation = d.cpus;
	if (!d.tune)
		return 0;
	if (kview_pod(kv, req->env->netns, e) || ((d.scope & FS_SCOPE_HOST) && kview_host(kv, e)))
		return -1;
	if (d.scope & FS_SCOPE_CONTAINER) {
		pod = model_dev_add(a->devs, &a->ndev, req->env->ifname, DEV_SCOPE_CONTAINER);
		plan_dev_read(kv->pod_class, pod);
		dev_want(pod, cfg, a->mode, &a->cpus);
	}
	if (d.scope & FS_SCOPE_HOST) {
		plan_host_veth(req, kv, a, &a->cpus);
		plan_node(req, kv, a, &node_mask);
		a->node_ref = true;
	}
	if (cpumask_empty(&node_mask) && cfg->cpus.kind != FS_CPUS_NONE)
		plan_no_cpu(a);
	return 0;
}

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices.h"
#include "log.h"
#include "netns.h"
#include "tune.h"
#include "util.h"

static const char *const calico_devices[] = {
	"vxlan.calico", "vxlan-v6.calico", "tunl0", "wireguard.cali", "wg-v6.cali",
};

void tune_report_free(struct tune_report *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->devs[i]);
	r->n = 0;
	warn_free(&r->warn);
}

void tune_report_add(struct tune_report *r, struct rps_dev *d)
{
	if (!d)
		return;
	if (r->n >= TUNE_MAX_DEVS) {
		free(d);
		return;
	}
	r->devs[r->n++] = d;
}

cJSON *tune_report_json(const struct tune_report *r)
{
	cJSON *o = cJSON_CreateObject(), *devs, *w;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "mode", config_mode_name(r->mode));
	cJSON_AddStringToObject(o, "scope", config_scope_name(r->scope));
	cJSON_AddStringToObject(o, "cpus", r->cpus);
	if (r->sock_flow >= 0)
		cJSON_AddNumberToObject(o, "sockFlowEntries", (double)r->sock_flow);
	else
		cJSON_AddNullToObject(o, "sockFlowEntries");
	if (r->sock_status)
		cJSON_AddStringToObject(o, "sockFlowEntriesStatus", r->sock_status);
	cJSON_AddStringToObject(o, "source", r->source[0] ? r->source : "config");
	devs = cJSON_AddArrayToObject(o, "devices");
	for (int i = 0; i < r->n; i++) {
		const struct rps_dev *d = r->devs[i];
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "name", d->name);
		cJSON_AddStringToObject(j, "scope", rps_scope_name(d->scope));
		if (d->status == RPS_APPLIED || d->nq) {
			cJSON_AddNumberToObject(j, "queues", d->nq);
		}
		if (d->status == RPS_APPLIED) {
			cJSON_AddStringToObject(j, "rpsCpus", d->rps_set);
			if (d->flow_set >= 0)
				cJSON_AddNumberToObject(j, "flowCnt", (double)d->flow_set);
		}
		cJSON_AddStringToObject(j, "status", rps_status_name(d->status));
		if (d->status != RPS_APPLIED && d->reason[0])
			cJSON_AddStringToObject(j, "reason", d->reason);
		cJSON_AddItemToArray(devs, j);
	}
	w = cJSON_AddArrayToObject(o, "warnings");
	for (int i = 0; i < r->warn.n; i++)
		cJSON_AddItemToArray(w, cJSON_CreateString(r->warn.items[i]));
	return o;
}

void tune_report_line(const struct tune_report *r, char *buf, size_t len)
{
	size_t off;
	int applied = 0, failed = 0;

	off = (size_t)snprintf(buf, len, "mode=%s scope=%s cpus=%s", config_mode_name(r->mode),
			       config_scope_name(r->scope), r->cpus[0] ? r->cpus : "-");
	for (int i = 0; i < r->n && off < len; i++) {
		const struct rps_dev *d = r->devs[i];

		if (d->status == RPS_APPLIED)
			applied++;
		else if (d->status == RPS_FAILED)
			failed++;
		if (d->status == RPS_APPLIED || d->status == RPS_FAILED)
			off += (size_t)snprintf(buf + off, len - off, " %s:%s", d->name,
						rps_status_name(d->status));
	}
	if (off < len)
		snprintf(buf + off, len - off, " (%d applied, %d failed)", applied, failed);
}

int tune_report_failures(const struct tune_report *r, char *first, size_t len)
{
	int n = 0;

	if (first && len)
		first[0] = '\0';
	for (int i = 0; i < r->n; i++) {
		const struct rps_dev *d = r->devs[i];
		bool bad = d->status == RPS_FAILED ||
			   (d->status == RPS_ABSENT && d->scope != RPS_SCOPE_NODE);

		if (!bad)
			continue;
		if (!n && first)
			snprintf(first, len, "%s device %s: %s", rps_scope_name(d->scope), d->name,
				 d->reason[0] ? d->reason : rps_status_name(d->status));
		n++;
	}
	if (r->sock_status && !strcmp(r->sock_status, "failed")) {
		if (!n && first)
			snprintf(first, len, "net.core.rps_sock_flow_entries could not be written");
		n++;
	}
	return n;
}

static int read_cpulist_file(const char *path, struct cpumask *m, struct fs_err *e)
{
	char buf[4096], msg[256];
	ssize_t n = file_read_at(AT_FDCWD, path, buf, sizeof(buf));

	if (n < 0)
		return err_set(e, CNI_ERR_IO, "reading %s: %s", path, strerror((int)-n));
	if (cpumask_parse_list(buf, m, msg, sizeof(msg)))
		return err_set(e, CNI_ERR_IO, "parsing %s: %s", path, msg);
	return 0;
}

int tune_cpus_online(struct cpumask *online, unsigned *nbits, struct fs_err *e)
{
	struct cpumask possible;

	if (read_cpulist_file("/sys/devices/system/cpu/online", online, e) ||
	    read_cpulist_file("/sys/devices/system/cpu/possible", &possible, e))
		return -1;
	*nbits = (unsigned)cpumask_last(&possible) + 1;
	if (*nbits == 0)
		*nbits = 1;
	return 0;
}

int tune_cpus_resolve(const struct fs_config *cfg, const struct cpumask *online,
		      struct cpumask *out, struct fs_err *e)
{
	char on[256] = "";

	switch (cfg->cpus.kind) {
	case FS_CPUS_NONE:
		cpumask_zero(out);
		return 0;
	case FS_CPUS_ALL:
		*out = *online;
		break;
	case FS_CPUS_LIST:
		cpumask_and(out, &cfg->cpus.list, online);
		break;
	}
	cpumask_andnot(out, out, &cfg->exclude);
	if (cpumask_empty(out)) {
		cpumask_format_list(online, on, sizeof(on));
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "config key \"cpus\" = \"%s\" with \"excludeCpus\" = \"%s\" leaves no online CPU (online: %s)",
			       cfg->cpus.text, cfg->exclude_text, on);
	}
	return 0;
}

long long tune_flow_cnt(const struct fs_config *cfg, int queues)
{
	long long v = cfg->flow_cnt;

	if (v == 0)
		v = queues > 0 ? cfg->sock_flow_entries / queues : cfg->sock_flow_entries;
	return rps_roundup_pow2(v);
}

static long long flow_for(const struct fs_config *cfg, long long flow, int nq)
{
	return flow == -2 ? tune_flow_cnt(cfg, nq) : flow;
}

/* Runs in the child, inside the pod netns. */
static void *pod_child(int classfd, void *arg, size_t *len, char *errbuf, size_t errlen)
{
	const struct tune_pod_req *req = arg;
	struct rps_dev *d;

	if (req->op == TUNE_POD_VERIFY) {
		char *msg = calloc(1, 512);
		int ret;

		if (!msg)
			return NULL;
		ret = rps_dev_verify(classfd, req->ifname, req->hex, req->flow, msg, 512);
		if (ret == 0)
			msg[0] = '\0';
		*len = strlen(msg) + 1;
		return msg;
	}
	d = rps_dev_load(classfd, req->ifname, RPS_SCOPE_CONTAINER);
	if (!d) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	if (d->status == RPS_APPLIED && d->nq > 0) {
		struct dev_nl *nl = NULL;
		struct dev_link l;

		/* The peer's index, to find the host side when prevResult lacks it. */
		if (dev_nl_open(&nl) == 0) {
			if (dev_get(nl, req->ifname, 0, &l) == 0) {
				d->ifindex = l.ifindex;
				d->peer_ifindex = l.link_other_netns ? l.link : 0;
			}
			dev_nl_close(nl);
		}
		switch (req->op) {
		case TUNE_POD_APPLY:
			rps_dev_apply(classfd, d, req->hex, flow_for(req->cfg, req->flow, d->nq));
			break;
		case TUNE_POD_RESTORE:
			if (req->restore && rps_dev_restore(classfd, req->restore))
				d->status = RPS_FAILED;
			break;
		default:
			break;
		}
	}
	*len = rps_dev_size(d);
	return d;
}

int tune_pod(int nsfd, const char *netns, const struct tune_pod_req *req,
	     struct rps_dev **out, char **msg, struct fs_err *e)
{
	void *blob = NULL;
	size_t len = 0;

	if (out)
		*out = NULL;
	if (msg)
		*msg = NULL;
	if (netns_run(nsfd, netns, pod_child, (void *)req, &blob, &len, e))
		return -1;
	if (req->op == TUNE_POD_VERIFY) {
		if (blob && ((char *)blob)[0] && msg)
			*msg = blob;
		else
			free(blob);
		return 0;
	}
	if (len < sizeof(struct rps_dev) || len != rps_dev_size(blob)) {
		free(blob);
		return err_set(e, CNI_ERR_IO, "netns %s: malformed reply from the netns child", netns);
	}
	*out = blob;
	return 0;
}

struct rps_dev *tune_host_dev(int classfd, const char *name, int scope, const char *hex,
			      long long flow, const struct fs_config *cfg)
{
	struct rps_dev *d = rps_dev_load(classfd, name, scope);

	if (d && d->status == RPS_APPLIED && d->nq > 0)
		rps_dev_apply(classfd, d, hex, flow_for(cfg, flow, d->nq));
	return d;
}

/* Node devices named by hostDevices, tokens expanded. */
struct node_target {
	char name[16];
	bool underlay;  /* from @underlay: a multi-queue NIC is left to RSS */
	bool optional;  /* from @calico: absence is normal */
};

static int node_targets(const struct fs_config *cfg, struct node_target *t, int max,
			struct fs_warn *w)
{
	int n = 0;

	for (int i = 0; i < cfg->n_host_devices; i++) {
		const char *h = cfg->host_devices[i];

		if (!strcmp(h, "@calico")) {
			for (unsigned j = 0; j < ARRAY_SIZE(calico_devices) && n < max; j++) {
				memset(&t[n], 0, sizeof(t[n]));
				strcpy(t[n].name, calico_devices[j]);
				t[n++].optional = true;
			}
		} else if (!strcmp(h, "@underlay")) {
			char names[DEV_MAX_UNDERLAY][16];
			struct dev_nl *nl = NULL;
			int k, ret;

			ret = dev_nl_open(&nl);
			k = ret ? ret : dev_default_route_devs(nl, names, DEV_MAX_UNDERLAY);
			dev_nl_close(nl);
			if (k < 0) {
				warn_add(w, "hostDevices @underlay: reading default routes: %s", strerror(-k));
				continue;
			}
			if (k == 0)
				log_msg(LOG_LVL_INFO, "hostDevices @underlay: no default route, no underlay device");
			for (int j = 0; j < k && n < max; j++) {
				memset(&t[n], 0, sizeof(t[n]));
				strcpy(t[n].name, names[j]);
				t[n++].underlay = true;
			}
		} else if (n < max) {
			memset(&t[n], 0, sizeof(t[n]));
			strcpy(t[n++].name, h);
		}
	}
	/* A device named twice (explicitly and through a token) is tuned once;
	 * an explicit name wins over @underlay's RSS skip. */
	for (int i = 0; i < n; i++) {
		for (int j = i + 1; j < n; j++) {
			if (strcmp(t[i].name, t[j].name))
				continue;
			t[i].underlay = t[i].underlay && t[j].underlay;
			t[i].optional = t[i].optional && t[j].optional;
			t[j--] = t[--n];
		}
	}
	return n;
}

static cJSON *queues_json(const struct rps_dev *d)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; a && i < d->nq; i++) {
		cJSON *q = cJSON_CreateObject();

		cJSON_AddStringToObject(q, "rpsCpus", d->orig[i].rps_cpus);
		cJSON_AddNumberToObject(q, "flowCnt", (double)d->orig[i].flow_cnt);
		cJSON_AddItemToArray(a, q);
	}
	return a;
}

int tune_node_apply(struct state *st, int classfd, const struct fs_config *cfg,
		    enum fs_mode mode, const char *hex, struct tune_report *r, struct fs_err *e)
{
	struct node_target t[FS_MAX_HOST_DEVICES + 8];
	struct rps_dev *loaded[FS_MAX_HOST_DEVICES + 8] = { 0 };
	cJSON *node, *devs, *sock;
	bool dirty = false;
	long long cur = -1;
	int n, ret = 0;

	/* Written only when it gains an original: a node with nothing to
	 * restore costs no fsync. */
	node = state_node_read(st);
	if (!node)
		node = cJSON_CreateObject();
	devs = cJSON_GetObjectItemCaseSensitive(node, "devices");
	if (!cJSON_IsObject(devs)) {
		cJSON_DeleteItemFromObjectCaseSensitive(node, "devices");
		devs = cJSON_AddObjectToObject(node, "devices");
	}
	n = node_targets(cfg, t, (int)ARRAY_SIZE(t), &r->warn);

	/* 1. Find every original value and save them before changing anything. */
	for (int i = 0; i < n; i++) {
		struct rps_dev *d = rps_dev_load(classfd, t[i].name, RPS_SCOPE_NODE);

		loaded[i] = d;
		if (!d || d->status != RPS_APPLIED)
			continue;
		if (t[i].underlay && d->nq > 1) {
			d->status = RPS_SKIPPED;
			snprintf(d->reason, sizeof(d->reason), "rss");
			continue;
		}
		if (!cJSON_GetObjectItemCaseSensitive(devs, d->name)) {
			cJSON_AddItemToObject(devs, d->name, queues_json(d));
			dirty = true;
		}
	}
	if (mode == FS_MODE_RFS) {
		cur = rps_sysctl_read();
		sock = cJSON_GetObjectItemCaseSensitive(node, "sockFlowEntries");
		if (cur >= 0 && !cJSON_IsNumber(sock)) {
			cJSON_AddNumberToObject(node, "sockFlowEntries", (double)cur);
			dirty = true;
		}
	}
	if (dirty && state_node_write(st, node, e)) {
		ret = -1;
		goto out;
	}

	debug_hook("node-saved");

	/* 2. Apply. */
	for (int i = 0; i < n; i++) {
		struct rps_dev *d = loaded[i];

		if (i == 1)
			debug_hook("node-partial");
		loaded[i] = NULL;
		if (!d)
			continue;
		if (d->status == RPS_APPLIED) {
			if (rps_dev_apply(classfd, d, hex,
					  mode == FS_MODE_RFS ? tune_flow_cnt(cfg, d->nq) : -1))
				warn_add(&r->warn, "node device %s: %s", d->name, d->reason);
		} else if (d->status == RPS_ABSENT && !t[i].optional) {
			warn_add(&r->warn, "hostDevices: device %s is absent; skipped", d->name);
		}
		tune_report_add(r, d);
	}
	if (mode == FS_MODE_RFS) {
		long long want = rps_roundup_pow2(cfg->sock_flow_entries);

		if (cur == -ENOENT) {
			r->sock_status = "absent";
			log_msg(LOG_LVL_INFO,
				"net.core.rps_sock_flow_entries does not exist in this network namespace (it exists only in the initial one)");
		} else if (cur < 0) {
			r->sock_status = "failed";
			warn_add(&r->warn, "reading net.core.rps_sock_flow_entries: %s", strerror((int)-cur));
		} else if (want > cur) {
			int w = rps_sysctl_write(want);

			r->sock_status = w ? "failed" : "applied";
			r->sock_flow = w ? cur : want;
			if (w)
				warn_add(&r->warn, "writing net.core.rps_sock_flow_entries=%lld: %s", want,
					 strerror(-w));
		} else {
			/* Never lowered: a larger value found stays. */
			r->sock_status = "applied";
			r->sock_flow = cur;
		}
	}
out:
	for (int i = 0; i < n; i++)
		free(loaded[i]);
	cJSON_Delete(node);
	return ret;
}

int tune_node_restore(struct state *st, int classfd)
{
	cJSON *node = state_node_read(st), *dev, *sock;
	int ret = 0;

	if (!node)
		return 0;
	cJSON_ArrayForEach(dev, cJSON_GetObjectItemCaseSensitive(node, "devices")) {
		struct rps_queue *q;
		char reason[256];
		int nq = cJSON_GetArraySize(dev), i = 0, w;
		cJSON *it;

		if (!dev->string || !ifname_valid(dev->string) || nq <= 0 || nq > RPS_MAX_QUEUES)
			continue;
		q = calloc((size_t)nq, sizeof(*q));
		if (!q) {
			ret = -ENOMEM;
			continue;
		}
		cJSON_ArrayForEach(it, dev) {
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "rpsCpus");
			const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "flowCnt");

			snprintf(q[i].rps_cpus, sizeof(q[i].rps_cpus), "%s",
				 cJSON_IsString(c) ? c->valuestring : "");
			q[i].flow_cnt = cJSON_IsNumber(f) ? (long long)f->valuedouble : -1;
			i++;
		}
		w = rps_queues_write(classfd, dev->string, q, nq, reason, sizeof(reason));
		if (w == -ENOENT)
			log_msg(LOG_LVL_INFO, "node device %s is gone; nothing to restore", dev->string);
		else if (w)
			log_msg(LOG_LVL_WARN, "restoring node device %s: %s", dev->string, reason);
		else
			log_msg(LOG_LVL_INFO, "restored node device %s (%d queues)", dev->string, nq);
		if (w && w != -ENOENT && !ret)
			ret = w;
		free(q);
		debug_hook("restore-partial");
	}
	sock = cJSON_GetObjectItemCaseSensitive(node, "sockFlowEntries");
	if (cJSON_IsNumber(sock)) {
		int w = rps_sysctl_write((long long)sock->valuedouble);

		if (w)
			log_msg(LOG_LVL_WARN, "restoring net.core.rps_sock_flow_entries=%.0f: %s",
				sock->valuedouble, strerror(-w));
		else
			log_msg(LOG_LVL_INFO, "restored net.core.rps_sock_flow_entries=%.0f", sock->valuedouble);
		if (w && !ret)
			ret = w;
	}
	cJSON_Delete(node);
	/* Forget even on partial failure: retrying would fight whoever changed
	 * the device since; the log names what could not be restored. */
	state_node_remove(st);
	return ret;
}

int tune_node_release(struct state *st, bool restore)
{
	int refs = state_node_refs(st), classfd, ret;

	if (refs != 0 || !restore)
		return refs;
	classfd = netns_open_host_class();
	if (classfd < 0) {
		log_msg(LOG_LVL_WARN, "node restore skipped: opening /sys/class/net: %s", strerror(errno));
		return 0;
	}
	ret = tune_node_restore(st, classfd);
	if (ret)
		log_msg(LOG_LVL_WARN, "node restore incomplete: %s", strerror(-ret));
	close(classfd);
	return 0;
}

cJSON *tune_record(const struct tune_report *r, const char *cid, const char *ifname,
		   const char *netns, const char *pod_ns, const char *pod, const char *phase)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "containerId", cid);
	cJSON_AddStringToObject(o, "ifname", ifname);
	cJSON_AddStringToObject(o, "netns", netns ? netns : "");
	cJSON_AddStringToObject(o, "podNamespace", pod_ns ? pod_ns : "");
	cJSON_AddStringToObject(o, "podName", pod ? pod : "");
	cJSON_AddStringToObject(o, "phase", phase);
	cJSON_AddNumberToObject(o, "time", (double)time(NULL));
	cJSON_AddItemToObject(o, "flowsteer", tune_report_json(r));
	return o;
}

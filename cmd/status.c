/* `flowsteer status [--json] [--state-dir DIR]`: the operator's drift view
 * (containerd never runs CHECK). Live values are read inside each pod netns. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "netns.h"
#include "rps.h"
#include "state.h"
#include "util.h"
#include "verify.h"

static const char *const state_names[] = { "ok", "DRIFT", "gone", "unreadable" };

struct status_walk {
	bool json;
	cJSON *arr;
	int drift;
	int n;
};

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static int status_visit(const char *file, const cJSON *rec, bool node_ref, void *arg)
{
	struct status_walk *w = arg;
	const cJSON *fs = cJSON_GetObjectItemCaseSensitive(rec, "flowsteer");
	struct verify_dev *v = NULL;
	int n = 0;
	cJSON *o = NULL, *devs = NULL;

	if (!rec)
		return 0;
	w->n++;
	verify_devices(rec, NULL, &v, &n);
	if (w->json) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "podNamespace", jstr(rec, "podNamespace"));
		cJSON_AddStringToObject(o, "podName", jstr(rec, "podName"));
		cJSON_AddStringToObject(o, "containerId", jstr(rec, "containerId"));
		cJSON_AddStringToObject(o, "ifname", jstr(rec, "ifname"));
		cJSON_AddStringToObject(o, "netns", jstr(rec, "netns"));
		cJSON_AddStringToObject(o, "phase", jstr(rec, "phase"));
		cJSON_AddStringToObject(o, "mode", jstr(fs, "mode"));
		cJSON_AddStringToObject(o, "scope", jstr(fs, "scope"));
		cJSON_AddStringToObject(o, "cpus", jstr(fs, "cpus"));
		cJSON_AddBoolToObject(o, "nodeRef", node_ref);
		devs = cJSON_AddArrayToObject(o, "devices");
	} else {
		printf("%s/%s  container %.12s  %s  mode=%s scope=%s cpus=%s%s\n",
		       jstr(rec, "podNamespace"), jstr(rec, "podName"), jstr(rec, "containerId"),
		       jstr(rec, "netns"), jstr(fs, "mode"), jstr(fs, "scope"), jstr(fs, "cpus"),
		       strcmp(jstr(rec, "phase"), "done") ? "  (ADD incomplete)" : "");
		printf("  %-16s %-9s %6s  %-18s %-18s %8s %8s  %s\n", "DEVICE", "SCOPE", "QUEUES",
		       "RPS_CPUS(REC)", "RPS_CPUS(LIVE)", "FLOW", "LIVE", "STATE");
	}
	for (int i = 0; i < n; i++) {
		const struct verify_dev *d = &v[i];

		if (d->state == 1)
			w->drift++;
		if (w->json) {
			cJSON *j = cJSON_CreateObject();

			cJSON_AddStringToObject(j, "name", d->name);
			cJSON_AddStringToObject(j, "scope", rps_scope_name(d->scope));
			cJSON_AddNumberToObject(j, "queues", d->queues);
			cJSON_AddStringToObject(j, "rpsCpus", d->want_rps);
			cJSON_AddStringToObject(j, "liveRpsCpus", d->live_rps);
			if (d->want_flow >= 0)
				cJSON_AddNumberToObject(j, "flowCnt", (double)d->want_flow);
			if (d->live_flow >= 0)
				cJSON_AddNumberToObject(j, "liveFlowCnt", (double)d->live_flow);
			cJSON_AddStringToObject(j, "state", d->state == 1 ? "drift" : state_names[d->state]);
			if (d->msg[0])
				cJSON_AddStringToObject(j, "detail", d->msg);
			cJSON_AddItemToArray(devs, j);
		} else {
			char wf[24] = "-", lf[24] = "-";

			if (d->want_flow >= 0)
				snprintf(wf, sizeof(wf), "%lld", d->want_flow);
			if (d->live_flow >= 0)
				snprintf(lf, sizeof(lf), "%lld", d->live_flow);
			printf("  %-16s %-9s %6d  %-18.18s %-18.18s %8s %8s  %s%s%s\n", d->name,
			       rps_scope_name(d->scope), d->queues, d->want_rps,
			       d->live_rps[0] ? d->live_rps : "-", wf, lf, state_names[d->state],
			       d->state ? ": " : "", d->state ? d->msg : "");
		}
	}
	if (w->json)
		cJSON_AddItemToArray(w->arr, o);
	free(v);
	return 0;
}

static void status_node(const char *dir, int refs, bool json, cJSON *root)
{
	cJSON *node = state_node_read_dir(dir), *dev, *sock, *jn = NULL, *jd = NULL;
	int classfd = -1;
	long long cur = rps_sysctl_read();

	if (json) {
		jn = cJSON_AddObjectToObject(root, "node");
		cJSON_AddNumberToObject(jn, "refcount", refs);
		jd = cJSON_AddArrayToObject(jn, "devices");
		if (cur >= 0)
			cJSON_AddNumberToObject(jn, "rpsSockFlowEntries", (double)cur);
		else
			cJSON_AddNullToObject(jn, "rpsSockFlowEntries");
	} else {
		printf("\nnode devices (held by %d attachment%s):\n", refs, refs == 1 ? "" : "s");
	}
	classfd = netns_open_host_class();
	cJSON_ArrayForEach(dev, cJSON_GetObjectItemCaseSensitive(node, "devices")) {
		const cJSON *q0 = cJSON_GetArrayItem(dev, 0);
		struct rps_dev *live = dev->string && ifname_valid(dev->string) && classfd >= 0
					       ? rps_dev_load(classfd, dev->string, RPS_SCOPE_NODE) : NULL;
		const char *orig = jstr(q0, "rpsCpus");
		const cJSON *of = cJSON_GetObjectItemCaseSensitive(q0, "flowCnt");
		const char *lv = live && live->status == RPS_APPLIED && live->nq ? live->orig[0].rps_cpus : "-";
		long long lflow = live && live->status == RPS_APPLIED && live->nq ? live->orig[0].flow_cnt : -1;

		if (json) {
			cJSON *j = cJSON_CreateObject();

			cJSON_AddStringToObject(j, "name", dev->string);
			cJSON_AddNumberToObject(j, "queues", cJSON_GetArraySize(dev));
			cJSON_AddItemToObject(j, "original", cJSON_Duplicate(dev, 1));
			cJSON_AddStringToObject(j, "liveRpsCpus", lv);
			if (lflow >= 0)
				cJSON_AddNumberToObject(j, "liveFlowCnt", (double)lflow);
			cJSON_AddItemToArray(jd, j);
		} else {
			printf("  %-16s queues %-3d original rps_cpus=%s flow_cnt=%.0f  live rps_cpus=%s flow_cnt=%lld\n",
			       dev->string, cJSON_GetArraySize(dev), orig,
			       cJSON_IsNumber(of) ? of->valuedouble : -1, lv, lflow);
		}
		free(live);
	}
	sock = node ? cJSON_GetObjectItemCaseSensitive(node, "sockFlowEntries") : NULL;
	if (json) {
		if (cJSON_IsNumber(sock))
			cJSON_AddNumberToObject(jn, "rpsSockFlowEntriesOriginal", sock->valuedouble);
	} else {
		if (cur >= 0)
			printf("net.core.rps_sock_flow_entries = %lld", cur);
		else
			printf("net.core.rps_sock_flow_entries: not available in this network namespace");
		if (cJSON_IsNumber(sock))
			printf(" (original %.0f)", sock->valuedouble);
		printf("\n");
	}
	if (classfd >= 0)
		close(classfd);
	cJSON_Delete(node);
}

int cli_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = "/var/lib/cni/flowsteer";
	struct status_walk w = { 0 };
	cJSON *root = NULL;
	int c, refs = 0, ret;

	while ((c = getopt_long(argc, argv, "js:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			w.json = true;
			break;
		case 's':
			dir = optarg;
			break;
		case 'h':
			printf("usage: flowsteer status [--json] [--state-dir DIR]\n");
			return 0;
		default:
			fprintf(stderr, "usage: flowsteer status [--json] [--state-dir DIR]\n");
			return 2;
		}
	}
	if (w.json) {
		root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "stateDir", dir);
		w.arr = cJSON_AddArrayToObject(root, "attachments");
	} else {
		printf("flowsteer %s — state %s\n\n", FLOWSTEER_VERSION, dir);
	}
	ret = state_records_foreach_dir(dir, status_visit, &w);
	if (ret) {
		fprintf(stderr, "flowsteer status: reading %s/attachments: %s\n", dir, strerror(-ret));
		cJSON_Delete(root);
		return 1;
	}
	{
		struct state st = { .lockfd = -1 };

		snprintf(st.dir, sizeof(st.dir), "%s", dir);
		refs = state_node_refs(&st);
	}
	if (!w.json && w.n == 0)
		printf("no tuned attachments\n");
	status_node(dir, refs < 0 ? 0 : refs, w.json, root);
	if (w.json) {
		cJSON_AddNumberToObject(root, "drift", w.drift);
		cni_json_print(stdout, root);
		cJSON_Delete(root);
	} else if (w.drift) {
		printf("\n%d device(s) drifted from their recorded values\n", w.drift);
	}
	return w.drift ? 3 : 0;
}

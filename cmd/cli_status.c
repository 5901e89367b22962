/* `flowsteer status [--json] [--state-dir DIR] [--cpu-manager-state FILE]`:
 * the operator's drift view (containerd never runs CHECK). Live values of
 * pod interfaces are read inside each pod netns. Exit 3 on drift or a
 * partial or failed device. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "model_json.h"
#include "plan.h"
#include "state.h"
#include "sysfs.h"
#include "verify.h"

struct status_view {
	bool json;
	unsigned nbits;
	cJSON *root;
	cJSON *arr;
	int drift;
	int unapplied;          /* partial or failed: flowsteer's own write fell short */
	int n;
};

static void hex(const struct status_view *w, const struct cpumask *m, char *buf, size_t len)
{
	cpumask_format_hex(m, w->nbits, buf, len);
}

/* The record's view of a device and what was read live. */
static cJSON *dev_view_json(const struct status_view *w, const struct verify_dev *v)
{
	cJSON *j = model_json_dev_view(v->dev, w->nbits);
	char live[CPUMASK_HEX_MAX];

	hex(w, &v->live_cpus, live, sizeof(live));
	cJSON_AddNumberToObject(j, "queues", v->queues);
	cJSON_AddStringToObject(j, "liveRpsCpus", v->state == VERIFY_OK || v->state == VERIFY_DRIFT ? live : "");
	if (v->live_flow >= 0)
		cJSON_AddNumberToObject(j, "liveFlowCnt", (double)v->live_flow);
	cJSON_AddStringToObject(j, "state", verify_state_name(v->state));
	if (v->msg[0])
		cJSON_AddStringToObject(j, "detail", v->msg);
	return j;
}

static void dev_view_text(const struct status_view *w, const struct verify_dev *v)
{
	char want[CPUMASK_HEX_MAX], live[CPUMASK_HEX_MAX], wf[24] = "-", lf[24] = "-", q[32];

	hex(w, &v->dev->want_cpus, want, sizeof(want));
	hex(w, &v->live_cpus, live, sizeof(live));
	if (v->dev->want_flow >= 0)
		snprintf(wf, sizeof(wf), "%lld", v->dev->want_flow);
	if (v->live_flow >= 0)
		snprintf(lf, sizeof(lf), "%lld", v->live_flow);
	snprintf(q, sizeof(q), "%d/%d", v->dev->nq_set, v->dev->nq_total);
	printf("  %-16s %-9s %9s  %-18.18s %-18.18s %8s %8s  %s%s%s", v->dev->name,
	       model_scope_name(v->dev->scope), q, want,
	       v->state <= VERIFY_DRIFT ? live : "-", wf, lf, v->state == VERIFY_DRIFT ? "DRIFT" : verify_state_name(v->state),
	       v->state ? ": " : "", v->state ? v->msg : "");
	/* What flowsteer could not write, in capitals as a drift is. */
	if (v->dev->status != DEV_APPLIED)
		printf("  %s: %s", v->dev->status == DEV_PARTIAL ? "PARTIAL" : "FAILED", v->dev->reason);
	printf("\n");
}

static int status_visit(const char *file, struct attachment *a, const struct fs_err *err, void *arg)
{
	struct status_view *w = arg;
	struct verify_dev v[MODEL_MAX_DEVS];
	cJSON *o = NULL, *devs = NULL;
	char cpus[CPUMASK_HEX_MAX];
	int n = 0;

	if (!a) {
		fprintf(stderr, "flowsteer status: %s: %s\n", file, err->msg);
		return 0;
	}
	w->n++;
	verify_attachment(a, NULL, v, &n);
	if (w->json) {
		o = model_json_attachment_view(a);
		devs = cJSON_AddArrayToObject(o, "devices");
		cJSON_AddItemToArray(w->arr, o);
	} else {
		cpumask_format_list(&a->cpus, cpus, sizeof(cpus));
		printf("%s/%s  container %.12s  %s  mode=%s scope=%s cpus=%s source=%s\n", a->pod_namespace,
		       a->pod_name, a->container_id, a->netns, config_mode_name(a->mode),
		       config_scope_name(a->scope), cpus, model_source_name(a->source));
		printf("  %-16s %-9s %9s  %-18s %-18s %8s %8s  %s\n", "DEVICE", "SCOPE", "QUEUES",
		       "RPS_CPUS(REC)", "RPS_CPUS(LIVE)", "FLOW", "LIVE", "STATE");
	}
	for (int i = 0; i < n; i++) {
		if (v[i].state == VERIFY_DRIFT)
			w->drift++;
		if (v[i].dev->status != DEV_APPLIED)
			w->unapplied++;
		if (w->json)
			cJSON_AddItemToArray(devs, dev_view_json(w, &v[i]));
		else
			dev_view_text(w, &v[i]);
	}
	return 0;
}

static cJSON *node_dev_json(const struct status_view *w, const struct dev *nd, const struct dev *live)
{
	cJSON *j = model_json_node_dev_view(nd, w->nbits);
	char h[CPUMASK_HEX_MAX];

	hex(w, live->nq ? &live->q[0].orig_cpus : &nd->q[0].orig_cpus, h, sizeof(h));
	cJSON_AddStringToObject(j, "liveRpsCpus", live->status == DEV_APPLIED && live->nq ? h : "-");
	if (live->status == DEV_APPLIED && live->nq && live->q[0].orig_flow >= 0)
		cJSON_AddNumberToObject(j, "liveFlowCnt", (double)live->q[0].orig_flow);
	return j;
}

static void node_dev_text(const struct status_view *w, const struct dev *nd, const struct dev *live)
{
	char o[CPUMASK_HEX_MAX], l[CPUMASK_HEX_MAX] = "-";
	bool have = live->status == DEV_APPLIED && live->nq;

	hex(w, &nd->q[0].orig_cpus, o, sizeof(o));
	if (have)
		hex(w, &live->q[0].orig_cpus, l, sizeof(l));
	printf("  %-16s queues %-3d original rps_cpus=%s flow_cnt=%lld  live rps_cpus=%s flow_cnt=%lld\n",
	       nd->name, nd->nq, o, nd->q[0].orig_flow, l, have ? live->q[0].orig_flow : -1);
}

static void status_node(struct status_view *w, struct state *st)
{
	struct node_state *n = calloc(1, sizeof(*n));
	struct fs_err err = { 0 };
	int holders = state_holders(st), classfd = sysfs_class_open();
	long long cur = sysfs_sockflow_read();
	cJSON *jn = NULL, *jd = NULL;

	if (!n)
		return;
	if (state_node_read(st, n, &err) == -1)
		fprintf(stderr, "flowsteer status: %s\n", err.msg);
	if (w->json) {
		jn = cJSON_AddObjectToObject(w->root, "node");
		cJSON_AddNumberToObject(jn, "refcount", holders < 0 ? 0 : holders);
		jd = cJSON_AddArrayToObject(jn, "devices");
		cJSON_AddItemToObject(jn, "rpsSockFlowEntries", cur >= 0 ? cJSON_CreateNumber((double)cur) : cJSON_CreateNull());
		if (n->sock_held)
			cJSON_AddNumberToObject(jn, "rpsSockFlowEntriesOriginal", (double)n->sock_orig);
	} else {
		printf("\nnode devices (held by %d attachment%s):\n", holders, holders == 1 ? "" : "s");
	}
	for (int i = 0; i < n->ndev; i++) {
		struct dev live = { .status = DEV_APPLIED };

		if (!n->devs[i].nq)
			continue;
		snprintf(live.name, sizeof(live.name), "%s", n->devs[i].name);
		if (classfd >= 0)
			plan_dev_read(classfd, &live);
		if (w->json)
			cJSON_AddItemToArray(jd, node_dev_json(w, &n->devs[i], &live));
		else
			node_dev_text(w, &n->devs[i], &live);
		model_dev_free(&live);
	}
	if (!w->json) {
		if (cur >= 0)
			printf("net.core.rps_sock_flow_entries = %lld", cur);
		else
			printf("net.core.rps_sock_flow_entries: not available in this network namespace");
		if (n->sock_held)
			printf(" (original %lld)", n->sock_orig);
		printf("\n");
	}
	if (classfd >= 0)
		close(classfd);
	node_state_clear(n);
	free(n);
}

/* Which CPUs a mask may use now, and which are left out and why. */
static void status_cpus(struct status_view *w, const struct fs_config *cfg)
{
	struct cpus_excluded x;
	struct cpumask allowed, online;
	struct fs_warn warn = { 0 };
	struct fs_err err = { 0 };
	char a[256], on[256], iso[256], nohz[256], kub[256];
	cJSON *c, *ex;

	if (plan_cpus(cfg, &allowed, &x, &w->nbits, &warn, &err) || sysfs_cpus_online(&online, &w->nbits)) {
		fprintf(stderr, "flowsteer status: %s\n", err.msg[0] ? err.msg : "reading the CPU lists failed");
		w->nbits = w->nbits ? w->nbits : 1;
		return;
	}
	for (int i = 0; i < warn.n; i++)
		fprintf(stderr, "flowsteer status: %s\n", warn.items[i]);
	warn_free(&warn);
	cpumask_format_list(&allowed, a, sizeof(a));
	cpumask_format_list(&online, on, sizeof(on));
	cpumask_format_list(&x.isolated, iso, sizeof(iso));
	cpumask_format_list(&x.nohz_full, nohz, sizeof(nohz));
	cpumask_format_list(&x.kubelet, kub, sizeof(kub));
	if (!w->json) {
		printf("cpus: online %s, steering onto %s (left out: isolated %s, nohz_full %s, kubelet exclusive %s)\n\n",
		       on, a[0] ? a : "none", iso[0] ? iso : "-", nohz[0] ? nohz : "-", kub[0] ? kub : "-");
		return;
	}
	c = cJSON_AddObjectToObject(w->root, "cpus");
	cJSON_AddStringToObject(c, "online", on);
	cJSON_AddStringToObject(c, "allowed", a);
	ex = cJSON_AddObjectToObject(c, "excluded");
	cJSON_AddStringToObject(ex, "isolated", iso);
	cJSON_AddStringToObject(ex, "nohzFull", nohz);
	cJSON_AddStringToObject(ex, "kubelet", kub);
}

static int status_args(int argc, char **argv, struct status_view *w, struct fs_config *cfg)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "cpu-manager-state", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *use = "usage: flowsteer status [--json] [--state-dir DIR] [--cpu-manager-state FILE]\n";
	int c;

	while ((c = getopt_long(argc, argv, "js:k:h", opts, NULL)) != -1) {
		if (c == 'j')
			w->json = true;
		else if ((c == 's' || c == 'k') && strlen(optarg) < sizeof(cfg->state_dir))
			strcpy(c == 's' ? cfg->state_dir : cfg->cpu_manager_state, optarg);
		else
			return fputs(use, c == 'h' ? stdout : stderr), c == 'h' ? 0 : 2;
	}
	return -1;
}

int cli_status(int argc, char **argv)
{
	struct status_view w = { 0 };
	struct state st = STATE_INIT;
	struct fs_config cfg;
	struct fs_err err = { 0 };
	int ret;

	config_defaults(&cfg);
	ret = status_args(argc, argv, &w, &cfg);
	if (ret >= 0)
		return ret;
	if (state_open(&st, cfg.state_dir, false, &err)) {
		fprintf(stderr, "flowsteer status: %s\n", err.msg);
		return 1;
	}
	if (w.json) {
		w.root = cJSON_CreateObject();
		cJSON_AddStringToObject(w.root, "stateDir", cfg.state_dir);
		w.arr = cJSON_AddArrayToObject(w.root, "attachments");
	} else {
		printf("flowsteer %s — state %s\n", FLOWSTEER_VERSION, cfg.state_dir);
	}
	status_cpus(&w, &cfg);
	ret = state_records_foreach(&st, status_visit, &w);
	if (!w.json && w.n == 0)
		printf("no tuned attachments\n");
	status_node(&w, &st);
	state_close(&st);
	if (w.json) {
		cJSON_AddNumberToObject(w.root, "drift", w.drift);
		cJSON_AddNumberToObject(w.root, "unapplied", w.unapplied);
		cni_json_print(stdout, w.root);
		cJSON_Delete(w.root);
	} else if (w.drift || w.unapplied) {
		printf("\n%d device(s) drifted from their recorded values, %d partial or failed\n", w.drift,
		       w.unapplied);
	}
	if (ret < 0)
		fprintf(stderr, "flowsteer status: reading %s/attachments: %s\n", cfg.state_dir, strerror(-ret));
	return ret < 0 ? 1 : w.drift || w.unapplied ? 3 : 0;
}

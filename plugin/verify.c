#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netns.h"
#include "rps.h"
#include "tune.h"
#include "util.h"
#include "verify.h"

static int scope_parse(const char *s)
{
	if (!strcmp(s, "container"))
		return RPS_SCOPE_CONTAINER;
	if (!strcmp(s, "host"))
		return RPS_SCOPE_HOST;
	if (!strcmp(s, "node"))
		return RPS_SCOPE_NODE;
	return -1;
}

/* Compares live queues with what was recorded. */
static void verify_compare(struct verify_dev *v, const struct rps_dev *live)
{
	struct cpumask want, have;

	v->queues = live->nq;
	if (live->status == RPS_ABSENT) {
		v->state = 2;
		snprintf(v->msg, sizeof(v->msg), "device %s (%s): gone", v->name, rps_scope_name(v->scope));
		return;
	}
	if (live->status != RPS_APPLIED) {
		v->state = 3;
		snprintf(v->msg, sizeof(v->msg), "device %s: %s", v->name, live->reason);
		return;
	}
	cpumask_parse_hex(v->want_rps, &want);
	for (int i = 0; i < live->nq; i++) {
		const struct rps_queue *q = &live->orig[i];

		if (i == 0) {
			snprintf(v->live_rps, sizeof(v->live_rps), "%s", q->rps_cpus);
			v->live_flow = q->flow_cnt;
		}
		if (cpumask_parse_hex(q->rps_cpus, &have) || !cpumask_equal(&want, &have)) {
			v->state = 1;
			snprintf(v->live_rps, sizeof(v->live_rps), "%s", q->rps_cpus);
			snprintf(v->msg, sizeof(v->msg),
				 "device %s (%s) queue rx-%d: rps_cpus expected %.64s, actual %.64s",
				 v->name, rps_scope_name(v->scope), i, v->want_rps, q->rps_cpus);
			return;
		}
		if (v->want_flow >= 0 && q->flow_cnt >= 0 && q->flow_cnt != v->want_flow) {
			v->state = 1;
			v->live_flow = q->flow_cnt;
			snprintf(v->msg, sizeof(v->msg),
				 "device %s (%s) queue rx-%d: rps_flow_cnt expected %lld, actual %lld",
				 v->name, rps_scope_name(v->scope), i, v->want_flow, q->flow_cnt);
			return;
		}
	}
}

int verify_devices(const cJSON *rec, const char *netns, struct verify_dev **out, int *n)
{
	const cJSON *fs = cJSON_GetObjectItemCaseSensitive(rec, "flowsteer");
	const cJSON *devs = cJSON_GetObjectItemCaseSensitive(fs, "devices"), *it;
	const cJSON *rns = cJSON_GetObjectItemCaseSensitive(rec, "netns");
	struct verify_dev *v;
	int cap = cJSON_GetArraySize(devs), k = 0, nsfd = -1, classfd = -1;

	*out = NULL;
	*n = 0;
	if (!netns || !*netns)
		netns = cJSON_IsString(rns) ? rns->valuestring : "";
	v = calloc((size_t)(cap ? cap : 1), sizeof(*v));
	if (!v)
		return -ENOMEM;
	cJSON_ArrayForEach(it, devs) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
		const cJSON *scope = cJSON_GetObjectItemCaseSensitive(it, "scope");
		const cJSON *status = cJSON_GetObjectItemCaseSensitive(it, "status");
		const cJSON *rps = cJSON_GetObjectItemCaseSensitive(it, "rpsCpus");
		const cJSON *flow = cJSON_GetObjectItemCaseSensitive(it, "flowCnt");
		struct verify_dev *d = &v[k];
		struct rps_dev *live = NULL;

		if (!cJSON_IsString(name) || !cJSON_IsString(scope) || !cJSON_IsString(status) ||
		    strcmp(status->valuestring, "applied") || !cJSON_IsString(rps) ||
		    !ifname_valid(name->valuestring) || scope_parse(scope->valuestring) < 0)
			continue;
		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "%s", name->valuestring);
		d->scope = scope_parse(scope->valuestring);
		snprintf(d->want_rps, sizeof(d->want_rps), "%s", rps->valuestring);
		d->want_flow = cJSON_IsNumber(flow) ? (long long)flow->valuedouble : -1;
		d->live_flow = -1;
		k++;
		if (d->scope == RPS_SCOPE_CONTAINER) {
			struct tune_pod_req req = { .op = TUNE_POD_READ, .flow = -1 };
			struct fs_err err = { 0 };
			int gone = 0;

			if (nsfd < 0)
				nsfd = netns_open(netns, &gone, &err);
			if (nsfd < 0) {
				d->state = gone ? 2 : 3;
				snprintf(d->msg, sizeof(d->msg), "device %s (container): %.400s", d->name, err.msg);
				continue;
			}
			snprintf(req.ifname, sizeof(req.ifname), "%s", d->name);
			if (tune_pod(nsfd, netns, &req, &live, NULL, &err)) {
				d->state = 3;
				snprintf(d->msg, sizeof(d->msg), "device %s (container): %.400s", d->name, err.msg);
				continue;
			}
		} else {
			if (classfd < 0)
				classfd = netns_open_host_class();
			live = rps_dev_load(classfd, d->name, d->scope);
		}
		if (!live) {
			d->state = 3;
			snprintf(d->msg, sizeof(d->msg), "device %s: out of memory", d->name);
			continue;
		}
		verify_compare(d, live);
		free(live);
	}
	if (nsfd >= 0)
		close(nsfd);
	if (classfd >= 0)
		close(classfd);
	*out = v;
	*n = k;
	return 0;
}

int verify_record(const cJSON *rec, const char *netns, struct fs_err *e)
{
	const cJSON *fs = cJSON_GetObjectItemCaseSensitive(rec, "flowsteer");
	const cJSON *sock = cJSON_GetObjectItemCaseSensitive(fs, "sockFlowEntries");
	const cJSON *sst = cJSON_GetObjectItemCaseSensitive(fs, "sockFlowEntriesStatus");
	struct verify_dev *v = NULL;
	int n = 0, ret = 0;

	if (verify_devices(rec, netns, &v, &n))
		return err_set(e, CNI_ERR_IO, "reading live values: out of memory");
	for (int i = 0; i < n; i++) {
		if (v[i].state) {
			ret = err_set(e, FS_ERR_DRIFT, "drift: %s", v[i].msg);
			break;
		}
	}
	if (!ret && cJSON_IsNumber(sock) && cJSON_IsString(sst) && !strcmp(sst->valuestring, "applied")) {
		long long cur = rps_sysctl_read();

		if (cur < (long long)sock->valuedouble)
			ret = err_set(e, FS_ERR_DRIFT,
				      "drift: net.core.rps_sock_flow_entries expected >= %.0f, actual %lld",
				      sock->valuedouble, cur);
	}
	free(v);
	return ret;
}

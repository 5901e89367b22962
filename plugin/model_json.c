/* The model as JSON (docs/state.md): records, node.json and the
 * `flowsteer status` view. The only place the model becomes JSON; the way
 * back is model_parse.c. */
#include <stdio.h>

#include "model_json.h"

static cJSON *mask_json(const struct cpumask *m)
{
	char buf[CPUMASK_HEX_MAX];

	cpumask_format_list(m, buf, sizeof(buf));
	return cJSON_CreateString(buf);
}

cJSON *model_json_num(long long v)
{
	return v >= 0 ? cJSON_CreateNumber((double)v) : cJSON_CreateNull();
}

static cJSON *queue_json(const struct dev_queue *q)
{
	cJSON *o = cJSON_CreateObject(), *orig, *set;

	orig = cJSON_AddObjectToObject(o, "orig");
	cJSON_AddItemToObject(orig, "cpus", mask_json(&q->orig_cpus));
	cJSON_AddItemToObject(orig, "flowCnt", model_json_num(q->orig_flow));
	set = cJSON_AddObjectToObject(o, "set");
	cJSON_AddItemToObject(set, "cpus", q->wrote_cpus ? mask_json(&q->set_cpus) : cJSON_CreateNull());
	cJSON_AddItemToObject(set, "flowCnt", model_json_num(q->wrote_flow ? q->set_flow : -1));
	return o;
}

static cJSON *queues_json(const struct dev *d)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; a && i < d->nq; i++)
		cJSON_AddItemToArray(a, queue_json(&d->q[i]));
	return a;
}

cJSON *model_json_dev_outcome(cJSON *o, const struct dev *d)
{
	char en[32];

	cJSON_AddNumberToObject(o, "queuesSet", d->nq_set);
	cJSON_AddNumberToObject(o, "queuesTotal", d->nq_total);
	cJSON_AddItemToObject(o, "errno", d->err ? cJSON_CreateString(model_errno_name(d->err, en, sizeof(en)))
						 : cJSON_CreateNull());
	return o;
}

static cJSON *dev_json(const struct dev *d)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", d->name);
	cJSON_AddStringToObject(o, "scope", model_scope_name(d->scope));
	cJSON_AddStringToObject(o, "status", model_status_name(d->status));
	cJSON_AddStringToObject(o, "reason", d->reason);
	cJSON_AddItemToObject(o, "cpus", mask_json(&d->want_cpus));
	cJSON_AddItemToObject(o, "flowCnt", model_json_num(d->want_flow));
	cJSON_AddItemToObject(o, "queues", queues_json(d));
	return model_json_dev_outcome(o, d);
}

cJSON *model_json_warnings(const struct fs_warn *w)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; a && i < w->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(w->items[i]));
	return a;
}

/* Which pod interface: the record's and the status view's. */
static void pod_json(cJSON *o, const struct attachment *a)
{
	cJSON_AddStringToObject(o, "containerId", a->container_id);
	cJSON_AddStringToObject(o, "ifname", a->ifname);
	cJSON_AddStringToObject(o, "netns", a->netns);
	cJSON_AddStringToObject(o, "podNamespace", a->pod_namespace);
	cJSON_AddStringToObject(o, "podName", a->pod_name);
	cJSON_AddStringToObject(o, "podUid", a->pod_uid);
}

/* What was decided for it: the record's and the status view's. */
static void decision_json(cJSON *o, const struct attachment *a)
{
	cJSON_AddStringToObject(o, "mode", config_mode_name(a->mode));
	cJSON_AddStringToObject(o, "scope", config_scope_name(a->scope));
	cJSON_AddItemToObject(o, "cpus", mask_json(&a->cpus));
	cJSON_AddStringToObject(o, "source", model_source_name(a->source));
	cJSON_AddBoolToObject(o, "nodeRef", a->node_ref);
}

cJSON *model_json_attachment(const struct attachment *a)
{
	cJSON *o = cJSON_CreateObject(), *x, *s, *devs;

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "version", STATE_VERSION);
	cJSON_AddStringToObject(o, "bootId", a->boot_id);
	pod_json(o, a);
	cJSON_AddStringToObject(o, "network", a->network);
	cJSON_AddNumberToObject(o, "time", (double)a->time);
	decision_json(o, a);
	cJSON_AddItemToObject(o, "cpusAnnotation",
			      a->cpus_narrowed ? mask_json(&a->cpus_annotation) : cJSON_CreateNull());
	x = cJSON_AddObjectToObject(o, "excludedCpus");
	cJSON_AddItemToObject(x, "isolated", mask_json(&a->excluded.isolated));
	cJSON_AddItemToObject(x, "nohzFull", mask_json(&a->excluded.nohz_full));
	cJSON_AddItemToObject(x, "kubelet", mask_json(&a->excluded.kubelet));
	s = cJSON_AddObjectToObject(o, "sockFlowEntries");
	cJSON_AddStringToObject(s, "status", model_sock_status_name(a->sock.status));
	cJSON_AddItemToObject(s, "found", model_json_num(a->sock.found));
	cJSON_AddItemToObject(s, "value", model_json_num(a->sock.value));
	devs = cJSON_AddArrayToObject(o, "devices");
	for (int i = 0; i < a->ndev; i++)
		cJSON_AddItemToArray(devs, dev_json(&a->devs[i]));
	cJSON_AddItemToObject(o, "warnings", model_json_warnings(&a->warn));
	return o;
}

cJSON *model_json_node(const struct node_state *n)
{
	cJSON *o = cJSON_CreateObject(), *devs, *s;

	cJSON_AddNumberToObject(o, "version", STATE_VERSION);
	cJSON_AddStringToObject(o, "bootId", n->boot_id);
	devs = cJSON_AddArrayToObject(o, "devices");
	for (int i = 0; i < n->ndev; i++) {
		cJSON *d = cJSON_CreateObject();

		cJSON_AddStringToObject(d, "name", n->devs[i].name);
		cJSON_AddItemToObject(d, "queues", queues_json(&n->devs[i]));
		cJSON_AddItemToArray(devs, d);
	}
	if (n->sock_held) {
		s = cJSON_AddObjectToObject(o, "sockFlowEntries");
		cJSON_AddNumberToObject(s, "orig", (double)n->sock_orig);
		cJSON_AddNumberToObject(s, "set", (double)n->sock_set);
	} else {
		cJSON_AddNullToObject(o, "sockFlowEntries");
	}
	return o;
}

/* ---- the `flowsteer status` view -------------------------------------- */

cJSON *model_json_attachment_view(const struct attachment *a)
{
	cJSON *o = cJSON_CreateObject();
	char line[1024];

	if (!o)
		return NULL;
	model_status_line(a, line, sizeof(line));
	pod_json(o, a);
	decision_json(o, a);
	cJSON_AddStringToObject(o, "status", line);
	return o;
}

cJSON *model_json_dev_view(const struct dev *d, unsigned nbits)
{
	cJSON *j = cJSON_CreateObject();
	char want[CPUMASK_HEX_MAX];

	cpumask_format_hex(&d->want_cpus, nbits, want, sizeof(want));
	cJSON_AddStringToObject(j, "name", d->name);
	cJSON_AddStringToObject(j, "scope", model_scope_name(d->scope));
	cJSON_AddStringToObject(j, "rpsCpus", want);
	if (d->want_flow >= 0)
		cJSON_AddNumberToObject(j, "flowCnt", (double)d->want_flow);
	cJSON_AddStringToObject(j, "status", model_status_name(d->status));
	if (d->status != DEV_APPLIED)
		cJSON_AddStringToObject(j, "reason", d->reason);
	return model_json_dev_outcome(j, d);
}

cJSON *model_json_node_dev_view(const struct dev *nd, unsigned nbits)
{
	cJSON *j = cJSON_CreateObject(), *orig;
	char h[CPUMASK_HEX_MAX];

	cJSON_AddStringToObject(j, "name", nd->name);
	cJSON_AddNumberToObject(j, "queues", nd->nq);
	orig = cJSON_AddArrayToObject(j, "original");
	for (int i = 0; i < nd->nq; i++) {
		cJSON *q = cJSON_CreateObject();

		cpumask_format_hex(&nd->q[i].orig_cpus, nbits, h, sizeof(h));
		cJSON_AddStringToObject(q, "rpsCpus", h);
		cJSON_AddNumberToObject(q, "flowCnt", (double)nd->q[i].orig_flow);
		cJSON_AddItemToArray(orig, q);
	}
	return j;
}

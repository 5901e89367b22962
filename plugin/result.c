/* The ADD result's "flowsteer" object (docs/cni.md). */
#include "model_json.h"
#include "result.h"

static void result_dev(cJSON *devs, const struct dev *d, unsigned nbits)
{
	cJSON *j = cJSON_CreateObject();
	char hex[CPUMASK_HEX_MAX];

	cJSON_AddStringToObject(j, "name", d->name);
	cJSON_AddStringToObject(j, "scope", model_scope_name(d->scope));
	if (d->status == DEV_APPLIED || d->nq)
		cJSON_AddNumberToObject(j, "queues", d->nq_total > d->nq ? d->nq_total : d->nq);
	if (d->status == DEV_APPLIED || d->status == DEV_PARTIAL || d->status == DEV_FAILED)
		model_json_dev_outcome(j, d);
	if (d->status == DEV_APPLIED || d->status == DEV_PARTIAL) {
		cpumask_format_hex(&d->want_cpus, nbits ? nbits : 1, hex, sizeof(hex));
		cJSON_AddStringToObject(j, "rpsCpus", hex);
		if (d->want_flow >= 0)
			cJSON_AddNumberToObject(j, "flowCnt", (double)d->want_flow);
	}
	cJSON_AddStringToObject(j, "status", model_status_name(d->status));
	if (d->status != DEV_APPLIED && d->reason[0])
		cJSON_AddStringToObject(j, "reason", d->reason);
	cJSON_AddItemToArray(devs, j);
}

cJSON *result_json(const struct attachment *a)
{
	cJSON *o = cJSON_CreateObject(), *devs;
	char cpus[CPUMASK_HEX_MAX] = "";

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "mode", config_mode_name(a->mode));
	cJSON_AddStringToObject(o, "scope", config_scope_name(a->scope));
	cpumask_format_list(&a->cpus, cpus, sizeof(cpus));
	cJSON_AddStringToObject(o, "cpus", cpus);
	cJSON_AddItemToObject(o, "sockFlowEntries",
			      model_json_num(a->sock.status == SOCK_APPLIED ? a->sock.value : -1));
	if (a->sock.status != SOCK_UNTOUCHED)
		cJSON_AddStringToObject(o, "sockFlowEntriesStatus", model_sock_status_name(a->sock.status));
	cJSON_AddStringToObject(o, "source", model_source_name(a->source));
	devs = cJSON_AddArrayToObject(o, "devices");
	for (int i = 0; i < a->ndev; i++)
		result_dev(devs, &a->devs[i], a->nbits);
	cJSON_AddItemToObject(o, "warnings", model_json_warnings(&a->warn));
	return o;
}

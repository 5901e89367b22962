#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cpuset.h"
#include "json.h"

static int cpulist_of(const cJSON *v, const char *what, struct cpumask *m, char *errbuf, size_t errlen)
{
	struct fs_err pe = { 0 };

	if (!cJSON_IsString(v)) {
		snprintf(errbuf, errlen, "%s must be a cpulist string", what);
		return -1;
	}
	if (cpumask_parse_list(v->valuestring, m, &pe)) {
		snprintf(errbuf, errlen, "%s: %s", what, pe.msg);
		return -1;
	}
	return 0;
}

/* One entry: a cpulist (v1: containerID → cpus) or an object of them (v2:
 * podUID → container → cpus). */
static int entry_add(const cJSON *e, struct cpumgr_state *out, char *errbuf, size_t errlen)
{
	const cJSON *c;
	struct cpumask m;
	char what[160];

	if (cJSON_IsString(e)) {
		snprintf(what, sizeof(what), "entries[\"%.60s\"]", e->string);
		if (cpulist_of(e, what, &m, errbuf, errlen))
			return -1;
		cpumask_or(&out->exclusive, &out->exclusive, &m);
		return 0;
	}
	if (!cJSON_IsObject(e)) {
		snprintf(errbuf, errlen, "entries[\"%.60s\"] must be an object or a cpulist", e->string);
		return -1;
	}
	cJSON_ArrayForEach(c, e) {
		snprintf(what, sizeof(what), "entries[\"%.60s\"][\"%.60s\"]", e->string, c->string);
		if (cpulist_of(c, what, &m, errbuf, errlen))
			return -1;
		cpumask_or(&out->exclusive, &out->exclusive, &m);
	}
	return 0;
}

static int policy_of(const cJSON *root, struct cpumgr_state *out, char *errbuf, size_t errlen)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "policyName");

	if (!cJSON_IsString(p)) {
		snprintf(errbuf, errlen, "policyName is missing or not a string");
		return -1;
	}
	if (!strcmp(p->valuestring, "none"))
		out->policy = CPUMGR_NONE;
	else if (!strcmp(p->valuestring, "static"))
		out->policy = CPUMGR_STATIC;
	else {
		snprintf(errbuf, errlen, "policyName \"%.40s\" is unknown (expected none or static)",
			 p->valuestring);
		return -1;
	}
	return 0;
}

int cpumgr_parse(const char *buf, size_t len, struct cpumgr_state *out, char *errbuf, size_t errlen)
{
	struct fs_err err = { 0 };
	cJSON *root = json_parse_strict(buf, len, "cpu_manager_state", CNI_ERR_DECODE, &err);
	const cJSON *entries, *e, *sum;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(root)) {
		snprintf(errbuf, errlen, "%s", root ? "not a JSON object" : err.msg);
		goto out;
	}
	if (policy_of(root, out, errbuf, errlen) ||
	    cpulist_of(cJSON_GetObjectItemCaseSensitive(root, "defaultCpuSet"), "defaultCpuSet",
		       &out->shared, errbuf, errlen))
		goto out;
	sum = cJSON_GetObjectItemCaseSensitive(root, "checksum");
	if (sum && !cJSON_IsNumber(sum)) {
		snprintf(errbuf, errlen, "checksum must be a number");
		goto out;
	}
	entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
	if (entries && !cJSON_IsObject(entries) && !cJSON_IsNull(entries)) {
		snprintf(errbuf, errlen, "entries must be an object");
		goto out;
	}
	if (!cJSON_IsObject(entries))
		entries = NULL;
	cJSON_ArrayForEach(e, entries) {
		if (entry_add(e, out, errbuf, errlen))
			goto out;
		out->entries++;
	}
	ret = 0;
out:
	cJSON_Delete(root);
	return ret;
}

void cpuset_allowed(const struct cpuset_in *in, struct cpumask *allowed, struct cpus_excluded *why)
{
	struct cpumask pool;

	memset(why, 0, sizeof(*why));
	cpumask_and(&why->isolated, &in->online, &in->isolated);
	cpumask_and(&why->nohz_full, &in->online, &in->nohz_full);
	*allowed = in->online;
	cpumask_andnot(allowed, allowed, &in->isolated);
	cpumask_andnot(allowed, allowed, &in->nohz_full);
	if (!in->respect_exclusive || in->kubelet.policy != CPUMGR_STATIC)
		return;
	/* The shared pool is what the kubelet gives every container without
	 * exclusive CPUs. An empty one (the kubelet sets it on start) leaves
	 * the entries as the only thing known to be promised. */
	if (!cpumask_empty(&in->kubelet.shared)) {
		pool = in->kubelet.shared;
	} else {
		pool = in->online;
		cpumask_andnot(&pool, &pool, &in->kubelet.exclusive);
	}
	cpumask_andnot(&why->kubelet, &in->online, &pool);
	cpumask_and(allowed, allowed, &pool);
}

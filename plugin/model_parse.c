/* The model back from JSON, strictly (docs/state.md): every key known,
 * every value typed and bounded; code 5 naming the file and the key. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "model_json.h"
#include "util.h"

/* ---- and back, strictly ---------------------------------------------- */

static int mask_parse(const struct jschema *s, const cJSON *o, const char *key, bool nullable,
		      struct cpumask *m, bool *present)
{
	char buf[CPUMASK_HEX_MAX] = "";
	struct fs_err pe = { 0 };
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (present)
		*present = v && !cJSON_IsNull(v);
	if (js_str(s, o, key, nullable, buf, sizeof(buf)))
		return -1;
	if (cpumask_parse_list(buf, m, &pe))
		return err_set(s->e, s->code, "%s: key \"%s\": %s", s->where, key, pe.msg);
	return 0;
}

static int flow_parse(const struct jschema *s, const cJSON *o, const char *key, long long *out)
{
	*out = -1;
	return js_int(s, o, key, true, 0, 1LL << 40, out);
}

static int queue_parse(const struct jschema *s, const cJSON *q, struct dev_queue *out)
{
	static const char *const top[] = { "orig", "set" }, *const vals[] = { "cpus", "flowCnt" };
	const cJSON *orig, *set;

	if (!cJSON_IsObject(q))
		return err_set(s->e, s->code, "%s: a queue must be an object", s->where);
	if (js_keys(s, q, top, 2) || !(orig = js_obj(s, q, "orig", false)) ||
	    !(set = js_obj(s, q, "set", false)) || js_keys(s, orig, vals, 2) || js_keys(s, set, vals, 2))
		return -1;
	if (mask_parse(s, orig, "cpus", false, &out->orig_cpus, NULL) ||
	    flow_parse(s, orig, "flowCnt", &out->orig_flow) ||
	    mask_parse(s, set, "cpus", true, &out->set_cpus, &out->wrote_cpus) ||
	    flow_parse(s, set, "flowCnt", &out->set_flow))
		return -1;
	out->wrote_flow = out->set_flow >= 0;
	return 0;
}

static int queues_parse(const struct jschema *s, const cJSON *o, struct dev *d)
{
	const cJSON *qs = js_arr(s, o, "queues"), *q;
	int i = 0, n = cJSON_GetArraySize(qs);

	if (!qs)
		return -1;
	if (model_dev_set_queues(d, n))
		return err_set(s->e, s->code, "%s: device %s has %d queues (at most %d)", s->where,
			       d->name, n, MODEL_MAX_QUEUES);
	cJSON_ArrayForEach(q, qs)
		if (queue_parse(s, q, &d->q[i++]))
			return -1;
	return 0;
}

static int name_parse(const struct jschema *s, const cJSON *o, char *name)
{
	if (js_str(s, o, "name", false, name, MODEL_NAME_MAX))
		return -1;
	if (!ifname_valid(name))
		return err_set(s->e, s->code, "%s: \"%.20s\" is not an interface name", s->where, name);
	return 0;
}

/* Records of before the outcome was kept have no counts: every queue of an
 * applied device held its value, the others none. */
static int outcome_parse(const struct jschema *s, const cJSON *o, struct dev *d)
{
	long long set = d->status == DEV_APPLIED ? d->nq : 0, total = d->nq;
	char en[32] = "";

	if (cJSON_HasObjectItem(o, "queuesSet") &&
	    (js_int(s, o, "queuesSet", false, 0, INT_MAX, &set) ||
	     js_int(s, o, "queuesTotal", false, 0, INT_MAX, &total) || js_str(s, o, "errno", true, en, sizeof(en))))
		return -1;
	if (set > total || set > d->nq)
		return err_set(s->e, s->code, "%s: device %s has queuesSet %lld of queuesTotal %lld (%d recorded)",
			       s->where, d->name, set, total, d->nq);
	if (en[0] && !(d->err = model_errno_parse(en)))
		return err_set(s->e, s->code, "%s: device %s has errno \"%.31s\", not an errno name", s->where,
			       d->name, en);
	d->nq_set = (int)set;
	d->nq_total = (int)total;
	return 0;
}

static int dev_parse(const struct jschema *s, const cJSON *o, struct dev *d)
{
	static const char *const keys[] = { "name",   "scope",	 "status",    "reason",		"cpus",
					    "flowCnt", "queues", "queuesSet", "queuesTotal", "errno" };
	char scope[16], status[16];

	if (!cJSON_IsObject(o))
		return err_set(s->e, s->code, "%s: a device must be an object", s->where);
	if (js_keys(s, o, keys, ARRAY_SIZE(keys)) || name_parse(s, o, d->name) ||
	    js_str(s, o, "scope", false, scope, sizeof(scope)) ||
	    js_str(s, o, "status", false, status, sizeof(status)) ||
	    js_str(s, o, "reason", false, d->reason, sizeof(d->reason)) ||
	    mask_parse(s, o, "cpus", false, &d->want_cpus, NULL) ||
	    flow_parse(s, o, "flowCnt", &d->want_flow))
		return -1;
	if (model_scope_parse(scope, &d->scope) || model_status_parse(status, &d->status))
		return err_set(s->e, s->code, "%s: device %s has scope \"%.16s\", status \"%.16s\"",
			       s->where, d->name, scope, status);
	return queues_parse(s, o, d) || outcome_parse(s, o, d) ? -1 : 0;
}

static int ids_parse(const struct jschema *s, const cJSON *j, struct attachment *a)
{
	long long v;

	if (js_int(s, j, "version", false, STATE_VERSION, STATE_VERSION, &v) ||
	    js_str(s, j, "bootId", false, a->boot_id, sizeof(a->boot_id)) ||
	    js_str(s, j, "containerId", false, a->container_id, sizeof(a->container_id)) ||
	    js_str(s, j, "ifname", false, a->ifname, sizeof(a->ifname)) ||
	    js_str(s, j, "netns", false, a->netns, sizeof(a->netns)) ||
	    js_str(s, j, "podNamespace", false, a->pod_namespace, sizeof(a->pod_namespace)) ||
	    js_str(s, j, "podName", false, a->pod_name, sizeof(a->pod_name)) ||
	    js_str(s, j, "podUid", false, a->pod_uid, sizeof(a->pod_uid)) ||
	    js_str(s, j, "network", false, a->network, sizeof(a->network)) ||
	    js_int(s, j, "time", false, 0, 1LL << 40, &a->time))
		return -1;
	if (!containerid_valid(a->container_id) || !ifname_valid(a->ifname))
		return err_set(s->e, s->code, "%s: containerId \"%.64s\" / ifname \"%.16s\" are invalid",
			       s->where, a->container_id, a->ifname);
	return 0;
}

static int decision_parse(const struct jschema *s, const cJSON *j, struct attachment *a)
{
	static const char *const xkeys[] = { "isolated", "nohzFull", "kubelet" };
	char mode[8], scope[16], source[16];
	const cJSON *x;

	if (js_str(s, j, "mode", false, mode, sizeof(mode)) ||
	    js_str(s, j, "scope", false, scope, sizeof(scope)) ||
	    js_str(s, j, "source", false, source, sizeof(source)) ||
	    mask_parse(s, j, "cpus", false, &a->cpus, NULL) ||
	    mask_parse(s, j, "cpusAnnotation", true, &a->cpus_annotation, &a->cpus_narrowed) ||
	    js_bool(s, j, "nodeRef", &a->node_ref) || !(x = js_obj(s, j, "excludedCpus", false)) ||
	    js_keys(s, x, xkeys, 3) || mask_parse(s, x, "isolated", false, &a->excluded.isolated, NULL) ||
	    mask_parse(s, x, "nohzFull", false, &a->excluded.nohz_full, NULL) ||
	    mask_parse(s, x, "kubelet", false, &a->excluded.kubelet, NULL))
		return -1;
	if (config_mode_parse(mode, &a->mode) || config_scope_parse(scope, &a->scope) ||
	    model_source_parse(source, &a->source))
		return err_set(s->e, s->code, "%s: mode \"%.8s\", scope \"%.16s\" or source \"%.16s\" is invalid",
			       s->where, mode, scope, source);
	return 0;
}

static int sock_parse(const struct jschema *s, const cJSON *j, struct sock_flow *sf)
{
	static const char *const keys[] = { "status", "found", "value" };
	const cJSON *o = js_obj(s, j, "sockFlowEntries", false);
	char st[16];

	if (!o || js_keys(s, o, keys, 3) || js_str(s, o, "status", false, st, sizeof(st)) ||
	    flow_parse(s, o, "found", &sf->found) || flow_parse(s, o, "value", &sf->value))
		return -1;
	if (model_sock_status_parse(st, &sf->status))
		return err_set(s->e, s->code, "%s: sockFlowEntries.status \"%.16s\" is invalid", s->where, st);
	return 0;
}

static int devs_parse(const struct jschema *s, const cJSON *j, struct dev *devs, int *ndev,
		      enum dev_scope only, int (*one)(const struct jschema *, const cJSON *, struct dev *))
{
	const cJSON *arr = js_arr(s, j, "devices"), *it;

	if (!arr)
		return -1;
	cJSON_ArrayForEach(it, arr) {
		struct dev *d = model_dev_add(devs, ndev, "", only);

		if (!d)
			return err_set(s->e, s->code, "%s: more than %d devices", s->where, MODEL_MAX_DEVS);
		if (one(s, it, d))
			return -1;
	}
	return 0;
}

static int warnings_parse(const struct jschema *s, const cJSON *j, struct fs_warn *w)
{
	const cJSON *arr = js_arr(s, j, "warnings"), *it;

	if (!arr)
		return -1;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			return err_set(s->e, s->code, "%s: warnings must be strings", s->where);
		if (w->n < FS_MAX_WARNINGS && (w->items[w->n] = strdup(it->valuestring)))
			w->n++;
	}
	return 0;
}

int model_json_attachment_parse(const cJSON *j, const char *where, struct attachment *a,
			   struct fs_err *e)
{
	/* "status": the line older versions stored; it is derived from the
	 * devices where it is shown (model_status_line), so it is ignored. */
	static const char *const keys[] = {
		"version", "bootId", "containerId", "ifname", "netns", "podNamespace", "podName",
		"podUid", "network", "time", "mode", "scope", "cpus", "cpusAnnotation", "source", "nodeRef",
		"excludedCpus", "sockFlowEntries", "devices", "warnings", "status",
	};
	const struct jschema s = { where, CNI_ERR_IO, e };

	if (js_keys(&s, j, keys, ARRAY_SIZE(keys)) || ids_parse(&s, j, a) || decision_parse(&s, j, a) ||
	    sock_parse(&s, j, &a->sock) || devs_parse(&s, j, a->devs, &a->ndev, DEV_SCOPE_CONTAINER, dev_parse) ||
	    warnings_parse(&s, j, &a->warn))
		return -1;
	return 0;
}

static int node_dev_parse(const struct jschema *s, const cJSON *o, struct dev *d)
{
	static const char *const keys[] = { "name", "queues" };

	if (!cJSON_IsObject(o))
		return err_set(s->e, s->code, "%s: a device must be an object", s->where);
	return js_keys(s, o, keys, 2) || name_parse(s, o, d->name) || queues_parse(s, o, d) ? -1 : 0;
}

int model_json_node_parse(const cJSON *j, const char *where, struct node_state *n, struct fs_err *e)
{
	static const char *const keys[] = { "version", "bootId", "devices", "sockFlowEntries" };
	static const char *const skeys[] = { "orig", "set" };
	const struct jschema s = { where, CNI_ERR_IO, e };
	const cJSON *sock;
	long long v;

	if (js_keys(&s, j, keys, 4) || js_int(&s, j, "version", false, STATE_VERSION, STATE_VERSION, &v) ||
	    js_str(&s, j, "bootId", false, n->boot_id, sizeof(n->boot_id)) ||
	    devs_parse(&s, j, n->devs, &n->ndev, DEV_SCOPE_NODE, node_dev_parse))
		return -1;
	sock = js_obj(&s, j, "sockFlowEntries", true);
	if (e->code)
		return -1;
	if (sock && (js_keys(&s, sock, skeys, 2) ||
		     js_int(&s, sock, "orig", false, 0, 1LL << 40, &n->sock_orig) ||
		     js_int(&s, sock, "set", false, 0, 1LL << 40, &n->sock_set)))
		return -1;
	n->sock_held = sock != NULL;
	return 0;
}

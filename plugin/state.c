#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "state.h"
#include "sysfs.h"
#include "util.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define STATE_FILE_MAX (1u << 20)
#define NODE_FILE "node.json"
#define BOOT_FILE "boot_id"

/* ---- the directory and its lock ------------------------------------- */

/* A directory of the state, made when absent and `create`: its fd, -ENOENT
 * (absent, not created; no error), or -1 with e set. */
static int dir_open(int at, const char *path, bool create, const char *shown, struct fs_err *e)
{
	char why[96];
	int fd, ret = 0;

	if (create && mkdirat(at, path, 0700) < 0 && errno != EEXIST)
		ret = errno == ENOENT && at == AT_FDCWD ? mkdir_p(path, 0700) : -errno;
	if (ret)
		return err_set(e, CNI_ERR_IO, "stateDir %s cannot be created: %s", shown, strerror(-ret));
	fd = file_open_trusted(at, path, O_RDONLY | O_DIRECTORY, 0, why, sizeof(why));
	if (fd == -ENOENT && !create)
		return -ENOENT;
	if (fd == ERR_UNTRUSTED)
		return err_set(e, CNI_ERR_IO, "stateDir %s is not safe to use: %s", shown, why);
	if (fd < 0)
		return err_set(e, CNI_ERR_IO, "stateDir %s: %s", shown, strerror(-fd));
	return fd;
}

int state_open(struct state *st, const char *dir, bool create, struct fs_err *e)
{
	char shown[PATH_MAX];
	int fd;

	st->dirfd = st->attfd = st->lockfd = st->claimfd = -1;
	st->boot_id[0] = '\0';
	if (strlen(dir) >= sizeof(st->dir) || dir[0] != '/')
		return err_set(e, CNI_ERR_INVALID_CONFIG, "stateDir \"%.200s\" is not a usable absolute path", dir);
	strcpy(st->dir, dir);
	/* Without `create`, a directory nobody wrote yet is an empty state. */
	fd = dir_open(AT_FDCWD, dir, create, dir, e);
	if (fd < 0)
		return fd == -ENOENT ? 0 : -1;
	st->dirfd = fd;
	snprintf(shown, sizeof(shown), "%s/attachments", dir);
	fd = dir_open(st->dirfd, "attachments", create, shown, e);
	if (fd < 0)
		return fd == -ENOENT ? 0 : -1;
	st->attfd = fd;
	return 0;
}

static int lock_take(struct state *st, struct fs_err *e)
{
	char why[96];
	int ret;

	st->lockfd = file_open_trusted(st->dirfd, "lock", O_RDWR | O_CREAT, 0600, why, sizeof(why));
	if (st->lockfd == ERR_UNTRUSTED)
		return err_set(e, CNI_ERR_IO, "lock %s/lock is not safe to use: %s", st->dir, why);
	if (st->lockfd < 0)
		return err_set(e, CNI_ERR_IO, "opening lock %s/lock: %s", st->dir, strerror(-st->lockfd));
	ret = file_lock(st->lockfd, STATE_LOCK_TIMEOUT_MS);
	if (!ret)
		return 0;
	close(st->lockfd);
	st->lockfd = -1;
	if (ret == -ETIMEDOUT)
		return err_set(e, CNI_ERR_TRY_LATER, "lock %s/lock held by another invocation for over %d ms",
			       st->dir, STATE_LOCK_TIMEOUT_MS);
	return err_set(e, CNI_ERR_IO, "locking %s/lock: %s", st->dir, strerror(-ret));
}

void state_close(struct state *st)
{
	if (st->claimfd >= 0)
		close(st->claimfd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (st->attfd >= 0)
		close(st->attfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	st->claimfd = st->lockfd = st->attfd = st->dirfd = -1;
}

/* ---- files ---------------------------------------------------------- */

/* 0 with *out parsed, -ENOENT, or -1 with e set. */
static int file_json(int dirfd, const char *name, const char *shown, cJSON **out, struct fs_err *e)
{
	char why[96], *buf = NULL;
	size_t len = 0;
	int ret;

	ret = file_read_trusted(dirfd, name, STATE_FILE_MAX, &buf, &len, why, sizeof(why));
	if (ret == -ENOENT)
		return -ENOENT;
	if (ret == ERR_UNTRUSTED)
		return err_set(e, CNI_ERR_IO, "state file %s is not safe to use: %s", shown, why);
	if (ret)
		return err_set(e, CNI_ERR_IO, "reading state file %s: %s", shown, why);
	*out = json_parse_strict(buf, len, shown, CNI_ERR_IO, e);
	free(buf);
	if (*out && !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		err_set(e, CNI_ERR_IO, "state file %s is not a JSON object", shown);
	}
	if (!*out && e->code == CNI_ERR_DECODE)
		e->code = CNI_ERR_IO;
	return *out ? 0 : -1;
}

static int file_put_json(int dirfd, const char *name, const char *shown, const cJSON *j,
			 struct fs_err *e)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	int ret;

	if (!s)
		return err_set(e, CNI_ERR_IO, "serialising %s: out of memory", shown);
	ret = file_write_atomic_at(dirfd, name, s, strlen(s), 0600);
	free(s);
	if (ret)
		return err_set(e, CNI_ERR_IO, "writing %s: %s", shown, strerror(-ret));
	return 0;
}

static void record_name(const char *cid, const char *ifname, bool node_ref, char *out, size_t len)
{
	snprintf(out, len, "%s@%s.%c.json", cid, ifname, node_ref ? 'n' : 'p');
}

/* "<cid>@<ifname>.n.json" or ".p.json" */
static bool record_file(const char *name, bool *node_ref)
{
	size_t len = strlen(name);

	if (len < 8 || strcmp(name + len - 5, ".json") || name[len - 7] != '.' || !strchr(name, '@'))
		return false;
	if (name[len - 6] != 'n' && name[len - 6] != 'p')
		return false;
	*node_ref = name[len - 6] == 'n';
	return true;
}

/* ---- state of another boot ------------------------------------------ */

/* The bootId of a state file ("" when it has none or cannot be read), or
 * -ENOENT. */
static int file_boot(int dirfd, const char *name, char *out, size_t len)
{
	struct fs_err ignored = { 0 };
	const cJSON *b;
	cJSON *j = NULL;
	int ret;

	out[0] = '\0';
	ret = file_json(dirfd, name, name, &j, &ignored);
	if (ret == -ENOENT)
		return ret;
	b = cJSON_GetObjectItemCaseSensitive(j, "bootId");
	if (cJSON_IsString(b))
		snprintf(out, len, "%s", b->valuestring);
	cJSON_Delete(j);
	return 0;
}

static void stale_drop(struct state *st, int dirfd, const char *name)
{
	char boot[64];

	if (file_boot(dirfd, name, boot, sizeof(boot)) || !strcmp(boot, st->boot_id))
		return;
	log_msg(LOG_LVL_INFO, "discarding %s/%s: state of another boot (%s)", st->dir, name,
		boot[0] ? boot : "no boot ID");
	unlinkat(dirfd, name, 0);
}

/* Runs once per boot: the marker says which boot last used the directory;
 * under a new one, every file of an older boot describes values the
 * reboot already reset. */
static int boot_sweep(struct state *st, struct fs_err *e)
{
	char mark[64] = "", why[128];
	struct dirent *de;
	int fd, ret;
	DIR *d;

	ret = sysfs_boot_id(st->boot_id, sizeof(st->boot_id));
	if (ret)
		return err_set(e, CNI_ERR_IO, "reading the boot ID: %s", strerror(-ret));
	/* A marker that is missing, untrusted or short means "another boot". */
	fd = file_open_trusted(st->dirfd, BOOT_FILE, O_RDONLY, 0, why, sizeof(why));
	if (fd >= 0) {
		ssize_t n = read(fd, mark, 36);

		mark[n == 36 ? 36 : 0] = '\0';
		close(fd);
	}
	if (!strcmp(mark, st->boot_id))
		return 0;
	stale_drop(st, st->dirfd, NODE_FILE);
	fd = dup(st->attfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	while (d && (de = readdir(d))) {
		bool node_ref;

		if (record_file(de->d_name, &node_ref))
			stale_drop(st, st->attfd, de->d_name);
	}
	if (d)
		closedir(d);
	ret = file_write_atomic_at(st->dirfd, BOOT_FILE, st->boot_id, 36, 0600);
	if (ret)
		return err_set(e, CNI_ERR_IO, "writing %s/%s: %s", st->dir, BOOT_FILE, strerror(-ret));
	return 0;
}

int state_lock(struct state *st, const char *dir, struct fs_err *e)
{
	if (state_open(st, dir, true, e) || lock_take(st, e) || boot_sweep(st, e)) {
		state_close(st);
		return -1;
	}
	return 0;
}

/* ---- the model as JSON ---------------------------------------------- */

static cJSON *mask_json(const struct cpumask *m)
{
	char buf[CPUMASK_HEX_MAX];

	cpumask_format_list(m, buf, sizeof(buf));
	return cJSON_CreateString(buf);
}

static cJSON *num_or_null(long long v)
{
	return v >= 0 ? cJSON_CreateNumber((double)v) : cJSON_CreateNull();
}

static cJSON *queue_json(const struct dev_queue *q)
{
	cJSON *o = cJSON_CreateObject(), *orig, *set;

	orig = cJSON_AddObjectToObject(o, "orig");
	cJSON_AddItemToObject(orig, "cpus", mask_json(&q->orig_cpus));
	cJSON_AddItemToObject(orig, "flowCnt", num_or_null(q->orig_flow));
	set = cJSON_AddObjectToObject(o, "set");
	cJSON_AddItemToObject(set, "cpus", q->wrote_cpus ? mask_json(&q->set_cpus) : cJSON_CreateNull());
	cJSON_AddItemToObject(set, "flowCnt", num_or_null(q->wrote_flow ? q->set_flow : -1));
	return o;
}

static cJSON *queues_json(const struct dev *d)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; a && i < d->nq; i++)
		cJSON_AddItemToArray(a, queue_json(&d->q[i]));
	return a;
}

/* The counts and errno of the last write (result, record, status). */
static void outcome_json(cJSON *o, const struct dev *d)
{
	char en[32];

	cJSON_AddNumberToObject(o, "queuesSet", d->nq_set);
	cJSON_AddNumberToObject(o, "queuesTotal", d->nq_total);
	cJSON_AddItemToObject(o, "errno", d->err ? cJSON_CreateString(model_errno_name(d->err, en, sizeof(en)))
						 : cJSON_CreateNull());
}

cJSON *state_dev_outcome_json(cJSON *o, const struct dev *d)
{
	if (o)
		outcome_json(o, d);
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
	cJSON_AddItemToObject(o, "flowCnt", num_or_null(d->want_flow));
	cJSON_AddItemToObject(o, "queues", queues_json(d));
	outcome_json(o, d);
	return o;
}

static cJSON *warnings_json(const struct fs_warn *w)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; a && i < w->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(w->items[i]));
	return a;
}

static void ids_json(cJSON *o, const struct attachment *a)
{
	cJSON_AddNumberToObject(o, "version", STATE_VERSION);
	cJSON_AddStringToObject(o, "bootId", a->boot_id);
	cJSON_AddStringToObject(o, "containerId", a->container_id);
	cJSON_AddStringToObject(o, "ifname", a->ifname);
	cJSON_AddStringToObject(o, "netns", a->netns);
	cJSON_AddStringToObject(o, "podNamespace", a->pod_namespace);
	cJSON_AddStringToObject(o, "podName", a->pod_name);
	cJSON_AddStringToObject(o, "podUid", a->pod_uid);
	cJSON_AddStringToObject(o, "network", a->network);
	cJSON_AddNumberToObject(o, "time", (double)a->time);
}

cJSON *state_attachment_json(const struct attachment *a)
{
	cJSON *o = cJSON_CreateObject(), *x, *s, *devs;
	char line[1024];

	if (!o)
		return NULL;
	ids_json(o, a);
	cJSON_AddStringToObject(o, "mode", config_mode_name(a->mode));
	cJSON_AddStringToObject(o, "scope", config_scope_name(a->scope));
	cJSON_AddItemToObject(o, "cpus", mask_json(&a->cpus));
	cJSON_AddItemToObject(o, "cpusAnnotation",
			      a->cpus_narrowed ? mask_json(&a->cpus_annotation) : cJSON_CreateNull());
	cJSON_AddStringToObject(o, "source", model_source_name(a->source));
	cJSON_AddBoolToObject(o, "nodeRef", a->node_ref);
	x = cJSON_AddObjectToObject(o, "excludedCpus");
	cJSON_AddItemToObject(x, "isolated", mask_json(&a->excluded.isolated));
	cJSON_AddItemToObject(x, "nohzFull", mask_json(&a->excluded.nohz_full));
	cJSON_AddItemToObject(x, "kubelet", mask_json(&a->excluded.kubelet));
	s = cJSON_AddObjectToObject(o, "sockFlowEntries");
	cJSON_AddStringToObject(s, "status", model_sock_status_name(a->sock.status));
	cJSON_AddItemToObject(s, "found", num_or_null(a->sock.found));
	cJSON_AddItemToObject(s, "value", num_or_null(a->sock.value));
	devs = cJSON_AddArrayToObject(o, "devices");
	for (int i = 0; i < a->ndev; i++)
		cJSON_AddItemToArray(devs, dev_json(&a->devs[i]));
	cJSON_AddItemToObject(o, "warnings", warnings_json(&a->warn));
	model_status_line(a, line, sizeof(line));
	cJSON_AddStringToObject(o, "status", line);
	return o;
}

static cJSON *node_json(const struct node_state *n)
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

static void result_dev(cJSON *devs, const struct dev *d, unsigned nbits)
{
	cJSON *j = cJSON_CreateObject();
	char hex[CPUMASK_HEX_MAX];

	cJSON_AddStringToObject(j, "name", d->name);
	cJSON_AddStringToObject(j, "scope", model_scope_name(d->scope));
	if (d->status == DEV_APPLIED || d->nq)
		cJSON_AddNumberToObject(j, "queues", d->nq_total > d->nq ? d->nq_total : d->nq);
	if (d->status == DEV_APPLIED || d->status == DEV_PARTIAL || d->status == DEV_FAILED)
		outcome_json(j, d);
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

cJSON *state_result_json(const struct attachment *a)
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
			      num_or_null(a->sock.status == SOCK_APPLIED ? a->sock.value : -1));
	if (a->sock.status != SOCK_UNTOUCHED)
		cJSON_AddStringToObject(o, "sockFlowEntriesStatus", model_sock_status_name(a->sock.status));
	cJSON_AddStringToObject(o, "source", model_source_name(a->source));
	devs = cJSON_AddArrayToObject(o, "devices");
	for (int i = 0; i < a->ndev; i++)
		result_dev(devs, &a->devs[i], a->nbits);
	cJSON_AddItemToObject(o, "warnings", warnings_json(&a->warn));
	return o;
}

/* ---- and back, strictly ---------------------------------------------- */

static int mask_parse(const struct jschema *s, const cJSON *o, const char *key, bool nullable,
		      struct cpumask *m, bool *present)
{
	char buf[CPUMASK_HEX_MAX] = "", msg[128];
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (present)
		*present = v && !cJSON_IsNull(v);
	if (js_str(s, o, key, nullable, buf, sizeof(buf)))
		return -1;
	if (cpumask_parse_list(buf, m, msg, sizeof(msg)))
		return err_set(s->e, s->code, "%s: key \"%s\": %s", s->where, key, msg);
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

int state_attachment_parse(const cJSON *j, const char *where, struct attachment *a,
			   struct fs_err *e)
{
	static const char *const keys[] = {
		"version", "bootId", "containerId", "ifname", "netns", "podNamespace", "podName",
		"podUid", "network", "time", "mode", "scope", "cpus", "cpusAnnotation", "source", "nodeRef",
		"excludedCpus", "sockFlowEntries", "devices", "warnings", "status",
	};
	const struct jschema s = { where, CNI_ERR_IO, e };
	char line[1024];

	if (js_keys(&s, j, keys, ARRAY_SIZE(keys)) || ids_parse(&s, j, a) || decision_parse(&s, j, a) ||
	    sock_parse(&s, j, &a->sock) || devs_parse(&s, j, a->devs, &a->ndev, DEV_SCOPE_CONTAINER, dev_parse) ||
	    warnings_parse(&s, j, &a->warn) || js_str(&s, j, "status", false, line, sizeof(line)))
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

static int node_parse(const cJSON *j, const char *where, struct node_state *n, struct fs_err *e)
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

/* ---- records and node.json ------------------------------------------ */

int state_record_write(struct state *st, const struct attachment *a, struct fs_err *e)
{
	char name[320], shown[PATH_MAX + 320];
	cJSON *j = state_attachment_json(a);
	int ret;

	record_name(a->container_id, a->ifname, a->node_ref, name, sizeof(name));
	snprintf(shown, sizeof(shown), "%s/attachments/%s", st->dir, name);
	ret = file_put_json(st->attfd, name, shown, j, e);
	cJSON_Delete(j);
	if (ret)
		return -1;
	/* A retried ADD may change whether it holds a node reference. */
	record_name(a->container_id, a->ifname, !a->node_ref, name, sizeof(name));
	unlinkat(st->attfd, name, 0);
	return 0;
}

static int record_load(struct state *st, const char *name, struct attachment *a, struct fs_err *e)
{
	char shown[PATH_MAX + 320];
	cJSON *j = NULL;
	int ret;

	snprintf(shown, sizeof(shown), "%s/attachments/%s", st->dir, name);
	ret = file_json(st->attfd, name, shown, &j, e);
	if (ret)
		return ret;
	ret = state_attachment_parse(j, shown, a, e);
	cJSON_Delete(j);
	if (!ret && st->boot_id[0] && strcmp(a->boot_id, st->boot_id))
		return -ESTALE;
	return ret;
}

int state_record_read(struct state *st, const char *cid, const char *ifname,
		      struct attachment *a, struct fs_err *e)
{
	char name[320];
	int ret;

	if (st->attfd < 0)
		return -ENOENT;
	record_name(cid, ifname, true, name, sizeof(name));
	ret = record_load(st, name, a, e);
	if (ret == -ENOENT) {
		record_name(cid, ifname, false, name, sizeof(name));
		ret = record_load(st, name, a, e);
	}
	return ret == -ESTALE ? -ENOENT : ret;
}

void state_record_remove(struct state *st, const char *cid, const char *ifname)
{
	char name[320];

	record_name(cid, ifname, true, name, sizeof(name));
	unlinkat(st->attfd, name, 0);
	record_name(cid, ifname, false, name, sizeof(name));
	unlinkat(st->attfd, name, 0);
}

int state_record_remove_file(struct state *st, const char *file)
{
	bool node_ref;

	if (strchr(file, '/') || !record_file(file, &node_ref))
		return -EINVAL;
	return unlinkat(st->attfd, file, 0) < 0 ? -errno : 0;
}

static int records_list(struct state *st, struct dirent ***list)
{
	int n;

	if (st->attfd < 0)
		return 0;
	n = scandirat(st->attfd, ".", list, NULL, alphasort);
	return n < 0 ? -errno : n;
}

int state_holders(struct state *st)
{
	struct dirent **list = NULL;
	int n = records_list(st, &list), holders = 0;

	for (int i = 0; i < n; i++) {
		bool node_ref;

		if (record_file(list[i]->d_name, &node_ref) && node_ref)
			holders++;
		free(list[i]);
	}
	free(list);
	return n < 0 ? n : holders;
}

int state_records_foreach(struct state *st, state_record_fn fn, void *arg)
{
	struct dirent **list = NULL;
	int n = records_list(st, &list), ret = 0;

	if (n > 0 && !st->boot_id[0] && sysfs_boot_id(st->boot_id, sizeof(st->boot_id)))
		st->boot_id[0] = '\0';
	for (int i = 0; i < n; i++) {
		struct fs_err err = { 0 };
		struct attachment *a;
		bool node_ref;
		int r;

		if (!ret && record_file(list[i]->d_name, &node_ref) && (a = attachment_new())) {
			r = record_load(st, list[i]->d_name, a, &err);
			if (r != -ESTALE && r != -ENOENT)
				ret = fn(list[i]->d_name, r ? NULL : a, &err, arg);
			attachment_free(a);
		}
		free(list[i]);
	}
	free(list);
	return n < 0 ? n : ret;
}

static int sweep_fd(int dirfd, const char *dir)
{
	struct dirent *de;
	int fd = dup(dirfd), n = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!file_is_tmp(de->d_name) || unlinkat(dirfd, de->d_name, 0) < 0)
			continue;
		log_msg(LOG_LVL_INFO, "removed %s/%s, left by a writer that died before its rename", dir,
			de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

int state_tmp_sweep(struct state *st)
{
	return sweep_fd(st->dirfd, st->dir) + (st->attfd >= 0 ? sweep_fd(st->attfd, st->dir) : 0);
}

int state_node_read(struct state *st, struct node_state *n, struct fs_err *e)
{
	char shown[PATH_MAX];
	cJSON *j = NULL;
	int ret;

	node_state_init(n);
	if (st->dirfd < 0)
		return -ENOENT;
	snprintf(shown, sizeof(shown), "%s/" NODE_FILE, st->dir);
	ret = file_json(st->dirfd, NODE_FILE, shown, &j, e);
	if (ret)
		return ret;
	ret = node_parse(j, shown, n, e);
	cJSON_Delete(j);
	if (!ret && st->boot_id[0] && strcmp(n->boot_id, st->boot_id)) {
		node_state_clear(n);
		return -ENOENT;
	}
	if (ret)
		node_state_clear(n);
	return ret;
}

int state_node_write(struct state *st, const struct node_state *n, struct fs_err *e)
{
	char shown[PATH_MAX];
	cJSON *j = node_json(n);
	int ret;

	snprintf(shown, sizeof(shown), "%s/" NODE_FILE, st->dir);
	ret = file_put_json(st->dirfd, NODE_FILE, shown, j, e);
	cJSON_Delete(j);
	return ret;
}

void state_node_remove(struct state *st)
{
	unlinkat(st->dirfd, NODE_FILE, 0);
}

/* ---- the node claim ------------------------------------------------- */

/* Named after the network namespace's cookie: unlike its inode number, a
 * cookie is never given to another namespace in the same boot (Linux >=
 * 5.14; older kernels fall back to the inode). */
static int claim_name(char *out, size_t len)
{
	unsigned long long cookie = 0;
	socklen_t sl = sizeof(cookie);
	struct stat sb;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &sl) == 0) {
		close(fd);
		snprintf(out, len, "flowsteer-netns-%llu.claim", cookie);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	if (stat("/proc/self/ns/net", &sb) < 0)
		return -errno;
	snprintf(out, len, "flowsteer-netino-%llu.claim", (unsigned long long)sb.st_ino);
	return 0;
}

/* The classic lock file: the holder of the flock may unlink it, so a
 * waiter that then gets the lock checks that its file is still the one at
 * the name, and tries again when it is not. */
static int claim_open(struct state *st, bool create)
{
	char name[64], why[96];
	struct stat a, b;
	int dfd, fd = -1, ret, tries = 0;

	ret = claim_name(name, sizeof(name));
	if (ret)
		return ret;
	dfd = open(STATE_CLAIM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	do {
		if (fd >= 0)
			close(fd);
		fd = file_open_trusted(dfd, name, O_RDWR | (create ? O_CREAT : 0), 0600, why, sizeof(why));
		if (fd == ERR_UNTRUSTED)
			log_msg(LOG_LVL_ERROR, "node claim %s/%s is not safe to use: %s", STATE_CLAIM_DIR, name, why);
		/* Always taken after the stateDir lock: no two invocations
		 * can wait on each other's. */
		ret = fd < 0 ? fd : file_lock(fd, STATE_LOCK_TIMEOUT_MS);
		if (!ret && (fstat(fd, &a) < 0 || fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
			     a.st_ino != b.st_ino))
			ret = -EAGAIN;
	} while (ret == -EAGAIN && ++tries < 100);
	close(dfd);
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	st->claimfd = fd;
	return 0;
}

int state_node_claim(struct state *st, char *other, size_t len)
{
	char owner[PATH_MAX] = "", path[PATH_MAX + 16];
	ssize_t n;
	int ret;

	if (st->claimfd < 0 && (ret = claim_open(st, true)))
		return ret;
	n = pread(st->claimfd, owner, sizeof(owner) - 1, 0);
	owner[n > 0 ? n : 0] = '\0';
	if (owner[0] && strcmp(owner, st->dir)) {
		/* A holder whose node.json is gone has released the devices
		 * (or its boot is over): the claim is free. */
		snprintf(path, sizeof(path), "%s/" NODE_FILE, owner);
		if (access(path, F_OK) == 0) {
			snprintf(other, len, "%s", owner);
			return -EBUSY;
		}
	}
	if (strcmp(owner, st->dir) &&
	    (ftruncate(st->claimfd, 0) < 0 || pwrite(st->claimfd, st->dir, strlen(st->dir), 0) < 0))
		return -errno;
	return 0;
}

void state_node_unclaim(struct state *st)
{
	char owner[PATH_MAX] = "", name[64];
	ssize_t n;

	if (st->claimfd < 0 && claim_open(st, false))
		return;
	n = pread(st->claimfd, owner, sizeof(owner) - 1, 0);
	owner[n > 0 ? n : 0] = '\0';
	/* Unlinked while locked: see claim_open. */
	if (!strcmp(owner, st->dir) && claim_name(name, sizeof(name)) == 0) {
		char path[128];

		snprintf(path, sizeof(path), STATE_CLAIM_DIR "/%s", name);
		unlink(path);
	}
	close(st->claimfd);
	st->claimfd = -1;
}

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

static const char *const scope_names[] = { "container", "host", "node" };
static const char *const status_names[] = { "applied", "absent", "skipped", "failed", "partial" };
static const char *const sock_names[] = { "untouched", "applied", "absent", "failed" };
static const char *const source_names[] = { "config", "namespace", "agent-pod", "runtime" };

struct attachment *attachment_new(void)
{
	struct attachment *a = calloc(1, sizeof(*a));

	if (a) {
		a->sock.found = -1;
		a->sock.value = -1;
	}
	return a;
}

void attachment_free(struct attachment *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->ndev; i++)
		model_dev_free(&a->devs[i]);
	warn_free(&a->warn);
	free(a);
}

void node_state_init(struct node_state *n)
{
	memset(n, 0, sizeof(*n));
	n->sock_orig = -1;
	n->sock_set = -1;
}

void node_state_clear(struct node_state *n)
{
	for (int i = 0; i < n->ndev; i++)
		model_dev_free(&n->devs[i]);
	node_state_init(n);
}

struct dev *model_dev_add(struct dev *devs, int *ndev, const char *name, enum dev_scope scope)
{
	struct dev *d;

	if (*ndev >= MODEL_MAX_DEVS)
		return NULL;
	d = &devs[(*ndev)++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->scope = scope;
	d->status = DEV_APPLIED;
	d->want_flow = -1;
	return d;
}

int model_dev_set_queues(struct dev *d, int nq)
{
	struct dev_queue *q;

	if (nq < 0 || nq > MODEL_MAX_QUEUES)
		return -ERANGE;
	q = calloc((size_t)(nq ? nq : 1), sizeof(*q));
	if (!q)
		return -ENOMEM;
	/* Until read, a queue holds the kernel default: empty mask, 0 flows. */
	free(d->q);
	d->q = q;
	d->nq = nq;
	return 0;
}

void model_dev_free(struct dev *d)
{
	free(d->q);
	d->q = NULL;
	d->nq = 0;
}

void model_dev_fail(struct dev *d, enum dev_status status, const char *fmt, ...)
{
	va_list ap;

	d->status = status;
	d->nq_set = 0;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

struct dev *model_dev_find(struct dev *devs, int ndev, const char *name)
{
	for (int i = 0; i < ndev; i++)
		if (!strcmp(devs[i].name, name))
			return &devs[i];
	return NULL;
}

bool model_dev_wrote(const struct dev *d)
{
	for (int i = 0; i < d->nq; i++)
		if (d->q[i].wrote_cpus || d->q[i].wrote_flow)
			return true;
	return false;
}

bool model_dev_held(const struct dev *d)
{
	return d->status == DEV_APPLIED || d->status == DEV_PARTIAL ||
	       (d->status == DEV_FAILED && model_dev_wrote(d));
}

void model_dev_settle(struct dev *d, int set, int total, int err, const char *fmt, ...)
{
	va_list ap;
	size_t off;

	d->nq_set = set;
	d->nq_total = total > set ? total : set;
	d->err = err;
	d->reason[0] = '\0';
	if (set == d->nq_total && set > 0 && !err) {
		d->status = DEV_APPLIED;
		return;
	}
	d->status = set > 0 ? DEV_PARTIAL : DEV_FAILED;
	off = (size_t)snprintf(d->reason, sizeof(d->reason), "%d of %d queues: ", set, d->nq_total);
	va_start(ap, fmt);
	if (off < sizeof(d->reason))
		vsnprintf(d->reason + off, sizeof(d->reason) - off, fmt, ap);
	va_end(ap);
}

const char *model_errno_name(int err, char *buf, size_t len)
{
	const char *n = err > 0 ? strerrorname_np(err) : NULL;

	snprintf(buf, len, "%s", n ? n : "");
	if (!n && err > 0)
		snprintf(buf, len, "%d", err);
	return buf;
}

int model_errno_parse(const char *name)
{
	for (int i = 1; i < 4096; i++) {
		const char *n = strerrorname_np(i);

		if (n && !strcmp(n, name))
			return i;
	}
	return 0;
}

const char *model_scope_name(enum dev_scope s)
{
	return (unsigned)s < ARRAY_SIZE(scope_names) ? scope_names[s] : "?";
}

const char *model_status_name(enum dev_status s)
{
	return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "?";
}

const char *model_sock_status_name(enum sock_status s)
{
	return (unsigned)s < ARRAY_SIZE(sock_names) ? sock_names[s] : "?";
}

const char *model_source_name(enum decision_source s)
{
	return (unsigned)s < ARRAY_SIZE(source_names) ? source_names[s] : "?";
}

#define PARSER(fn, type, names)                                        \
	int fn(const char *s, type *out)                               \
	{                                                              \
		int i = name_index(names, ARRAY_SIZE(names), s);       \
								       \
		if (i < 0)                                             \
			return -EINVAL;                                \
		*out = (type)i;                                        \
		return 0;                                              \
	}
PARSER(model_scope_parse, enum dev_scope, scope_names)
PARSER(model_status_parse, enum dev_status, status_names)
PARSER(model_sock_status_parse, enum sock_status, sock_names)
PARSER(model_source_parse, enum decision_source, source_names)

long long model_roundup_pow2(long long v)
{
	long long p = 1;

	if (v <= 0)
		return 0;
	while (p < v)
		p <<= 1;
	return p;
}

long long model_flow_cnt(const struct fs_config *cfg, int nq)
{
	long long v = cfg->flow_cnt;

	if (v == 0)
		v = nq > 0 ? cfg->sock_flow_entries / nq : cfg->sock_flow_entries;
	return model_roundup_pow2(v);
}

int model_failures(const struct attachment *a, char *first, size_t len)
{
	int n = 0;

	if (first && len)
		first[0] = '\0';
	for (int i = 0; i < a->ndev; i++) {
		const struct dev *d = &a->devs[i];
		/* Partial from an error fails as failed does; from the queue
		 * bound or queues that appeared, it is a warning. */
		bool bad = d->status == DEV_FAILED || (d->status == DEV_PARTIAL && d->err) ||
			   (d->status == DEV_ABSENT && d->scope != DEV_SCOPE_NODE);

		if (!bad)
			continue;
		if (!n && first)
			snprintf(first, len, "%s device %s: %s", model_scope_name(d->scope), d->name,
				 d->reason[0] ? d->reason : model_status_name(d->status));
		n++;
	}
	if (a->sock.status == SOCK_FAILED) {
		if (!n && first)
			snprintf(first, len, "net.core.rps_sock_flow_entries could not be written");
		n++;
	}
	return n;
}

/* " eth0:applied", " eth0:partial(1024/1100)", " eth0:failed(0/1,EROFS)" */
static size_t status_dev(const struct dev *d, char *buf, size_t len)
{
	char en[32] = "";

	if (d->status == DEV_APPLIED)
		return (size_t)snprintf(buf, len, " %s:applied", d->name);
	model_errno_name(d->err, en, sizeof(en));
	return (size_t)snprintf(buf, len, " %s:%s(%d/%d%s%s)", d->name, model_status_name(d->status),
				d->nq_set, d->nq_total, en[0] ? "," : "", en);
}

void model_status_line(const struct attachment *a, char *buf, size_t len)
{
	char cpus[256] = "";
	int applied = 0, partial = 0, failed = 0;
	size_t off;

	cpumask_format_list(&a->cpus, cpus, sizeof(cpus));
	off = (size_t)snprintf(buf, len, "mode=%s scope=%s cpus=%s", config_mode_name(a->mode),
			       config_scope_name(a->scope), a->mode != FS_MODE_OFF && cpus[0] ? cpus : "-");
	for (int i = 0; i < a->ndev && off < len; i++) {
		const struct dev *d = &a->devs[i];

		applied += d->status == DEV_APPLIED;
		partial += d->status == DEV_PARTIAL;
		failed += d->status == DEV_FAILED;
		if (d->status == DEV_APPLIED || d->status == DEV_PARTIAL || d->status == DEV_FAILED)
			off += status_dev(d, buf + off, len - off);
	}
	if (off < len && partial)
		snprintf(buf + off, len - off, " (%d applied, %d partial, %d failed)", applied, partial, failed);
	else if (off < len)
		snprintf(buf + off, len - off, " (%d applied, %d failed)", applied, failed);
}

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alog.h"
#include "procstat.h"
#include "util.h"

#define PROCSTAT_FILE_MAX (4u << 20)

static int softnet_hex(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 16);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int softnet_line(char *line, struct softnet_row *row, unsigned rowno)
{
	uint32_t col[16] = { 0 };
	char *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n < 16 && softnet_hex(tok, &col[n]))
			return -1;
		n++;
	}
	if (n < 9)
		return -1;
	*row = (struct softnet_row){
		.cpu = n >= 13 ? col[12] : rowno,
		.processed = col[0], .dropped = col[1], .time_squeeze = col[2], .cpu_collision = col[8],
		.received_rps = n >= 10 ? col[9] : 0, .flow_limit_count = n >= 11 ? col[10] : 0,
		.backlog_len = n >= 12 ? col[11] : 0, .width = n,
	};
	return 0;
}

int softnet_parse(const char *text, struct softnet_row *rows, int max)
{
	char *copy = strdup(text), *save = NULL, *line;
	int n = 0;

	if (!copy)
		return -1;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (n == max)
			break;
		if (softnet_line(line, &rows[n], (unsigned)n)) {
			n = -1;
			break;
		}
		n++;
	}
	free(copy);
	return n;
}

/* "CPU0 CPU1 ..." -> ids; returns the count or -1. */
static int softirqs_header(char *line, unsigned *ids, int max)
{
	char *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *end;
		unsigned long v;

		if (strncmp(tok, "CPU", 3) || n == max)
			return -1;
		errno = 0;
		v = strtoul(tok + 3, &end, 10);
		if (errno || end == tok + 3 || *end || v >= PROCSTAT_MAX_CPUS)
			return -1;
		ids[n++] = (unsigned)v;
	}
	return n ? n : -1;
}

static int softirqs_row(char *line, const unsigned *ids, int ncpu, struct softirq_cpu *out)
{
	char *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *end;
		unsigned long long v;

		if (n == ncpu)
			return -1;
		errno = 0;
		v = strtoull(tok, &end, 10);
		if (errno || end == tok || *end)
			return -1;
		out[n] = (struct softirq_cpu){ .cpu = ids[n], .count = v };
		n++;
	}
	return n == ncpu ? n : -1;
}

int softirqs_parse(const char *text, const char *name, struct softirq_cpu *out, int max)
{
	char *copy = strdup(text), *save = NULL, *line;
	unsigned *ids = calloc((size_t)max, sizeof(*ids));
	size_t nlen = strlen(name);
	int ncpu = -1, ret = -1;

	if (!copy || !ids)
		goto out;
	line = strtok_r(copy, "\n", &save);
	if (!line || (ncpu = softirqs_header(line, ids, max)) < 0)
		goto out;
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *p = line + strspn(line, " \t");

		if (!strncmp(p, name, nlen) && p[nlen] == ':') {
			ret = softirqs_row(p + nlen + 1, ids, ncpu, out);
			break;
		}
	}
out:
	free(copy);
	free(ids);
	return ret;
}

static char *procstat_read(const char *root, const char *rel)
{
	char path[4096], *buf = NULL;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	r = file_read_all(path, PROCSTAT_FILE_MAX, &buf, &len);
	if (r) {
		alog(ALOG_WARN, "metrics: reading %s: %s", path, strerror(-r));
		return NULL;
	}
	return buf;
}

struct softnet_family {
	const char *name, *type, *help;
	size_t off;
};

static const struct softnet_family softnet_families[] = {
	{ "flowsteer_softnet_processed_total", "counter", "Packets processed by the CPU's softirq (softnet_stat column 1).",
	  offsetof(struct softnet_row, processed) },
	{ "flowsteer_softnet_dropped_total", "counter", "Packets dropped: backlog queue full (softnet_stat column 2).",
	  offsetof(struct softnet_row, dropped) },
	{ "flowsteer_softnet_times_squeezed_total", "counter",
	  "Times NET_RX ran out of budget or time with work left (softnet_stat column 3, time_squeeze).",
	  offsetof(struct softnet_row, time_squeeze) },
	{ "flowsteer_softnet_received_rps_total", "counter",
	  "Times the CPU was woken by an RPS IPI to process packets (softnet_stat column 10).",
	  offsetof(struct softnet_row, received_rps) },
	{ "flowsteer_softnet_flow_limit_count_total", "counter", "Times the flow limit was hit (softnet_stat column 11).",
	  offsetof(struct softnet_row, flow_limit_count) },
	{ "flowsteer_softnet_backlog_len", "gauge", "Packets in the CPU's backlog queues (softnet_stat column 12).",
	  offsetof(struct softnet_row, backlog_len) },
};

void procstat_collect_softnet(struct metrics_out *o, void *proc_root)
{
	struct softnet_row *rows = calloc(PROCSTAT_MAX_CPUS, sizeof(*rows));
	char *text = rows ? procstat_read(proc_root, "net/softnet_stat") : NULL;
	int n = text ? softnet_parse(text, rows, PROCSTAT_MAX_CPUS) : -1;

	if (text && n < 0)
		alog(ALOG_WARN, "metrics: %s/net/softnet_stat: unexpected format", (char *)proc_root);
	for (size_t f = 0; n > 0 && f < sizeof(softnet_families) / sizeof(softnet_families[0]); f++) {
		const struct softnet_family *fam = &softnet_families[f];

		metrics_family(o, fam->name, fam->type, fam->help);
		for (int i = 0; i < n; i++) {
			char label[32];
			uint32_t v;

			memcpy(&v, (const char *)&rows[i] + fam->off, sizeof(v));
			snprintf(label, sizeof(label), "cpu=\"%u\"", rows[i].cpu);
			metrics_sample_u64(o, fam->name, label, v);
		}
	}
	free(text);
	free(rows);
}

void procstat_collect_softirqs(struct metrics_out *o, void *proc_root)
{
	struct softirq_cpu *cpus = calloc(PROCSTAT_MAX_CPUS, sizeof(*cpus));
	char *text = cpus ? procstat_read(proc_root, "softirqs") : NULL;
	int n = text ? softirqs_parse(text, "NET_RX", cpus, PROCSTAT_MAX_CPUS) : -1;

	if (text && n < 0)
		alog(ALOG_WARN, "metrics: %s/softirqs: no NET_RX row or unexpected format", (char *)proc_root);
	if (n > 0)
		metrics_family(o, "flowsteer_softirqs_net_rx_total", "counter",
			       "NET_RX softirqs run on the CPU (/proc/softirqs).");
	for (int i = 0; i < n; i++) {
		char label[32];

		snprintf(label, sizeof(label), "cpu=\"%u\"", cpus[i].cpu);
		metrics_sample_u64(o, "flowsteer_softirqs_net_rx_total", label, cpus[i].count);
	}
	free(text);
	free(cpus);
}

/* Per-CPU network softirq counters for /metrics, named after node_exporter's
 * softnet collector (flowsteer_softnet_*_total{cpu="N"}) plus NET_RX from
 * /proc/softirqs. Both files are global, whatever network namespace reads
 * them (softnet_stat is registered per netns but prints the per-CPU
 * softnet_data), so the agent needs neither the host netns nor host /proc.
 * The parsers are pure (buffer in), for unit tests with fixture text. */
#ifndef FLOWSTEER_AGENT_PROCSTAT_H
#define FLOWSTEER_AGENT_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define PROCSTAT_MAX_CPUS 8192

struct softnet_row {
	unsigned cpu;
	uint32_t processed, dropped, time_squeeze, cpu_collision, received_rps, flow_limit_count;
	uint32_t backlog_len;
	int width;	/* columns of the row */
};

/* Rows of /proc/net/softnet_stat (hex). The CPU is column 13 where the
 * kernel prints it (5.10+); before, the row number, which is right only
 * while every CPU is online (older kernels skip offline CPUs). Returns the
 * number of rows, or -1 on a malformed line (fewer than 9 columns, not hex). */
int softnet_parse(const char *text, struct softnet_row *rows, int max);

struct softirq_cpu {
	unsigned cpu;
	uint64_t count;
};

/* The `name` row (e.g. "NET_RX") of /proc/softirqs, CPUs from the header
 * ("CPU0 CPU1 ..."). Returns the number of CPUs, or -1 when the header or
 * the row is missing or malformed. */
int softirqs_parse(const char *text, const char *name, struct softirq_cpu *out, int max);

/* Collectors for metrics_register(); arg: the proc root ("/proc"). */
void procstat_collect_softnet(struct metrics_out *o, void *proc_root);
void procstat_collect_softirqs(struct metrics_out *o, void *proc_root);

#endif

/* CPU sets: cpulist parsing ("0-3,8"), set algebra, and the kernel's
 * rps_cpus hex format (comma-separated 32-bit groups). Pure: no kernel access. */
#ifndef FLOWSTEER_CPUMASK_H
#define FLOWSTEER_CPUMASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Linux's NR_CPUS ceiling (CONFIG_NR_CPUS max is 8192). */
#define CPUMASK_MAX_CPUS 8192
#define CPUMASK_WORDS (CPUMASK_MAX_CPUS / 64)
/* Longest hex form: 256 groups of 8 digits plus commas. */
#define CPUMASK_HEX_MAX (CPUMASK_MAX_CPUS / 4 + CPUMASK_MAX_CPUS / 32 + 1)

struct cpumask {
	uint64_t bits[CPUMASK_WORDS];
};

void cpumask_zero(struct cpumask *m);
void cpumask_set(struct cpumask *m, unsigned cpu);
bool cpumask_test(const struct cpumask *m, unsigned cpu);
bool cpumask_empty(const struct cpumask *m);
bool cpumask_equal(const struct cpumask *a, const struct cpumask *b);
void cpumask_and(struct cpumask *dst, const struct cpumask *a, const struct cpumask *b);
void cpumask_or(struct cpumask *dst, const struct cpumask *a, const struct cpumask *b);
void cpumask_andnot(struct cpumask *dst, const struct cpumask *a, const struct cpumask *b);
/* Index of the highest set CPU, or -1. */
int cpumask_last(const struct cpumask *m);

/* "0-3,8,10-11"; empty string = empty set. 0, or -1 with e (may be NULL)
 * set: code 6 and a message quoting the offending part. */
int cpumask_parse_list(const char *s, struct cpumask *m, struct fs_err *e);
/* Kernel hex form ("ffffffff,ffffffff", "3"); accepts what sysfs prints. */
int cpumask_parse_hex(const char *s, struct cpumask *m);
/* Kernel hex form padded to nbits (nr_cpu_ids), as sysfs prints it. */
int cpumask_format_hex(const struct cpumask *m, unsigned nbits, char *buf, size_t len);
/* Compact cpulist ("0-3,8"); "" for the empty set. */
int cpumask_format_list(const struct cpumask *m, char *buf, size_t len);

#endif

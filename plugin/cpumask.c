#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpumask.h"
#include "err.h"

void cpumask_zero(struct cpumask *m)
{
	memset(m, 0, sizeof(*m));
}

void cpumask_set(struct cpumask *m, unsigned cpu)
{
	if (cpu < CPUMASK_MAX_CPUS)
		m->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}

bool cpumask_test(const struct cpumask *m, unsigned cpu)
{
	return cpu < CPUMASK_MAX_CPUS && (m->bits[cpu / 64] >> (cpu % 64)) & 1;
}

bool cpumask_empty(const struct cpumask *m)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		if (m->bits[i])
			return false;
	return true;
}

bool cpumask_equal(const struct cpumask *a, const struct cpumask *b)
{
	return !memcmp(a->bits, b->bits, sizeof(a->bits));
}

void cpumask_and(struct cpumask *dst, const struct cpumask *a, const struct cpumask *b)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		dst->bits[i] = a->bits[i] & b->bits[i];
}

void cpumask_or(struct cpumask *dst, const struct cpumask *a, const struct cpumask *b)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		dst->bits[i] = a->bits[i] | b->bits[i];
}

void cpumask_andnot(struct cpumask *dst, const struct cpumask *a, const struct cpumask *b)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		dst->bits[i] = a->bits[i] & ~b->bits[i];
}

int cpumask_last(const struct cpumask *m)
{
	for (int i = CPUMASK_WORDS - 1; i >= 0; i--)
		if (m->bits[i])
			return i * 64 + 63 - __builtin_clzll(m->bits[i]);
	return -1;
}

static int cpulist_num(const char **p, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	errno = 0;
	v = strtoul(*p, &end, 10);
	if (errno || end - *p > 6)
		return -ERANGE;
	if (v >= CPUMASK_MAX_CPUS)
		return -ERANGE;
	*p = end;
	*out = (unsigned)v;
	return 0;
}

static int bad_part(const char *s, const char *start, struct fs_err *e)
{
	return err_set(e, CNI_ERR_DECODE, "\"%s\" is not a cpulist (expected e.g. \"0-3,8\"), bad part \"%.*s\"",
		       s, (int)strcspn(start, ","), start);
}

int cpumask_parse_list(const char *s, struct cpumask *m, struct fs_err *e)
{
	const char *p = s;

	cpumask_zero(m);
	/* Strict: a stray space is rejected as a trailing one always was (it
	 * usually means a hand-edited value is not what the operator meant). */
	if (!*p)
		return 0;
	for (;;) {
		const char *start = p;
		unsigned lo = 0, hi;
		int r;

		r = cpulist_num(&p, &lo);
		hi = lo;
		if (r == 0 && *p == '-') {
			p++;
			r = cpulist_num(&p, &hi);
		}
		if (r == -ERANGE)
			return err_set(e, CNI_ERR_DECODE, "CPU number in \"%s\" is out of range (0-%d)", s,
				       CPUMASK_MAX_CPUS - 1);
		if (r)
			return bad_part(s, start, e);
		if (hi < lo)
			return err_set(e, CNI_ERR_DECODE, "range \"%.*s\" in \"%s\" is reversed", (int)(p - start),
				       start, s);
		for (unsigned c = lo; c <= hi; c++)
			cpumask_set(m, c);
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return bad_part(s, start, e);
		p++;
	}
}

int cpumask_parse_hex(const char *s, struct cpumask *m)
{
	size_t len = strlen(s);
	unsigned bit = 0;

	cpumask_zero(m);
	while (len && (s[len - 1] == '\n' || s[len - 1] == ' '))
		len--;
	if (!len)
		return -EINVAL;
	for (size_t i = len; i-- > 0;) {
		int v;

		if (s[i] == ',')
			continue;
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		v = isdigit((unsigned char)s[i]) ? s[i] - '0' : (tolower((unsigned char)s[i]) - 'a' + 10);
		for (int b = 0; b < 4; b++, bit++) {
			if (!(v & (1 << b)))
				continue;
			if (bit >= CPUMASK_MAX_CPUS)
				return -ERANGE;
			cpumask_set(m, bit);
		}
	}
	return 0;
}

int cpumask_format_hex(const struct cpumask *m, unsigned nbits, char *buf, size_t len)
{
	unsigned groups, first_digits;
	size_t off = 0;

	if (nbits == 0 || nbits > CPUMASK_MAX_CPUS)
		return -EINVAL;
	groups = (nbits + 31) / 32;
	first_digits = ((nbits - 1) % 32) / 4 + 1;
	for (unsigned g = groups; g-- > 0;) {
		uint32_t v = (uint32_t)(m->bits[g / 2] >> ((g % 2) * 32));
		unsigned digits = g == groups - 1 ? first_digits : 8;
		int n;

		if (digits < 8)
			v &= (UINT32_C(1) << (digits * 4)) - 1;
		n = snprintf(buf + off, len - off, "%s%0*x", g == groups - 1 ? "" : ",", (int)digits, v);
		if (n < 0 || (size_t)n >= len - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return 0;
}

int cpumask_format_list(const struct cpumask *m, char *buf, size_t len)
{
	size_t off = 0;
	int last = cpumask_last(m);

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	for (int c = 0; c <= last; c++) {
		int start, n;

		if (!cpumask_test(m, (unsigned)c))
			continue;
		start = c;
		while (c + 1 <= last && cpumask_test(m, (unsigned)c + 1))
			c++;
		if (start == c)
			n = snprintf(buf + off, len - off, "%s%d", off ? "," : "", c);
		else
			n = snprintf(buf + off, len - off, "%s%d-%d", off ? "," : "", start, c);
		if (n < 0 || (size_t)n >= len - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return 0;
}

/* Per-pod decision from annotations (docs/annotations.md): pod > namespace > config,
 * key by key. Bad values are ignored with a warning, never an error. */
#include <stdio.h>
#include <string.h>

#include "annot.h"

struct annot_src {
	const cJSON *ann;
	enum decision_source level;   /* the order is the precedence */
};

/* Annotation values come from users: a newline or control byte in a warning
 * would break the one-line-per-event log, and a huge value would flood it. */
static void annot_quote(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;

		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (*s && len >= 4) {
		o = o > len - 4 ? len - 4 : o;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* The key's string value; a present non-string is reported and treated as
 * absent so the next level decides. */
static const char *annot_get(const struct annot_src *src, const char *key, struct fs_warn *w)
{
	const cJSON *v;
	char *printed;

	if (!cJSON_IsObject(src->ann))
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(src->ann, key);
	if (!v)
		return NULL;
	if (cJSON_IsString(v) && v->valuestring && strlen(v->valuestring) > ANNOT_VALUE_MAX) {
		char q[80];

		annot_quote(v->valuestring, q, sizeof(q));
		warn_add(w, "annotation %s = \"%s\" (%s) is longer than %d bytes; ignored", key, q,
			 model_source_name(src->level), ANNOT_VALUE_MAX);
		return NULL;
	}
	if (cJSON_IsString(v) && v->valuestring)
		return v->valuestring;
	printed = cJSON_PrintUnformatted(v);
	if (printed) {
		char q[80];

		annot_quote(printed, q, sizeof(q));
		warn_add(w, "annotation %s = %s (%s) is not a string; ignored", key, q, model_source_name(src->level));
		cJSON_free(printed);
	}
	return NULL;
}

static void annot_warn_bad(struct fs_warn *w, const struct annot_src *src, const char *key,
			   const char *val, const char *why)
{
	char q[80];

	annot_quote(val, q, sizeof(q));
	warn_add(w, "annotation %s = \"%s\" (%s) %s; ignored", key, q, model_source_name(src->level), why);
}

/* "all" is the configured set: it lets a pod undo a namespace's narrowing
 * without being able to add anything. */
static int annot_cpus_parse(const char *val, const struct cpumask *node_cpus, struct cpumask *out,
			    char *why, size_t whylen)
{
	struct cpumask m, extra;
	struct fs_err pe = { 0 };
	char list[256] = "";

	if (!strcmp(val, "all")) {
		*out = *node_cpus;
		if (cpumask_empty(out)) {
			snprintf(why, whylen, "leaves no CPU (configured set is empty)");
			return -1;
		}
		return 0;
	}
	if (cpumask_parse_list(val, &m, &pe)) {
		snprintf(why, whylen, "is not a cpulist (%.200s)", pe.msg);
		return -1;
	}
	cpumask_andnot(&extra, &m, node_cpus);
	cpumask_format_list(node_cpus, list, sizeof(list));
	if (!cpumask_empty(&extra)) {
		char ex[256] = "";

		cpumask_format_list(&extra, ex, sizeof(ex));
		snprintf(why, whylen, "would add CPUs %.120s outside the configured set \"%.120s\"", ex, list);
		return -1;
	}
	if (cpumask_empty(&m)) {
		snprintf(why, whylen, "leaves no CPU (configured set \"%s\")", list);
		return -1;
	}
	*out = m;
	return 0;
}

/* What the levels said, key by key: the first level to give a valid
 * value for a key decides it. */
struct annot_found {
	const struct annot_src *mode, *scope, *cpus;
};

/* One level's three keys. Every level is read even when a higher one
 * decided, so that a bad value anywhere is reported rather than silently
 * lingering. */
static void annot_level(const struct annot_src *s, const struct cpumask *node_cpus,
			struct fs_decision *d, struct annot_found *f, struct fs_warn *w)
{
	const char *val;
	enum fs_mode m;
	enum fs_scope sc;
	struct cpumask c;
	char why[512];

	val = annot_get(s, ANNOT_MODE, w);
	if (val && config_mode_parse(val, &m))
		annot_warn_bad(w, s, ANNOT_MODE, val, "is invalid (expected off, rps or rfs)");
	else if (val && !f->mode)
		d->mode = m, f->mode = s;
	val = annot_get(s, ANNOT_SCOPE, w);
	if (val && config_scope_parse(val, &sc))
		annot_warn_bad(w, s, ANNOT_SCOPE, val, "is invalid (expected container, host or both)");
	else if (val && !f->scope)
		d->scope = sc, f->scope = s;
	val = annot_get(s, ANNOT_CPUS, w);
	if (val && annot_cpus_parse(val, node_cpus, &c, why, sizeof(why)))
		annot_warn_bad(w, s, ANNOT_CPUS, val, why);
	else if (val && !f->cpus)
		d->cpus = c, f->cpus = s;
}

void annot_decide(const struct fs_config *cfg, const struct cpumask *node_cpus,
		  const cJSON *pod_ann, enum decision_source pod_source,
		  const cJSON *ns_ann, struct fs_decision *d, struct fs_warn *w)
{
	const struct annot_src pod = { pod_ann, pod_source }, ns = { ns_ann, SRC_NAMESPACE };
	struct annot_found f = { 0 };
	const struct annot_src *top;

	memset(d, 0, sizeof(*d));
	d->mode = cfg->mode;
	d->scope = cfg->scope;
	d->cpus = *node_cpus;
	annot_level(&pod, node_cpus, d, &f, w);
	annot_level(&ns, node_cpus, d, &f, w);

	/* An explicit mode annotation decides on its own (off opts out, rps/rfs
	 * opt in, even under policy opt-in or a config mode of off). Without
	 * one, opt-out tunes with the configured mode and opt-in does not. */
	if (f.mode)
		d->tune = d->mode != FS_MODE_OFF;
	else
		d->tune = cfg->policy == FS_POLICY_OPT_OUT && cfg->mode != FS_MODE_OFF;
	if (!d->tune)
		d->mode = FS_MODE_OFF;

	/* scope and cpus only matter to a pod that is tuned. */
	top = f.mode;
	if (d->tune && f.scope && (!top || f.scope->level > top->level))
		top = f.scope;
	if (d->tune && f.cpus && (!top || f.cpus->level > top->level))
		top = f.cpus;
	d->source = top ? top->level : SRC_CONFIG;
}

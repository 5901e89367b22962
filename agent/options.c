/* The option table and what is made from it: see options.h. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "alog.h"
#include "options.h"

#define DST(field) offsetof(struct agent_cli, field)
#define FLAG(n, f, h) { .name = n, .kind = OPTION_FLAG, .off = DST(o.f), .help = h }
#define STR(n, a, f, d, h) { .name = n, .arg = a, .kind = OPTION_STR, .off = DST(o.f), .def = d, .help = h }
#define INT(n, f, d, lo, hi, h) \
	{ .name = n, .arg = "N", .kind = OPTION_INT, .off = DST(o.f), .def = d, .min = lo, .max = hi, .help = h }

const struct option_row options_table[] = {
	{ .name = "node-name", .arg = "NAME", .kind = OPTION_STR, .off = DST(o.node_name), .env = "NODE_NAME",
	  .help = "this node" },
	STR("kubeconfig", "PATH", kubeconfig, NULL, "API server credentials (default: in-cluster ServiceAccount)"),
	STR("sa-dir", "DIR", sa_dir, KUBE_SA_DIR, "ServiceAccount dir"),
	FLAG("no-kube", no_kube, "no API server: no watch, no status patches"),
	STR("annotations-file", "PATH", annotations_file, AGENT_ANNOTATIONS_FILE, "the annotation cache the plugin reads"),
	STR("metrics-addr", "HOST:PORT", metrics_addr, AGENT_METRICS_ADDR, "metrics and health (\"off\" disables)"),
	STR("cni-bin-dir", "DIR", bin_dir, AGENT_BIN_DIR, "where the plugin is installed"),
	STR("cni-conf-dir", "DIR", conf_dir, AGENT_CONF_DIR, "the conflists to chain the plugin into"),
	STR("plugin-src", "PATH", plugin_src, AGENT_PLUGIN_SRC, "the plugin to install"),
	STR("entry", "JSON", entry, NULL, "the conflist entry (default: flowsteer's default entry)"),
	FLAG("no-install", no_install, "do not install or chain the plugin"),
	STR("daemonset", "NS/NAME", daemonset, AGENT_DAEMONSET,
	    "this agent's DaemonSet: SIGTERM takes the entry out only when\nit is gone or being deleted"),
	STR("proc-dir", "DIR", proc_dir, "/proc", "procfs root for metrics"),
	STR("state-dir", "DIR", state_dir, AGENT_STATE_DIR,
	    "the plugin's stateDir: records to patch pod status from,\ncount, check for drift and re-mask"),
	STR("cpu-manager-state", "FILE", cpu_state, AGENT_CPU_STATE,
	    "the kubelet's CPU manager state; re-mask every tuned device\nwhen it changes (\"off\" disables)"),
	INT("drift-interval-seconds", drift_s, "10", 1, 86400, "compute the drift gauges at most this often"),
	{ .name = "log-level", .arg = "LEVEL", .kind = OPTION_ENUM, .off = DST(log_level), .def = "info",
	  .names = alog_level_names, .n_names = ALOG_LEVELS, .help = "log up to this level" },
	INT("watch-timeout-seconds", watch_min_s, "300", 1, 3600, "minimum watch timeoutSeconds (actual N..2N)"),
	INT("watch-margin-seconds", margin_s, "60", 1, 3600,
	    "a watch the server has not ended N s after its timeoutSeconds\nis a hung server: relist"),
	INT("connect-timeout-seconds", connect_s, "10", 1, 300, "TCP connect and TLS handshake"),
	INT("request-timeout-seconds", request_s, "60", 1, 3600, "a whole list page or status patch"),
	INT("backoff-base-ms", backoff_base_ms, "800", 1, 600000, "first retry delay after a failed request"),
	INT("backoff-max-ms", backoff_max_ms, "30000", 1, 3600000, "longest retry delay"),
	INT("refresh-seconds", refresh_s, "60", 1, 86400, "rewrite syncedAt this often while in sync"),
	INT("page-size", page_size, "500", 1, 10000, "list page size"),
	{ .name = "help", .short_name = 'h', .kind = OPTION_EXIT, .off = DST(help), .help = "this text" },
	{ .name = "version", .kind = OPTION_EXIT, .off = DST(version), .help = "print the version" },
};
const size_t options_count = ARRAY_SIZE(options_table);

/* getopt_long's value for row i: past every short option's character. */
#define OPTIONS_VAL0 256

static int option_enum_fail(const struct option_row *r, const char *val, FILE *err)
{
	fprintf(err, "flowsteer-agent: --%s \"%s\": ", r->name, val);
	for (size_t i = 0; i < r->n_names; i++)
		fprintf(err, "%s%s", !i ? "" : i + 1 < r->n_names ? ", " : " or ", r->names[i]);
	fputc('\n', err);
	return -1;
}

static int option_set(const struct option_row *r, const char *val, struct agent_cli *cli, FILE *err)
{
	void *dst = (char *)cli + r->off;
	int i;

	switch (r->kind) {
	case OPTION_FLAG:
	case OPTION_EXIT:
		*(bool *)dst = true;
		return 0;
	case OPTION_STR:
		*(const char **)dst = val;
		return 0;
	case OPTION_INT:
		if (parse_long(val, r->min, r->max, dst) == 0)
			return 0;
		fprintf(err, "flowsteer-agent: --%s \"%s\" is not a number in [%lld, %lld]\n", r->name, val, r->min,
			r->max);
		return -1;
	case OPTION_ENUM:
		i = name_index(r->names, r->n_names, val);
		if (i < 0)
			return option_enum_fail(r, val, err);
		*(int *)dst = i;
		return 0;
	}
	return -1;
}

static int options_defaults(struct agent_cli *cli, FILE *err)
{
	*cli = (struct agent_cli){ 0 };
	for (size_t i = 0; i < options_count; i++) {
		const struct option_row *r = &options_table[i];
		const char *v = r->env && getenv(r->env) ? getenv(r->env) : r->def;

		if (v && option_set(r, v, cli, err))
			return -1;
	}
	return 0;
}

static void options_getopt(struct option *lo, char *shorts)
{
	size_t n = 0;

	for (size_t i = 0; i < options_count; i++) {
		const struct option_row *r = &options_table[i];
		int has_arg = r->kind == OPTION_FLAG || r->kind == OPTION_EXIT ? no_argument : required_argument;

		lo[i] = (struct option){ r->name, has_arg, NULL, OPTIONS_VAL0 + (int)i };
		if (r->short_name) {
			shorts[n++] = r->short_name;
			if (has_arg)
				shorts[n++] = ':';
		}
	}
	lo[options_count] = (struct option){ 0 };
	shorts[n] = '\0';
}

static const struct option_row *options_row(int c)
{
	if (c >= OPTIONS_VAL0 && c < OPTIONS_VAL0 + (int)options_count)
		return &options_table[c - OPTIONS_VAL0];
	for (size_t i = 0; i < options_count; i++)
		if (c != '?' && options_table[i].short_name == c)
			return &options_table[i];
	return NULL;
}

static bool options_daemonset_valid(const char *s)
{
	const char *slash = strchr(s, '/');
	char ns[64];

	if (!slash || slash - s >= (long)sizeof(ns))
		return false;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - s), s);
	return kube_name_valid(ns, false) && kube_name_valid(slash + 1, true);
}

/* What no single row can check. */
static int options_check(const struct agent_opts *o, int argc, char **argv, FILE *err)
{
	if (optind < argc) {
		fprintf(err, "flowsteer-agent: unexpected argument \"%s\"\n", argv[optind]);
		return OPTIONS_USAGE;
	}
	if (!options_daemonset_valid(o->daemonset)) {
		fprintf(err, "flowsteer-agent: --daemonset \"%s\": NAMESPACE/NAME\n", o->daemonset);
		return OPTIONS_USAGE;
	}
	if (!o->no_kube && (!o->node_name || !*o->node_name)) {
		fprintf(err, "flowsteer-agent: --node-name or $NODE_NAME is required (or --no-kube)\n");
		return OPTIONS_USAGE;
	}
	return OPTIONS_RUN;
}

int options_parse(int argc, char **argv, struct agent_cli *cli, FILE *err)
{
	struct option lo[ARRAY_SIZE(options_table) + 1];
	char shorts[2 * ARRAY_SIZE(options_table) + 1];
	const struct option_row *r;
	int c;

	if (options_defaults(cli, err))
		return OPTIONS_USAGE;
	options_getopt(lo, shorts);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		r = options_row(c);
		if (!r)
			fprintf(err, "flowsteer-agent: bad option \"%s\"\n", argv[optind - 1]);
		if (!r || option_set(r, optarg, cli, err)) {
			options_usage(err);
			return OPTIONS_USAGE;
		}
		if (r->kind == OPTION_EXIT)
			return OPTIONS_EXIT;
	}
	return options_check(&cli->o, argc, argv, err);
}

static void option_usage(FILE *f, const struct option_row *r)
{
	const char *h = r->help, *nl;
	char left[64];
	int n = 0;

	if (r->short_name)
		n = snprintf(left, sizeof(left), "-%c, ", r->short_name);
	snprintf(left + n, sizeof(left) - (size_t)n, "--%s%s%s", r->name, r->arg ? " " : "", r->arg ? r->arg : "");
	fprintf(f, "  %-27s ", left);
	for (; (nl = strchr(h, '\n')); h = nl + 1)
		fprintf(f, "%.*s\n%30s", (int)(nl - h), h, "");
	fputs(h, f);
	for (size_t i = 0; i < r->n_names; i++)
		fprintf(f, "%s%s", i ? ", " : ": ", r->names[i]);
	if (r->env)
		fprintf(f, " (default $%s)", r->env);
	else if (r->kind == OPTION_INT)
		fprintf(f, " (default %s; %lld..%lld)", r->def, r->min, r->max);
	else if (r->def)
		fprintf(f, " (default %s)", r->def);
	fputc('\n', f);
}

void options_usage(FILE *f)
{
	fputs("usage: flowsteer-agent [options]\n", f);
	for (size_t i = 0; i < options_count; i++)
		option_usage(f, &options_table[i]);
}

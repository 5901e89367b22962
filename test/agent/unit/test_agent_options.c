/* The agent's options through their table: defaults, each kind, limits,
 * the errors (exit 2 in main) and the usage text made from the rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alog.h"
#include "options.h"

static char err_text[8192];

/* Parses "flowsteer-agent" + args (NULL-terminated); err_text gets what the
 * parse wrote on its error stream. */
static int parse(struct agent_cli *cli, const char *const *args)
{
	char *argv[64] = { "flowsteer-agent" };
	char *buf = NULL;
	size_t len = 0;
	int argc = 1, ret;
	FILE *err;

	while (*args)
		argv[argc++] = (char *)*args++;
	err = open_memstream(&buf, &len);
	assert_non_null(err);
	ret = options_parse(argc, argv, cli, err);
	fclose(err);
	snprintf(err_text, sizeof(err_text), "%s", buf);
	free(buf);
	return ret;
}

#define PARSE(cli, ...) parse(cli, (const char *const[]){ __VA_ARGS__, NULL })

static void test_defaults(void **state)
{
	struct agent_cli cli;

	(void)state;
	setenv("NODE_NAME", "node-7", 1);
	assert_int_equal(PARSE(&cli, "--no-install"), OPTIONS_RUN);
	assert_string_equal(cli.o.node_name, "node-7");
	assert_null(cli.o.kubeconfig);
	assert_null(cli.o.entry);
	assert_string_equal(cli.o.sa_dir, KUBE_SA_DIR);
	assert_string_equal(cli.o.annotations_file, AGENT_ANNOTATIONS_FILE);
	assert_string_equal(cli.o.metrics_addr, AGENT_METRICS_ADDR);
	assert_string_equal(cli.o.bin_dir, AGENT_BIN_DIR);
	assert_string_equal(cli.o.conf_dir, AGENT_CONF_DIR);
	assert_string_equal(cli.o.plugin_src, AGENT_PLUGIN_SRC);
	assert_string_equal(cli.o.daemonset, AGENT_DAEMONSET);
	assert_string_equal(cli.o.proc_dir, "/proc");
	assert_string_equal(cli.o.state_dir, AGENT_STATE_DIR);
	assert_string_equal(cli.o.cpu_state, AGENT_CPU_STATE);
	assert_false(cli.o.no_kube);
	assert_true(cli.o.no_install);
	assert_int_equal(cli.o.watch_min_s, 300);
	assert_int_equal(cli.o.margin_s, 60);
	assert_int_equal(cli.o.connect_s, 10);
	assert_int_equal(cli.o.request_s, 60);
	assert_int_equal(cli.o.backoff_base_ms, 800);
	assert_int_equal(cli.o.backoff_max_ms, 30000);
	assert_int_equal(cli.o.refresh_s, 60);
	assert_int_equal(cli.o.page_size, 500);
	assert_int_equal(cli.o.drift_s, 10);
	assert_int_equal(cli.log_level, ALOG_INFO);
	assert_false(cli.help || cli.version);
	assert_string_equal(err_text, "");
}

static void test_each_kind(void **state)
{
	struct agent_cli cli;

	(void)state;
	unsetenv("NODE_NAME");
	assert_int_equal(PARSE(&cli, "--node-name", "n1", "--no-kube", "--sa-dir=/sa", "--page-size", "10000",
			       "--backoff-base-ms", "1", "--log-level", "debug", "--metrics-addr", "off"),
			 OPTIONS_RUN);
	assert_string_equal(cli.o.node_name, "n1");
	assert_true(cli.o.no_kube);
	assert_false(cli.o.no_install);
	assert_string_equal(cli.o.sa_dir, "/sa");
	assert_int_equal(cli.o.page_size, 10000);
	assert_int_equal(cli.o.backoff_base_ms, 1);
	assert_int_equal(cli.log_level, ALOG_DEBUG);
	assert_string_equal(cli.o.metrics_addr, "off");
	/* An exit option ends the parse: what follows is not looked at. */
	assert_int_equal(PARSE(&cli, "--help", "--bogus"), OPTIONS_EXIT);
	assert_true(cli.help);
	assert_int_equal(PARSE(&cli, "-h"), OPTIONS_EXIT);
	assert_true(cli.help);
	assert_int_equal(PARSE(&cli, "--version"), OPTIONS_EXIT);
	assert_true(cli.version);
	assert_false(cli.help);
}

static void test_bad_values(void **state)
{
	struct agent_cli cli;

	(void)state;
	assert_int_equal(PARSE(&cli, "--no-kube", "--page-size", "abc"), OPTIONS_USAGE);
	assert_non_null(strstr(err_text, "--page-size \"abc\" is not a number in [1, 10000]"));
	assert_int_equal(PARSE(&cli, "--no-kube", "--page-size", "10001"), OPTIONS_USAGE);
	assert_non_null(strstr(err_text, "--page-size \"10001\" is not a number in [1, 10000]"));
	assert_int_equal(PARSE(&cli, "--no-kube", "--connect-timeout-seconds=0"), OPTIONS_USAGE);
	assert_non_null(strstr(err_text, "--connect-timeout-seconds \"0\" is not a number in [1, 300]"));
	assert_int_equal(PARSE(&cli, "--no-kube", "--log-level", "loud"), OPTIONS_USAGE);
	assert_non_null(strstr(err_text, "--log-level \"loud\": error, warn, info or debug"));
	assert_int_equal(PARSE(&cli, "--no-kube", "--daemonset", "nons"), OPTIONS_USAGE);
	assert_non_null(strstr(err_text, "--daemonset \"nons\": NAMESPACE/NAME"));
	assert_int_equal(PARSE(&cli, "--no-kube", "--daemonset", "Bad/x"), OPTIONS_USAGE);
}

static void test_usage_errors(void **state)
{
	struct agent_cli cli;

	(void)state;
	assert_int_equal(PARSE(&cli, "--no-kube", "--bogus"), OPTIONS_USAGE);
	assert_non_null(strstr(err_text, "bad option \"--bogus\""));
	/* The usage text follows a bad option. */
	assert_non_null(strstr(err_text, "usage: flowsteer-agent"));
	assert_int_equal(PARSE(&cli, "--no-kube", "--page-size"), OPTIONS_USAGE);
	assert_non_null(strstr(err_text, "bad option \"--page-size\""));
	assert_int_equal(PARSE(&cli, "--no-kube", "stray"), OPTIONS_USAGE);
	assert_non_null(strstr(err_text, "unexpected argument \"stray\""));
	unsetenv("NODE_NAME");
	assert_int_equal(PARSE(&cli, "--no-install"), OPTIONS_USAGE);
	assert_non_null(strstr(err_text, "--node-name or $NODE_NAME is required"));
	setenv("NODE_NAME", "", 1);
	assert_int_equal(PARSE(&cli, "--no-install"), OPTIONS_USAGE);
	unsetenv("NODE_NAME");
}

/* Every row is in the usage text with its argument and its default; every
 * row's default passes its own check (the defaults test would fail else). */
static void test_usage_has_every_row(void **state)
{
	char *buf = NULL, want[128];
	size_t len = 0, lines = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	options_usage(f);
	fclose(f);
	/* One line that starts an option per row, no more. */
	for (char *p = buf; (p = strstr(p, "\n  -")); p++)
		lines++;
	assert_int_equal(lines, options_count);
	for (size_t i = 0; i < options_count; i++) {
		const struct option_row *r = &options_table[i];

		snprintf(want, sizeof(want), "--%s%s%s ", r->name, r->arg ? " " : "", r->arg ? r->arg : "");
		assert_non_null(strstr(buf, want));
		if (r->def) {
			snprintf(want, sizeof(want), "(default %s", r->def);
			assert_non_null(strstr(buf, want));
		}
		assert_non_null(r->help);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_each_kind),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_usage_has_every_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

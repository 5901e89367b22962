/* The duty table, for real: every duty is started and stopped in a temp
 * directory (the plugin copied, the conf dir and stateDir watched, the
 * metrics server on 127.0.0.1:0, an API client that never connects), with
 * the start of each in turn made to fail, before it did anything and after
 * it took everything: the failed duty and the ones before it are stopped,
 * the last first, the later ones never start, and every module is left
 * stopped. Leaks and double frees: run it under valgrind or SANITIZE=1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent.h"
#include "alog.h"
#include "util.h"

static char tmp[] = "/tmp/fs-duties-XXXXXX";
static char paths[8][512];

/* What the wrapped table did: +i+1 for a start of row i, -(i+1) for a stop. */
static int calls[64];
static size_t ncalls;
static int fail_at = -1;
static bool fail_after;         /* the real start runs, then the row fails */
static bool real_failed;

static void note(int c)
{
	assert_true(ncalls < sizeof(calls) / sizeof(calls[0]));
	calls[ncalls++] = c;
}

static int wrap_start(struct agent *a, int i)
{
	note(i + 1);
	if (i == fail_at && !fail_after)
		return -1;
	if (agent_duties[i].start(a)) {
		real_failed = true;
		return -1;
	}
	return i == fail_at ? -1 : 0;
}

static void wrap_stop(struct agent *a, int i)
{
	note(-(i + 1));
	agent_duties[i].stop(a);
}

#define WRAP(i)                                                        \
	static int start##i(struct agent *a) { return wrap_start(a, i); } \
	static void stop##i(struct agent *a) { wrap_stop(a, i); }
WRAP(0) WRAP(1) WRAP(2) WRAP(3) WRAP(4) WRAP(5) WRAP(6) WRAP(7) WRAP(8)

static int (*const starts[AGENT_NDUTIES])(struct agent *) = { start0, start1, start2, start3, start4,
							       start5, start6, start7, start8 };
static void (*const stops[AGENT_NDUTIES])(struct agent *) = { stop0, stop1, stop2, stop3, stop4,
							       stop5, stop6, stop7, stop8 };
static struct agent_duty table[AGENT_NDUTIES];

static const char *at(int i, const char *name)
{
	snprintf(paths[i], sizeof(paths[i]), "%s/%s", tmp, name);
	return paths[i];
}

static const char kubeconfig[] =
	"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
	"    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\n"
	"users:\n- name: u\n  user:\n    token: t0k3n\ncontexts:\n- name: x\n  context:\n"
	"    cluster: c\n    user: u\ncurrent-context: x\n";

static int setup(void **state)
{
	(void)state;
	alog_set_level(ALOG_ERROR);
	if (!mkdtemp(tmp))
		return -1;
	if (file_write_atomic(at(0, "plugin"), "#!/bin/true\n", 12, 0755) ||
	    file_write_atomic(at(1, "kubeconfig"), kubeconfig, strlen(kubeconfig), 0600))
		return -1;
	for (int i = 0; i < AGENT_NDUTIES; i++) {
		table[i] = agent_duties[i];
		table[i].start = starts[i];
		table[i].stop = stops[i];
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* Every duty applies unless the test turns options off. */
static struct agent *agent_make(void)
{
	struct agent *a = calloc(1, sizeof(*a));

	assert_non_null(a);
	a->sfd = -1;
	a->o = (struct agent_opts){
		.node_name = "node-1", .kubeconfig = paths[1], .annotations_file = at(2, "run/annotations.json"),
		.metrics_addr = "127.0.0.1:0", .bin_dir = at(3, "bin"), .conf_dir = at(4, "net.d"),
		.plugin_src = paths[0], .proc_dir = "/proc", .state_dir = at(5, "state"),
		.cpu_state = at(6, "kubelet/cpu_manager_state"), .daemonset = "kube-system/flowsteer-agent",
		.watch_min_s = 300, .margin_s = 60, .connect_s = 10, .request_s = 60, .backoff_base_ms = 800,
		.backoff_max_ms = 30000, .refresh_s = 60, .page_size = 500, .drift_s = 10,
	};
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	ncalls = 0;
	real_failed = false;
	return a;
}

/* Every module stopped (or never started). */
static void assert_all_stopped(const struct agent *a)
{
	assert_int_equal(a->nup, 0);
	assert_null(a->in.loop);
	assert_null(a->af.loop);
	assert_null(a->kube);
	assert_null(a->ns.xfer.h);
	assert_null(a->pods.xfer.h);
	assert_null(a->ps.loop);
	assert_null(a->rec.loop);
	assert_null(a->ca.loop);
	assert_null(a->cw.loop);
}

/* Rows 0..last started, then stopped from last down to 0. */
static void expect_up_down(int last)
{
	size_t n = 0;

	assert_int_equal(ncalls, 2 * (size_t)(last + 1));
	for (int i = 0; i <= last; i++)
		assert_int_equal(calls[n++], i + 1);
	for (int i = last; i >= 0; i--)
		assert_int_equal(calls[n++], -(i + 1));
}

static void run_failing(int k, bool after)
{
	struct agent *a = agent_make();

	fail_at = k;
	fail_after = after;
	assert_int_equal(agent_start(a, table, AGENT_NDUTIES), -1);
	assert_false(real_failed);
	expect_up_down(k);
	assert_all_stopped(a);
	agent_free(a);
	expect_up_down(k);
}

static void test_each_start_fails_before_it_did_anything(void **state)
{
	(void)state;
	for (int k = 0; k < AGENT_NDUTIES; k++)
		run_failing(k, false);
}

static void test_each_start_fails_after_it_took_everything(void **state)
{
	(void)state;
	for (int k = 0; k < AGENT_NDUTIES; k++)
		run_failing(k, true);
}

static bool rendered(struct agent *a, const char *family)
{
	size_t len = 0;
	char *m = metrics_render(a->metrics, &len);
	bool has;

	assert_non_null(m);
	has = strstr(m, family) != NULL;
	free(m);
	return has;
}

static void test_all_start_then_stop_in_reverse(void **state)
{
	struct agent *a = agent_make();
	struct stat st;

	(void)state;
	fail_at = -1;
	assert_int_equal(agent_start(a, table, AGENT_NDUTIES), 0);
	assert_int_equal(a->nup, AGENT_NDUTIES);
	assert_int_equal(stat(at(7, "bin/flowsteer"), &st), 0);
	assert_true(rendered(a, "flowsteer_agent_lists_total") && rendered(a, "flowsteer_attachments") &&
		    rendered(a, "flowsteer_remask_total") && rendered(a, "flowsteer_status_patches_total"));
	agent_duties_stop(a);
	/* Stopped duties are not scraped; the agent's own families stay. */
	assert_false(rendered(a, "flowsteer_agent_lists_total") || rendered(a, "flowsteer_attachments") ||
		     rendered(a, "flowsteer_remask_total") || rendered(a, "flowsteer_status_patches_total"));
	assert_true(rendered(a, "flowsteer_agent_ready"));
	expect_up_down(AGENT_NDUTIES - 1);
	assert_all_stopped(a);
	agent_free(a);
	expect_up_down(AGENT_NDUTIES - 1);
}

/* --no-kube --no-install --metrics-addr off --cpu-manager-state off:
 * records and cpu allowed only. */
static void test_options_leave_duties_out(void **state)
{
	struct agent *a = agent_make();

	(void)state;
	fail_at = -1;
	a->o.no_kube = a->o.no_install = true;
	a->o.metrics_addr = a->o.cpu_state = "off";
	assert_int_equal(agent_start(a, table, AGENT_NDUTIES), 0);
	assert_int_equal(a->nup, 2);
	agent_free(a);
	assert_int_equal(ncalls, 4);
	assert_true(calls[0] == 7 && calls[1] == 8 && calls[2] == -8 && calls[3] == -7);
}

/* Each module's stop: after init alone, twice, and after a start that
 * really failed half-way. */
static void test_module_stop_is_safe(void **state)
{
	struct loop *l = loop_new();
	struct install in = { 0 };
	struct records r = { 0 };
	struct podstatus p = { 0 };
	struct cpuwatch c = { 0 };
	struct cpuallowed ca = { 0 };
	struct annfile af = { 0 };

	(void)state;
	install_init(&in);
	records_init(&r);
	podstatus_init(&p);
	cpuwatch_init(&c);
	cpuallowed_init(&ca);
	annfile_init(&af);
	annfile_stop(&af);
	install_stop(&in);
	records_stop(&r);
	podstatus_stop(&p);
	cpuwatch_stop(&c);
	cpuallowed_stop(&ca);
	/* A missing plugin: the entry was parsed, the debounce set. */
	assert_int_equal(install_start(&in, at(3, "bin"), at(4, "net.d"), at(7, "no-such-plugin"), NULL, l), -1);
	install_stop(&in);
	install_stop(&in);
	assert_null(in.loop);
	assert_null(in.entry);
	/* A relative state file: the locks made, nothing else. */
	assert_int_equal(cpuwatch_start(&c, "cpu_manager_state", at(5, "state"), NULL, l), -1);
	cpuwatch_stop(&c);
	cpuwatch_stop(&c);
	assert_null(c.loop);
	assert_int_equal(cpuallowed_start(&ca, "{\"type\":\"flowsteer\",\"cpus\":\"nonsense\"}", at(5, "state"),
					  "off", l), -1);
	cpuallowed_stop(&ca);
	assert_null(ca.loop);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_start_then_stop_in_reverse),
		cmocka_unit_test(test_each_start_fails_before_it_did_anything),
		cmocka_unit_test(test_each_start_fails_after_it_took_everything),
		cmocka_unit_test(test_options_leave_duties_out),
		cmocka_unit_test(test_module_stop_is_safe),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

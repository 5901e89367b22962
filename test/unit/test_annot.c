/* annot_decide: precedence (docs/annotations.md) (pod > namespace > config, per key),
 * policy, cpus narrowing, bad values as warnings, and the source field. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "annot.h"

struct fx {
	struct fs_config cfg;
	struct cpumask node;
	struct fs_decision d;
	struct fs_warn w;
	cJSON *pod, *ns;
};

static struct fx *fx_new(const char *node_list)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	config_defaults(&f->cfg);
	assert_int_equal(cpumask_parse_list(node_list, &f->node, NULL), 0);
	return f;
}

static int fx_setup(void **state)
{
	*state = fx_new("0-7");
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	cJSON_Delete(f->pod);
	cJSON_Delete(f->ns);
	warn_free(&f->w);
	free(f);
	return 0;
}

static cJSON *json(const char *s)
{
	cJSON *j;

	if (!s)
		return NULL;
	j = cJSON_Parse(s);
	assert_non_null(j);
	return j;
}

/* Runs the decision with pod annotations from src ("runtime" or
 * "agent-pod": the agent's cache). */
static void decide(struct fx *f, const char *pod, const char *src, const char *ns)
{
	cJSON_Delete(f->pod);
	cJSON_Delete(f->ns);
	warn_free(&f->w);
	f->pod = json(pod);
	f->ns = json(ns);
	annot_decide(&f->cfg, &f->node, f->pod, strcmp(src, "runtime") ? SRC_AGENT_POD : SRC_RUNTIME,
		     f->ns, &f->d, &f->w);
}

static void assert_cpus(const struct fx *f, const char *list)
{
	char buf[256];

	cpumask_format_list(&f->d.cpus, buf, sizeof(buf));
	assert_string_equal(buf, list);
}

/* Some warning contains every one of the NULL-terminated needles. */
static void assert_warned(const struct fx *f, ...)
{
	for (int i = 0; i < f->w.n; i++) {
		bool all = true;
		const char *needle;
		va_list ap;

		va_start(ap, f);
		while ((needle = va_arg(ap, const char *)))
			if (!strstr(f->w.items[i], needle))
				all = false;
		va_end(ap);
		if (all)
			return;
	}
	for (int i = 0; i < f->w.n; i++)
		print_message("warning: %s\n", f->w.items[i]);
	fail_msg("no warning with the expected text (%d warnings)", f->w.n);
}

static void test_no_annotations_opt_out(void **state)
{
	struct fx *f = *state;

	decide(f, NULL, "runtime", NULL);
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RFS);
	assert_int_equal(f->d.scope, FS_SCOPE_BOTH);
	assert_cpus(f, "0-7");
	assert_string_equal(model_source_name(f->d.source), "config");
	assert_int_equal(f->w.n, 0);

	/* Empty objects and foreign keys are the same as none. */
	decide(f, "{\"app\":\"web\",\"flowsteer.io/status\":\"old\"}", "agent-pod", "{}");
	assert_true(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "config");
	assert_int_equal(f->w.n, 0);
}

static void test_config_mode_scope_used(void **state)
{
	struct fx *f = *state;

	f->cfg.mode = FS_MODE_RPS;
	f->cfg.scope = FS_SCOPE_HOST;
	decide(f, NULL, "runtime", NULL);
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RPS);
	assert_int_equal(f->d.scope, FS_SCOPE_HOST);
}

static void test_opt_out_mode_off(void **state)
{
	struct fx *f = *state;

	decide(f, "{\"flowsteer.io/mode\":\"off\"}", "runtime", NULL);
	assert_false(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_OFF);
	assert_string_equal(model_source_name(f->d.source), "runtime");

	decide(f, "{\"flowsteer.io/mode\":\"off\"}", "agent-pod", NULL);
	assert_false(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "agent-pod");
}

static void test_opt_in_needs_annotation(void **state)
{
	struct fx *f = *state;

	f->cfg.policy = FS_POLICY_OPT_IN;
	decide(f, NULL, "runtime", NULL);
	assert_false(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "config");

	/* scope or cpus alone do not ask for tuning */
	decide(f, "{\"flowsteer.io/scope\":\"host\",\"flowsteer.io/cpus\":\"1\"}", "runtime",
	       "{\"flowsteer.io/scope\":\"container\"}");
	assert_false(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "config");

	decide(f, "{\"flowsteer.io/mode\":\"rps\"}", "runtime", NULL);
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RPS);
	assert_int_equal(f->d.scope, FS_SCOPE_BOTH);
	assert_string_equal(model_source_name(f->d.source), "runtime");

	decide(f, "{\"flowsteer.io/mode\":\"rfs\"}", "agent-pod", NULL);
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RFS);
	assert_string_equal(model_source_name(f->d.source), "agent-pod");
}

static void test_opt_in_namespace(void **state)
{
	struct fx *f = *state;

	f->cfg.policy = FS_POLICY_OPT_IN;
	decide(f, NULL, "agent-pod", "{\"flowsteer.io/mode\":\"rps\"}");
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RPS);
	assert_string_equal(model_source_name(f->d.source), "namespace");

	/* the pod opts out of its namespace's opt-in */
	decide(f, "{\"flowsteer.io/mode\":\"off\"}", "agent-pod", "{\"flowsteer.io/mode\":\"rps\"}");
	assert_false(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "agent-pod");
}

static void test_namespace_off_pod_on(void **state)
{
	struct fx *f = *state;

	decide(f, NULL, "agent-pod", "{\"flowsteer.io/mode\":\"off\"}");
	assert_false(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "namespace");

	decide(f, "{\"flowsteer.io/mode\":\"rps\"}", "agent-pod", "{\"flowsteer.io/mode\":\"off\"}");
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RPS);
	assert_string_equal(model_source_name(f->d.source), "agent-pod");
}

static void test_config_mode_off_is_default_off(void **state)
{
	struct fx *f = *state;

	f->cfg.mode = FS_MODE_OFF;
	decide(f, NULL, "runtime", NULL);
	assert_false(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "config");

	decide(f, "{\"flowsteer.io/mode\":\"rfs\"}", "runtime", NULL);
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RFS);
	assert_string_equal(model_source_name(f->d.source), "runtime");

	decide(f, NULL, "agent-pod", "{\"flowsteer.io/mode\":\"rps\"}");
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RPS);
	assert_string_equal(model_source_name(f->d.source), "namespace");
}

/* Each key independently: pod > namespace > config. */
static void test_per_key_precedence(void **state)
{
	struct fx *f = *state;

	decide(f, "{\"flowsteer.io/mode\":\"rps\"}", "agent-pod",
	       "{\"flowsteer.io/mode\":\"rfs\",\"flowsteer.io/scope\":\"host\",\"flowsteer.io/cpus\":\"2-3\"}");
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RPS);
	assert_int_equal(f->d.scope, FS_SCOPE_HOST);
	assert_cpus(f, "2-3");
	assert_string_equal(model_source_name(f->d.source), "agent-pod");

	decide(f, "{\"flowsteer.io/scope\":\"container\",\"flowsteer.io/cpus\":\"5\"}", "agent-pod",
	       "{\"flowsteer.io/scope\":\"host\",\"flowsteer.io/cpus\":\"2-3\"}");
	assert_int_equal(f->d.mode, FS_MODE_RFS);
	assert_int_equal(f->d.scope, FS_SCOPE_CONTAINER);
	assert_cpus(f, "5");
	assert_string_equal(model_source_name(f->d.source), "agent-pod");

	/* Only namespace keys: source namespace, config for the rest. */
	decide(f, NULL, "agent-pod", "{\"flowsteer.io/scope\":\"host\"}");
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RFS);
	assert_int_equal(f->d.scope, FS_SCOPE_HOST);
	assert_cpus(f, "0-7");
	assert_string_equal(model_source_name(f->d.source), "namespace");
}

static void test_cpus_narrowing(void **state)
{
	struct fx *f = *state;

	decide(f, "{\"flowsteer.io/cpus\":\"1-2,6\"}", "runtime", NULL);
	assert_true(f->d.tune);
	assert_cpus(f, "1-2,6");
	assert_string_equal(model_source_name(f->d.source), "runtime");
	assert_int_equal(f->w.n, 0);

	/* the whole configured set is allowed too */
	decide(f, "{\"flowsteer.io/cpus\":\"0-7\"}", "runtime", NULL);
	assert_cpus(f, "0-7");
	assert_int_equal(f->w.n, 0);
}

static void test_cpus_all_undoes_namespace_narrowing(void **state)
{
	struct fx *f = *state;

	decide(f, "{\"flowsteer.io/cpus\":\"all\"}", "agent-pod", "{\"flowsteer.io/cpus\":\"1\"}");
	assert_cpus(f, "0-7");
	assert_string_equal(model_source_name(f->d.source), "agent-pod");
	assert_int_equal(f->w.n, 0);
}

static void test_cpus_widening_refused(void **state)
{
	struct fx *f = *state;

	decide(f, "{\"flowsteer.io/cpus\":\"0-9\"}", "runtime", NULL);
	assert_true(f->d.tune);
	assert_cpus(f, "0-7");
	assert_string_equal(model_source_name(f->d.source), "config");
	assert_warned(f, "flowsteer.io/cpus", "\"0-9\"", "8-9", "0-7", "ignored", NULL);

	/* against a config that excluded some CPUs */
	fx_teardown(state);
	*state = f = fx_new("0-2,4-7");
	decide(f, "{\"flowsteer.io/cpus\":\"2-4\"}", "runtime", NULL);
	assert_cpus(f, "0-2,4-7");
	assert_warned(f, "flowsteer.io/cpus", "\"2-4\"", "outside", NULL);

	/* a refused pod value falls back to the namespace's */
	decide(f, "{\"flowsteer.io/cpus\":\"3\"}", "agent-pod", "{\"flowsteer.io/cpus\":\"4-5\"}");
	assert_cpus(f, "4-5");
	assert_string_equal(model_source_name(f->d.source), "namespace");
	assert_warned(f, "flowsteer.io/cpus", "\"3\"", "(agent-pod)", NULL);
}

static void test_cpus_empty_refused(void **state)
{
	struct fx *f = *state;

	decide(f, "{\"flowsteer.io/cpus\":\"\"}", "runtime", NULL);
	assert_true(f->d.tune);
	assert_cpus(f, "0-7");
	assert_warned(f, "flowsteer.io/cpus", "\"\"", "leaves no CPU", NULL);

	/* configured set empty (cpus "none"): "all" leaves nothing either */
	fx_teardown(state);
	*state = f = fx_new("");
	decide(f, "{\"flowsteer.io/cpus\":\"all\"}", "runtime", NULL);
	assert_warned(f, "flowsteer.io/cpus", "leaves no CPU", NULL);
	assert_string_equal(model_source_name(f->d.source), "config");
}

static void test_garbage_values_warned(void **state)
{
	struct fx *f = *state;

	decide(f, "{\"flowsteer.io/mode\":\"fast\",\"flowsteer.io/scope\":\"everywhere\","
		  "\"flowsteer.io/cpus\":\"one,two\"}", "runtime", NULL);
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RFS);
	assert_int_equal(f->d.scope, FS_SCOPE_BOTH);
	assert_cpus(f, "0-7");
	assert_string_equal(model_source_name(f->d.source), "config");
	assert_int_equal(f->w.n, 3);
	assert_warned(f, "flowsteer.io/mode", "\"fast\"", "off, rps or rfs", "(runtime)", NULL);
	assert_warned(f, "flowsteer.io/scope", "\"everywhere\"", "container, host or both", NULL);
	assert_warned(f, "flowsteer.io/cpus", "\"one,two\"", "not a cpulist", NULL);

	/* case matters, as everywhere in Kubernetes */
	decide(f, "{\"flowsteer.io/mode\":\"RPS\"}", "runtime", NULL);
	assert_int_equal(f->d.mode, FS_MODE_RFS);
	assert_warned(f, "flowsteer.io/mode", "\"RPS\"", NULL);
}

static void test_garbage_under_opt_in_stays_off(void **state)
{
	struct fx *f = *state;

	f->cfg.policy = FS_POLICY_OPT_IN;
	decide(f, "{\"flowsteer.io/mode\":\"yes\"}", "runtime", NULL);
	assert_false(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "config");
	assert_warned(f, "flowsteer.io/mode", "\"yes\"", NULL);
}

static void test_garbage_pod_falls_back_to_namespace(void **state)
{
	struct fx *f = *state;

	decide(f, "{\"flowsteer.io/mode\":\"bogus\"}", "agent-pod", "{\"flowsteer.io/mode\":\"rps\"}");
	assert_true(f->d.tune);
	assert_int_equal(f->d.mode, FS_MODE_RPS);
	assert_string_equal(model_source_name(f->d.source), "namespace");
	assert_warned(f, "flowsteer.io/mode", "\"bogus\"", "(agent-pod)", NULL);

	/* and a bad namespace value is reported even when the pod decides */
	decide(f, "{\"flowsteer.io/scope\":\"host\"}", "agent-pod", "{\"flowsteer.io/scope\":\"nodes\"}");
	assert_int_equal(f->d.scope, FS_SCOPE_HOST);
	assert_warned(f, "flowsteer.io/scope", "\"nodes\"", "(namespace)", NULL);
}

static void test_non_string_values(void **state)
{
	struct fx *f = *state;

	decide(f, "{\"flowsteer.io/mode\":3,\"flowsteer.io/cpus\":[1,2],\"flowsteer.io/scope\":null}",
	       "runtime", NULL);
	assert_true(f->d.tune);
	assert_cpus(f, "0-7");
	assert_string_equal(model_source_name(f->d.source), "config");
	assert_warned(f, "flowsteer.io/mode", "not a string", NULL);
	assert_warned(f, "flowsteer.io/cpus", "[1,2]", NULL);
	assert_warned(f, "flowsteer.io/scope", "null", NULL);
}

/* A value with a line break must not split a log line; a huge one must
 * not flood it. */
static void test_warning_sanitised(void **state)
{
	struct fx *f = *state;
	char big[4096 + 64];

	decide(f, "{\"flowsteer.io/mode\":\"rfs\\nINJECTED\"}", "runtime", NULL);
	assert_warned(f, "flowsteer.io/mode", "rfs?INJECTED", NULL);
	assert_null(strchr(f->w.items[0], '\n'));

	memset(big, 'x', sizeof(big));
	strcpy(big, "{\"flowsteer.io/scope\":\"");
	memset(big + strlen(big), 'y', 4000);
	strcpy(big + strlen("{\"flowsteer.io/scope\":\"") + 4000, "\"}");
	decide(f, big, "runtime", NULL);
	assert_warned(f, "flowsteer.io/scope", "...", NULL);
	assert_true(strlen(f->w.items[0]) < 300);
}

static void test_not_tuned_ignores_scope_source(void **state)
{
	struct fx *f = *state;

	/* The pod opted out; the namespace's scope was not used. */
	decide(f, "{\"flowsteer.io/mode\":\"off\"}", "runtime", "{\"flowsteer.io/scope\":\"host\"}");
	assert_false(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "runtime");

	/* The namespace opted out; a pod scope alone changes nothing. */
	decide(f, "{\"flowsteer.io/scope\":\"host\"}", "agent-pod", "{\"flowsteer.io/mode\":\"off\"}");
	assert_false(f->d.tune);
	assert_string_equal(model_source_name(f->d.source), "namespace");
}

/* A value over ANNOT_VALUE_MAX is ignored whatever it holds (the agent
 * writes longer ones cut: the cut one must get the same answer); up to it,
 * a value is read. */
static void test_value_too_long(void **state)
{
	struct fx *f = *state;
	size_t n = 2 + 2 * 20000;
	char *pod = malloc(n + 64), *p;

	p = pod + sprintf(pod, "{\"flowsteer.io/cpus\":\"0");
	for (int i = 0; i < 20000; i++)
		p += sprintf(p, ",1");
	strcpy(p, "\"}");
	decide(f, pod, "agent-pod", NULL);
	assert_warned(f, "flowsteer.io/cpus", "longer than 32768 bytes; ignored", NULL);
	assert_cpus(f, "0-7");
	/* 32767 bytes: read. */
	pod[strlen("{\"flowsteer.io/cpus\":\"") + ANNOT_VALUE_MAX - 1] = '\0';
	strcat(pod, "\"}");
	decide(f, pod, "agent-pod", NULL);
	assert_int_equal(f->w.n, 0);
	assert_cpus(f, "0-1");
	free(pod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_annotations_opt_out, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_config_mode_scope_used, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_out_mode_off, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_in_needs_annotation, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_in_namespace, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_namespace_off_pod_on, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_config_mode_off_is_default_off, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_per_key_precedence, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cpus_narrowing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cpus_all_undoes_namespace_narrowing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cpus_widening_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cpus_empty_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_values_warned, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_under_opt_in_stays_off, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_pod_falls_back_to_namespace, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_non_string_values, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_warning_sanitised, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_not_tuned_ignores_scope_source, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_value_too_long, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests_name("annot", tests, NULL, NULL);
}

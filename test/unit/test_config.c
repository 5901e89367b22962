/* config_parse: docs/config.md defaults, every key valid and invalid (code 7 naming
 * the key), cniVersion (1 vs 7), malformed JSON (6), unknown keys ignored,
 * runtimeConfig pod annotations, hostDevices validation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

/* A minimal valid configuration with `extra` spliced into the object. */
static char *conf_with(const char *extra)
{
	char *buf;

	if (asprintf(&buf, "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"type\":\"flowsteer\"%s%s}",
		     extra && *extra ? "," : "", extra ? extra : "") < 0)
		fail_msg("asprintf");
	return buf;
}

static int parse_raw(const char *json, struct fs_config *c, struct fs_err *e)
{
	memset(e, 0, sizeof(*e));
	return config_parse(json, strlen(json), c, e);
}

/* Parses {minimal, extra}; must succeed. The caller frees c. */
static void parse_ok(const char *extra, struct fs_config *c)
{
	struct fs_err e;
	char *json = conf_with(extra);

	if (parse_raw(json, c, &e))
		fail_msg("%s: code %d: %s", json, e.code, e.msg);
	assert_int_equal(e.code, 0);
	free(json);
}

static void expect_raw_err(const char *json, int code, const char *needle)
{
	struct fs_config c;
	struct fs_err e;
	int ret = parse_raw(json, &c, &e);

	config_free(&c);
	if (ret == 0)
		fail_msg("%s: accepted", json);
	assert_int_equal(ret, -1);
	if (e.code != code)
		fail_msg("%s: code %d, want %d (%s)", json, e.code, code, e.msg);
	if (needle && !strstr(e.msg, needle))
		fail_msg("%s: message does not name \"%s\": %s", json, needle, e.msg);
}

/* {minimal, extra} must fail with code 7 and a message holding needle. */
static void expect_extra_err(const char *extra, const char *needle)
{
	char *json = conf_with(extra);

	expect_raw_err(json, 7, needle);
	free(json);
}

/* {minimal, extra} must fail with code 7 and a message naming the key. */
static void expect_key_err(const char *extra, const char *key)
{
	char *json = conf_with(extra), quoted[128];

	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	expect_raw_err(json, 7, quoted);
	free(json);
}

static void test_defaults(void **state)
{
	struct fs_config c, d;

	config_defaults(&d);
	assert_int_equal(d.mode, FS_MODE_RFS);
	assert_int_equal(d.scope, FS_SCOPE_BOTH);
	assert_int_equal(d.cpus.kind, FS_CPUS_ALL);
	assert_string_equal(d.cpus.text, "all");
	assert_true(cpumask_empty(&d.exclude));
	assert_int_equal(d.sock_flow_entries, 32768);
	assert_int_equal(d.flow_cnt, 0);
	assert_int_equal(d.n_host_devices, 2);
	assert_string_equal(d.host_devices[0], "@calico");
	assert_string_equal(d.host_devices[1], "@underlay");
	assert_int_equal(d.policy, FS_POLICY_OPT_OUT);
	assert_false(d.failure_fail);
	assert_true(d.restore_on_last_del);
	assert_false(d.kube_legacy);
	assert_true(d.respect_exclusive);
	assert_string_equal(d.cpu_manager_state, "/var/lib/kubelet/cpu_manager_state");
	assert_string_equal(d.annotations_file, "/run/flowsteer/annotations.json");
	assert_string_equal(d.state_dir, "/run/flowsteer");
	assert_string_equal(d.log_file, "/var/log/flowsteer/flowsteer.log");
	assert_int_equal(d.log_level, LOG_LVL_INFO);
	assert_null(d.root);
	assert_null(d.prev_result);
	assert_null(d.runtime_annotations);

	/* A config with no optional key gets exactly the defaults. */
	parse_ok(NULL, &c);
	assert_string_equal(c.cni_version, "1.0.0");
	assert_string_equal(c.name, "k8s-pod-network");
	assert_int_equal(c.mode, d.mode);
	assert_int_equal(c.scope, d.scope);
	assert_int_equal(c.cpus.kind, FS_CPUS_ALL);
	assert_int_equal(c.sock_flow_entries, 32768);
	assert_int_equal(c.flow_cnt, 0);
	assert_int_equal(c.n_host_devices, 2);
	assert_string_equal(c.host_devices[0], "@calico");
	assert_string_equal(c.host_devices[1], "@underlay");
	assert_int_equal(c.policy, FS_POLICY_OPT_OUT);
	assert_false(c.failure_fail);
	assert_true(c.restore_on_last_del);
	assert_false(c.kube_legacy);
	assert_string_equal(c.state_dir, d.state_dir);
	assert_string_equal(c.log_file, d.log_file);
	assert_int_equal(c.log_level, LOG_LVL_INFO);
	assert_null(c.prev_result);
	assert_null(c.runtime_annotations);
	config_free(&c);
}

static void test_mode_scope(void **state)
{
	static const struct { const char *s; enum fs_mode m; } modes[] = {
		{ "off", FS_MODE_OFF }, { "rps", FS_MODE_RPS }, { "rfs", FS_MODE_RFS },
	};
	static const struct { const char *s; enum fs_scope sc; } scopes[] = {
		{ "container", FS_SCOPE_CONTAINER }, { "host", FS_SCOPE_HOST }, { "both", FS_SCOPE_BOTH },
	};
	struct fs_config c;
	char extra[128];

	for (size_t i = 0; i < 3; i++) {
		snprintf(extra, sizeof(extra), "\"mode\":\"%s\"", modes[i].s);
		parse_ok(extra, &c);
		assert_int_equal(c.mode, modes[i].m);
		assert_string_equal(config_mode_name(c.mode), modes[i].s);
		config_free(&c);

		snprintf(extra, sizeof(extra), "\"scope\":\"%s\"", scopes[i].s);
		parse_ok(extra, &c);
		assert_int_equal(c.scope, scopes[i].sc);
		assert_string_equal(config_scope_name(c.scope), scopes[i].s);
		config_free(&c);
	}
	expect_key_err("\"mode\":\"RFS\"", "mode");
	expect_key_err("\"mode\":\"\"", "mode");
	expect_key_err("\"mode\":\"on\"", "mode");
	expect_key_err("\"mode\":1", "mode");
	expect_key_err("\"mode\":null", "mode");
	expect_key_err("\"mode\":true", "mode");
	expect_key_err("\"mode\":[\"rfs\"]", "mode");
	expect_key_err("\"scope\":\"pod\"", "scope");
	expect_key_err("\"scope\":3", "scope");
	expect_key_err("\"scope\":{}", "scope");
}

static void test_cpus(void **state)
{
	struct fs_config c;
	char cpus[64];

	parse_ok("\"cpus\":\"all\"", &c);
	assert_int_equal(c.cpus.kind, FS_CPUS_ALL);
	config_free(&c);
	parse_ok("\"cpus\":\"none\"", &c);
	assert_int_equal(c.cpus.kind, FS_CPUS_NONE);
	config_free(&c);
	parse_ok("\"cpus\":\"0-3,8\"", &c);
	assert_int_equal(c.cpus.kind, FS_CPUS_LIST);
	assert_int_equal(cpumask_format_list(&c.cpus.list, cpus, sizeof(cpus)), 0);
	assert_string_equal(cpus, "0-3,8");
	assert_string_equal(c.cpus.text, "0-3,8");
	config_free(&c);

	parse_ok("\"excludeCpus\":\"0\"", &c);
	assert_int_equal(cpumask_format_list(&c.exclude, cpus, sizeof(cpus)), 0);
	assert_string_equal(cpus, "0");
	assert_string_equal(c.exclude_text, "0");
	config_free(&c);
	parse_ok("\"excludeCpus\":\"\"", &c);
	assert_true(cpumask_empty(&c.exclude));
	config_free(&c);

	expect_key_err("\"cpus\":\"\"", "cpus");
	expect_key_err("\"cpus\":\"3-1\"", "cpus");
	expect_key_err("\"cpus\":\"ALL\"", "cpus");
	expect_key_err("\"cpus\":\"0-99999\"", "cpus");
	expect_key_err("\"cpus\":3", "cpus");
	expect_key_err("\"cpus\":[0,1]", "cpus");
	expect_key_err("\"excludeCpus\":\"x\"", "excludeCpus");
	expect_key_err("\"excludeCpus\":\"all\"", "excludeCpus");
	expect_key_err("\"excludeCpus\":0", "excludeCpus");
	expect_key_err("\"excludeCpus\":null", "excludeCpus");
}

static void test_integers(void **state)
{
	static const char *const keys[] = { "sockFlowEntries", "flowCnt" };
	struct fs_config c;
	char extra[128];

	parse_ok("\"sockFlowEntries\":65536,\"flowCnt\":1024", &c);
	assert_int_equal(c.sock_flow_entries, 65536);
	assert_int_equal(c.flow_cnt, 1024);
	config_free(&c);
	/* 0 is valid for both (sysctl off / auto), as is the kernel's ceiling. */
	parse_ok("\"sockFlowEntries\":0,\"flowCnt\":0", &c);
	assert_int_equal(c.sock_flow_entries, 0);
	assert_int_equal(c.flow_cnt, 0);
	config_free(&c);
	parse_ok("\"sockFlowEntries\":536870912,\"flowCnt\":536870912", &c);
	assert_int_equal(c.sock_flow_entries, FS_SOCK_FLOW_MAX);
	assert_int_equal(c.flow_cnt, FS_FLOW_CNT_MAX);
	config_free(&c);
	/* 1e3 is JSON for the integer 1000. */
	parse_ok("\"flowCnt\":1e3", &c);
	assert_int_equal(c.flow_cnt, 1000);
	config_free(&c);

	for (size_t i = 0; i < 2; i++) {
		static const char *const bad[] = {
			"\"32768\"", "-1", "1.5", "536870913", "1e30", "-1e30", "true", "null",
			"[1]", "{}",
		};

		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			snprintf(extra, sizeof(extra), "\"%s\":%s", keys[i], bad[j]);
			expect_key_err(extra, keys[i]);
		}
	}
	/* Numbers as strings are called that. */
	expect_raw_err("{\"cniVersion\":\"1.0.0\",\"flowCnt\":\"8\"}", 7, "string");

	/* "kubernetes" of any shape is an old key: never an error. */
	parse_ok("\"kubernetes\":{\"timeoutMs\":0}", &c);
	assert_true(c.kube_legacy);
	config_free(&c);
	parse_ok("\"kubernetes\":7", &c);
	assert_true(c.kube_legacy);
	config_free(&c);
}

static void test_host_devices(void **state)
{
	struct fs_config c;
	char *extra, *p;
	size_t off;

	parse_ok("\"hostDevices\":[\"vxlan.calico\",\"@underlay\",\"eth1\",\"@calico\",\"wg-v6.cali\"]", &c);
	assert_int_equal(c.n_host_devices, 5);
	assert_string_equal(c.host_devices[0], "vxlan.calico");
	assert_string_equal(c.host_devices[1], "@underlay");
	assert_string_equal(c.host_devices[2], "eth1");
	assert_string_equal(c.host_devices[3], "@calico");
	assert_string_equal(c.host_devices[4], "wg-v6.cali");
	config_free(&c);
	/* An empty list tunes no node device. */
	parse_ok("\"hostDevices\":[]", &c);
	assert_int_equal(c.n_host_devices, 0);
	config_free(&c);
	/* 15 bytes is the longest interface name. */
	parse_ok("\"hostDevices\":[\"abcdefghijklmno\"]", &c);
	assert_string_equal(c.host_devices[0], "abcdefghijklmno");
	config_free(&c);

	expect_key_err("\"hostDevices\":\"eth0\"", "hostDevices");
	expect_key_err("\"hostDevices\":{}", "hostDevices");
	expect_key_err("\"hostDevices\":null", "hostDevices");
	expect_key_err("\"hostDevices\":[1]", "hostDevices");
	expect_key_err("\"hostDevices\":[\"eth0\",null]", "hostDevices");
	expect_key_err("\"hostDevices\":[\"@vxlan\"]", "hostDevices");
	expect_key_err("\"hostDevices\":[\"@\"]", "hostDevices");
	expect_key_err("\"hostDevices\":[\"\"]", "hostDevices");
	expect_key_err("\"hostDevices\":[\"../../etc\"]", "hostDevices");
	expect_key_err("\"hostDevices\":[\"a/b\"]", "hostDevices");
	expect_key_err("\"hostDevices\":[\".\"]", "hostDevices");
	expect_key_err("\"hostDevices\":[\"..\"]", "hostDevices");
	expect_key_err("\"hostDevices\":[\"eth 0\"]", "hostDevices");
	expect_key_err("\"hostDevices\":[\"abcdefghijklmnop\"]", "hostDevices");
	/* The bad one is quoted. */
	expect_raw_err("{\"cniVersion\":\"1.0.0\",\"hostDevices\":[\"eth0\",\"a/b\"]}", 7, "a/b");

	/* FS_MAX_HOST_DEVICES entries fit; one more does not. */
	extra = malloc(64 * 16);
	assert_non_null(extra);
	off = (size_t)sprintf(extra, "\"hostDevices\":[");
	for (int i = 0; i < FS_MAX_HOST_DEVICES; i++)
		off += (size_t)sprintf(extra + off, "%s\"d%d\"", i ? "," : "", i);
	p = extra + off;
	strcpy(p, "]");
	parse_ok(extra, &c);
	assert_int_equal(c.n_host_devices, FS_MAX_HOST_DEVICES);
	assert_string_equal(c.host_devices[FS_MAX_HOST_DEVICES - 1], "d31");
	config_free(&c);
	strcpy(p, ",\"d99\"]");
	expect_key_err(extra, "hostDevices");
	free(extra);
}

static void test_enums_bools(void **state)
{
	static const struct { const char *s; enum log_level l; } levels[] = {
		{ "error", LOG_LVL_ERROR }, { "warn", LOG_LVL_WARN },
		{ "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
	};
	struct fs_config c;
	char extra[64];

	parse_ok("\"policy\":\"opt-in\",\"failurePolicy\":\"fail\",\"restoreOnLastDel\":false", &c);
	assert_int_equal(c.policy, FS_POLICY_OPT_IN);
	assert_true(c.failure_fail);
	assert_false(c.restore_on_last_del);
	config_free(&c);
	parse_ok("\"policy\":\"opt-out\",\"failurePolicy\":\"ignore\",\"restoreOnLastDel\":true", &c);
	assert_int_equal(c.policy, FS_POLICY_OPT_OUT);
	assert_false(c.failure_fail);
	assert_true(c.restore_on_last_del);
	config_free(&c);
	for (size_t i = 0; i < 4; i++) {
		snprintf(extra, sizeof(extra), "\"logLevel\":\"%s\"", levels[i].s);
		parse_ok(extra, &c);
		assert_int_equal(c.log_level, levels[i].l);
		config_free(&c);
	}

	expect_key_err("\"policy\":\"optin\"", "policy");
	expect_key_err("\"policy\":true", "policy");
	expect_key_err("\"failurePolicy\":\"Fail\"", "failurePolicy");
	expect_key_err("\"failurePolicy\":0", "failurePolicy");
	expect_key_err("\"restoreOnLastDel\":\"true\"", "restoreOnLastDel");
	expect_key_err("\"restoreOnLastDel\":1", "restoreOnLastDel");
	expect_key_err("\"restoreOnLastDel\":null", "restoreOnLastDel");
	expect_key_err("\"logLevel\":\"verbose\"", "logLevel");
	expect_key_err("\"logLevel\":3", "logLevel");
	expect_raw_err("{\"cniVersion\":\"1.0.0\",\"type\":7}", 7, "\"type\"");
}

static void test_paths(void **state)
{
	struct fs_config c;
	char *extra;

	parse_ok("\"stateDir\":\"/run/fs\",\"logFile\":\"/tmp/fs.log\","
		 "\"kubernetes\":{\"kubeconfig\":\"/etc/cni/net.d/calico-kubeconfig\"}", &c);
	assert_string_equal(c.state_dir, "/run/fs");
	assert_string_equal(c.log_file, "/tmp/fs.log");
	assert_true(c.kube_legacy);
	config_free(&c);

	expect_key_err("\"stateDir\":\"var/lib\"", "stateDir");
	expect_key_err("\"stateDir\":\"\"", "stateDir");
	expect_key_err("\"stateDir\":1", "stateDir");
	expect_key_err("\"logFile\":\"flowsteer.log\"", "logFile");
	expect_key_err("\"logFile\":false", "logFile");
	/* Longer than PATH_MAX: rejected, never truncated. */
	extra = malloc(5000);
	assert_non_null(extra);
	strcpy(extra, "\"stateDir\":\"/");
	memset(extra + strlen(extra), 'a', 4200);
	strcpy(extra + 13 + 4200, "\"");
	expect_key_err(extra, "stateDir");
	free(extra);
}

static void test_unknown_keys_ignored(void **state)
{
	struct fs_config c;

	parse_ok("\"capabilities\":{\"io.kubernetes.cri.pod-annotations\":true},"
		 "\"futureKey\":{\"nested\":[1,2]},\"Mode\":42,\"args\":{\"x\":1},"
		 "\"ipam\":{},\"dns\":{}", &c);
	assert_int_equal(c.mode, FS_MODE_RFS);
	config_free(&c);
}

static void test_cni_version(void **state)
{
	static const char *const ok[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };
	static const char *const bad[] = { "0.2.0", "0.1.0", "2.0.0", "1.0", "", "1.0.0 ", "v1.0.0" };
	char json[128];
	struct fs_config c;
	struct fs_err e;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(json, sizeof(json), "{\"cniVersion\":\"%s\"}", ok[i]);
		assert_int_equal(parse_raw(json, &c, &e), 0);
		assert_string_equal(c.cni_version, ok[i]);
		assert_true(cni_version_supported(ok[i]));
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json), "{\"cniVersion\":\"%s\"}", bad[i]);
		expect_raw_err(json, 1, "cniVersion");
		assert_false(cni_version_supported(bad[i]));
	}
	/* The unsupported value is quoted. */
	expect_raw_err("{\"cniVersion\":\"0.2.0\"}", 1, "0.2.0");
	/* Missing or not a string: a configuration error, not a version one. */
	expect_raw_err("{\"name\":\"x\",\"type\":\"flowsteer\"}", 7, "cniVersion");
	expect_raw_err("{\"cniVersion\":1.0}", 7, "cniVersion");
	expect_raw_err("{\"cniVersion\":null}", 7, "cniVersion");

	assert_true(cni_version_cmp("0.3.1", "0.4.0") < 0);
	assert_true(cni_version_cmp("1.0.0", "0.4.0") > 0);
	assert_true(cni_version_cmp("1.1.0", "1.1.0") == 0);
	assert_true(cni_version_cmp("0.10.0", "0.4.0") > 0);
}

static void test_malformed_json(void **state)
{
	static const char *const bad[] = {
		"{", "", "not json", "{\"cniVersion\":\"1.0.0\",}", "{\"cniVersion\":\"1.0.0\"} trailing",
		"{'cniVersion':'1.0.0'}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_raw_err(bad[i], 6, "JSON");
	/* Valid JSON that is not an object. */
	expect_raw_err("[]", 6, "object");
	expect_raw_err("\"1.0.0\"", 6, "object");
	expect_raw_err("null", 6, "object");
}

static void test_length_bounded(void **state)
{
	/* Only len bytes count: a valid prefix followed by garbage parses. */
	static const char buf[] = "{\"cniVersion\":\"1.0.0\"}GARBAGE";
	struct fs_config c;
	struct fs_err e = { 0 };

	assert_int_equal(config_parse(buf, strlen(buf) - 7, &c, &e), 0);
	config_free(&c);
}

static void test_prev_result(void **state)
{
	struct fs_config c;

	parse_ok("\"prevResult\":{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"cali1\"}]}", &c);
	assert_non_null(c.prev_result);
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(c.prev_result, "interfaces")));
	config_free(&c);
	parse_ok("\"prevResult\":null", &c);
	assert_null(c.prev_result);
	config_free(&c);
	expect_key_err("\"prevResult\":[]", "prevResult");
	expect_key_err("\"prevResult\":\"{}\"", "prevResult");
}

static void test_runtime_annotations(void **state)
{
	struct fs_config c;
	const cJSON *v;

	parse_ok("\"runtimeConfig\":{\"io.kubernetes.cri.pod-annotations\":"
		 "{\"flowsteer.io/mode\":\"rps\",\"other\":\"x\"}}", &c);
	assert_non_null(c.runtime_annotations);
	v = cJSON_GetObjectItemCaseSensitive(c.runtime_annotations, "flowsteer.io/mode");
	assert_true(cJSON_IsString(v));
	assert_string_equal(v->valuestring, "rps");
	config_free(&c);
	assert_null(c.runtime_annotations);

	parse_ok("\"runtimeConfig\":{\"io.kubernetes.cri.pod-annotations\":{}}", &c);
	assert_non_null(c.runtime_annotations);
	assert_true(c.runtime_annotations_present);
	config_free(&c);

	/* null (containerd, for a pod without annotations): the runtime still
	 * speaks for the pod, with no annotation. */
	parse_ok("\"runtimeConfig\":{\"io.kubernetes.cri.pod-annotations\":null}", &c);
	assert_null(c.runtime_annotations);
	assert_true(c.runtime_annotations_present);
	config_free(&c);
	assert_false(c.runtime_annotations_present);
	/* Absent, or the wrong type: not the runtime's word, never an error. */
	parse_ok("\"runtimeConfig\":{\"portMappings\":[]}", &c);
	assert_null(c.runtime_annotations);
	assert_false(c.runtime_annotations_present);
	config_free(&c);
	parse_ok("\"runtimeConfig\":{}", &c);
	assert_null(c.runtime_annotations);
	config_free(&c);
	parse_ok("\"runtimeConfig\":null", &c);
	assert_null(c.runtime_annotations);
	config_free(&c);
	parse_ok("\"runtimeConfig\":{\"io.kubernetes.cri.pod-annotations\":\"x\"}", &c);
	assert_null(c.runtime_annotations);
	assert_false(c.runtime_annotations_present);
	config_free(&c);
	parse_ok(NULL, &c);
	assert_null(c.runtime_annotations);
	config_free(&c);
}

static void test_valid_attachments(void **state)
{
	struct fs_config c;

	parse_ok("\"cni.dev/valid-attachments\":[{\"containerID\":\"a\",\"ifname\":\"eth0\"}]", &c);
	assert_non_null(c.valid_attachments);
	assert_int_equal(cJSON_GetArraySize(c.valid_attachments), 1);
	config_free(&c);
	parse_ok(NULL, &c);
	assert_null(c.valid_attachments);
	config_free(&c);
	/* GC drops what the list does not name: anything malformed in it is
	 * refused whole (code 7), never read as "nothing is valid". */
	expect_extra_err("\"cni.dev/valid-attachments\":[\"c16\"]", "cni.dev/valid-attachments\"[0]");
	expect_extra_err("\"cni.dev/valid-attachments\":[null]", "cni.dev/valid-attachments\"[0]");
	expect_extra_err("\"cni.dev/valid-attachments\":[{\"containerId\":\"a\",\"ifname\":\"eth0\"}]",
		       "cni.dev/valid-attachments\"[0]");
	expect_extra_err("\"cni.dev/valid-attachments\":[{\"containerID\":\"a\",\"ifname\":\"eth0\"},"
		       "{\"containerID\":\"b\"}]", "cni.dev/valid-attachments\"[1]");
	expect_extra_err("\"cni.dev/valid-attachments\":{}", "cni.dev/valid-attachments");
}

/* Every string with an escaped NUL is refused, naming the key: C would
 * cut "/x\u0000/../y" to "/x" and "rfs\u0000junk" to "rfs". */
static void test_escaped_nul(void **state)
{
	struct fs_config c;

	(void)state;
	expect_extra_err("\"stateDir\":\"/x\\u0000/../y\"", "\"stateDir\" holds an escaped NUL");
	expect_extra_err("\"mode\":\"rfs\\u0000junk\"", "\"mode\" holds an escaped NUL");
	expect_extra_err("\"runtimeConfig\":{\"io.kubernetes.cri.pod-annotations\":{\"a\":\"\\u0000\"}}",
		       "runtimeConfig.io.kubernetes.cri.pod-annotations.a");
	expect_extra_err("\"prevResult\":{\"interfaces\":[{\"name\":\"eth0\\u0000x\"}]}",
		       "prevResult.interfaces[0].name");
	/* A backslash followed by text "u0000" is no NUL. */
	parse_ok("\"name2\":\"a\\\\u0000\"", &c);
	config_free(&c);
}

static void test_new_keys(void **state)
{
	struct fs_config c;

	(void)state;
	parse_ok("\"respectExclusiveCpus\":false,\"cpuManagerStateFile\":\"/tmp/cms\","
		 "\"annotationsFile\":\"/tmp/a.json\"", &c);
	assert_false(c.respect_exclusive);
	assert_string_equal(c.cpu_manager_state, "/tmp/cms");
	assert_string_equal(c.annotations_file, "/tmp/a.json");
	config_free(&c);
	expect_key_err("\"respectExclusiveCpus\":\"no\"", "respectExclusiveCpus");
	expect_key_err("\"cpuManagerStateFile\":\"cms\"", "cpuManagerStateFile");
	expect_key_err("\"annotationsFile\":7", "annotationsFile");
}

/* DEL/GC's lenient path: paths from a config that fails config_parse. */
static void test_parse_paths(void **state)
{
	static const char json[] = "{\"cniVersion\":\"9.9.9\",\"mode\":42,\"stateDir\":\"/run/x\","
				   "\"logFile\":\"/run/x.log\",\"logLevel\":\"debug\"}";
	struct fs_config c;

	config_defaults(&c);
	config_parse_paths(json, strlen(json), &c);
	assert_string_equal(c.state_dir, "/run/x");
	assert_string_equal(c.log_file, "/run/x.log");
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);

	/* A relative path or garbage keeps the defaults. */
	config_defaults(&c);
	config_parse_paths("{\"stateDir\":\"rel\"}", 18, &c);
	assert_string_equal(c.state_dir, "/run/flowsteer");
	config_parse_paths("{", 1, &c);
	assert_string_equal(c.state_dir, "/run/flowsteer");
	/* An escaped NUL is not cut into a shorter path: the default stays. */
	config_parse_paths("{\"stateDir\":\"/x\\u0000/../y\"}", 27, &c);
	assert_string_equal(c.state_dir, "/run/flowsteer");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_mode_scope),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_host_devices),
		cmocka_unit_test(test_enums_bools),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_unknown_keys_ignored),
		cmocka_unit_test(test_cni_version),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_length_bounded),
		cmocka_unit_test(test_prev_result),
		cmocka_unit_test(test_runtime_annotations),
		cmocka_unit_test(test_valid_attachments),
		cmocka_unit_test(test_escaped_nul),
		cmocka_unit_test(test_new_keys),
		cmocka_unit_test(test_parse_paths),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}

/* Kubeconfig parsing (libyaml through dlopen), name validation and base64:
 * everything of plugin/kube.c that needs no network. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "kube.h"

#define TOKEN "s3cr3t-token-do-not-log"
/* base64 of "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n" */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
#define CA_PEM "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"

/* The shape of /work/shared/fixtures/calico-kubeconfig, placeholders filled. */
static const char calico_kubeconfig[] =
	"# Shape of the kubeconfig Calico's installer writes next to its conflist.\n"
	"apiVersion: v1\n"
	"kind: Config\n"
	"clusters:\n"
	"- name: local\n"
	"  cluster:\n"
	"    server: https://127.0.0.1:6443\n"
	"    certificate-authority-data: " CA_B64 "\n"
	"users:\n"
	"- name: calico\n"
	"  user:\n"
	"    token: " TOKEN "\n"
	"contexts:\n"
	"- name: calico-context\n"
	"  context:\n"
	"    cluster: local\n"
	"    user: calico\n"
	"current-context: calico-context\n";

struct kfx {
	char dir[64];
	char path[128];
	struct kube_creds c;
	struct fs_err e;
};

static int kfx_setup(void **state)
{
	struct kfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_kube.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kubeconfig", f->dir);
	*state = f;
	return 0;
}

static int kfx_teardown(void **state)
{
	struct kfx *f = *state;
	char cmd[160];

	kube_creds_free(&f->c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int load(struct kfx *f, const char *yaml)
{
	kube_creds_free(&f->c);
	memset(&f->e, 0, sizeof(f->e));
	write_file(f->path, yaml);
	return kube_config_load(f->path, &f->c, &f->e);
}

/* The load fails with code 7, a message naming the file and containing
 * want, and no trace of the token. */
static void assert_load_fails(struct kfx *f, const char *yaml, const char *want)
{
	assert_int_equal(load(f, yaml), -1);
	assert_int_equal(f->e.code, CNI_ERR_INVALID_CONFIG);
	if (!strstr(f->e.msg, want) || !strstr(f->e.msg, f->path))
		fail_msg("message \"%s\" lacks \"%s\" or the path", f->e.msg, want);
	assert_null(strstr(f->e.msg, TOKEN));
	assert_null(strstr(f->e.details, TOKEN));
	assert_null(f->c.token);
}

/* calico_kubeconfig with one line replaced (or removed when to is ""). */
static char *variant(const char *from, const char *to)
{
	const char *at = strstr(calico_kubeconfig, from);
	size_t len = sizeof(calico_kubeconfig) + strlen(to) + 1;
	char *out = malloc(len);

	assert_non_null(at);
	assert_non_null(out);
	snprintf(out, len, "%.*s%s%s", (int)(at - calico_kubeconfig), calico_kubeconfig, to,
		 at + strlen(from));
	return out;
}

static void test_calico_kubeconfig(void **state)
{
	struct kfx *f = *state;

	assert_int_equal(load(f, calico_kubeconfig), 0);
	assert_string_equal(f->c.server, "https://127.0.0.1:6443");
	assert_string_equal(f->c.token, TOKEN);
	assert_int_equal(f->c.ca_len, strlen(CA_PEM));
	assert_memory_equal(f->c.ca_data, CA_PEM, strlen(CA_PEM));
	assert_false(f->c.insecure);
	assert_null(f->c.cert_data);
	assert_string_equal(f->c.ca_file, "");
}

static void test_json_kubeconfig(void **state)
{
	struct kfx *f = *state;

	assert_int_equal(load(f, "{\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":\"https://10.96.0.1:443/\","
				 "\"insecure-skip-tls-verify\":true}}],\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"t\"}}],"
				 "\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\",\"user\":\"u\"}}],"
				 "\"current-context\":\"x\"}"), 0);
	/* trailing slash dropped so paths join cleanly */
	assert_string_equal(f->c.server, "https://10.96.0.1:443");
	assert_true(f->c.insecure);
	assert_string_equal(f->c.token, "t");
}

static void test_relative_paths_and_token_file(void **state)
{
	struct kfx *f = *state;
	char tokpath[160], want[200];

	snprintf(tokpath, sizeof(tokpath), "%s/token", f->dir);
	write_file(tokpath, TOKEN "\n");
	assert_int_equal(load(f,
			      "apiVersion: v1\n"
			      "clusters:\n"
			      "- name: c\n"
			      "  cluster: {server: 'https://api.example:6443', certificate-authority: ca.crt}\n"
			      "users:\n"
			      "- name: u\n"
			      "  user:\n"
			      "    tokenFile: token\n"
			      "    client-certificate: /etc/pki/client.crt\n"
			      "    client-key: sub/client.key\n"
			      "contexts:\n"
			      "- {name: x, context: {cluster: c, user: u}}\n"
			      "current-context: x\n"), 0);
	snprintf(want, sizeof(want), "%s/ca.crt", f->dir);
	assert_string_equal(f->c.ca_file, want);
	assert_string_equal(f->c.token, TOKEN);
	assert_string_equal(f->c.cert_file, "/etc/pki/client.crt");
	snprintf(want, sizeof(want), "%s/sub/client.key", f->dir);
	assert_string_equal(f->c.key_file, want);
}

static void test_client_cert_data(void **state)
{
	struct kfx *f = *state;
	char *y = variant("    token: " TOKEN "\n",
			  "    client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n");

	assert_int_equal(load(f, y), 0);
	free(y);
	assert_null(f->c.token);
	assert_int_equal(f->c.cert_len, 4);
	assert_memory_equal(f->c.cert_data, "cert", 4);
	assert_int_equal(f->c.key_len, 3);
	assert_memory_equal(f->c.key_data, "key", 3);
}

static void test_single_context_without_current(void **state)
{
	struct kfx *f = *state;
	char *y = variant("current-context: calico-context\n", "");

	assert_int_equal(load(f, y), 0);
	free(y);
	assert_string_equal(f->c.token, TOKEN);
}

static void test_errors(void **state)
{
	struct kfx *f = *state;
	char *y;

	assert_int_equal(kube_config_load("/nonexistent/kubeconfig", &f->c, &f->e), -1);
	assert_non_null(strstr(f->e.msg, "/nonexistent/kubeconfig"));
	assert_non_null(strstr(f->e.msg, "No such file"));

	assert_load_fails(f, "clusters: [\n  - {name: c\n", "YAML error at line");
	assert_load_fails(f, "- just\n- a list\n", "not a YAML mapping");
	assert_load_fails(f, "", "not a YAML mapping");

	y = variant("current-context: calico-context\n", "current-context: elsewhere\n");
	assert_load_fails(f, y, "current-context \"elsewhere\" is not in contexts");
	free(y);

	y = variant("    cluster: local\n", "    cluster: remote\n");
	assert_load_fails(f, y, "cluster \"remote\"");
	free(y);

	y = variant("    user: calico\n", "    user: nobody\n");
	assert_load_fails(f, y, "user \"nobody\"");
	free(y);

	y = variant("https://127.0.0.1:6443", "http://127.0.0.1:8080");
	assert_load_fails(f, y, "not an https:// URL");
	free(y);

	y = variant("    server: https://127.0.0.1:6443\n", "");
	assert_load_fails(f, y, "clusters[local].cluster.server is missing");
	free(y);

	y = variant(CA_B64, "not*base64");
	assert_load_fails(f, y, "certificate-authority-data is not valid base64");
	free(y);

	y = variant("    server:", "    insecure-skip-tls-verify: true\n    server:");
	assert_load_fails(f, y, "both a certificate authority and insecure-skip-tls-verify");
	free(y);

	y = variant("    server:", "    insecure-skip-tls-verify: maybe\n    server:");
	assert_load_fails(f, y, "insecure-skip-tls-verify = \"maybe\"");
	free(y);

	y = variant("    token: " TOKEN "\n", "    token: [" TOKEN "]\n");
	assert_load_fails(f, y, "users[calico].user.token is not a string");
	free(y);

	y = variant("    token: " TOKEN "\n", "    token: \"" TOKEN "\\r\\nX-Evil: 1\"\n");
	assert_load_fails(f, y, "holds whitespace or control characters");
	free(y);

	y = variant("    token: " TOKEN "\n", "    client-certificate-data: Y2VydA==\n");
	assert_load_fails(f, y, "client certificate without a key");
	free(y);

	y = variant("    token: " TOKEN "\n", "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n");
	assert_load_fails(f, y, "exec, auth-provider or basic");
	free(y);

	y = variant("    token: " TOKEN "\n", "    tokenFile: missing-token\n");
	assert_load_fails(f, y, "tokenFile");
	assert_non_null(strstr(f->e.msg, "missing-token"));
	free(y);
}

static void test_empty_token_file(void **state)
{
	struct kfx *f = *state;
	char tokpath[160], *y;

	snprintf(tokpath, sizeof(tokpath), "%s/empty", f->dir);
	write_file(tokpath, "\n\n");
	y = variant("    token: " TOKEN "\n", "    tokenFile: empty\n");
	assert_load_fails(f, y, "is empty");
	free(y);
}

static void test_no_user_is_anonymous(void **state)
{
	struct kfx *f = *state;
	char *y = variant("    user: calico\n", "");

	assert_int_equal(load(f, y), 0);
	free(y);
	assert_null(f->c.token);
	assert_non_null(f->c.ca_data);
}

static void test_name_valid(void **state)
{
	char long_label[70], long_sub[300];

	(void)state;
	assert_true(kube_name_valid("default", false));
	assert_true(kube_name_valid("kube-system", false));
	assert_true(kube_name_valid("a1", false));
	assert_false(kube_name_valid("", false));
	assert_false(kube_name_valid("Default", false));
	assert_false(kube_name_valid("-a", false));
	assert_false(kube_name_valid("a-", false));
	assert_false(kube_name_valid("a.b", false));
	assert_false(kube_name_valid("../pods", false));
	assert_false(kube_name_valid("a/b", false));
	assert_false(kube_name_valid("a%2fb", false));
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	assert_false(kube_name_valid(long_label, false));
	long_label[63] = '\0';
	assert_true(kube_name_valid(long_label, false));

	assert_true(kube_name_valid("iperf-server-1", true));
	assert_true(kube_name_valid("web.v2.example", true));
	assert_false(kube_name_valid("web..x", true));
	assert_false(kube_name_valid(".web", true));
	assert_false(kube_name_valid("web.", true));
	assert_false(kube_name_valid("web?watch=1", true));
	assert_false(kube_name_valid("web#x", true));
	assert_false(kube_name_valid("web x", true));
	memset(long_sub, 'a', sizeof(long_sub));
	for (int i = 60; i < 254; i += 61)
		long_sub[i] = '.';
	long_sub[254] = '\0';
	assert_false(kube_name_valid(long_sub, true));
	long_sub[253] = '\0';
	assert_true(kube_name_valid(long_sub, true));
}

static void test_base64(void **state)
{
	static const struct { const char *in, *out; } ok[] = {
		{ "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" },
		{ "Zm9vYg==", "foob" }, { "Zm9vYmE=", "fooba" }, { "Zm9vYmFy", "foobar" },
		{ "Zm9v\nYmFy\n", "foobar" }, { "Zm9vYg", "foob" },
	};
	static const char *const bad[] = { "Zm9v!", "Z", "Zm9vY", "Zg=a", "Zg===", "Z===", "-_==" };
	unsigned char *out;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(kube_base64_decode(ok[i].in, &out, &len), 0);
		assert_int_equal(len, strlen(ok[i].out));
		assert_memory_equal(out, ok[i].out, len);
		free(out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kube_base64_decode(bad[i], &out, &len) == 0)
			fail_msg("\"%s\" decoded", bad[i]);
	}
}

/* kube_open on a broken kubeconfig warns (naming the file, not the token)
 * and returns NULL: the API is optional. No network is touched. */
static void test_open_bad_kubeconfig_warns(void **state)
{
	struct kfx *f = *state;
	struct fs_kube_conf kc = { .timeout_ms = 2000 };
	struct fs_warn w = { 0 };
	char *y = variant("current-context: calico-context\n", "current-context: [\n");

	write_file(f->path, y);
	free(y);
	snprintf(kc.kubeconfig, sizeof(kc.kubeconfig), "%s", f->path);
	assert_null(kube_open(&kc, &w));
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.items[0], f->path));
	assert_non_null(strstr(w.items[0], "not read from the API server"));
	assert_null(strstr(w.items[0], TOKEN));
	warn_free(&w);
	kube_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_calico_kubeconfig, kfx_setup, kfx_teardown),
		cmocka_unit_test_setup_teardown(test_json_kubeconfig, kfx_setup, kfx_teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths_and_token_file, kfx_setup, kfx_teardown),
		cmocka_unit_test_setup_teardown(test_client_cert_data, kfx_setup, kfx_teardown),
		cmocka_unit_test_setup_teardown(test_single_context_without_current, kfx_setup, kfx_teardown),
		cmocka_unit_test_setup_teardown(test_errors, kfx_setup, kfx_teardown),
		cmocka_unit_test_setup_teardown(test_empty_token_file, kfx_setup, kfx_teardown),
		cmocka_unit_test_setup_teardown(test_no_user_is_anonymous, kfx_setup, kfx_teardown),
		cmocka_unit_test_setup_teardown(test_open_bad_kubeconfig_warns, kfx_setup, kfx_teardown),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests_name("kube", tests, NULL, NULL);
}

/* conflist: the entry goes after calico (else last), once; a second insert
 * changes nothing; an existing entry is replaced where it is; remove gives
 * back the original bytes; a .conf becomes a conflist; anything that does
 * not parse is refused with nothing produced. Then the file level: mode,
 * atomic replace, .conf -> .conflist, dry run, and which file is picked. */
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

#include "conflist.h"
#include "util.h"

#define ENTRY_DEFAULT CONFLIST_DEFAULT_ENTRY

/* Calico's stock shape (operator install, v3.2x-3.3x). */
static const char calico[] =
	"{\n"
	"  \"name\": \"k8s-pod-network\",\n"
	"  \"cniVersion\": \"0.3.1\",\n"
	"  \"plugins\": [\n"
	"    {\n"
	"      \"type\": \"calico\",\n"
	"      \"datastore_type\": \"kubernetes\",\n"
	"      \"mtu\": 0,\n"
	"      \"ipam\": {\"type\": \"calico-ipam\"},\n"
	"      \"kubernetes\": {\"kubeconfig\": \"/etc/cni/net.d/calico-kubeconfig\"}\n"
	"    },\n"
	"    {\n"
	"      \"type\": \"portmap\",\n"
	"      \"snat\": true,\n"
	"      \"capabilities\": {\"portMappings\": true}\n"
	"    }\n"
	"  ]\n"
	"}\n";

/* The same with the entry chained: only the added line differs. */
static const char calico_chained[] =
	"{\n"
	"  \"name\": \"k8s-pod-network\",\n"
	"  \"cniVersion\": \"0.3.1\",\n"
	"  \"plugins\": [\n"
	"    {\n"
	"      \"type\": \"calico\",\n"
	"      \"datastore_type\": \"kubernetes\",\n"
	"      \"mtu\": 0,\n"
	"      \"ipam\": {\"type\": \"calico-ipam\"},\n"
	"      \"kubernetes\": {\"kubeconfig\": \"/etc/cni/net.d/calico-kubeconfig\"}\n"
	"    },\n"
	"    " ENTRY_DEFAULT ",\n"
	"    {\n"
	"      \"type\": \"portmap\",\n"
	"      \"snat\": true,\n"
	"      \"capabilities\": {\"portMappings\": true}\n"
	"    }\n"
	"  ]\n"
	"}\n";

static cJSON *entry_of(const char *json)
{
	struct fs_err e = { 0 };
	cJSON *entry = NULL;

	if (conflist_entry_parse(json, &entry, &e))
		fail_msg("entry %s refused: %s", json ? json : "(default)", e.msg);
	return entry;
}

/* insert must succeed and change the buffer; returns the new text. */
static char *insert_ok(const char *in, const char *entry_json)
{
	struct fs_err e = { 0 };
	cJSON *entry = entry_of(entry_json);
	char *out = NULL;
	size_t len = 0;
	bool conv = true;
	int ret = conflist_insert(in, strlen(in), entry, &out, &len, &conv, &e);

	cJSON_Delete(entry);
	if (ret != 0)
		fail_msg("insert returned %d (%s) on %s", ret, e.msg, in);
	assert_non_null(out);
	assert_int_equal(len, strlen(out));
	assert_false(conv);
	return out;
}

static char *remove_ok(const char *in)
{
	struct fs_err e = { 0 };
	char *out = NULL;
	size_t len = 0;
	int ret = conflist_remove(in, strlen(in), &out, &len, &e);

	if (ret != 0)
		fail_msg("remove returned %d (%s) on %s", ret, e.msg, in);
	assert_int_equal(len, strlen(out));
	return out;
}

/* The types of the plugins, in order, e.g. "calico,flowsteer,portmap". */
static void assert_types(const char *json, const char *want)
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *p;
	char got[512] = "";

	assert_non_null(root);
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(root, "plugins")) {
		const cJSON *t = cJSON_GetObjectItem(p, "type");

		if (got[0])
			strcat(got, ",");
		strcat(got, cJSON_IsString(t) ? t->valuestring : "?");
	}
	cJSON_Delete(root);
	if (strcmp(got, want))
		fail_msg("plugins %s, want %s in %s", got, want, json);
}

static void test_insert_after_calico(void **state)
{
	char *out = insert_ok(calico, NULL);

	assert_string_equal(out, calico_chained);
	free(out);
}

static void test_insert_at_end_without_calico(void **state)
{
	const char *in = "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":"
			 "[{\"type\":\"bridge\"},{\"type\":\"portmap\"}]}";
	char *out = insert_ok(in, NULL);

	assert_string_equal(out, "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"},"
				 "{\"type\":\"portmap\"}," ENTRY_DEFAULT "]}");
	free(out);
}

static void test_insert_into_empty_list(void **state)
{
	const char *in = "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[]}";
	char *out = insert_ok(in, NULL), *back;

	assert_types(out, "flowsteer");
	back = remove_ok(out);
	assert_string_equal(back, in);
	free(out);
	free(back);
}

static void test_insert_idempotent(void **state)
{
	struct fs_err e = { 0 };
	char *out = NULL;
	size_t len = 99;

	assert_int_equal(conflist_insert(calico_chained, strlen(calico_chained), NULL, &out, &len, NULL, &e),
			 CONFLIST_UNCHANGED);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(e.code, 0);
}

/* Same entry written differently (key order, spacing): still unchanged,
 * so the watcher never rewrites a file someone else formatted. */
static void test_insert_equal_entry_other_format(void **state)
{
	const char *in = "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"plugins\":[{\"type\":\"calico\"},\n"
			 "  { \"capabilities\" : { \"io.kubernetes.cri.pod-annotations\" : true }, \"type\" : \"flowsteer\" }]}";
	struct fs_err e = { 0 };
	char *out = NULL;
	size_t len;

	assert_int_equal(conflist_insert(in, strlen(in), NULL, &out, &len, NULL, &e), CONFLIST_UNCHANGED);
}

static void test_replace_existing_in_place(void **state)
{
	const char *in = "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"plugins\":[{\"type\":\"calico\"},"
			 "{\"type\":\"portmap\"},{\"type\":\"flowsteer\",\"mode\":\"rps\"},{\"type\":\"bandwidth\"}]}";
	char *out = insert_ok(in, "{\"type\":\"flowsteer\",\"mode\":\"rfs\",\"scope\":\"host\"}");

	assert_string_equal(out, "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"plugins\":[{\"type\":\"calico\"},"
				 "{\"type\":\"portmap\"},{\"type\":\"flowsteer\",\"mode\":\"rfs\",\"scope\":\"host\"},"
				 "{\"type\":\"bandwidth\"}]}");
	free(out);
}

static void test_duplicates_collapse(void **state)
{
	const char *in = "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"plugins\":[{\"type\":\"calico\"},"
			 "{\"type\":\"flowsteer\"},{\"type\":\"portmap\"},{\"type\":\"flowsteer\",\"mode\":\"off\"}]}";
	char *out = insert_ok(in, NULL);

	assert_types(out, "calico,flowsteer,portmap");
	assert_non_null(strstr(out, ENTRY_DEFAULT));
	free(out);
}

/* Before calico it would get no prevResult (ADD fails, code 7). */
static void test_entry_before_calico_moves(void **state)
{
	const char *in = "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"plugins\":[" ENTRY_DEFAULT ","
			 "{\"type\":\"calico\"},{\"type\":\"portmap\"}]}";
	char *out = insert_ok(in, NULL);

	assert_types(out, "calico,flowsteer,portmap");
	free(out);
}

static void test_remove_restores_bytes(void **state)
{
	char *out = insert_ok(calico, NULL), *back = remove_ok(out);

	assert_string_equal(back, calico);
	free(out);
	free(back);
	/* First element, only element, compact text. */
	back = remove_ok("{\"plugins\":[" ENTRY_DEFAULT ",{\"type\":\"calico\"}],\"name\":\"n\"}");
	assert_string_equal(back, "{\"plugins\":[{\"type\":\"calico\"}],\"name\":\"n\"}");
	free(back);
	back = remove_ok("{\"name\":\"n\",\"plugins\":[\n  {\"type\":\"flowsteer\"}\n]}");
	assert_string_equal(back, "{\"name\":\"n\",\"plugins\":[\n]}");
	free(back);
	back = remove_ok("{\"plugins\":[{\"type\":\"flowsteer\"},{\"type\":\"calico\"},{\"type\":\"flowsteer\"}]}");
	assert_string_equal(back, "{\"plugins\":[{\"type\":\"calico\"}]}");
	free(back);
}

static void test_remove_idempotent(void **state)
{
	struct fs_err e = { 0 };
	char *out = NULL;
	size_t len;
	const char *conf = "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"type\":\"bridge\"}";

	assert_int_equal(conflist_remove(calico, strlen(calico), &out, &len, &e), CONFLIST_UNCHANGED);
	assert_null(out);
	assert_int_equal(conflist_remove(conf, strlen(conf), &out, &len, &e), CONFLIST_UNCHANGED);
	assert_int_equal(e.code, 0);
}

static void test_conf_converted(void **state)
{
	const char *in = "{\"cniVersion\":\"0.3.1\",\"name\":\"k8s-pod-network\",\"type\":\"calico\","
			 "\"mtu\":1410,\"ipam\":{\"type\":\"calico-ipam\"}}";
	struct fs_err e = { 0 };
	cJSON *root, *p0, *p1;
	char *out = NULL;
	size_t len = 0;
	bool conv = false;

	assert_int_equal(conflist_insert(in, strlen(in), NULL, &out, &len, &conv, &e), 0);
	assert_true(conv);
	assert_int_equal(len, strlen(out));
	assert_int_equal(out[len - 1], '\n');
	root = cJSON_Parse(out);
	assert_non_null(root);
	assert_string_equal(cJSON_GetObjectItem(root, "cniVersion")->valuestring, "0.3.1");
	assert_string_equal(cJSON_GetObjectItem(root, "name")->valuestring, "k8s-pod-network");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "plugins")), 2);
	p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "plugins"), 0);
	p1 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "plugins"), 1);
	assert_string_equal(cJSON_GetObjectItem(p0, "type")->valuestring, "calico");
	assert_int_equal(cJSON_GetObjectItem(p0, "mtu")->valueint, 1410);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(p0, "ipam"), "type")->valuestring, "calico-ipam");
	assert_null(cJSON_GetObjectItem(p0, "cniVersion"));
	assert_null(cJSON_GetObjectItem(p0, "name"));
	assert_string_equal(cJSON_GetObjectItem(p1, "type")->valuestring, "flowsteer");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(p1, "capabilities"),
						     "io.kubernetes.cri.pod-annotations")));
	cJSON_Delete(root);
	/* The result is a conflist already holding the entry. */
	{
		char *again = NULL;
		size_t alen;

		assert_int_equal(conflist_insert(out, len, NULL, &again, &alen, &conv, &e), CONFLIST_UNCHANGED);
		assert_false(conv);
	}
	free(out);
}

static void expect_refused(const char *in, int code, const char *needle)
{
	struct fs_err e = { 0 };
	char *out = (char *)1;
	size_t len = 5;
	int ret = conflist_insert(in, strlen(in), NULL, &out, &len, NULL, &e);

	if (ret != -1)
		fail_msg("insert accepted %s (ret %d)", in, ret);
	assert_null(out);
	if (e.code != code || !strstr(e.msg, needle))
		fail_msg("%s: code %d \"%s\", want %d naming \"%s\"", in, e.code, e.msg, code, needle);
	memset(&e, 0, sizeof(e));
	out = (char *)1;
	if (conflist_remove(in, strlen(in), &out, &len, &e) != -1 || out)
		fail_msg("remove accepted %s", in);
}

static void test_corrupt_refused(void **state)
{
	expect_refused("", CNI_ERR_DECODE, "empty");
	expect_refused("{\"name\":\"n\",\"plugins\":[{\"type\":\"calico\"},", CNI_ERR_DECODE, "not valid JSON");
	expect_refused("{\"plugins\":[{\"type\":\"calico\"}]} {}", CNI_ERR_DECODE, "trailing data");
	expect_refused("[{\"type\":\"calico\"}]", CNI_ERR_DECODE, "not a JSON object");
	expect_refused("{\"plugins\":[{\"type\":\"calico\"}],\"plugins\":[]}", CNI_ERR_DECODE,
		       "\"plugins\" appears twice");
	expect_refused("{\"plugins\":{\"type\":\"calico\"}}", CNI_ERR_INVALID_CONFIG, "\"plugins\" must be a list");
	expect_refused("{\"plugins\":[{\"type\":\"calico\"},7]}", CNI_ERR_INVALID_CONFIG, "plugins[1]");
}

static void test_conf_refused(void **state)
{
	struct fs_err e = { 0 };
	char *out = NULL;
	size_t len;
	const char *notype = "{\"cniVersion\":\"0.3.1\",\"name\":\"n\"}";
	const char *alone = "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"type\":\"flowsteer\"}";

	assert_int_equal(conflist_insert(notype, strlen(notype), NULL, &out, &len, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "no \"type\""));
	memset(&e, 0, sizeof(e));
	assert_int_equal(conflist_insert(alone, strlen(alone), NULL, &out, &len, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "flowsteer-only"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(conflist_remove(alone, strlen(alone), &out, &len, &e), -1);
	assert_null(out);
}

static void expect_entry_refused(const char *json, const char *needle)
{
	struct fs_err e = { 0 };
	cJSON *entry = (cJSON *)1;

	if (conflist_entry_parse(json, &entry, &e) != -1)
		fail_msg("entry %s accepted", json);
	assert_null(entry);
	if (!strstr(e.msg, needle))
		fail_msg("entry %s: \"%s\" does not name \"%s\"", json, e.msg, needle);
}

static void test_entry_validated(void **state)
{
	cJSON *entry = entry_of(NULL);

	assert_string_equal(cJSON_GetObjectItem(entry, "type")->valuestring, "flowsteer");
	cJSON_Delete(entry);
	cJSON_Delete(entry_of("{\"type\":\"flowsteer\",\"mode\":\"rps\",\"cpus\":\"0-1\"}"));
	expect_entry_refused("[1]", "not a JSON object");
	expect_entry_refused("{\"type\":\"flowsteer\"", "not valid JSON");
	expect_entry_refused("{\"mode\":\"rfs\"}", "\"type\": \"flowsteer\"");
	expect_entry_refused("{\"type\":\"calico\"}", "\"type\": \"flowsteer\"");
	expect_entry_refused("{\"type\":\"flowsteer\",\"mode\":\"turbo\"}", "mode");
	expect_entry_refused("{\"type\":\"flowsteer\",\"sockFlowEntries\":\"many\"}", "sockFlowEntries");
}

/* A list flowsteer cannot serve (its cniVersion) is not chained into. */
static void test_list_version_checked(void **state)
{
	const char *in = "{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"calico\"}]}";
	struct fs_err e = { 0 };
	char *out = NULL;
	size_t len;

	assert_int_equal(conflist_insert(in, strlen(in), NULL, &out, &len, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "0.2.0"));
	assert_null(out);
}

static void test_name_is_config(void **state)
{
	assert_true(conflist_name_is_config("10-calico.conflist"));
	assert_true(conflist_name_is_config("/etc/cni/net.d/87-podman.conf"));
	assert_true(conflist_name_is_config("x.json"));
	assert_false(conflist_name_is_config("10-calico.conflist.tmp.1234"));
	assert_false(conflist_name_is_config("calico-kubeconfig"));
	assert_false(conflist_name_is_config("a.conf.bak"));
	assert_false(conflist_name_is_config("/etc/cni.conf/file"));
}

/* File level, in a private temp dir. */
struct dir {
	char path[256];
};

static int dir_setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	strcpy(d->path, "/tmp/fs-conflist-XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	struct dir *d = *state;
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

static void write_file(const char *path, const char *s, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static char *read_file(const char *path)
{
	char *buf = NULL;

	if (file_read_all(path, 1 << 20, &buf, NULL))
		fail_msg("reading %s", path);
	return buf;
}

static void test_file_mode_and_idempotence(void **state)
{
	struct dir *d = *state;
	struct conflist_file_result res;
	struct fs_err e = { 0 };
	char path[512], *buf;
	struct stat st1, st2;

	snprintf(path, sizeof(path), "%s/10-calico.conflist", d->path);
	write_file(path, calico, 0640);
	assert_int_equal(conflist_file_edit(path, CONFLIST_OP_INSERT, NULL, false, &res, &e), 0);
	assert_true(res.changed);
	assert_string_equal(res.path, path);
	buf = read_file(path);
	assert_string_equal(buf, calico_chained);
	free(buf);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st1.st_mode & 07777, 0640);
	/* Second insert: no write at all (same inode, same bytes). */
	assert_int_equal(conflist_file_edit(path, CONFLIST_OP_INSERT, NULL, false, &res, &e), 0);
	assert_false(res.changed);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(conflist_file_edit(path, CONFLIST_OP_REMOVE, NULL, false, &res, &e), 0);
	assert_true(res.changed);
	buf = read_file(path);
	assert_string_equal(buf, calico);
	free(buf);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st2.st_mode & 07777, 0640);
}

static void test_file_dry_run(void **state)
{
	struct dir *d = *state;
	struct conflist_file_result res;
	struct fs_err e = { 0 };
	char path[512], *buf;

	snprintf(path, sizeof(path), "%s/10-calico.conflist", d->path);
	write_file(path, calico, 0644);
	assert_int_equal(conflist_file_edit(path, CONFLIST_OP_INSERT, NULL, true, &res, &e), 0);
	assert_true(res.changed);
	assert_non_null(res.content);
	assert_int_equal(res.content_len, strlen(calico_chained));
	assert_memory_equal(res.content, calico_chained, res.content_len);
	free(res.content);
	buf = read_file(path);
	assert_string_equal(buf, calico);
	free(buf);
}

static void test_file_conf_becomes_conflist(void **state)
{
	struct dir *d = *state;
	struct conflist_file_result res;
	struct fs_err e = { 0 };
	char conf[512], list[512], *buf;
	struct stat st;

	snprintf(conf, sizeof(conf), "%s/10-calico.conf", d->path);
	snprintf(list, sizeof(list), "%s/10-calico.conflist", d->path);
	write_file(conf, "{\"cniVersion\":\"0.3.1\",\"name\":\"k8s-pod-network\",\"type\":\"calico\"}\n", 0600);
	assert_int_equal(conflist_file_edit(conf, CONFLIST_OP_INSERT, NULL, false, &res, &e), 0);
	assert_true(res.changed);
	assert_string_equal(res.path, list);
	assert_string_equal(res.removed, conf);
	assert_int_equal(access(conf, F_OK), -1);
	assert_int_equal(stat(list, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	buf = read_file(list);
	assert_types(buf, "calico,flowsteer");
	free(buf);
	/* Asked again by its old name: the .conflist is found, unchanged. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(conflist_file_edit(conf, CONFLIST_OP_INSERT, NULL, false, &res, &e), 0);
	assert_false(res.changed);
	assert_true(res.redirected);
	assert_string_equal(res.path, list);
	assert_int_equal(conflist_file_edit(conf, CONFLIST_OP_REMOVE, NULL, false, &res, &e), 0);
	assert_true(res.changed);
	buf = read_file(list);
	assert_types(buf, "calico");
	free(buf);
}

/* A different .conflist under the target name is never overwritten. */
static void test_file_conf_target_exists(void **state)
{
	struct dir *d = *state;
	struct conflist_file_result res;
	struct fs_err e = { 0 };
	char conf[512], list[512], *buf;
	const char *other = "{\"cniVersion\":\"1.0.0\",\"name\":\"other\",\"plugins\":[{\"type\":\"bridge\"}]}";

	snprintf(conf, sizeof(conf), "%s/10-calico.conf", d->path);
	snprintf(list, sizeof(list), "%s/10-calico.conflist", d->path);
	write_file(conf, "{\"cniVersion\":\"0.3.1\",\"name\":\"k8s-pod-network\",\"type\":\"calico\"}\n", 0644);
	write_file(list, other, 0644);
	assert_int_equal(conflist_file_edit(conf, CONFLIST_OP_INSERT, NULL, false, &res, &e), -1);
	assert_non_null(strstr(e.msg, list));
	assert_int_equal(access(conf, F_OK), 0);
	buf = read_file(list);
	assert_string_equal(buf, other);
	free(buf);
}

static void test_file_corrupt_untouched(void **state)
{
	struct dir *d = *state;
	struct conflist_file_result res;
	struct fs_err e = { 0 };
	char path[512], *buf;
	struct stat st1, st2;
	const char *bad = "{\"name\":\"k8s-pod-network\",\"plugins\":[{\"type\":\"calico\"";

	snprintf(path, sizeof(path), "%s/10-calico.conflist", d->path);
	write_file(path, bad, 0644);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(conflist_file_edit(path, CONFLIST_OP_INSERT, NULL, false, &res, &e), -1);
	assert_int_equal(e.code, CNI_ERR_DECODE);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "left unchanged"));
	buf = read_file(path);
	assert_string_equal(buf, bad);
	free(buf);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
}

static void test_pick(void **state)
{
	struct dir *d = *state;
	struct fs_err e = { 0 };
	char path[512], want[512], got[512];

	assert_int_equal(conflist_pick(d->path, got, sizeof(got), &e), 0);
	assert_string_equal(got, "");
	snprintf(path, sizeof(path), "%s/00-dir.conf", d->path);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/01-notes.txt", d->path);
	write_file(path, "x", 0644);
	snprintf(path, sizeof(path), "%s/10-calico.conflist", d->path);
	write_file(path, calico, 0644);
	snprintf(path, sizeof(path), "%s/10-calico.conflist.tmp.42", d->path);
	write_file(path, "x", 0644);
	snprintf(path, sizeof(path), "%s/99-loopback.conf", d->path);
	write_file(path, "{}", 0644);
	snprintf(want, sizeof(want), "%s/10-calico.conflist", d->path);
	assert_int_equal(conflist_pick(d->path, got, sizeof(got), &e), 0);
	assert_string_equal(got, want);
	snprintf(path, sizeof(path), "%s/05-cilium.json", d->path);
	write_file(path, "{}", 0644);
	assert_int_equal(conflist_pick(d->path, got, sizeof(got), &e), 0);
	assert_string_equal(got, path);
	snprintf(path, sizeof(path), "%s/missing", d->path);
	assert_int_equal(conflist_pick(path, got, sizeof(got), &e), -1);
	assert_non_null(strstr(e.msg, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_after_calico),
		cmocka_unit_test(test_insert_at_end_without_calico),
		cmocka_unit_test(test_insert_into_empty_list),
		cmocka_unit_test(test_insert_idempotent),
		cmocka_unit_test(test_insert_equal_entry_other_format),
		cmocka_unit_test(test_replace_existing_in_place),
		cmocka_unit_test(test_duplicates_collapse),
		cmocka_unit_test(test_entry_before_calico_moves),
		cmocka_unit_test(test_remove_restores_bytes),
		cmocka_unit_test(test_remove_idempotent),
		cmocka_unit_test(test_conf_converted),
		cmocka_unit_test(test_corrupt_refused),
		cmocka_unit_test(test_conf_refused),
		cmocka_unit_test(test_entry_validated),
		cmocka_unit_test(test_list_version_checked),
		cmocka_unit_test(test_name_is_config),
		cmocka_unit_test_setup_teardown(test_file_mode_and_idempotence, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_file_dry_run, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_file_conf_becomes_conflist, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_file_conf_target_exists, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_file_corrupt_untouched, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_pick, dir_setup, dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

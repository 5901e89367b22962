/* The annotations file: exact bytes of the schema (sorted keys, objects
 * without flowsteer.io keys left out), and writes only on change. */
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

#include "annfile.h"
#include "annotcache.h"
#include "util.h"

static void put(struct kstore *s, const char *key, const char *uid, const char *ann)
{
	struct kobj o = { .key = strdup(key), .uid = strdup(uid), .rv = strdup("1"), .ann = cJSON_Parse(ann) };

	assert_int_equal(kstore_put(s, &o), 0);
}

static void test_render(void **state)
{
	struct kstore ns = { 0 }, pods = { 0 };
	char *body, *text;

	(void)state;
	put(&ns, "zeta", "", "{\"flowsteer.io/mode\":\"off\"}");
	put(&ns, "alpha", "", "{\"flowsteer.io/cpus\":\"0-3\",\"flowsteer.io/scope\":\"host\"}");
	put(&ns, "empty", "", "{}");
	put(&pods, "team-a/web", "u-1", "{\"flowsteer.io/mode\":\"rps\"}");
	put(&pods, "team-a/bare", "u-2", "{}");
	text = annfile_render(&ns, &pods, 0, &body);
	assert_string_equal(text,
			    "{\"namespaces\":{\"alpha\":{\"flowsteer.io/cpus\":\"0-3\",\"flowsteer.io/scope\":\"host\"},"
			    "\"zeta\":{\"flowsteer.io/mode\":\"off\"}},"
			    "\"pods\":{\"team-a/web\":{\"annotations\":{\"flowsteer.io/mode\":\"rps\"},\"uid\":\"u-1\"}},"
			    "\"syncedAt\":\"1970-01-01T00:00:00Z\",\"version\":1}");
	assert_memory_equal(text, body, strlen(body) - 1);
	assert_null(strstr(body, "syncedAt"));
	cJSON_free(text);
	cJSON_free(body);
	kstore_clear(&ns);
	kstore_clear(&pods);
}

/* Entries that would take the file past what the plugin reads: the
 * largest leave, the small ones stay, the file fits. */
static void test_render_fits(void **state)
{
	struct kstore ns = { 0 }, pods = { 0 };
	char name[32], *big = malloc(40001), *ann = malloc(40100), *text;

	(void)state;
	memset(big, 'x', 40000);
	big[40000] = '\0';
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "big-%03d", i);
		snprintf(ann, 40100, "{\"flowsteer.io/cpus\":\"%s\"}", big + i * 100);
		put(&ns, name, "", ann);
	}
	put(&ns, "small", "", "{\"flowsteer.io/mode\":\"off\"}");
	put(&pods, "team-a/web", "u-1", "{\"flowsteer.io/mode\":\"rps\"}");
	text = annfile_render(&ns, &pods, 0, NULL);
	assert_non_null(text);
	assert_true(strlen(text) + 1 < ANNOTCACHE_FILE_MAX);
	assert_true(strlen(text) > ANNOTCACHE_FILE_MAX - 40000);
	assert_non_null(strstr(text, "\"small\":{\"flowsteer.io/mode\":\"off\"}"));
	assert_non_null(strstr(text, "\"team-a/web\""));
	assert_null(strstr(text, "\"big-000\""));
	assert_non_null(strstr(text, "\"big-199\""));
	cJSON_free(text);
	free(big);
	free(ann);
	kstore_clear(&ns);
	kstore_clear(&pods);
}

static void test_sync_only_on_change(void **state)
{
	struct kstore ns = { 0 }, pods = { 0 };
	struct annfile f = { 0 };
	struct fs_err e = { 0 };
	char dir[] = "/tmp/fs-annfile-XXXXXX", *text = NULL;
	struct stat st;
	bool w;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(f.path, sizeof(f.path), "%s/sub/annotations.json", dir);
	put(&ns, "a", "", "{\"flowsteer.io/mode\":\"off\"}");
	assert_int_equal(annfile_sync(&f, &ns, &pods, 100, false, &w, &e), 0);
	assert_true(w);
	assert_int_equal(stat(f.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* Same content, later time: no write. */
	assert_int_equal(annfile_sync(&f, &ns, &pods, 200, false, &w, &e), 0);
	assert_false(w);
	/* A refresh moves syncedAt. */
	assert_int_equal(annfile_sync(&f, &ns, &pods, 300, true, &w, &e), 0);
	assert_true(w);
	assert_int_equal(file_read_all(f.path, 1 << 20, &text, NULL), 0);
	assert_non_null(strstr(text, "\"syncedAt\":\"1970-01-01T00:05:00Z\""));
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
	/* An object without flowsteer keys changes nothing written. */
	put(&ns, "b", "", "{}");
	assert_int_equal(annfile_sync(&f, &ns, &pods, 400, false, &w, &e), 0);
	assert_false(w);
	put(&ns, "b", "", "{\"flowsteer.io/mode\":\"rps\"}");
	assert_int_equal(annfile_sync(&f, &ns, &pods, 500, false, &w, &e), 0);
	assert_true(w);
	assert_int_equal(f.writes, 3);
	annfile_stop(&f);
	kstore_clear(&ns);
	unlink(f.path);
	snprintf(f.path, sizeof(f.path), "%s/sub", dir);
	rmdir(f.path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_fits),
		cmocka_unit_test(test_sync_only_on_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

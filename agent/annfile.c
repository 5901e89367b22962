#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alog.h"
#include "annfile.h"
#include "annotcache.h"
#include "bounds.h"
#include "util.h"

struct annfile_fill {
	cJSON *dst;
	bool pods;
	bool failed;
	bool report;          /* log the entries left out (the final render) */
	size_t limit;         /* entries bigger than this are left out */
	size_t biggest;       /* of those written */
};

/* An entry's size in the file, near enough to rank entries: cJSON may
 * escape control characters, the real length is checked by the caller. */
static size_t annfile_entry_size(const struct kobj *o)
{
	size_t n = strlen(o->key) + strlen(o->uid) + 48;
	const cJSON *it;

	cJSON_ArrayForEach(it, o->ann)
		n += strlen(it->string) + strlen(it->valuestring) + 6;
	return n;
}

static void annfile_add(const struct kobj *o, void *arg)
{
	struct annfile_fill *f = arg;
	cJSON *ann, *entry;
	size_t size;

	if (f->failed || !cJSON_GetArraySize(o->ann))
		return;
	size = annfile_entry_size(o);
	if (size > f->limit) {
		if (f->report)
			bounds_hit(BOUND_FILE, o->key, "left out of the annotations file: with it the file would be "
				   "larger than the plugin reads (the largest entries go first)");
		return;
	}
	if (size > f->biggest)
		f->biggest = size;
	ann = cJSON_Duplicate(o->ann, 1);
	if (!f->pods) {
		entry = ann;
	} else {
		entry = cJSON_CreateObject();
		if (entry && ann) {
			cJSON_AddItemToObject(entry, "annotations", ann);
			ann = NULL;
			if (!cJSON_AddStringToObject(entry, "uid", o->uid)) {
				cJSON_Delete(entry);
				entry = NULL;
			}
		}
		cJSON_Delete(ann);
	}
	if (!entry || !cJSON_AddItemToObject(f->dst, o->key, entry)) {
		cJSON_Delete(entry);
		f->failed = true;
	}
}

static char *annfile_render_limit(const struct kstore *ns, const struct kstore *pods, long long synced_at,
				  char **body, size_t limit, bool report, size_t *biggest)
{
	struct annfile_fill fn = { .limit = limit, .report = report }, fp = { .pods = true, .limit = limit, .report = report };
	cJSON *doc = cJSON_CreateObject();
	char when[32], *text = NULL;

	*biggest = 0;
	if (body)
		*body = NULL;
	fn.dst = cJSON_AddObjectToObject(doc, "namespaces");
	fp.dst = cJSON_AddObjectToObject(doc, "pods");
	if (!fn.dst || !fp.dst)
		goto out;
	kstore_walk(ns, annfile_add, &fn);
	kstore_walk(pods, annfile_add, &fp);
	if (fn.failed || fp.failed)
		goto out;
	if (body && !(*body = cJSON_PrintUnformatted(doc)))
		goto out;
	alog_rfc3339(when, sizeof(when), synced_at);
	if (!cJSON_AddStringToObject(doc, "syncedAt", when) || !cJSON_AddNumberToObject(doc, "version", ANNFILE_VERSION))
		goto out;
	text = cJSON_PrintUnformatted(doc);
	*biggest = fn.biggest > fp.biggest ? fn.biggest : fp.biggest;
out:
	if (!text && body) {
		cJSON_free(*body);
		*body = NULL;
	}
	cJSON_Delete(doc);
	return text;
}

static bool annfile_fits(const char *text)
{
	return text && strlen(text) + 1 < ANNOTCACHE_FILE_MAX;
}

char *annfile_render(const struct kstore *ns, const struct kstore *pods, long long synced_at, char **body)
{
	size_t biggest, lo = 0, hi;
	char *text = annfile_render_limit(ns, pods, synced_at, body, SIZE_MAX, false, &biggest);

	if (!text || annfile_fits(text))
		return text;
	/* The largest entries leave first: the largest size bound at which
	 * the file fits what the plugin reads (a file it refuses would lose
	 * every entry), found by bisection: at most log2 of the largest
	 * entry's size renders, only when the file is too big. */
	hi = biggest;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		char *t = annfile_render_limit(ns, pods, synced_at, NULL, mid, false, &biggest);

		if (annfile_fits(t))
			lo = mid;
		else
			hi = mid;
		cJSON_free(t);
	}
	cJSON_free(text);
	if (body)
		cJSON_free(*body);
	return annfile_render_limit(ns, pods, synced_at, body, lo, true, &biggest);
}

static int annfile_write(struct annfile *f, const char *text, struct fs_err *e)
{
	char dir[4096];
	size_t len = strlen(text);
	char *data = malloc(len + 2);
	int r;

	if (!data)
		return err_set(e, CNI_ERR_IO, "annotations file %s: out of memory", f->path);
	memcpy(data, text, len);
	memcpy(data + len, "\n", 2);
	r = path_dirname(f->path, dir, sizeof(dir));
	if (!r)
		r = mkdir_p(dir, 0755);
	if (!r)
		r = file_write_atomic(f->path, data, len + 1, 0644);
	free(data);
	if (r)
		return err_set(e, CNI_ERR_IO, "writing annotations file %s: %s", f->path, strerror(r < 0 ? -r : EIO));
	return 0;
}

int annfile_sync(struct annfile *f, const struct kstore *ns, const struct kstore *pods, long long now,
		 bool refresh, bool *written, struct fs_err *e)
{
	char *body = NULL, *text;
	int ret = -1;

	*written = false;
	text = annfile_render(ns, pods, now, &body);
	if (!text)
		return err_set(e, CNI_ERR_IO, "annotations file %s: rendering: out of memory", f->path);
	if (!refresh && f->last_body && !strcmp(f->last_body, body)) {
		ret = 0;
		goto out;
	}
	if (annfile_write(f, text, e))
		goto out;
	cJSON_free(f->last_body);
	f->last_body = body;
	body = NULL;
	f->writes++;
	*written = true;
	ret = 0;
out:
	cJSON_free(body);
	cJSON_free(text);
	return ret;
}

void annfile_release(struct annfile *f)
{
	cJSON_free(f->last_body);
	f->last_body = NULL;
}

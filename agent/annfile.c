#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Annotation changes reach the file once a burst is quiet, at most this
 * late: a pod start reads a cache at most ~100 ms behind the server, and a
 * burst of a thousand events costs ten writes, not a thousand. */
#define FLUSH_QUIET_MS 5
#define FLUSH_MAX_MS 100
#define FLUSH_RETRY_MS 1000

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
	atomic_fetch_add(&f->writes, 1);
	*written = true;
	ret = 0;
out:
	cJSON_free(body);
	cJSON_free(text);
	return ret;
}

static void annfile_flush(struct annfile *f, bool refresh)
{
	const struct annfile_src *s = &f->src;
	struct fs_err e = { 0 };
	bool written;
	long long now = (long long)time(NULL);

	if (!s->synced(s->arg))
		return;
	if (annfile_sync(f, s->ns, s->pods, now, refresh, &written, &e)) {
		atomic_fetch_add(&f->errors, 1);
		alog(ALOG_ERROR, "%s; retrying in %d ms", e.msg, FLUSH_RETRY_MS);
		f->refresh_due |= refresh;
		loop_debounce_retry(&f->flush, FLUSH_RETRY_MS);
		return;
	}
	f->dirty = f->refresh_due = false;
	if (written) {
		atomic_store(&f->last_sync, now);
		alog(ALOG_DEBUG, "%s written: %zu namespaces, %zu pods", f->path, s->ns->n, s->pods->n);
	}
	if (!atomic_exchange(&f->synced_once, 1))
		alog(ALOG_INFO, "first sync done: %s written (%zu namespaces, %zu pods with flowsteer.io annotations)",
		     f->path, s->ns->n, s->pods->n);
}

static void annfile_on_flush(void *arg)
{
	struct annfile *f = arg;

	if (f->dirty || f->refresh_due)
		annfile_flush(f, f->refresh_due);
}

static void annfile_on_refresh(struct loop *l, struct loop_timer *t)
{
	struct annfile *f = t->arg;

	/* Only while both watches stream: syncedAt claims "in sync". */
	if (f->src.streaming(f->src.arg))
		annfile_flush(f, true);
	loop_timer_after(l, t, f->refresh_ms);
}

void annfile_init(struct annfile *f)
{
	loop_timer_init(&f->refresh, annfile_on_refresh, f);
}

int annfile_start(struct annfile *f, const char *path, long long refresh_ms, const struct annfile_src *src,
		  struct loop *l)
{
	f->loop = l;
	f->src = *src;
	f->refresh_ms = refresh_ms;
	loop_debounce_init(l, &f->flush, FLUSH_QUIET_MS, FLUSH_MAX_MS, annfile_on_flush, f);
	if (snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path)) {
		alog(ALOG_ERROR, "--annotations-file %.200s...: too long", path);
		return -1;
	}
	return loop_timer_after(l, &f->refresh, refresh_ms);
}

void annfile_changed(struct annfile *f)
{
	f->dirty = true;
	if (f->loop && f->src.synced(f->src.arg))
		loop_debounce_kick(&f->flush);
}

void annfile_stop(struct annfile *f)
{
	if (f->loop) {
		loop_debounce_forget(&f->flush);
		loop_timer_forget(f->loop, &f->refresh);
	}
	cJSON_free(f->last_body);
	f->last_body = NULL;
	f->loop = NULL;
}

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alog.h"
#include "conflist.h"
#include "install.h"
#include "util.h"

#define INSTALL_BIN_MAX (512u << 20)
#define DEBOUNCE_MS 150
#define DEBOUNCE_MAX_MS 600
#define REWATCH_MS 1000
#define WRITE_BURST 5
#define WRITE_WINDOW_MS 10000

/* dirwatch adds the events on the directory itself. */
#define WATCH_MASK (IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)

/* Same bytes and mode already there: nothing to do. */
static bool install_same(const char *dest, const char *data, size_t len)
{
	struct stat st;
	char *old = NULL;
	size_t oldlen = 0;
	bool same;

	if (stat(dest, &st) || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != 0755 ||
	    (size_t)st.st_size != len || file_read_all(dest, INSTALL_BIN_MAX, &old, &oldlen))
		return false;
	same = oldlen == len && !memcmp(old, data, len);
	free(old);
	return same;
}

static int install_binary(const struct install *in)
{
	char dest[PATH_MAX];
	char *data = NULL;
	size_t len = 0;
	int r;

	r = mkdir_p(in->bin_dir, 0755);
	if (r) {
		alog(ALOG_ERROR, "install: creating bin dir %s: %s", in->bin_dir, strerror(-r));
		return -1;
	}
	if (snprintf(dest, sizeof(dest), "%s/flowsteer", in->bin_dir) >= (int)sizeof(dest)) {
		alog(ALOG_ERROR, "install: bin dir path too long: %.100s...", in->bin_dir);
		return -1;
	}
	r = file_read_all(in->src, INSTALL_BIN_MAX, &data, &len);
	if (r) {
		alog(ALOG_ERROR, "install: reading plugin %s: %s", in->src, strerror(-r));
		return -1;
	}
	if (install_same(dest, data, len)) {
		alog(ALOG_INFO, "install: %s already up to date", dest);
	} else if ((r = file_write_atomic(dest, data, len, 0755))) {
		alog(ALOG_ERROR, "install: writing %s: %s", dest, strerror(-r));
	} else {
		alog(ALOG_INFO, "install: %s installed from %s", dest, in->src);
	}
	free(data);
	return r ? -1 : 0;
}

/* A broken file must not flood the log at every event. */
static void install_log_error(struct install *in, const char *msg)
{
	if (!strcmp(in->last_msg, msg))
		return;
	snprintf(in->last_msg, sizeof(in->last_msg), "%s", msg);
	alog(ALOG_ERROR, "install: %s", msg);
}

/* Makes sure the entry is in the file the runtime uses now. Returns 0, or
 * -1 with e set: CNI_ERR_TRY_LATER when the file was being written. */
static int install_sync(struct install *in, long long now, struct fs_err *e)
{
	struct conflist_file_result res;
	char file[PATH_MAX];

	if (conflist_pick(in->conf_dir, file, sizeof(file), e))
		return -1;
	if (!file[0]) {
		if (!in->waiting_logged)
			alog(ALOG_INFO, "install: no CNI config (*.conf, *.conflist, *.json) in %s yet; waiting for one",
			     in->conf_dir);
		in->waiting_logged = true;
		return 0;
	}
	in->waiting_logged = false;
	if (conflist_file_edit(file, CONFLIST_OP_INSERT, in->entry, false, &res, e))
		return -1;
	in->last_msg[0] = '\0';
	snprintf(in->last, sizeof(in->last), "%s", res.path);
	if (res.changed) {
		throttle_record(&in->thr, now);
		in->writes++;
		if (res.removed[0])
			alog(ALOG_INFO, "install: %s: created from %s (removed), flowsteer chained", res.path, res.removed);
		else
			alog(ALOG_INFO, "install: %s: flowsteer chained", res.path);
	} else if (!in->chained_once) {
		alog(ALOG_INFO, "install: %s: flowsteer already chained", res.path);
	}
	in->chained_once = true;
	return 0;
}

/* A file being written is looked at again soon; any other error is
 * logged, and the next change of the directory tries again. */
static void install_chain(struct install *in, long long now)
{
	struct fs_err e = { 0 };

	if (!install_sync(in, now, &e))
		return;
	if (e.code == CNI_ERR_TRY_LATER)
		loop_debounce_retry(&in->deb, DEBOUNCE_MS);
	else
		install_log_error(in, e.msg);
}

/* A conf dir that went away is made again, as at start: the runtime and
 * Calico's installer expect it. The watch follows by itself (dirwatch). */
static int install_conf_dir(struct install *in, struct fs_err *e)
{
	int r = mkdir_p(in->conf_dir, 0755);

	if (r)
		return err_set(e, CNI_ERR_IO, "creating conf dir %s: %s", in->conf_dir, strerror(-r));
	return 0;
}

/* Events that can change which file is in use or what it holds; our own
 * temp files ("<name>.tmp.<n>") are not configs and do not count.
 * name NULL: the directory appeared, went away, or events were lost. */
static void install_on_change(struct dirwatch *w, const char *name, void *arg)
{
	struct install *in = arg;

	if (name && !conflist_name_is_config(name))
		return;
	if (!name && dirwatch_present(w) && in->lost) {
		in->lost = false;
		alog(ALOG_INFO, "install: watching %s again", in->conf_dir);
	}
	in->lost |= !dirwatch_present(w);
	loop_debounce_kick(&in->deb);
}

/* Runs once a burst of changes is quiet (loop_debounce). */
static void install_on_settle(void *arg)
{
	struct install *in = arg;
	struct fs_err e = { 0 };
	long long now = mono_ms(), wait;

	if (in->lost && install_conf_dir(in, &e)) {
		install_log_error(in, e.msg);
		loop_debounce_retry(&in->deb, REWATCH_MS);
		return;
	}
	wait = throttle_wait(&in->thr, now);
	if (wait > 0) {
		if (!in->throttle_logged)
			alog(ALOG_WARN, "install: %s: rewritten without the entry %d times in %d s; another writer "
			     "keeps removing it? re-chaining at most %d times per %d s", in->last, WRITE_BURST,
			     WRITE_WINDOW_MS / 1000, WRITE_BURST, WRITE_WINDOW_MS / 1000);
		in->throttle_logged = true;
		loop_debounce_retry(&in->deb, wait);
		return;
	}
	in->throttle_logged = false;
	install_chain(in, now);
}

/* dirwatch wants an absolute path; --cni-conf-dir may be relative. */
static int install_watch(struct install *in)
{
	char abs[PATH_MAX], cwd[PATH_MAX];
	const char *dir = in->conf_dir;

	if (dir[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)) || snprintf(abs, sizeof(abs), "%s/%s", cwd, dir) >= (int)sizeof(abs)) {
			alog(ALOG_ERROR, "install: conf dir %.200s: no absolute path for it", dir);
			return -1;
		}
		dir = abs;
	}
	/* dirwatch_start logged why the directory has no watch. */
	if (dirwatch_start(in->loop, &in->dw, dir, WATCH_MASK, install_on_change, in) || in->dw.wd < 0)
		return -1;
	alog(ALOG_INFO, "install: watching %s", in->conf_dir);
	return 0;
}

void install_init(struct install *in)
{
	in->dw.ifd = in->dw.wd = -1;
	throttle_init(&in->thr, WRITE_BURST, WRITE_WINDOW_MS);
}

int install_start(struct install *in, const char *bin_dir, const char *conf_dir, const char *src,
		  const char *entry_json, struct loop *l)
{
	struct fs_err e = { 0 };

	in->loop = l;
	in->bin_dir = bin_dir;
	in->conf_dir = conf_dir;
	in->src = src;
	loop_debounce_init(l, &in->deb, DEBOUNCE_MS, DEBOUNCE_MAX_MS, install_on_settle, in);
	if (conflist_entry_parse(entry_json, &in->entry, &e)) {
		alog(ALOG_ERROR, "install: --entry: %s", e.msg);
		return -1;
	}
	if (install_binary(in))
		return -1;
	if (install_conf_dir(in, &e)) {
		install_log_error(in, e.msg);
		return -1;
	}
	/* The watch comes before the first look: no change slips between. */
	if (install_watch(in))
		return -1;
	in->lost = !dirwatch_present(&in->dw);
	if (in->lost)
		loop_debounce_kick(&in->deb);
	else
		install_chain(in, mono_ms());
	return 0;
}

static int install_remove_from(const char *file)
{
	struct conflist_file_result res;
	struct fs_err fe = { 0 };
	struct stat st;

	if (!file[0] || (stat(file, &st) < 0 && errno == ENOENT))
		return 0;
	for (int tries = 0; tries < 5; tries++) {
		memset(&fe, 0, sizeof(fe));
		if (conflist_file_edit(file, CONFLIST_OP_REMOVE, NULL, false, &res, &fe) == 0 ||
		    fe.code != CNI_ERR_TRY_LATER)
			break;
		usleep(100 * 1000);
	}
	if (fe.code) {
		alog(ALOG_ERROR, "install: %s", fe.msg);
		return -1;
	}
	if (res.changed)
		alog(ALOG_INFO, "install: %s: flowsteer entry removed", res.path);
	return 0;
}

int install_unchain(struct install *in)
{
	struct fs_err e = { 0 };
	char now[PATH_MAX] = "";
	int ret = 0;

	/* A conf dir that is gone holds no entry to take out. */
	if (conflist_pick(in->conf_dir, now, sizeof(now), &e) && access(in->conf_dir, F_OK) == 0) {
		alog(ALOG_ERROR, "install: %s", e.msg);
		ret = -1;
	}
	if (install_remove_from(in->last))
		ret = -1;
	if (strcmp(in->last, now) && install_remove_from(now))
		ret = -1;
	return ret;
}

void install_stop(struct install *in)
{
	if (!in->loop)
		return;
	dirwatch_release(in->loop, &in->dw);
	loop_debounce_forget(&in->deb);
	cJSON_Delete(in->entry);
	in->entry = NULL;
	in->loop = NULL;
}

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

#define WATCH_MASK (IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | \
		    IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

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

/* Makes sure the entry is in the file the runtime uses now.
 * Returns 0 done, 1 retry soon (the file was being written), -1 error
 * (logged; the next change of the directory tries again). */
static int install_sync(struct install *in, long long now)
{
	struct conflist_file_result res;
	struct fs_err e = { 0 };
	char file[PATH_MAX];

	if (conflist_pick(in->conf_dir, file, sizeof(file), &e)) {
		install_log_error(in, e.msg);
		return -1;
	}
	if (!file[0]) {
		if (!in->waiting_logged)
			alog(ALOG_INFO, "install: no CNI config (*.conf, *.conflist, *.json) in %s yet; waiting for one",
			     in->conf_dir);
		in->waiting_logged = true;
		return 0;
	}
	in->waiting_logged = false;
	if (conflist_file_edit(file, CONFLIST_OP_INSERT, in->entry, false, &res, &e)) {
		if (e.code == CNI_ERR_TRY_LATER)
			return 1;
		install_log_error(in, e.msg);
		return -1;
	}
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

static int install_watch_add(struct install *in)
{
	char msg[600];
	int r = mkdir_p(in->conf_dir, 0755);

	if (r) {
		snprintf(msg, sizeof(msg), "creating conf dir %s: %s", in->conf_dir, strerror(-r));
		install_log_error(in, msg);
		return -1;
	}
	in->wd = inotify_add_watch(in->ifd, in->conf_dir, WATCH_MASK);
	if (in->wd < 0) {
		snprintf(msg, sizeof(msg), "watching %s: %s", in->conf_dir, strerror(errno));
		install_log_error(in, msg);
		return -1;
	}
	return 0;
}

/* Events that can change which file is in use or what it holds; our own
 * temp files ("<name>.tmp.<n>") are not configs and do not count. */
static bool install_event_matters(struct install *in, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW)
		return true;
	if (ev->wd != in->wd)
		return false;
	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		in->rewatch = true;
		return true;
	}
	return ev->len && conflist_name_is_config(ev->name);
}

static void install_schedule(struct loop *l, struct install *in)
{
	long long w = debounce_wait(&in->deb, mono_ms());

	if (w >= 0)
		loop_timer_after(l, &in->timer, w);
}

static void install_on_inotify(struct loop *l, int fd, short revents, void *arg)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct install *in = arg;
	bool matters = false;
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)revents;
	for (char *p = buf; n > 0 && p < buf + n;) {
		const struct inotify_event *ev = (const struct inotify_event *)p;

		matters |= install_event_matters(in, ev);
		p += sizeof(*ev) + ev->len;
	}
	if (matters) {
		debounce_kick(&in->deb, mono_ms());
		install_schedule(l, in);
	}
}

/* The directory went away (or was replaced): watch the new one. */
static bool install_rewatch(struct install *in, long long now)
{
	if (in->wd >= 0)
		inotify_rm_watch(in->ifd, in->wd);
	in->wd = -1;
	if (install_watch_add(in)) {
		debounce_retry(&in->deb, now, REWATCH_MS);
		return false;
	}
	in->rewatch = false;
	alog(ALOG_INFO, "install: watching %s again", in->conf_dir);
	return true;
}

static void install_on_timer(struct loop *l, struct loop_timer *t)
{
	struct install *in = t->arg;
	long long now = mono_ms(), wait;

	if (!debounce_fire(&in->deb, now))
		goto out;
	if (in->rewatch && !install_rewatch(in, now))
		goto out;
	wait = throttle_wait(&in->thr, now);
	if (wait > 0) {
		if (!in->throttle_logged)
			alog(ALOG_WARN, "install: %s: rewritten without the entry %d times in %d s; another writer "
			     "keeps removing it? re-chaining at most %d times per %d s", in->last, WRITE_BURST,
			     WRITE_WINDOW_MS / 1000, WRITE_BURST, WRITE_WINDOW_MS / 1000);
		in->throttle_logged = true;
		debounce_retry(&in->deb, now, wait);
		goto out;
	}
	in->throttle_logged = false;
	if (install_sync(in, now) == 1)
		debounce_retry(&in->deb, now, DEBOUNCE_MS);
out:
	install_schedule(l, in);
}

int install_start(struct loop *l, struct install *in, const char *entry_json)
{
	struct fs_err e = { 0 };

	in->ifd = in->wd = -1;
	debounce_init(&in->deb, DEBOUNCE_MS, DEBOUNCE_MAX_MS);
	throttle_init(&in->thr, WRITE_BURST, WRITE_WINDOW_MS);
	loop_timer_init(&in->timer, install_on_timer, in);
	if (conflist_entry_parse(entry_json, &in->entry, &e)) {
		alog(ALOG_ERROR, "install: --entry: %s", e.msg);
		return -1;
	}
	if (install_binary(in))
		return -1;
	in->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in->ifd < 0) {
		alog(ALOG_ERROR, "install: inotify: %s", strerror(errno));
		return -1;
	}
	/* The watch comes before the first look: no change slips between. */
	if (install_watch_add(in) || loop_add_fd(l, in->ifd, install_on_inotify, in))
		return -1;
	alog(ALOG_INFO, "install: watching %s", in->conf_dir);
	if (install_sync(in, mono_ms()) == 1) {
		debounce_kick(&in->deb, mono_ms());
		install_schedule(l, in);
	}
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

void install_release(struct loop *l, struct install *in)
{
	if (in->ifd >= 0) {
		loop_del_fd(l, in->ifd);
		close(in->ifd);
	}
	in->ifd = -1;
	loop_timer_forget(l, &in->timer);
	cJSON_Delete(in->entry);
	in->entry = NULL;
}

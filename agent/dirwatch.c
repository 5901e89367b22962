#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alog.h"
#include "dirwatch.h"

#define ANCESTOR_MASK (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define SELF_MASK (IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
/* Bounds the re-checks of a directory made while the watch moved. */
#define ARM_TRIES 16

static size_t parent_len(const char *path, size_t at)
{
	while (at > 1 && path[at - 1] != '/')
		at--;
	return at > 1 ? at - 1 : 1;
}

/* Whether the component of path below the prefix of length at exists now
 * (it was made between the failed watch and the ancestor's). */
static bool next_exists(const struct dirwatch *w)
{
	char p[PATH_MAX];
	size_t end = w->at + 1;
	struct stat st;

	while (w->path[end] && w->path[end] != '/')
		end++;
	memcpy(p, w->path, end);
	p[end] = '\0';
	return stat(p, &st) == 0;
}

/* Watches the deepest existing prefix of the path. Returns true when that
 * is the directory itself. */
static bool dirwatch_arm(struct dirwatch *w)
{
	size_t full = strlen(w->path), at = full;
	char p[PATH_MAX];

	for (int tries = 0; tries < ARM_TRIES; tries++) {
		if (w->wd >= 0)
			inotify_rm_watch(w->ifd, w->wd);
		memcpy(p, w->path, at);
		p[at] = '\0';
		w->wd = inotify_add_watch(w->ifd, p, at == full ? w->mask | SELF_MASK : ANCESTOR_MASK);
		w->at = at;
		if (w->wd < 0 && at > 1) {
			at = parent_len(w->path, at);
			continue;
		}
		if (w->wd < 0 || at == full || !next_exists(w))
			break;
		at = full;
	}
	if (w->wd < 0)
		alog(ALOG_ERROR, "watching %s (or any directory above it): %s", w->path, strerror(errno));
	return w->wd >= 0 && w->at == full;
}

static void dirwatch_on_event(struct loop *l, int fd, short revents, void *arg)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct dirwatch *w = arg;
	bool all = false, rearm = false, was = dirwatch_present(w);
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)l;
	(void)revents;
	for (char *p = buf; n > 0 && p < buf + n;) {
		const struct inotify_event *ev = (const struct inotify_event *)p;

		p += sizeof(*ev) + ev->len;
		if (ev->mask & IN_Q_OVERFLOW)
			all = true;
		if (ev->wd != w->wd || rearm)
			continue;
		if (!was || (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)))
			rearm = true;
		else if (ev->len)
			w->fn(w, ev->name, w->arg);
	}
	if (rearm && (dirwatch_arm(w) || was)) {
		alog(ALOG_DEBUG, "%s %s", w->path, dirwatch_present(w) ? "is there: watching it" : "went away");
		all = true;
	}
	if (all)
		w->fn(w, NULL, w->arg);
}

int dirwatch_start(struct loop *l, struct dirwatch *w, const char *path, uint32_t mask, dirwatch_fn fn,
		   void *arg)
{
	size_t len = strlen(path);

	w->ifd = w->wd = -1;
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (path[0] != '/' || len >= sizeof(w->path)) {
		alog(ALOG_ERROR, "watching \"%.200s\": not an absolute path", path);
		return -1;
	}
	memcpy(w->path, path, len);
	w->path[len] = '\0';
	w->mask = mask;
	w->fn = fn;
	w->arg = arg;
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd < 0) {
		alog(ALOG_ERROR, "inotify for %s: %s", w->path, strerror(errno));
		return -1;
	}
	if (!dirwatch_arm(w) && w->wd >= 0)
		alog(ALOG_INFO, "%s does not exist yet: watching %.*s for it", w->path, (int)w->at, w->path);
	return loop_add_fd(l, w->ifd, dirwatch_on_event, w);
}

bool dirwatch_present(const struct dirwatch *w)
{
	return w->wd >= 0 && w->at == strlen(w->path);
}

void dirwatch_release(struct loop *l, struct dirwatch *w)
{
	if (w->ifd >= 0) {
		loop_del_fd(l, w->ifd);
		close(w->ifd);
	}
	w->ifd = w->wd = -1;
}

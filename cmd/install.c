/*
 * flowsteer install [--watch] [--bin-dir DIR] [--conf-dir DIR] [--entry JSON] [--src PATH]
 *
 * The installer DaemonSet's process: copies this binary into the host's CNI
 * bin dir, chains the entry into the config file the runtime uses, and with
 * --watch keeps it chained: Calico's installer rewrites its conflist (whole
 * file, often by rename) on every calico-node restart, dropping the entry.
 * On SIGTERM/SIGINT the entry is taken out again; the binary stays, because
 * pods deleted later still need their DEL.
 *
 * Logs go to stderr (the container's log). Exit: 0, 1 error, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "conflist.h"
#include "util.h"

#define INSTALL_BIN_DIR "/host/opt/cni/bin"
#define INSTALL_CONF_DIR "/host/etc/cni/net.d"
#define INSTALL_BIN_MAX (512u << 20)

/* Writers rewrite in bursts (truncate, write, close; or temp + rename):
 * act once things are quiet, but never later than DEBOUNCE_MAX_MS. */
#define DEBOUNCE_MS 150
#define DEBOUNCE_MAX_MS 600
#define REWATCH_MS 1000
/* Another agent that keeps dropping the entry must not turn this into a
 * write loop: at most WRITE_BURST rewrites per WRITE_WINDOW_MS. */
#define WRITE_BURST 5
#define WRITE_WINDOW_MS 10000

#define WATCH_MASK (IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | \
		    IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct install {
	const char *bin_dir;
	const char *conf_dir;
	const char *src;
	cJSON *entry;
	int ifd;
	int wd;
	char last[PATH_MAX];        /* the file chained into last */
	char last_msg[768];         /* the last error logged (logged once) */
	bool waiting_logged;
	long long writes[WRITE_BURST];
	int n_writes;
	bool throttle_logged;
};

static void install_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void install_log(const char *fmt, ...)
{
	va_list ap;

	fputs("flowsteer install: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void install_usage(FILE *f)
{
	fprintf(f,
		"usage: flowsteer install [--watch] [--bin-dir DIR] [--conf-dir DIR] [--entry JSON] [--src PATH]\n"
		"\n"
		"Copies SRC (default: this binary) to DIR/flowsteer (default bin dir %s)\n"
		"and chains the entry into the first .conf/.conflist/.json of the conf dir\n"
		"(default %s). --watch keeps it chained when the file is rewritten\n"
		"or appears later, and removes the entry on SIGTERM/SIGINT.\n"
		"Default entry: %s\n", INSTALL_BIN_DIR, INSTALL_CONF_DIR, CONFLIST_DEFAULT_ENTRY);
}

/* The binary is replaced by rename, never rewritten in place: kubelet may
 * be executing the old one at this very moment. */
static int install_binary(const char *src, const char *bin_dir, bool *changed, struct fs_err *e)
{
	char dest[PATH_MAX];
	char *data = NULL, *old = NULL;
	size_t len = 0, oldlen = 0;
	struct stat st;
	int r, ret = -1;

	*changed = false;
	r = mkdir_p(bin_dir, 0755);
	if (r)
		return err_set(e, CNI_ERR_IO, "creating bin dir %s: %s", bin_dir, strerror(-r));
	if (snprintf(dest, sizeof(dest), "%s/flowsteer", bin_dir) >= (int)sizeof(dest))
		return err_set(e, CNI_ERR_IO, "bin dir path too long: %.100s...", bin_dir);
	r = file_read_all(src, INSTALL_BIN_MAX, &data, &len);
	if (r)
		return err_set(e, CNI_ERR_IO, "reading %s: %s", src, strerror(-r));
	if (stat(dest, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0755 &&
	    file_read_all(dest, INSTALL_BIN_MAX, &old, &oldlen) == 0 && oldlen == len &&
	    !memcmp(old, data, len)) {
		ret = 0;
		goto out;
	}
	r = file_write_atomic(dest, data, len, 0755);
	if (r) {
		err_set(e, CNI_ERR_IO, "writing %s: %s", dest, strerror(-r));
		goto out;
	}
	*changed = true;
	ret = 0;
out:
	free(data);
	free(old);
	return ret;
}

/* Logs an error once until something else happens: a broken file must not
 * flood the log at every event. */
static void install_log_error(struct install *in, const char *msg)
{
	if (!strcmp(in->last_msg, msg))
		return;
	snprintf(in->last_msg, sizeof(in->last_msg), "%s", msg);
	install_log("%s", msg);
}

/* Makes sure the entry is in the file the runtime uses now.
 * Returns 0 done, 1 retry soon (the file was being written), -1 error
 * (logged; the next change of the directory tries again). */
static int install_sync(struct install *in, bool startup)
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
			install_log("no CNI config (*.conf, *.conflist, *.json) in %s yet; waiting for one",
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
		memmove(in->writes + 1, in->writes, sizeof(in->writes[0]) * (WRITE_BURST - 1));
		in->writes[0] = now_ms();
		if (in->n_writes < WRITE_BURST)
			in->n_writes++;
		if (res.removed[0])
			install_log("%s: created from %s (removed), flowsteer chained", res.path, res.removed);
		else
			install_log("%s: flowsteer chained", res.path);
	} else if (startup) {
		install_log("%s: flowsteer already chained", res.path);
	}
	return 0;
}

/* Takes the entry out of the file chained last and of the one in use now. */
static int install_unchain(struct install *in)
{
	struct conflist_file_result res;
	struct fs_err e = { 0 };
	char now[PATH_MAX] = "";
	const char *files[2] = { in->last, now };
	int ret = 0;

	/* A conf dir that is gone holds no entry to take out. */
	if (conflist_pick(in->conf_dir, now, sizeof(now), &e) && access(in->conf_dir, F_OK) == 0) {
		install_log("%s", e.msg);
		ret = -1;
	}
	for (int i = 0; i < 2; i++) {
		struct fs_err fe = { 0 };
		struct stat st;

		if (!files[i][0] || (i == 1 && !strcmp(files[0], files[1])))
			continue;
		if (stat(files[i], &st) < 0 && errno == ENOENT)
			continue;
		for (int tries = 0; tries < 5; tries++) {
			memset(&fe, 0, sizeof(fe));
			if (conflist_file_edit(files[i], CONFLIST_OP_REMOVE, NULL, false, &res, &fe) == 0 ||
			    fe.code != CNI_ERR_TRY_LATER)
				break;
			usleep(100 * 1000);
		}
		if (fe.code) {
			install_log("%s", fe.msg);
			ret = -1;
		} else if (res.changed) {
			install_log("%s: flowsteer entry removed", res.path);
		}
	}
	return ret;
}

static int install_watch_add(struct install *in)
{
	int r = mkdir_p(in->conf_dir, 0755);

	if (r) {
		char msg[600];

		snprintf(msg, sizeof(msg), "creating conf dir %s: %s", in->conf_dir, strerror(-r));
		install_log_error(in, msg);
		return -1;
	}
	in->wd = inotify_add_watch(in->ifd, in->conf_dir, WATCH_MASK);
	if (in->wd < 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "watching %s: %s", in->conf_dir, strerror(errno));
		install_log_error(in, msg);
		return -1;
	}
	return 0;
}

/* Events that can change which file is in use or what it holds; our own
 * temp files ("<name>.tmp.<pid>") are not configs and do not count. */
static bool install_event_matters(const struct inotify_event *ev, bool *lost_watch)
{
	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		*lost_watch = true;
		return true;
	}
	if (ev->mask & IN_Q_OVERFLOW)
		return true;
	return ev->len && conflist_name_is_config(ev->name);
}

static int install_loop(struct install *in, int sfd)
{
	long long first = 0, due = -1;
	bool rewatch = false;
	int r;

	r = install_sync(in, true);
	if (r == 1)
		first = now_ms(), due = first + DEBOUNCE_MS;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = in->ifd, .events = POLLIN },
		};
		long long t = now_ms();
		int timeout = due < 0 ? -1 : (int)(due > t ? due - t : 0);

		if (poll(pfd, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			install_log("poll: %s", strerror(errno));
			return -1;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				install_log("SIG%s: removing the entry and exiting", sigabbrev_np((int)si.ssi_signo));
				return 0;
			}
		}
		if (pfd[1].revents & POLLIN) {
			char evbuf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
			bool matters = false;
			ssize_t n = read(in->ifd, evbuf, sizeof(evbuf));

			for (char *p = evbuf; n > 0 && p < evbuf + n;) {
				const struct inotify_event *ev = (const struct inotify_event *)p;

				if (ev->wd == in->wd || (ev->mask & IN_Q_OVERFLOW))
					matters |= install_event_matters(ev, &rewatch);
				p += sizeof(*ev) + ev->len;
			}
			if (matters) {
				t = now_ms();
				if (due < 0)
					first = t;
				due = t + DEBOUNCE_MS < first + DEBOUNCE_MAX_MS ? t + DEBOUNCE_MS
										: first + DEBOUNCE_MAX_MS;
			}
		}
		t = now_ms();
		if (due < 0 || t < due)
			continue;
		due = -1;
		if (rewatch) {
			/* The directory went away (or was replaced): watch the new one. */
			if (in->wd >= 0)
				inotify_rm_watch(in->ifd, in->wd);
			in->wd = -1;
			if (install_watch_add(in)) {
				first = t;
				due = t + REWATCH_MS;
				continue;
			}
			rewatch = false;
			install_log("watching %s again", in->conf_dir);
		}
		if (in->n_writes == WRITE_BURST && t - in->writes[WRITE_BURST - 1] < WRITE_WINDOW_MS) {
			if (!in->throttle_logged)
				install_log("%s: rewritten without the entry %d times in %d s; another writer "
					    "keeps removing it? re-chaining at most %d times per %d s",
					    in->last, WRITE_BURST, WRITE_WINDOW_MS / 1000, WRITE_BURST,
					    WRITE_WINDOW_MS / 1000);
			in->throttle_logged = true;
			first = t;
			due = in->writes[WRITE_BURST - 1] + WRITE_WINDOW_MS;
			continue;
		}
		in->throttle_logged = false;
		if (install_sync(in, false) == 1) {
			first = t;
			due = t + DEBOUNCE_MS;
		}
	}
}

int cli_install(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "watch", no_argument, NULL, 'w' },
		{ "bin-dir", required_argument, NULL, 'b' },
		{ "conf-dir", required_argument, NULL, 'c' },
		{ "entry", required_argument, NULL, 'e' },
		{ "src", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct install in = {
		.bin_dir = INSTALL_BIN_DIR, .conf_dir = INSTALL_CONF_DIR, .src = "/proc/self/exe",
		.ifd = -1, .wd = -1,
	};
	struct fs_err e = { 0 };
	const char *entry_json = NULL;
	bool watch = false, changed;
	sigset_t sigs;
	int c, sfd = -1, ret = 1;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "wb:c:e:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			watch = true;
			break;
		case 'b':
			in.bin_dir = optarg;
			break;
		case 'c':
			in.conf_dir = optarg;
			break;
		case 'e':
			entry_json = optarg;
			break;
		case 's':
			in.src = optarg;
			break;
		case 'h':
			install_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "flowsteer install: bad option \"%s\"\n", argv[optind - 1]);
			install_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "flowsteer install: unexpected argument \"%s\"\n", argv[optind]);
		install_usage(stderr);
		return 2;
	}
	if (!*in.bin_dir || !*in.conf_dir) {
		fprintf(stderr, "flowsteer install: --bin-dir and --conf-dir must not be empty\n");
		return 2;
	}
	if (conflist_entry_parse(entry_json, &in.entry, &e)) {
		fprintf(stderr, "flowsteer install: --entry: %s\n", e.msg);
		return 1;
	}
	/* Blocked before anything else: a SIGTERM that comes early must still
	 * reach the signalfd, not kill us with the entry left in place. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (watch && (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0 ||
		      (sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)) {
		install_log("signalfd: %s", strerror(errno));
		goto out;
	}
	if (install_binary(in.src, in.bin_dir, &changed, &e)) {
		install_log("%s", e.msg);
		goto out;
	}
	install_log("%s/flowsteer %s", in.bin_dir, changed ? "installed" : "already up to date");
	if (!watch) {
		struct conflist_file_result res;
		char file[PATH_MAX];

		if (conflist_pick(in.conf_dir, file, sizeof(file), &e))
			goto fail;
		if (!file[0]) {
			install_log("no CNI config (*.conf, *.conflist, *.json) in %s to chain into", in.conf_dir);
			goto out;
		}
		if (conflist_file_edit(file, CONFLIST_OP_INSERT, in.entry, false, &res, &e))
			goto fail;
		install_log("%s: %s", res.path, res.changed ? "flowsteer chained" : "flowsteer already chained");
		ret = 0;
		goto out;
	}
	in.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in.ifd < 0) {
		install_log("inotify: %s", strerror(errno));
		goto out;
	}
	/* The watch comes before the first look, so no change can slip between. */
	if (install_watch_add(&in))
		goto out;
	install_log("watching %s", in.conf_dir);
	if (install_loop(&in, sfd))
		goto out;
	ret = install_unchain(&in) ? 1 : 0;
	goto out;
fail:
	install_log("%s", e.msg);
out:
	if (in.ifd >= 0)
		close(in.ifd);
	if (sfd >= 0)
		close(sfd);
	cJSON_Delete(in.entry);
	return ret;
}

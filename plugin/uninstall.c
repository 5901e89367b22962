#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "netns.h"
#include "plan.h"
#include "state.h"
#include "sysfs.h"
#include "uninstall.h"
#include "util.h"

struct uninstall {
	struct state *st;
	int host_class;
	unsigned nbits;         /* records do not keep it: the width of the masks written back */
	long long deadline;
	uninstall_say_fn say;
	void *arg;
	struct uninstall_result *r;
};

static void say(struct uninstall *u, bool warn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(struct uninstall *u, bool warn, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (u->say)
		u->say(warn, line, u->arg);
}

/* What the pod's DEL would undo, and its pod devices too: the pod keeps
 * running, untuned. Its netns gone, its devices went with it. */
static int record_undo(const char *file, struct attachment *a, const struct fs_err *err, void *arg)
{
	struct uninstall *u = arg;
	struct kview kv = KVIEW_INIT;
	int wrote = 0, left = 0;

	if (!a || util_mono_ms() > u->deadline) {
		u->r->kept++;
		u->r->timed_out |= a != NULL;
		if (!a)
			say(u, true, "uninstall: %s/attachments/%s left: %s", u->st->dir, file, err->msg);
		return 0;
	}
	kv.host_class = u->host_class;
	a->nbits = u->nbits;
	kv.pod_class = netns_class_open(a->netns);
	for (int i = 0; i < a->ndev; i++)
		wrote += a->devs[i].scope != DEV_SCOPE_NODE && model_dev_wrote(&a->devs[i]);
	apply_revert_pod(&kv, a);
	for (int i = 0; i < a->ndev; i++)
		left += a->devs[i].scope != DEV_SCOPE_NODE && model_dev_wrote(&a->devs[i]);
	state_record_remove_file(u->st, file);
	u->r->records++;
	u->r->devices += wrote - left;
	u->r->left += left;
	say(u, left > 0, "uninstall: pod %s/%s (%.12s %s): %d device(s) put back, %d left holding flowsteer's value%s%s",
	    a->pod_namespace[0] ? a->pod_namespace : "-", a->pod_name[0] ? a->pod_name : "-", a->container_id,
	    a->ifname, wrote - left, left, kv.pod_class < 0 ? "; its netns: " : "",
	    kv.pod_class < 0 ? strerror(-kv.pod_class) : "");
	if (kv.pod_class >= 0)
		close(kv.pod_class);
	return 0;
}

/* The last DEL's restore, through the host's writable sysfs. */
static void node_undo(struct uninstall *u)
{
	bool held = faccessat(u->st->dirfd, "node.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	int holders = apply_node_release(u->st, true, u->host_class);

	u->r->node_restored = held && holders == 0 && faccessat(u->st->dirfd, "node.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0;
	if (held && !u->r->node_restored)
		say(u, true, "uninstall: node devices left as they are: %d record(s) still hold them (%s)",
		    holders, u->st->dir);
}

/* Whether the stateDir holds anything to undo: a record or node.json. The
 * host's sysfs is opened only then: an agent whose node never had a tuned
 * pod (or whose writable sysfs cannot be made) has nothing to fail on. */
static bool uninstall_held(const char *state_dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	bool held = false;
	DIR *d;

	snprintf(path, sizeof(path), "%s/node.json", state_dir);
	if (access(path, F_OK) == 0)
		return true;
	snprintf(path, sizeof(path), "%s/attachments", state_dir);
	if (!(d = opendir(path)))
		return errno != ENOENT;
	while (!held && (de = readdir(d)))
		held = de->d_name[0] != '.';
	closedir(d);
	return held;
}

int uninstall_all(const char *state_dir, long long budget_ms, uninstall_say_fn fn, void *arg,
		  struct uninstall_result *r, struct fs_err *e)
{
	struct state st = STATE_INIT;
	struct uninstall u = { .st = &st, .say = fn, .arg = arg, .r = r };
	struct cpumask online;

	/* The lock would create a stateDir nobody used. */
	if (!uninstall_held(state_dir)) {
		say(&u, false, "uninstall: nothing to undo (no record, no node devices held in %s)", state_dir);
		return 0;
	}
	u.host_class = netns_host_class_open(e);
	if (u.host_class < 0)
		return -1;
	u.deadline = util_mono_ms() + budget_ms;
	u.nbits = 1;
	sysfs_cpus_online(&online, &u.nbits);
	if (state_lock(&st, state_dir, e)) {
		close(u.host_class);
		return -1;
	}
	state_records_foreach(&st, record_undo, &u);
	state_tmp_sweep(&st);
	node_undo(&u);
	say(&u, r->kept > 0 || r->left > 0,
	    "uninstall: %d record(s) undone, %d pod device(s) put back, %d left holding flowsteer's value, "
	    "%d record(s) kept%s; node devices %s",
	    r->records, r->devices, r->left, r->kept, r->timed_out ? " (time bound reached: a later DEL finds them)" : "",
	    r->node_restored ? "restored" : "not held or left");
	state_close(&st);
	close(u.host_class);
	return 0;
}

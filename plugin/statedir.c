/* The stateDir itself (docs/state.md): opening and checking it, its lock,
 * the once-per-boot sweep of another boot's state and of dead writers'
 * temp files, and the trusted read and atomic write of its JSON files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "statedir.h"
#include "sysfs.h"
#include "util.h"

#define STATE_FILE_MAX (1u << 20)
#define BOOT_FILE "boot_id"

/* ---- the directory and its lock ------------------------------------- */

/* A directory of the state, made when absent and `create`: its fd, -ENOENT
 * (absent, not created; no error), or -1 with e set. */
static int dir_open(int at, const char *path, bool create, const char *shown, struct fs_err *e)
{
	char why[96];
	int fd, ret = 0;

	if (create && mkdirat(at, path, 0700) < 0 && errno != EEXIST)
		ret = errno == ENOENT && at == AT_FDCWD ? mkdir_p(path, 0700) : -errno;
	if (ret)
		return err_set(e, CNI_ERR_IO, "stateDir %s cannot be created: %s", shown, strerror(-ret));
	fd = file_open_trusted(at, path, O_RDONLY | O_DIRECTORY, 0, why, sizeof(why));
	if (fd == -ENOENT && !create)
		return -ENOENT;
	if (fd == ERR_UNTRUSTED)
		return err_set(e, CNI_ERR_IO, "stateDir %s is not safe to use: %s", shown, why);
	if (fd < 0)
		return err_set(e, CNI_ERR_IO, "stateDir %s: %s", shown, strerror(-fd));
	return fd;
}

int state_open(struct state *st, const char *dir, bool create, struct fs_err *e)
{
	char shown[PATH_MAX];
	int fd;

	st->dirfd = st->attfd = st->lockfd = st->claimfd = -1;
	st->boot_id[0] = '\0';
	if (strlen(dir) >= sizeof(st->dir) || dir[0] != '/')
		return err_set(e, CNI_ERR_INVALID_CONFIG, "stateDir \"%.200s\" is not a usable absolute path", dir);
	strcpy(st->dir, dir);
	/* Without `create`, a directory nobody wrote yet is an empty state. */
	fd = dir_open(AT_FDCWD, dir, create, dir, e);
	if (fd < 0)
		return fd == -ENOENT ? 0 : -1;
	st->dirfd = fd;
	snprintf(shown, sizeof(shown), "%s/attachments", dir);
	fd = dir_open(st->dirfd, "attachments", create, shown, e);
	if (fd < 0)
		return fd == -ENOENT ? 0 : -1;
	st->attfd = fd;
	return 0;
}

static int lock_take(struct state *st, struct fs_err *e)
{
	char why[96];
	int ret;

	st->lockfd = file_open_trusted(st->dirfd, "lock", O_RDWR | O_CREAT, 0600, why, sizeof(why));
	if (st->lockfd == ERR_UNTRUSTED)
		return err_set(e, CNI_ERR_IO, "lock %s/lock is not safe to use: %s", st->dir, why);
	if (st->lockfd < 0)
		return err_set(e, CNI_ERR_IO, "opening lock %s/lock: %s", st->dir, strerror(-st->lockfd));
	ret = file_lock(st->lockfd, STATE_LOCK_TIMEOUT_MS);
	if (!ret)
		return 0;
	close(st->lockfd);
	st->lockfd = -1;
	if (ret == -ETIMEDOUT)
		return err_set(e, CNI_ERR_TRY_LATER, "lock %s/lock held by another invocation for over %d ms",
			       st->dir, STATE_LOCK_TIMEOUT_MS);
	return err_set(e, CNI_ERR_IO, "locking %s/lock: %s", st->dir, strerror(-ret));
}

void state_close(struct state *st)
{
	if (st->claimfd >= 0)
		close(st->claimfd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (st->attfd >= 0)
		close(st->attfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	st->claimfd = st->lockfd = st->attfd = st->dirfd = -1;
}

/* ---- files ---------------------------------------------------------- */

int statedir_json_read(int dirfd, const char *name, const char *shown, cJSON **out, struct fs_err *e)
{
	char why[96], *buf = NULL;
	size_t len = 0;
	int ret;

	ret = file_read_trusted(dirfd, name, STATE_FILE_MAX, &buf, &len, why, sizeof(why));
	if (ret == -ENOENT)
		return -ENOENT;
	if (ret == ERR_UNTRUSTED)
		return err_set(e, CNI_ERR_IO, "state file %s is not safe to use: %s", shown, why);
	if (ret)
		return err_set(e, CNI_ERR_IO, "reading state file %s: %s", shown, why);
	*out = json_parse_strict(buf, len, shown, CNI_ERR_IO, e);
	free(buf);
	if (*out && !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		err_set(e, CNI_ERR_IO, "state file %s is not a JSON object", shown);
	}
	if (!*out && e->code == CNI_ERR_DECODE)
		e->code = CNI_ERR_IO;
	return *out ? 0 : -1;
}

int statedir_json_write(int dirfd, const char *name, const char *shown, const cJSON *j, struct fs_err *e)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	int ret;

	if (!s)
		return err_set(e, CNI_ERR_IO, "serialising %s: out of memory", shown);
	ret = file_write_atomic_at(dirfd, name, s, strlen(s), 0600);
	free(s);
	if (ret)
		return err_set(e, CNI_ERR_IO, "writing %s: %s", shown, strerror(-ret));
	return 0;
}

void statedir_record_name(const char *cid, const char *ifname, bool node_ref, char *out, size_t len)
{
	snprintf(out, len, "%s@%s.%c.json", cid, ifname, node_ref ? 'n' : 'p');
}

bool statedir_record_file(const char *name, bool *node_ref)
{
	size_t len = strlen(name);

	if (len < 8 || strcmp(name + len - 5, ".json") || name[len - 7] != '.' || !strchr(name, '@'))
		return false;
	if (name[len - 6] != 'n' && name[len - 6] != 'p')
		return false;
	*node_ref = name[len - 6] == 'n';
	return true;
}

/* ---- state of another boot ------------------------------------------ */

/* The bootId of a state file ("" when it has none or cannot be read), or
 * -ENOENT. */
static int file_boot(int dirfd, const char *name, char *out, size_t len)
{
	struct fs_err ignored = { 0 };
	const cJSON *b;
	cJSON *j = NULL;
	int ret;

	out[0] = '\0';
	ret = statedir_json_read(dirfd, name, name, &j, &ignored);
	if (ret == -ENOENT)
		return ret;
	b = cJSON_GetObjectItemCaseSensitive(j, "bootId");
	if (cJSON_IsString(b))
		snprintf(out, len, "%s", b->valuestring);
	cJSON_Delete(j);
	return 0;
}

static void stale_drop(struct state *st, int dirfd, const char *name)
{
	char boot[64];

	if (file_boot(dirfd, name, boot, sizeof(boot)) || !strcmp(boot, st->boot_id))
		return;
	log_msg(LOG_LVL_INFO, "discarding %s/%s: state of another boot (%s)", st->dir, name,
		boot[0] ? boot : "no boot ID");
	unlinkat(dirfd, name, 0);
}

/* Runs once per boot: the marker says which boot last used the directory;
 * under a new one, every file of an older boot describes values the
 * reboot already reset. */
static int boot_sweep(struct state *st, struct fs_err *e)
{
	char mark[64] = "", why[128];
	struct dirent *de;
	int fd, ret;
	DIR *d;

	ret = sysfs_boot_id(st->boot_id, sizeof(st->boot_id));
	if (ret)
		return err_set(e, CNI_ERR_IO, "reading the boot ID: %s", strerror(-ret));
	/* A marker that is missing, untrusted or short means "another boot". */
	fd = file_open_trusted(st->dirfd, BOOT_FILE, O_RDONLY, 0, why, sizeof(why));
	if (fd >= 0) {
		ssize_t n = read(fd, mark, 36);

		mark[n == 36 ? 36 : 0] = '\0';
		close(fd);
	}
	if (!strcmp(mark, st->boot_id))
		return 0;
	stale_drop(st, st->dirfd, STATE_NODE_FILE);
	fd = dup(st->attfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	while (d && (de = readdir(d))) {
		bool node_ref;

		if (statedir_record_file(de->d_name, &node_ref))
			stale_drop(st, st->attfd, de->d_name);
	}
	if (d)
		closedir(d);
	ret = file_write_atomic_at(st->dirfd, BOOT_FILE, st->boot_id, 36, 0600);
	if (ret)
		return err_set(e, CNI_ERR_IO, "writing %s/%s: %s", st->dir, BOOT_FILE, strerror(-ret));
	return 0;
}

int state_lock(struct state *st, const char *dir, struct fs_err *e)
{
	if (state_open(st, dir, true, e) || lock_take(st, e) || boot_sweep(st, e)) {
		state_close(st);
		return -1;
	}
	return 0;
}


/* ---- temp files ----------------------------------------------------- */

static int sweep_fd(int dirfd, const char *dir)
{
	struct dirent *de;
	int fd = dup(dirfd), n = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!file_is_tmp(de->d_name) || unlinkat(dirfd, de->d_name, 0) < 0)
			continue;
		log_msg(LOG_LVL_INFO, "removed %s/%s, left by a writer that died before its rename", dir,
			de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

int state_tmp_sweep(struct state *st)
{
	return sweep_fd(st->dirfd, st->dir) + (st->attfd >= 0 ? sweep_fd(st->attfd, st->dir) : 0);
}

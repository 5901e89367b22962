/* The file side of chaining: read a CNI config file, edit it with the
 * pure splicer (conflist.c), write it back atomically keeping its mode and
 * owner. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conflist.h"
#include "util.h"

bool conflist_name_is_config(const char *name)
{
	const char *base = strrchr(name, '/'), *dot;

	base = base ? base + 1 : name;
	dot = strrchr(base, '.');
	return dot && (!strcmp(dot, ".conf") || !strcmp(dot, ".conflist") || !strcmp(dot, ".json"));
}

/* <base>.conflist for <base>.conf / <base>.json; other names are refused:
 * adding .conflist to them would make the runtime load a file it ignored. */
static int conflist_name(const char *path, char *out, size_t len)
{
	const char *base = strrchr(path, '/'), *dot;
	size_t stem;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	if (!dot || (strcmp(dot, ".conf") && strcmp(dot, ".json") && strcmp(dot, ".conflist")))
		return -EINVAL;
	stem = (size_t)(dot - path);
	if (stem + sizeof(".conflist") > len)
		return -ENAMETOOLONG;
	memcpy(out, path, stem);
	strcpy(out + stem, ".conflist");
	return 0;
}

static void dir_sync(const char *path)
{
	char dir[PATH_MAX];
	int fd;

	if (path_dirname(path, dir, sizeof(dir)))
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* rename() makes the new file ours; give it back to its owner (best effort:
 * only root can, and only root normally edits /etc/cni/net.d). */
static void owner_keep(const char *path, const struct stat *st)
{
	if (st->st_uid != geteuid() || st->st_gid != getegid())
		if (chown(path, st->st_uid, st->st_gid) == 0)
			chmod(path, st->st_mode & 07777);
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The converted .conflist may already be there: a crash between writing it
 * and removing the .conf. Only the identical file is accepted. */
static int conflist_write_new(const char *path, const char *data, size_t len, const struct stat *st,
			      struct fs_err *e)
{
	char *old = NULL;
	size_t oldlen = 0;
	int r;

	r = file_read_all(path, CONFLIST_MAX_SIZE, &old, &oldlen);
	if (r == 0) {
		bool same = oldlen == len && !memcmp(old, data, len);

		free(old);
		if (same)
			return 0;
		return err_set(e, CNI_ERR_IO, "%s already exists with other content; "
			       "not replacing it with the converted .conf", path);
	}
	if (r != -ENOENT)
		return err_set(e, CNI_ERR_IO, "reading %s: %s", path, strerror(-r));
	r = file_write_atomic(path, data, len, st->st_mode & 07777);
	if (r)
		return err_set(e, CNI_ERR_IO, "writing %s: %s", path, strerror(-r));
	owner_keep(path, st);
	return 0;
}

/* The file to edit, opened and read: FILE.conf asked for again after it
 * became FILE.conflist is followed there; a symlink to its target. */
struct conf_file {
	char use[PATH_MAX];       /* the path as given (or redirected) */
	char real[PATH_MAX];      /* the file behind it */
	struct stat lst, st;
	char *buf;
	size_t len;
};

static int conf_read(const char *path, struct conf_file *f, struct conflist_file_result *res,
		     struct fs_err *e)
{
	char newpath[PATH_MAX];
	int fd, r;

	if (snprintf(f->use, sizeof(f->use), "%s", path) >= (int)sizeof(f->use))
		return err_set(e, CNI_ERR_IO, "path too long: %.100s...", path);
	if (lstat(f->use, &f->lst) < 0) {
		r = -errno;
		if (r != -ENOENT || conflist_name(path, newpath, sizeof(newpath)) ||
		    !strcmp(newpath, path) || lstat(newpath, &f->lst) < 0)
			return err_set(e, CNI_ERR_IO, "%s: %s", path, strerror(-r));
		strcpy(f->use, newpath);
		res->redirected = true;
	}
	snprintf(res->path, sizeof(res->path), "%s", f->use);
	if (!realpath(f->use, f->real))
		return err_set(e, CNI_ERR_IO, "%s: %s", f->use, strerror(errno));
	fd = open(f->real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return err_set(e, CNI_ERR_IO, "%s: %s", f->use, strerror(errno));
	r = fstat(fd, &f->st) < 0 ? -errno : 0;
	if (!r && !S_ISREG(f->st.st_mode)) {
		close(fd);
		return err_set(e, CNI_ERR_IO, "%s: not a regular file", f->use);
	}
	if (!r)
		r = file_read_fd(fd, CONFLIST_MAX_SIZE, &f->buf, &f->len);
	close(fd);
	if (r)
		return err_set(e, CNI_ERR_IO, "%s: %s", f->use,
			       r == -EFBIG ? "larger than 4 MiB, not a CNI config" : strerror(-r));
	return 0;
}

/* A .conf that became a conflist gets the .conflist name; a symlink to a
 * .conf cannot be converted in place. */
static int conf_rename(struct conf_file *f, struct conflist_file_result *res, char *newpath,
		       size_t len, struct fs_err *e)
{
	if (S_ISLNK(f->lst.st_mode))
		return err_set(e, CNI_ERR_IO, "%s: a symlink to a single-plugin config; "
			       "turn its target into a .conflist first", f->use);
	if (conflist_name(f->use, newpath, len))
		return err_set(e, CNI_ERR_IO, "%s: a single-plugin config must be named *.conf or "
			       "*.json to become a .conflist", f->use);
	if (strcmp(newpath, f->use)) {
		snprintf(res->removed, sizeof(res->removed), "%s", f->use);
		snprintf(res->path, sizeof(res->path), "%s", newpath);
	}
	return 0;
}

static int conf_commit(struct conf_file *f, const char *out, size_t outlen, const char *newpath,
		       const struct conflist_file_result *res, struct fs_err *e)
{
	struct stat now;
	int r;

	/* Another writer (Calico's installer) between our read and now: its
	 * version must win, so start over rather than overwrite it. */
	if (stat(f->real, &now) < 0 || !same_file_state(&f->st, &now))
		return err_set(e, CNI_ERR_TRY_LATER, "%s changed while it was being edited; try again", f->use);
	if (!res->removed[0]) {
		r = file_write_atomic(f->real, out, outlen, f->st.st_mode & 07777);
		if (r)
			return err_set(e, CNI_ERR_IO, "writing %s: %s", f->use, strerror(-r));
		owner_keep(f->real, &f->st);
		return 0;
	}
	if (conflist_write_new(newpath, out, outlen, &f->st, e))
		return -1;
	if (unlink(f->use) < 0 && errno != ENOENT)
		return err_set(e, CNI_ERR_IO, "%s is in place but removing %s failed: %s; remove it by hand",
			       newpath, f->use, strerror(errno));
	dir_sync(f->use);
	return 0;
}

int conflist_file_edit(const char *path, enum conflist_op op, const cJSON *entry, bool dry_run,
		       struct conflist_file_result *res, struct fs_err *e)
{
	struct conf_file f = { 0 };
	struct fs_err le = { 0 };
	char newpath[PATH_MAX] = "", *out = NULL;
	size_t outlen = 0;
	bool converted = false;
	int ret;

	memset(res, 0, sizeof(*res));
	if (conf_read(path, &f, res, e))
		return -1;
	if (op == CONFLIST_OP_INSERT)
		ret = conflist_insert(f.buf, f.len, entry, &out, &outlen, &converted, &le);
	else
		ret = conflist_remove(f.buf, f.len, &out, &outlen, &le);
	if (ret < 0)
		err_set(e, le.code, "%s: %s; file left unchanged", f.use, le.msg);
	if (ret != 0)
		goto out;
	res->changed = true;
	ret = converted ? conf_rename(&f, res, newpath, sizeof(newpath), e) : 0;
	if (!ret && dry_run) {
		res->content = out;
		res->content_len = outlen;
		out = NULL;
	} else if (!ret) {
		ret = conf_commit(&f, out, outlen, newpath, res, e);
	}
out:
	free(f.buf);
	free(out);
	return ret < 0 ? -1 : 0;
}

int conflist_pick(const char *dir, char *out, size_t len, struct fs_err *e)
{
	char best[NAME_MAX + 1] = "";
	struct dirent *de;
	DIR *d;

	out[0] = '\0';
	d = opendir(dir);
	if (!d)
		return err_set(e, CNI_ERR_IO, "CNI config directory %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		unsigned char type = de->d_type;

		if (!conflist_name_is_config(de->d_name))
			continue;
		if (type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
		}
		/* libcni skips directories only; a symlink counts. */
		if (type == DT_DIR)
			continue;
		if (!best[0] || strcmp(de->d_name, best) < 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	}
	closedir(d);
	if (best[0] && snprintf(out, len, "%s/%s", dir, best) >= (int)len) {
		out[0] = '\0';
		return err_set(e, CNI_ERR_IO, "CNI config path too long: %s/%s", dir, best);
	}
	return 0;
}

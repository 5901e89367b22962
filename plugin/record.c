/* Records and node.json in the stateDir: their names, and the model they
 * hold read and written through the one serializer (model_json.h). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_json.h"
#include "statedir.h"
#include "sysfs.h"

int state_record_write(struct state *st, const struct attachment *a, struct fs_err *e)
{
	char name[320], shown[PATH_MAX + 320];
	cJSON *j = model_json_attachment(a);
	int ret;

	statedir_record_name(a->container_id, a->ifname, a->node_ref, name, sizeof(name));
	snprintf(shown, sizeof(shown), "%s/attachments/%s", st->dir, name);
	ret = statedir_json_write(st->attfd, name, shown, j, e);
	cJSON_Delete(j);
	if (ret)
		return -1;
	/* A retried ADD may change whether it holds a node reference. */
	statedir_record_name(a->container_id, a->ifname, !a->node_ref, name, sizeof(name));
	unlinkat(st->attfd, name, 0);
	return 0;
}

static int record_load(struct state *st, const char *name, struct attachment *a, struct fs_err *e)
{
	char shown[PATH_MAX + 320];
	cJSON *j = NULL;
	int ret;

	snprintf(shown, sizeof(shown), "%s/attachments/%s", st->dir, name);
	ret = statedir_json_read(st->attfd, name, shown, &j, e);
	if (ret)
		return ret;
	ret = model_json_attachment_parse(j, shown, a, e);
	cJSON_Delete(j);
	if (!ret && st->boot_id[0] && strcmp(a->boot_id, st->boot_id))
		return -ESTALE;
	return ret;
}

int state_record_read(struct state *st, const char *cid, const char *ifname,
		      struct attachment *a, struct fs_err *e)
{
	char name[320];
	int ret;

	if (st->attfd < 0)
		return -ENOENT;
	statedir_record_name(cid, ifname, true, name, sizeof(name));
	ret = record_load(st, name, a, e);
	if (ret == -ENOENT) {
		statedir_record_name(cid, ifname, false, name, sizeof(name));
		ret = record_load(st, name, a, e);
	}
	return ret == -ESTALE ? -ENOENT : ret;
}

void state_record_remove(struct state *st, const char *cid, const char *ifname)
{
	char name[320];

	statedir_record_name(cid, ifname, true, name, sizeof(name));
	unlinkat(st->attfd, name, 0);
	statedir_record_name(cid, ifname, false, name, sizeof(name));
	unlinkat(st->attfd, name, 0);
}

int state_record_remove_file(struct state *st, const char *file)
{
	bool node_ref;

	if (strchr(file, '/') || !statedir_record_file(file, &node_ref))
		return -EINVAL;
	return unlinkat(st->attfd, file, 0) < 0 ? -errno : 0;
}

static int records_list(struct state *st, struct dirent ***list)
{
	int n;

	if (st->attfd < 0)
		return 0;
	n = scandirat(st->attfd, ".", list, NULL, alphasort);
	return n < 0 ? -errno : n;
}

int state_holders(struct state *st)
{
	struct dirent **list = NULL;
	int n = records_list(st, &list), holders = 0;

	for (int i = 0; i < n; i++) {
		bool node_ref;

		if (statedir_record_file(list[i]->d_name, &node_ref) && node_ref)
			holders++;
		free(list[i]);
	}
	free(list);
	return n < 0 ? n : holders;
}

int state_records_foreach(struct state *st, state_record_fn fn, void *arg)
{
	struct dirent **list = NULL;
	int n = records_list(st, &list), ret = 0;

	if (n > 0 && !st->boot_id[0] && sysfs_boot_id(st->boot_id, sizeof(st->boot_id)))
		st->boot_id[0] = '\0';
	for (int i = 0; i < n; i++) {
		struct fs_err err = { 0 };
		struct attachment *a;
		bool node_ref;
		int r;

		if (!ret && statedir_record_file(list[i]->d_name, &node_ref) && (a = attachment_new())) {
			r = record_load(st, list[i]->d_name, a, &err);
			if (r != -ESTALE && r != -ENOENT)
				ret = fn(list[i]->d_name, r ? NULL : a, &err, arg);
			attachment_free(a);
		}
		free(list[i]);
	}
	free(list);
	return n < 0 ? n : ret;
}


int state_node_read(struct state *st, struct node_state *n, struct fs_err *e)
{
	char shown[PATH_MAX];
	cJSON *j = NULL;
	int ret;

	node_state_init(n);
	if (st->dirfd < 0)
		return -ENOENT;
	snprintf(shown, sizeof(shown), "%s/" STATE_NODE_FILE, st->dir);
	ret = statedir_json_read(st->dirfd, STATE_NODE_FILE, shown, &j, e);
	if (ret)
		return ret;
	ret = model_json_node_parse(j, shown, n, e);
	cJSON_Delete(j);
	if (!ret && st->boot_id[0] && strcmp(n->boot_id, st->boot_id)) {
		node_state_clear(n);
		return -ENOENT;
	}
	if (ret)
		node_state_clear(n);
	return ret;
}

int state_node_write(struct state *st, const struct node_state *n, struct fs_err *e)
{
	char shown[PATH_MAX];
	cJSON *j = model_json_node(n);
	int ret;

	snprintf(shown, sizeof(shown), "%s/" STATE_NODE_FILE, st->dir);
	ret = statedir_json_write(st->dirfd, STATE_NODE_FILE, shown, j, e);
	cJSON_Delete(j);
	return ret;
}

void state_node_remove(struct state *st)
{
	unlinkat(st->dirfd, STATE_NODE_FILE, 0);
}

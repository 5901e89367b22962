/* CNI GC (1.1): drop records of attachments the runtime no longer knows,
 * then restore the node when nothing holds it any more. */
#include <string.h>

#include "apply.h"
#include "cmd.h"
#include "log.h"
#include "state.h"

struct gc_walk {
	struct state *st;
	const cJSON *valid;
	const char *network;
	int dropped;
};

static bool gc_valid(const cJSON *valid, const char *cid, const char *ifname)
{
	const cJSON *it;

	/* config.c checked every entry: {containerID, ifname} strings. */
	cJSON_ArrayForEach(it, valid) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "containerID");
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(it, "ifname");

		if (!strcmp(c->valuestring, cid) && !strcmp(i->valuestring, ifname))
			return true;
	}
	return false;
}

static int gc_visit(const char *file, struct attachment *a, const struct fs_err *err, void *arg)
{
	struct gc_walk *w = arg;

	/* Another network's records sharing this stateDir are not ours to judge. */
	if (a && w->network[0] && a->network[0] && strcmp(a->network, w->network))
		return 0;
	if (a && gc_valid(w->valid, a->container_id, a->ifname))
		return 0;
	log_msg(LOG_LVL_INFO, "gc: dropping record %s (%s)", file,
		a ? "not a valid attachment" : err->msg);
	state_record_remove_file(w->st, file);
	w->dropped++;
	return 0;
}

int cni_gc(struct cni_ctx *ctx, struct fs_err *e)
{
	const struct fs_config *cfg = &ctx->cfg;
	struct state st = STATE_INIT;
	struct gc_walk w = { .st = &st, .network = cfg->name };
	int holders;

	if (ctx->config_err.code) {
		*e = ctx->config_err;
		return -1;
	}
	if (!cfg->valid_attachments)
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "GC needs \"cni.dev/valid-attachments\" (a list of {containerID, ifname})");
	w.valid = cfg->valid_attachments;
	if (state_lock(&st, cfg->state_dir, e))
		return -1;
	state_records_foreach(&st, gc_visit, &w);
	state_tmp_sweep(&st);
	holders = apply_node_release(&st, cfg->restore_on_last_del, -1);
	log_msg(LOG_LVL_INFO, "gc: dropped %d record(s); %d left holding node devices", w.dropped,
		holders < 0 ? 0 : holders);
	state_close(&st);
	return 0;
}

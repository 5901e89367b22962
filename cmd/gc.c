/* CNI GC (1.1): drop records of attachments the runtime no longer knows. */
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "state.h"
#include "tune.h"

struct gc_walk {
	struct state *st;
	const cJSON *valid;
	const char *network;
	int dropped;
};

static bool gc_valid(const cJSON *valid, const char *cid, const char *ifname)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, valid) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "containerID");
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(it, "ifname");

		if (cJSON_IsString(c) && !strcmp(c->valuestring, cid) &&
		    (!cJSON_IsString(i) || !strcmp(i->valuestring, ifname)))
			return true;
	}
	return false;
}

static int gc_visit(const char *file, const cJSON *rec, bool node_ref, void *arg)
{
	struct gc_walk *w = arg;
	const cJSON *cid = cJSON_GetObjectItemCaseSensitive(rec, "containerId");
	const cJSON *ifn = cJSON_GetObjectItemCaseSensitive(rec, "ifname");
	const cJSON *net = cJSON_GetObjectItemCaseSensitive(rec, "network");

	/* Another network's records sharing this stateDir are not ours to judge. */
	if (cJSON_IsString(net) && w->network[0] && strcmp(net->valuestring, w->network))
		return 0;
	if (cJSON_IsString(cid) && cJSON_IsString(ifn) &&
	    gc_valid(w->valid, cid->valuestring, ifn->valuestring))
		return 0;
	log_msg(LOG_LVL_INFO, "gc: dropping record %s (not a valid attachment)", file);
	state_record_remove_file(w->st, file);
	w->dropped++;
	return 0;
}

int cni_gc(struct cni_ctx *ctx, struct fs_err *e)
{
	const struct fs_config *cfg = &ctx->cfg;
	struct state st = { .lockfd = -1 };
	struct gc_walk w = { .st = &st, .network = cfg->name };
	int refs;

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
	refs = tune_node_release(&st, cfg->restore_on_last_del);
	log_msg(LOG_LVL_INFO, "gc: dropped %d record(s); %d left holding node devices", w.dropped,
		refs < 0 ? 0 : refs);
	state_unlock(&st);
	return 0;
}

/* Verb tables: CNI verbs (CNI_COMMAND) and the human CLI. */
#ifndef FLOWSTEER_CMD_H
#define FLOWSTEER_CMD_H

#include <cjson/cJSON.h>

#include "cni.h"
#include "config.h"
#include "err.h"

/* Everything a CNI verb gets; *out is the JSON main prints on success. */
struct cni_ctx {
	struct cni_env env;
	struct fs_config cfg;
	char *stdin_buf;
	size_t stdin_len;
	cJSON *out;
	/* LENIENT verbs (DEL, GC) run even when the config did not parse. */
	struct fs_err config_err;
};

/* Prints ctx->out on stdout and frees it; code 5 when it cannot be written. */
int cni_result_deliver(struct cni_ctx *ctx, struct fs_err *e);

int cni_add(struct cni_ctx *ctx, struct fs_err *e);
int cni_del(struct cni_ctx *ctx, struct fs_err *e);
int cni_check(struct cni_ctx *ctx, struct fs_err *e);
int cni_status(struct cni_ctx *ctx, struct fs_err *e);
int cni_gc(struct cni_ctx *ctx, struct fs_err *e);

/* CLI verbs: return the process exit code. */
int cli_version(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_conflist(int argc, char **argv);
int cli_reset(int argc, char **argv);

#endif

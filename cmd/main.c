/*
 * flowsteer: a CNI chained plugin that enables RPS/RFS for each pod.
 * main() alone prints the CNI error JSON and picks the exit code.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caps.h"
#include "cmd.h"
#include "log.h"
#include "procstate.h"
#include "util.h"

/* Every verb but VERSION reads stdin and the configuration. */
enum {
	LENIENT_CONFIG = 1 << 10,
	NEED_PRIV = 1 << 11,
	NEED_DAC = 1 << 12,   /* writes sysfs files a user namespace may own */
};

static const struct cni_verb {
	const char *name;
	int (*fn)(struct cni_ctx *ctx, struct fs_err *e);
	unsigned flags;
	const char *since;	/* first cniVersion that has the verb */
} cni_verbs[] = {
	{ "ADD", cni_add, NEED_PRIV | NEED_DAC | CNI_NEED_CONTAINERID | CNI_NEED_IFNAME | CNI_NEED_NETNS, NULL },
	/* DEL must clean up even when the config no longer parses. */
	{ "DEL", cni_del, LENIENT_CONFIG | NEED_PRIV | CNI_NEED_CONTAINERID | CNI_NEED_IFNAME, NULL },
	{ "CHECK", cni_check, NEED_PRIV | CNI_NEED_CONTAINERID | CNI_NEED_IFNAME | CNI_NEED_NETNS, "0.4.0" },
	{ "VERSION", NULL, 0, NULL },
	{ "STATUS", cni_status, 0, "1.1.0" },
	{ "GC", cni_gc, LENIENT_CONFIG | NEED_PRIV, "1.1.0" },
};

static const struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} cli_cmds[] = {
	{ "version", cli_version, "version" },
	{ "status", cli_status, "status [--json] [--state-dir DIR] [--cpu-manager-state FILE]" },
	{ "reset", cli_reset, "reset [--state-dir DIR]" },
	{ "conflist", cli_conflist, "conflist insert FILE [--entry JSON] [--dry-run] | conflist remove FILE [--dry-run]" },
};

static void usage(FILE *f)
{
	fprintf(f, "flowsteer %s: CNI chained plugin that enables RPS/RFS per pod\n\n"
		   "As a CNI plugin: run by the container runtime with CNI_COMMAND set.\n"
		   "Commands:\n", FLOWSTEER_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds); i++)
		fprintf(f, "  flowsteer %s\n", cli_cmds[i].usage);
}

static int cli_main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds); i++)
		if (!strcmp(argv[1], cli_cmds[i].name))
			return cli_cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "flowsteer: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}

/* VERSION: the reply in the cniVersion asked for, when the input parses. */
static cJSON *cni_version(void)
{
	struct fs_err ignored = { 0 };
	char version[16] = "";
	struct fs_config c;
	size_t len = 0;
	char *buf = NULL;

	if (!isatty(STDIN_FILENO) && cni_stdin_read(STDIN_FILENO, &buf, &len, &ignored) == 0) {
		if (config_parse(buf, len, &c, &ignored) == 0)
			snprintf(version, sizeof(version), "%s", c.cni_version);
		config_free(&c);
	}
	free(buf);
	return cni_version_reply(version[0] ? version : NULL);
}

/* stdin and the configuration as the verb needs them. LENIENT verbs (DEL,
 * GC) go on with the paths alone when the rest does not parse: the verb
 * sees the error in ctx->config_err and decides. */
static int cni_input(const struct cni_verb *verb, const char *command, struct cni_ctx *ctx,
		     struct fs_err *e)
{
	if (cni_stdin_read(STDIN_FILENO, &ctx->stdin_buf, &ctx->stdin_len, e))
		return -1;
	if (config_parse(ctx->stdin_buf, ctx->stdin_len, &ctx->cfg, &ctx->config_err)) {
		if (!(verb->flags & LENIENT_CONFIG)) {
			*e = ctx->config_err;
			return -1;
		}
		config_free(&ctx->cfg);
		config_defaults(&ctx->cfg);
		config_parse_paths(ctx->stdin_buf, ctx->stdin_len, &ctx->cfg);
	}
	if (verb->since && ctx->cfg.cni_version[0] && cni_version_cmp(ctx->cfg.cni_version, verb->since) < 0)
		return err_set(e, CNI_ERR_INCOMPATIBLE_VERSION, "cniVersion %s does not allow %s (needs %s or later)",
			       ctx->cfg.cni_version, command, verb->since);
	return 0;
}

static const struct cni_verb *cni_verb_find(const char *command, struct fs_err *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(cni_verbs); i++)
		if (!strcmp(command, cni_verbs[i].name))
			return &cni_verbs[i];
	err_set(e, CNI_ERR_INVALID_ENV,
		"CNI_COMMAND \"%.40s\" is not supported (ADD, DEL, CHECK, VERSION, STATUS, GC)", command);
	return NULL;
}

/* The result, once, on stdout. One that cannot be written (stdout a full
 * disk, a pipe nobody reads: SIGPIPE is ignored) is an error. */
int cni_result_deliver(struct cni_ctx *ctx, struct fs_err *e)
{
	int ret;

	if (!ctx->out)
		return 0;
	ret = cni_json_print(stdout, ctx->out);
	cJSON_Delete(ctx->out);
	ctx->out = NULL;
	if (ret)
		return err_set(e, CNI_ERR_IO, "writing the result to stdout: %s", strerror(-ret));
	return 0;
}

/* main.c alone prints: the error JSON, or the verb's result. */
static int cni_finish(struct cni_ctx *ctx, const char *command, int ret, struct fs_err *e)
{
	if (!e->code && !ret)
		ret = cni_result_deliver(ctx, e);
	if (e->code || ret) {
		if (!e->code)
			err_set(e, CNI_ERR_IO, "%s failed", command);
		log_msg(LOG_LVL_ERROR, "code %d: %s", e->code, e->msg);
		cni_error_print(stdout, ctx->cfg.cni_version[0] ? ctx->cfg.cni_version : NULL, e);
		ret = 1;
	}
	cJSON_Delete(ctx->out);
	config_free(&ctx->cfg);
	free(ctx->stdin_buf);
	log_close();
	return ret;
}

/* A runtime that closed stdout cannot be told what ADD did: it is
 * refused before anything changes (fd 1 is /dev/null by then). */
static int cni_stdout_check(const char *command, bool stdout_closed, struct fs_err *e)
{
	if (stdout_closed && !strcmp(command, "ADD"))
		return err_set(e, CNI_ERR_IO, "stdout is closed: the ADD result could not be delivered; nothing done");
	return 0;
}

static int cni_main(const char *command, bool stdout_closed)
{
	const struct cni_verb *verb;
	struct cni_ctx ctx = { 0 };
	struct fs_err e = { 0 };
	int ret = 0;

	config_defaults(&ctx.cfg);
	verb = cni_verb_find(command, &e);
	/* Privileges first: nothing else runs with more than it needs. */
	if (!verb || caps_drop(verb->flags & NEED_PRIV, verb->flags & NEED_DAC, &e))
		return cni_finish(&ctx, command, -1, &e);
	if (!verb->fn) {
		ctx.out = cni_version();
		return cni_finish(&ctx, command, 0, &e);
	}
	if (cni_input(verb, command, &ctx, &e))
		return cni_finish(&ctx, command, -1, &e);
	log_open(ctx.cfg.log_file, ctx.cfg.log_level);
	ret = cni_stdout_check(command, stdout_closed, &e) || cni_env_read(&ctx.env, verb->flags & 0xff, &e);
	log_set_context(command, ret ? getenv("CNI_CONTAINERID") : ctx.env.container_id);
	if (!ret)
		ret = verb->fn(&ctx, &e);
	return cni_finish(&ctx, command, ret, &e);
}

int main(int argc, char **argv)
{
	const char *command = getenv("CNI_COMMAND");
	bool cni = command && *command;
	unsigned closed = procstate_reset(cni);

	if (cni)
		return cni_main(command, closed & (1u << STDOUT_FILENO));
	/* Human CLI: runs with what the user has; nothing escalates. */
	return cli_main(argc, argv);
}

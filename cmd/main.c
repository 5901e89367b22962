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

enum { NEED_STDIN = 1 << 8, NEED_CONFIG = 1 << 9, LENIENT_CONFIG = 1 << 10, NEED_PRIV = 1 << 11 };

static const struct cni_verb {
	const char *name;
	int (*fn)(struct cni_ctx *ctx, struct fs_err *e);
	unsigned flags;
	const char *since;	/* first cniVersion that has the verb */
} cni_verbs[] = {
	{ "ADD", cni_add, NEED_STDIN | NEED_CONFIG | NEED_PRIV | CNI_NEED_CONTAINERID | CNI_NEED_IFNAME | CNI_NEED_NETNS, NULL },
	/* DEL must clean up even when the config no longer parses. */
	{ "DEL", cni_del, NEED_STDIN | LENIENT_CONFIG | NEED_PRIV | CNI_NEED_CONTAINERID | CNI_NEED_IFNAME, NULL },
	{ "CHECK", cni_check, NEED_STDIN | NEED_CONFIG | NEED_PRIV | CNI_NEED_CONTAINERID | CNI_NEED_IFNAME | CNI_NEED_NETNS, "0.4.0" },
	{ "VERSION", NULL, 0, NULL },
	{ "STATUS", cni_status, NEED_STDIN | NEED_CONFIG, "1.1.0" },
	{ "GC", cni_gc, NEED_STDIN | LENIENT_CONFIG | NEED_PRIV, "1.1.0" },
};

static const struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} cli_cmds[] = {
	{ "version", cli_version, "version" },
	{ "status", cli_status, "status [--json] [--state-dir DIR]" },
	{ "conflist", cli_conflist, "conflist insert FILE [--entry JSON] [--dry-run] | conflist remove FILE [--dry-run]" },
};

static void usage(FILE *f)
{
	fprintf(f, "flowsteer %s: CNI chained plugin that enables RPS/RFS per pod\n\n"
		   "As a CNI plugin: run by the container runtime with CNI_COMMAND set.\n"
		   "Commands:\n", FLOWSTEER_VERSION);
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		fprintf(f, "  flowsteer %s\n", cli_cmds[i].usage);
}

static int cli_main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		if (!strcmp(argv[1], cli_cmds[i].name))
			return cli_cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "flowsteer: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}

static int cni_main(const char *command)
{
	const struct cni_verb *verb = NULL;
	struct cni_ctx ctx = { 0 };
	struct fs_err e = { 0 };
	int ret = 0;

	config_defaults(&ctx.cfg);
	for (size_t i = 0; i < sizeof(cni_verbs) / sizeof(cni_verbs[0]); i++)
		if (!strcmp(command, cni_verbs[i].name))
			verb = &cni_verbs[i];
	if (!verb) {
		err_set(&e, CNI_ERR_INVALID_ENV,
			"CNI_COMMAND \"%.40s\" is not supported (ADD, DEL, CHECK, VERSION, STATUS, GC)", command);
		goto out;
	}
	/* Privileges first: nothing else runs with more than it needs. */
	if (caps_drop(verb->flags & NEED_PRIV, &e))
		goto out;
	if (verb->flags & NEED_STDIN) {
		if (cni_stdin_read(STDIN_FILENO, &ctx.stdin_buf, &ctx.stdin_len, &e))
			goto out;
	} else if (!verb->fn) {
		/* VERSION: reply in the cniVersion asked for when it parses. */
		char *buf = NULL;
		size_t len = 0;
		struct fs_err ignored = { 0 };

		if (!isatty(STDIN_FILENO) && cni_stdin_read(STDIN_FILENO, &buf, &len, &ignored) == 0) {
			struct fs_config c;

			if (config_parse(buf, len, &c, &ignored) == 0)
				snprintf(ctx.cfg.cni_version, sizeof(ctx.cfg.cni_version), "%s", c.cni_version);
			config_free(&c);
		}
		free(buf);
		ctx.out = cni_version_reply(ctx.cfg.cni_version);
		goto out;
	}
	if (verb->flags & (NEED_CONFIG | LENIENT_CONFIG)) {
		if (config_parse(ctx.stdin_buf, ctx.stdin_len, &ctx.cfg, &ctx.config_err)) {
			if (!(verb->flags & LENIENT_CONFIG)) {
				e = ctx.config_err;
				goto out;
			}
			/* Keep the paths so DEL/GC still find state and log; the
			 * verb sees the parse error in ctx.config_err and decides. */
			config_free(&ctx.cfg);
			config_defaults(&ctx.cfg);
			config_parse_paths(ctx.stdin_buf, ctx.stdin_len, &ctx.cfg);
		}
	}
	if (verb->since && ctx.cfg.cni_version[0] &&
	    cni_version_cmp(ctx.cfg.cni_version, verb->since) < 0) {
		err_set(&e, CNI_ERR_INCOMPATIBLE_VERSION, "cniVersion %s does not allow %s (needs %s or later)",
			ctx.cfg.cni_version, command, verb->since);
		goto out;
	}
	log_open(ctx.cfg.log_file, ctx.cfg.log_level);
	if (cni_env_read(&ctx.env, verb->flags & 0xff, &e)) {
		log_set_context(command, getenv("CNI_CONTAINERID"));
		goto out;
	}
	log_set_context(command, ctx.env.container_id);
	ret = verb->fn(&ctx, &e);
out:
	if (e.code || ret) {
		if (!e.code)
			err_set(&e, CNI_ERR_IO, "%s failed", command);
		log_msg(LOG_LVL_ERROR, "code %d: %s%s%s", e.code, e.msg, e.details[0] ? ": " : "", e.details);
		cni_error_print(stdout, ctx.cfg.cni_version[0] ? ctx.cfg.cni_version : NULL, &e);
		ret = 1;
	} else if (ctx.out) {
		if (cni_json_print(stdout, ctx.out))
			ret = 1;
	}
	cJSON_Delete(ctx.out);
	config_free(&ctx.cfg);
	free(ctx.stdin_buf);
	log_close();
	return ret;
}

int main(int argc, char **argv)
{
	const char *command = getenv("CNI_COMMAND");

	if (command && *command)
		return cni_main(command);
	/* Human CLI: runs with what the user has; nothing escalates. */
	return cli_main(argc, argv);
}

/*
 * flowsteer conflist insert FILE [--entry JSON] [--dry-run]
 * flowsteer conflist remove FILE [--dry-run]
 *
 * Exit codes: 0 done (or nothing to do), 1 error, 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "conflist.h"

static void conflist_usage(FILE *f)
{
	fprintf(f,
		"usage: flowsteer conflist insert FILE [--entry JSON] [--dry-run]\n"
		"       flowsteer conflist remove FILE [--dry-run]\n"
		"\n"
		"Chains flowsteer into a CNI config file (after \"calico\", else last) or takes\n"
		"it out. Idempotent; the file is replaced atomically, keeping its mode; a\n"
		"single-plugin .conf becomes FILE.conflist. --dry-run prints the new file\n"
		"on stdout and writes nothing.\n"
		"Default entry: %s\n", CONFLIST_DEFAULT_ENTRY);
}

struct conflist_args {
	enum conflist_op op;
	const char *entry_json;
	const char *file;
	bool dry_run;
};

/* Usage errors exit 2 after the message and the usage. */
static int usage_error(const char *msg)
{
	fprintf(stderr, "flowsteer conflist: %s\n", msg);
	conflist_usage(stderr);
	return 2;
}

/* Returns -1 when the arguments are good, else the exit code. GNU getopt
 * permutes: options may come before or after the action and FILE. */
static int conflist_args(int argc, char **argv, struct conflist_args *a)
{
	static const struct option opts[] = {
		{ "entry", required_argument, NULL, 'e' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char msg[160];
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "e:nh", opts, NULL)) != -1) {
		if (c == 'e')
			a->entry_json = optarg;
		else if (c == 'n')
			a->dry_run = true;
		else if (c == 'h')
			return conflist_usage(stdout), 0;
		else
			return snprintf(msg, sizeof(msg), "bad option \"%.80s\"", argv[optind - 1]), usage_error(msg);
	}
	if (optind >= argc)
		return usage_error("needs an action (insert, remove) and a FILE");
	if (strcmp(argv[optind], "insert") && strcmp(argv[optind], "remove"))
		return snprintf(msg, sizeof(msg), "unknown action \"%.80s\" (insert, remove)", argv[optind]),
		       usage_error(msg);
	a->op = strcmp(argv[optind], "insert") ? CONFLIST_OP_REMOVE : CONFLIST_OP_INSERT;
	if (argc - optind != 2)
		return snprintf(msg, sizeof(msg), "%s: needs exactly one FILE (got %d)", argv[optind],
				argc - optind - 1), usage_error(msg);
	a->file = argv[optind + 1];
	if (a->op == CONFLIST_OP_REMOVE && a->entry_json) {
		fprintf(stderr, "flowsteer conflist remove: --entry only goes with insert\n");
		return 2;
	}
	return -1;
}

static int conflist_report(const struct conflist_args *a, struct conflist_file_result *res)
{
	if (res->redirected)
		fprintf(stderr, "flowsteer conflist: %s is gone; editing %s, which it became\n", a->file, res->path);
	if (a->dry_run) {
		if (res->content)
			fwrite(res->content, 1, res->content_len, stdout);
		fprintf(stderr, "flowsteer conflist: dry run: %s %s\n", res->path,
			!res->changed ? "would not change" :
			res->removed[0] ? "would replace the .conf" : "would change");
		free(res->content);
	} else if (!res->changed) {
		printf("%s: unchanged (%s)\n", res->path,
		       a->op == CONFLIST_OP_INSERT ? "flowsteer already chained" : "no flowsteer entry");
	} else if (res->removed[0]) {
		printf("%s: created from %s (removed) with flowsteer chained\n", res->path, res->removed);
	} else {
		printf("%s: flowsteer %s\n", res->path, a->op == CONFLIST_OP_INSERT ? "chained" : "entry removed");
	}
	return fflush(stdout) ? 1 : 0;
}

int cli_conflist(int argc, char **argv)
{
	struct conflist_args a = { 0 };
	struct conflist_file_result res;
	struct fs_err e = { 0 };
	cJSON *entry = NULL;
	int ret = conflist_args(argc, argv, &a);

	if (ret >= 0)
		return ret;
	if (a.op == CONFLIST_OP_INSERT && conflist_entry_parse(a.entry_json, &entry, &e)) {
		fprintf(stderr, "flowsteer conflist: --entry: %s\n", e.msg);
		return 1;
	}
	ret = conflist_file_edit(a.file, a.op, entry, a.dry_run, &res, &e);
	cJSON_Delete(entry);
	if (ret) {
		fprintf(stderr, "flowsteer conflist: %s\n", e.msg);
		return 1;
	}
	return conflist_report(&a, &res);
}

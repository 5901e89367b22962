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

int cli_conflist(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "entry", required_argument, NULL, 'e' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct conflist_file_result res;
	struct fs_err e = { 0 };
	enum conflist_op op;
	const char *entry_json = NULL, *file;
	bool dry_run = false;
	cJSON *entry = NULL;
	int c, ret;

	/* GNU getopt permutes: options may come before or after the verb and FILE. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "e:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			entry_json = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'h':
			conflist_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "flowsteer conflist: bad option \"%s\"\n", argv[optind - 1]);
			conflist_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "flowsteer conflist: needs an action (insert, remove) and a FILE\n");
		conflist_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "insert")) {
		op = CONFLIST_OP_INSERT;
	} else if (!strcmp(argv[optind], "remove")) {
		op = CONFLIST_OP_REMOVE;
	} else {
		fprintf(stderr, "flowsteer conflist: unknown action \"%s\" (insert, remove)\n", argv[optind]);
		conflist_usage(stderr);
		return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "flowsteer conflist %s: needs exactly one FILE (got %d)\n", argv[optind],
			argc - optind - 1);
		conflist_usage(stderr);
		return 2;
	}
	file = argv[optind + 1];
	if (op == CONFLIST_OP_REMOVE && entry_json) {
		fprintf(stderr, "flowsteer conflist remove: --entry only goes with insert\n");
		return 2;
	}
	if (op == CONFLIST_OP_INSERT && conflist_entry_parse(entry_json, &entry, &e)) {
		fprintf(stderr, "flowsteer conflist: --entry: %s\n", e.msg);
		return 1;
	}
	ret = conflist_file_edit(file, op, entry, dry_run, &res, &e);
	cJSON_Delete(entry);
	if (ret) {
		fprintf(stderr, "flowsteer conflist: %s\n", e.msg);
		return 1;
	}
	if (res.redirected)
		fprintf(stderr, "flowsteer conflist: %s is gone; editing %s, which it became\n", file, res.path);
	if (dry_run) {
		if (res.content)
			fwrite(res.content, 1, res.content_len, stdout);
		fprintf(stderr, "flowsteer conflist: dry run: %s %s\n", res.path,
			!res.changed ? "would not change" :
			res.removed[0] ? "would replace the .conf" : "would change");
		free(res.content);
		return fflush(stdout) ? 1 : 0;
	}
	if (!res.changed)
		printf("%s: unchanged (%s)\n", res.path,
		       op == CONFLIST_OP_INSERT ? "flowsteer already chained" : "no flowsteer entry");
	else if (res.removed[0])
		printf("%s: created from %s (removed) with flowsteer chained\n", res.path, res.removed);
	else
		printf("%s: flowsteer %s\n", res.path, op == CONFLIST_OP_INSERT ? "chained" : "entry removed");
	return fflush(stdout) ? 1 : 0;
}

/* `flowsteer reset [--state-dir DIR]`: what the agent does at uninstall
 * (plugin/uninstall.c), by hand: every record's pod devices and then the
 * node devices put back where the kernel still holds flowsteer's values,
 * the records removed. For a node whose entry was taken out by hand (or by
 * install.sh --uninstall): the runtimes run the pods' DELs without
 * flowsteer then. Exit 1 when something could not be undone. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "uninstall.h"

/* No grace period to fit in: long enough for any node. */
#define RESET_BUDGET_MS 600000

static void reset_say(bool warn, const char *line, void *arg)
{
	(void)arg;
	fprintf(warn ? stderr : stdout, "%s\n", line);
}

int cli_reset(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *use = "usage: flowsteer reset [--state-dir DIR]\n";
	struct uninstall_result r = { 0 };
	struct fs_err e = { 0 };
	struct fs_config cfg;
	int c;

	config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		if (c == 's' && strlen(optarg) < sizeof(cfg.state_dir))
			strcpy(cfg.state_dir, optarg);
		else
			return fputs(use, c == 'h' ? stdout : stderr), c == 'h' ? 0 : 2;
	}
	if (optind < argc)
		return fputs(use, stderr), 2;
	if (uninstall_all(cfg.state_dir, RESET_BUDGET_MS, reset_say, NULL, &r, &e)) {
		fprintf(stderr, "flowsteer reset: nothing undone: %s\n", e.msg);
		return 1;
	}
	return r.kept || r.left ? 1 : 0;
}

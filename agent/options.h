/* The agent's command line: one row per option (name, argument, help,
 * default, limits, destination). getopt_long's array, the usage text, the
 * defaults and the value checks are all made from the rows, so an option
 * is added or changed in one place. */
#ifndef FLOWSTEER_AGENT_OPTIONS_H
#define FLOWSTEER_AGENT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "agent.h"

enum option_kind {
	OPTION_FLAG,    /* no argument: sets a bool */
	OPTION_STR,     /* kept as given: a name, a path, an address, JSON */
	OPTION_INT,     /* a decimal number in [min, max] */
	OPTION_ENUM,    /* one of names[]: stores its index */
	OPTION_EXIT,    /* --help, --version: sets a bool and ends the parse */
};

struct option_row {
	const char *name;           /* without "--" */
	char short_name;            /* 0: none */
	const char *arg;            /* the argument in the usage text */
	enum option_kind kind;
	size_t off;                 /* destination in struct agent_cli */
	const char *def;            /* the default, spelt as an argument; NULL: none */
	const char *env;            /* the default comes from this variable instead */
	long long min, max;         /* OPTION_INT */
	const char *const *names;   /* OPTION_ENUM */
	size_t n_names;
	const char *help;           /* '\n' continues on an indented line */
};

/* What the rows fill: the agent's options and what main() acts on. */
struct agent_cli {
	struct agent_opts o;
	int log_level;              /* enum alog_level */
	bool help, version;
};

extern const struct option_row options_table[];
extern const size_t options_count;

enum { OPTIONS_USAGE = -1, OPTIONS_RUN, OPTIONS_EXIT };

/* Fills cli from the defaults and argv. OPTIONS_RUN; OPTIONS_EXIT when an
 * OPTION_EXIT row came (cli->help or cli->version says which); or
 * OPTIONS_USAGE after a message on err that names the option and the value
 * (the caller exits 2). */
int options_parse(int argc, char **argv, struct agent_cli *cli, FILE *err);
void options_usage(FILE *f);

#endif

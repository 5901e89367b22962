/*
 * flowsteer-agent: the node agent (DaemonSet). Installs the plugin and keeps
 * it chained, caches namespace and pod flowsteer.io/... annotations for the
 * plugin in annotationsFile, patches each tuned pod's flowsteer.io/status
 * from the plugin's records, re-masks tuned devices when the kubelet's CPU
 * pool changes, and serves metrics. See docs/agent.md.
 * Exit: 0 after SIGTERM/SIGINT (the entry taken out only when the DaemonSet
 * is gone or being deleted), 1 error, 2 usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "alog.h"
#include "options.h"

int main(int argc, char **argv)
{
	struct agent_cli cli;
	struct agent *a;
	sigset_t sigs;
	int ret;

	ret = options_parse(argc, argv, &cli, stderr);
	if (ret == OPTIONS_EXIT && cli.help)
		options_usage(stdout);
	else if (ret == OPTIONS_EXIT)
		printf("flowsteer-agent %s\n", FLOWSTEER_VERSION);
	if (ret != OPTIONS_RUN)
		return ret == OPTIONS_EXIT ? 0 : 2;
	alog_set_level((enum alog_level)cli.log_level);
	a = calloc(1, sizeof(*a));
	if (!a)
		return 1;
	a->o = cli.o;
	/* Blocked before any thread exists (threads inherit the mask): a
	 * SIGTERM that comes early must reach the signalfd, not kill us with
	 * the entry left in place. No handler besides: valgrind 3.19 feeds the
	 * signalfd too (test/bats/agent-valgrind.bats stops us with SIGTERM). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0 ||
	    (a->sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		alog(ALOG_ERROR, "signalfd: %s", strerror(errno));
		free(a);
		return 1;
	}
	srand48((long)time(NULL) ^ (long)getpid());
	ret = agent_run(a);
	agent_free(a);
	return ret;
}

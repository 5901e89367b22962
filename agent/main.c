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
#include <fcntl.h>
#include <getopt.h>
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

static void agent_usage(FILE *f)
{
	fprintf(f,
		"usage: flowsteer-agent [options]\n"
		"  --node-name NAME            this node (default $NODE_NAME)\n"
		"  --kubeconfig PATH           API server credentials (default: in-cluster ServiceAccount)\n"
		"  --sa-dir DIR                ServiceAccount dir (default %s)\n"
		"  --no-kube                   no API server: no watch, no status patches\n"
		"  --annotations-file PATH     default %s\n"
		"  --metrics-addr HOST:PORT    default %s (\"off\" disables)\n"
		"  --cni-bin-dir DIR           default %s\n"
		"  --cni-conf-dir DIR          default %s\n"
		"  --plugin-src PATH           the plugin to install (default %s)\n"
		"  --entry JSON                the conflist entry (default: flowsteer's default entry)\n"
		"  --no-install                do not install or chain the plugin\n"
		"  --daemonset NS/NAME         this agent's DaemonSet: SIGTERM takes the entry out only when\n"
		"                              it is gone or being deleted (default %s)\n"
		"  --proc-dir DIR              procfs root for metrics (default /proc)\n"
		"  --state-dir DIR             the plugin's stateDir: records to patch pod status from,\n"
		"                              count, check for drift and re-mask (default %s)\n"
		"  --cpu-manager-state FILE    the kubelet's CPU manager state; re-mask every tuned device\n"
		"                              when it changes (default %s; \"off\" disables)\n"
		"  --drift-interval-seconds N  compute the drift gauges at most this often (default 10)\n"
		"  --log-level LEVEL           error, warn, info (default), debug\n"
		"  --watch-timeout-seconds N   minimum watch timeoutSeconds (default 300; actual N..2N)\n"
		"  --watch-margin-seconds N    a watch the server has not ended N s after its timeoutSeconds\n"
		"                              is a hung server: relist (default 60)\n"
		"  --connect-timeout-seconds N (default 10)   --request-timeout-seconds N (default 60)\n"
		"  --backoff-base-ms N (default 800)   --backoff-max-ms N (default 30000)\n"
		"  --refresh-seconds N         rewrite syncedAt this often while in sync (default 60)\n"
		"  --page-size N               list page size (default 500)\n",
		KUBE_SA_DIR, AGENT_ANNOTATIONS_FILE, AGENT_METRICS_ADDR, AGENT_BIN_DIR, AGENT_CONF_DIR,
		AGENT_PLUGIN_SRC, AGENT_DAEMONSET, AGENT_STATE_DIR, AGENT_CPU_STATE);
}



/* Only reached where a blocked signal still gets a handler called (valgrind
 * emulates signals so, and signalfd then never sees them): the byte wakes
 * the loop the same way. */
static void agent_sig_handler(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (write(agent_sig_pipe[1], &b, 1) < 0) {
		/* Pipe full: a stop is already pending. */
	}
	errno = saved;
}

static int agent_signals_fallback(void)
{
	struct sigaction sa = { .sa_handler = agent_sig_handler, .sa_flags = SA_RESTART };

	if (pipe2(agent_sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ? -1 : 0;
}

static int agent_num(const char *opt, const char *val, long long min, long long max, long long *out)
{
	if (parse_long(val, min, max, out) == 0)
		return 0;
	fprintf(stderr, "flowsteer-agent: %s \"%s\" is not a number in [%lld, %lld]\n", opt, val, min, max);
	return -1;
}

static const struct option agent_opts[] = {
	{ "node-name", required_argument, NULL, 'n' }, { "kubeconfig", required_argument, NULL, 'k' },
	{ "sa-dir", required_argument, NULL, 'S' }, { "no-kube", no_argument, NULL, 'K' },
	{ "annotations-file", required_argument, NULL, 'a' }, { "metrics-addr", required_argument, NULL, 'm' },
	{ "cni-bin-dir", required_argument, NULL, 'b' }, { "cni-conf-dir", required_argument, NULL, 'c' },
	{ "plugin-src", required_argument, NULL, 's' }, { "entry", required_argument, NULL, 'e' },
	{ "no-install", no_argument, NULL, 'I' }, { "daemonset", required_argument, NULL, 'd' }, { "proc-dir", required_argument, NULL, 'p' },
	{ "log-level", required_argument, NULL, 'l' }, { "watch-timeout-seconds", required_argument, NULL, 1 },
	{ "watch-margin-seconds", required_argument, NULL, 2 }, { "connect-timeout-seconds", required_argument, NULL, 3 },
	{ "request-timeout-seconds", required_argument, NULL, 4 }, { "backoff-base-ms", required_argument, NULL, 5 },
	{ "backoff-max-ms", required_argument, NULL, 6 }, { "refresh-seconds", required_argument, NULL, 7 },
	{ "page-size", required_argument, NULL, 8 }, { "drift-interval-seconds", required_argument, NULL, 9 },
	{ "state-dir", required_argument, NULL, 'D' }, { "cpu-manager-state", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The numeric options: index = getopt value - 1. */
static int agent_opt_num(struct agent_opts *o, int c, const char *val)
{
	static const struct {
		const char *name;
		long long min, max;
	} lim[] = {
		{ "--watch-timeout-seconds", 1, 3600 }, { "--watch-margin-seconds", 1, 3600 },
		{ "--connect-timeout-seconds", 1, 300 }, { "--request-timeout-seconds", 1, 3600 },
		{ "--backoff-base-ms", 1, 600000 }, { "--backoff-max-ms", 1, 3600000 },
		{ "--refresh-seconds", 1, 86400 }, { "--page-size", 1, 10000 },
		{ "--drift-interval-seconds", 1, 86400 },
	};
	long long *dst[] = { &o->watch_min_s, &o->margin_s, &o->connect_s, &o->request_s,
			     &o->backoff_base_ms, &o->backoff_max_ms, &o->refresh_s, &o->page_size, &o->drift_s };

	return agent_num(lim[c - 1].name, val, lim[c - 1].min, lim[c - 1].max, dst[c - 1]);
}

static int agent_opt(struct agent_opts *o, int c, char *val)
{
	enum alog_level lvl;

	switch (c) {
	case 'n': o->node_name = val; return 0;
	case 'k': o->kubeconfig = val; return 0;
	case 'S': o->sa_dir = val; return 0;
	case 'K': o->no_kube = true; return 0;
	case 'a': o->annotations_file = val; return 0;
	case 'm': o->metrics_addr = val; return 0;
	case 'b': o->bin_dir = val; return 0;
	case 'c': o->conf_dir = val; return 0;
	case 's': o->plugin_src = val; return 0;
	case 'e': o->entry = val; return 0;
	case 'I': o->no_install = true; return 0;
	case 'd': o->daemonset = val; return 0;
	case 'p': o->proc_dir = val; return 0;
	case 'D': o->state_dir = val; return 0;
	case 'C': o->cpu_state = val; return 0;
	case 'l':
		if (alog_level_parse(val, &lvl) == 0) {
			alog_set_level(lvl);
			return 0;
		}
		fprintf(stderr, "flowsteer-agent: --log-level \"%s\": error, warn, info or debug\n", val);
		return -1;
	default:
		if (c >= 1 && c <= 9)
			return agent_opt_num(o, c, val);
		return -1;
	}
}

static bool agent_daemonset_valid(const char *s)
{
	const char *slash = strchr(s, '/');
	char ns[64];

	if (!slash || slash - s >= (long)sizeof(ns))
		return false;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - s), s);
	return kube_name_valid(ns, false) && kube_name_valid(slash + 1, true);
}

static int agent_parse(int argc, char **argv, struct agent_opts *o)
{
	int c;

	*o = (struct agent_opts){
		.sa_dir = KUBE_SA_DIR, .annotations_file = AGENT_ANNOTATIONS_FILE,
		.metrics_addr = AGENT_METRICS_ADDR, .bin_dir = AGENT_BIN_DIR, .conf_dir = AGENT_CONF_DIR,
		.plugin_src = AGENT_PLUGIN_SRC, .proc_dir = "/proc", .node_name = getenv("NODE_NAME"),
		.watch_min_s = 300, .margin_s = 60, .connect_s = 10, .request_s = 60, .backoff_base_ms = 800,
		.backoff_max_ms = 30000, .refresh_s = 60, .page_size = 500, .state_dir = AGENT_STATE_DIR,
		.cpu_state = AGENT_CPU_STATE, .drift_s = 10, .daemonset = AGENT_DAEMONSET,
	};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", agent_opts, NULL)) != -1) {
		if (c == 'h') {
			agent_usage(stdout);
			exit(0);
		}
		if (c == '?' || agent_opt(o, c, optarg)) {
			if (c == '?')
				fprintf(stderr, "flowsteer-agent: bad option \"%s\"\n", argv[optind - 1]);
			agent_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "flowsteer-agent: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	if (!agent_daemonset_valid(o->daemonset)) {
		fprintf(stderr, "flowsteer-agent: --daemonset \"%s\": NAMESPACE/NAME\n", o->daemonset);
		return -1;
	}
	if (!o->no_kube && (!o->node_name || !*o->node_name)) {
		fprintf(stderr, "flowsteer-agent: --node-name or $NODE_NAME is required (or --no-kube)\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct agent *a;
	sigset_t sigs;
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("flowsteer-agent %s\n", FLOWSTEER_VERSION);
		return 0;
	}
	a = calloc(1, sizeof(*a));
	if (!a || agent_parse(argc, argv, &a->o)) {
		free(a);
		return 2;
	}
	/* Blocked before any thread exists (threads inherit the mask): a
	 * SIGTERM that comes early must reach the signalfd, not kill us with
	 * the entry left in place. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	if (agent_signals_fallback() || sigprocmask(SIG_BLOCK, &sigs, NULL) < 0 ||
	    (a->sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		alog(ALOG_ERROR, "signalfd: %s", strerror(errno));
		free(a);
		return 1;
	}
	a->sig_pipe = agent_sig_pipe[0];
	srand48((long)time(NULL) ^ (long)getpid());
	ret = agent_run(a);
	agent_free(a);
	return ret;
}

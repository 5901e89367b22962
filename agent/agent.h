/* The agent's wiring: its duties (install, watch, metrics; status,
 * re-mask) on one loop, started from one table (agent.c) and stopped in
 * reverse. */
#ifndef FLOWSTEER_AGENT_AGENT_H
#define FLOWSTEER_AGENT_AGENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "annfile.h"
#include "cpuallowed.h"
#include "cpuwatch.h"
#include "install.h"
#include "kube.h"
#include "loop.h"
#include "metrics.h"
#include "pace.h"
#include "podstatus.h"
#include "records.h"
#include "reflector.h"
#include "util.h"

#ifndef FLOWSTEER_VERSION
#define FLOWSTEER_VERSION "dev"
#endif

#define AGENT_ANNOTATIONS_FILE "/run/flowsteer/annotations.json"
#define AGENT_METRICS_ADDR ":9967"
#define AGENT_BIN_DIR "/host/opt/cni/bin"
#define AGENT_CONF_DIR "/host/etc/cni/net.d"
#define AGENT_PLUGIN_SRC "/usr/lib/flowsteer/flowsteer"
#define AGENT_STATE_DIR "/run/flowsteer"
#define AGENT_CPU_STATE "/var/lib/kubelet/cpu_manager_state"
#define AGENT_DAEMONSET "kube-system/flowsteer-agent"

struct agent_opts {
	const char *node_name, *kubeconfig, *sa_dir, *annotations_file, *metrics_addr;
	const char *bin_dir, *conf_dir, *plugin_src, *entry, *proc_dir, *state_dir, *cpu_state;
	const char *daemonset;   /* NAMESPACE/NAME: its deletion is the uninstall */
	bool no_kube, no_install;
	long long watch_min_s, margin_s, connect_s, request_s, backoff_base_ms, backoff_max_ms;
	long long refresh_s, page_size, drift_s;
};

struct agent;

/* One row of the duty table (agent.c): start returns 0 or -1 (logged);
 * stop is safe after a start that failed half-way. collect (NULL: none)
 * is registered after start, with the module at offset `at` of struct
 * agent, and dropped before stop. applies (NULL: always) says whether the
 * options want the duty; off_msg is logged when not. */
struct agent_duty {
	const char *name;
	int (*start)(struct agent *a);
	void (*stop)(struct agent *a);
	metrics_collect_fn collect;
	size_t at;
	bool (*applies)(const struct agent_opts *o);
	const char *off_msg;
};

#define AGENT_NDUTIES 9

struct agent {
	struct agent_opts o;
	int sfd;                 /* signalfd: SIGTERM, SIGINT */
	struct loop *loop;
	struct metrics *metrics;
	struct kube_client *kube;
	struct reflector_cfg rcfg;
	struct reflector ns, pods;
	struct install in;
	struct annfile af;
	/* The status duty, the records' metrics, the re-mask duty. */
	struct podstatus ps;
	struct records rec;
	struct cpuwatch cw;
	struct cpuallowed ca;       /* flowsteer_cpu_allowed */
	/* The duties started, in order: stopped from the last. */
	const struct agent_duty *up[AGENT_NDUTIES];
	size_t nup;
};

extern const struct agent_duty agent_duties[AGENT_NDUTIES];

/* The loop, the metrics registry, then the duties of t in order; when one
 * fails, what started is stopped in reverse and -1 returned (logged). */
int agent_start(struct agent *a, const struct agent_duty *t, size_t n);
/* Stops the duties that started, the last first; safe twice. */
void agent_duties_stop(struct agent *a);
int agent_run(struct agent *a);
/* Stops the duties, frees the loop, the registry and a. */
void agent_free(struct agent *a);

/* The rows of the API-server side (watch.c). */
void agent_watch_collect(struct metrics_out *o, void *arg);
int agent_kube_start(struct agent *a);
void agent_kube_stop(struct agent *a);
int agent_annfile_start(struct agent *a);
void agent_annfile_stop(struct agent *a);
int agent_watch_start(struct agent *a);
void agent_watch_stop(struct agent *a);
/* At exit: whether the DaemonSet is gone or being deleted (asks the API
 * server; true without one). */
bool agent_uninstalling(struct agent *a);

#endif

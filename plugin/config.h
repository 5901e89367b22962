/* Network configuration (stdin JSON): the conflist entry, prevResult and
 * runtimeConfig. Pure parsing: nothing here touches the kernel. */
#ifndef FLOWSTEER_CONFIG_H
#define FLOWSTEER_CONFIG_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "cpumask.h"
#include "err.h"
#include "log.h"

enum fs_mode { FS_MODE_OFF, FS_MODE_RPS, FS_MODE_RFS };
enum fs_scope { FS_SCOPE_CONTAINER = 1, FS_SCOPE_HOST = 2, FS_SCOPE_BOTH = 3 };
enum fs_policy { FS_POLICY_OPT_OUT, FS_POLICY_OPT_IN };

#define FS_MAX_HOST_DEVICES 32
#define FS_SOCK_FLOW_MAX (1LL << 29) /* kernel rejects larger rps_sock_flow_entries */
#define FS_FLOW_CNT_MAX (1LL << 29)

/* A cpus value: "all" (online CPUs), "none", or an explicit list. */
struct fs_cpuspec {
	enum { FS_CPUS_ALL, FS_CPUS_NONE, FS_CPUS_LIST } kind;
	struct cpumask list;
	char text[256];
};

struct fs_config {
	char cni_version[16];
	char name[256];
	enum fs_mode mode;
	enum fs_scope scope;
	struct fs_cpuspec cpus;
	struct cpumask exclude;
	char exclude_text[256];
	long long sock_flow_entries;
	long long flow_cnt;            /* 0 = auto */
	int n_host_devices;
	char host_devices[FS_MAX_HOST_DEVICES][16]; /* names or "@calico" / "@underlay" */
	enum fs_policy policy;
	bool failure_fail;             /* failurePolicy: fail */
	bool restore_on_last_del;
	bool kube_legacy;               /* a "kubernetes" key: ignored, warned */
	bool respect_exclusive;         /* respectExclusiveCpus */
	char cpu_manager_state[4096];   /* cpuManagerStateFile */
	char annotations_file[4096];
	char state_dir[4096];
	char log_file[4096];
	enum log_level log_level;

	cJSON *root;                   /* owns everything below */
	cJSON *prev_result;            /* NULL when absent */
	/* runtimeConfig["io.kubernetes.cri.pod-annotations"]: present (even as
	 * null: containerd's value for a pod without annotations) means the
	 * runtime speaks for the pod; the object, or NULL for null. */
	bool runtime_annotations_present;
	const cJSON *runtime_annotations;
	/* cni.dev/valid-attachments (GC): checked to be a list of
	 * {containerID, ifname} objects. */
	const cJSON *valid_attachments;
};

/* The defaults of docs/config.md (usable without any JSON, e.g. by the CLI). */
void config_defaults(struct fs_config *c);
/* Parses the stdin JSON. Errors: 6 malformed JSON, 1 unsupported version,
 * 7 a known key with a wrong type or value, or any string holding an
 * escaped NUL (named). */
int config_parse(const char *buf, size_t len, struct fs_config *c, struct fs_err *e);
void config_free(struct fs_config *c);

/* Only the state/log locations, leniently, so DEL/GC can still clean up and
 * log when the rest of the configuration is broken. */
void config_parse_paths(const char *buf, size_t len, struct fs_config *c);

int config_mode_parse(const char *s, enum fs_mode *m);
int config_scope_parse(const char *s, enum fs_scope *sc);
const char *config_mode_name(enum fs_mode m);
const char *config_scope_name(enum fs_scope s);

bool cni_version_supported(const char *v);
/* Compares dotted versions: <0, 0, >0. */
int cni_version_cmp(const char *a, const char *b);

#endif

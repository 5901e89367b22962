#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"
#include "config.h"
#include "json.h"
#include "util.h"

/* Indexed by enum fs_mode; scope_names[i] is scope_values[i]. */
static const char *const mode_names[] = { "off", "rps", "rfs" };
static const char *const scope_names[] = { "container", "host", "both" };
static const int scope_values[] = { FS_SCOPE_CONTAINER, FS_SCOPE_HOST, FS_SCOPE_BOTH };

const char *config_mode_name(enum fs_mode m)
{
	return (unsigned)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}

const char *config_scope_name(enum fs_scope s)
{
	for (size_t i = 0; i < ARRAY_SIZE(scope_values); i++)
		if (scope_values[i] == (int)s)
			return scope_names[i];
	return "?";
}

int config_mode_parse(const char *s, enum fs_mode *m)
{
	int i = name_index(mode_names, ARRAY_SIZE(mode_names), s);

	if (i < 0)
		return -1;
	*m = (enum fs_mode)i;
	return 0;
}

int config_scope_parse(const char *s, enum fs_scope *sc)
{
	int i = name_index(scope_names, ARRAY_SIZE(scope_names), s);

	if (i < 0)
		return -1;
	*sc = (enum fs_scope)scope_values[i];
	return 0;
}

static int config_cpuspec_parse(const char *s, struct fs_cpuspec *spec, struct fs_err *e)
{
	memset(spec, 0, sizeof(*spec));
	snprintf(spec->text, sizeof(spec->text), "%s", s);
	if (!strcmp(s, "all")) {
		spec->kind = FS_CPUS_ALL;
		return 0;
	}
	if (!strcmp(s, "none")) {
		spec->kind = FS_CPUS_NONE;
		return 0;
	}
	spec->kind = FS_CPUS_LIST;
	if (!*s)
		return err_set(e, CNI_ERR_DECODE, "\"\" is not a cpulist (use \"all\", \"none\" or e.g. \"0-3,8\")");
	return cpumask_parse_list(s, &spec->list, e);
}

static const char *const versions[] = { CNI_SUPPORTED_VERSIONS };

bool cni_version_supported(const char *v)
{
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++)
		if (!strcmp(v, versions[i]))
			return true;
	return false;
}

int cni_version_cmp(const char *a, const char *b)
{
	for (int i = 0; i < 3; i++) {
		long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);

		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
	}
	return 0;
}

void config_defaults(struct fs_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = FS_MODE_RFS;
	c->scope = FS_SCOPE_BOTH;
	c->cpus.kind = FS_CPUS_ALL;
	strcpy(c->cpus.text, "all");
	c->sock_flow_entries = 32768;
	c->flow_cnt = 0;
	c->n_host_devices = 2;
	strcpy(c->host_devices[0], "@calico");
	strcpy(c->host_devices[1], "@underlay");
	c->policy = FS_POLICY_OPT_OUT;
	c->failure_fail = false;
	c->restore_on_last_del = true;
	c->respect_exclusive = true;
	strcpy(c->cpu_manager_state, "/var/lib/kubelet/cpu_manager_state");
	strcpy(c->annotations_file, "/run/flowsteer/annotations.json");
	strcpy(c->state_dir, "/run/flowsteer");
	strcpy(c->log_file, "/var/log/flowsteer/flowsteer.log");
	c->log_level = LOG_LVL_INFO;
}

/* Each getter: absent key = keep default (0), wrong type/value = code 7. */
static int get_string(const cJSON *o, const char *key, const char **out, struct fs_err *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v)
		return 0;
	if (!cJSON_IsString(v))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"%s\" must be a string", key);
	*out = v->valuestring;
	return 0;
}

static int get_path(const cJSON *o, const char *key, char *dst, size_t len, struct fs_err *e)
{
	const char *s = NULL;

	if (get_string(o, key, &s, e))
		return -1;
	if (!s)
		return 0;
	if (s[0] != '/' || strlen(s) >= len)
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "config key \"%s\": \"%.200s\" is not an absolute path", key, s);
	strcpy(dst, s);
	return 0;
}

static int get_int(const cJSON *o, const char *key, long long min, long long max,
		   long long *out, struct fs_err *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	double d;

	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"%s\" must be an integer, got %s",
			       key, cJSON_IsString(v) ? "a string" : "a non-number");
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"%s\" must be an integer, got %g",
			       key, d);
	if (d < (double)min || d > (double)max)
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "config key \"%s\" = %.0f is out of range [%lld, %lld]", key, d, min, max);
	*out = (long long)d;
	return 0;
}

static int get_bool(const cJSON *o, const char *key, bool *out, struct fs_err *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"%s\" must be true or false", key);
	*out = cJSON_IsTrue(v);
	return 0;
}

static int parse_host_devices(const cJSON *root, struct fs_config *c, struct fs_err *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "hostDevices"), *it;
	int i = 0;

	if (!v)
		return 0;
	if (!cJSON_IsArray(v))
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "config key \"hostDevices\" must be a list of device names or \"@calico\"/\"@underlay\"");
	cJSON_ArrayForEach(it, v) {
		const char *s = cJSON_IsString(it) ? it->valuestring : NULL;

		if (!s)
			return err_set(e, CNI_ERR_INVALID_CONFIG,
				       "config key \"hostDevices\"[%d] must be a string", i);
		if (s[0] == '@' ? (strcmp(s, "@calico") && strcmp(s, "@underlay")) : !ifname_valid(s))
			return err_set(e, CNI_ERR_INVALID_CONFIG,
				       "config key \"hostDevices\"[%d] = \"%.40s\" is neither an interface name nor \"@calico\"/\"@underlay\"",
				       i, s);
		if (i >= FS_MAX_HOST_DEVICES)
			return err_set(e, CNI_ERR_INVALID_CONFIG,
				       "config key \"hostDevices\" lists more than %d entries", FS_MAX_HOST_DEVICES);
		strcpy(c->host_devices[i++], s);
	}
	c->n_host_devices = i;
	return 0;
}

/* A key whose value is one of names[] (absent: *out unchanged), stored as
 * values[i] (NULL: as i); the error lists the choices. */
static int get_choice(const cJSON *o, const char *key, const char *const *names, const int *values,
		      size_t n, int *out, struct fs_err *e)
{
	char expected[128] = "";
	const char *s = NULL;
	size_t off = 0;
	int found;

	if (get_string(o, key, &s, e))
		return -1;
	if (s && (found = name_index(names, n, s)) >= 0) {
		*out = values ? values[found] : found;
		return 0;
	}
	for (size_t i = 0; s && i < n && off < sizeof(expected); i++)
		off += (size_t)snprintf(expected + off, sizeof(expected) - off, "%s%s",
					i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	if (s)
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"%s\" = \"%.40s\" is invalid (expected %s)",
			       key, s, expected);
	return 0;
}

static int parse_choices(const cJSON *root, struct fs_config *c, struct fs_err *e)
{
	static const char *const policies[] = { "opt-out", "opt-in" }, *const failure[] = { "ignore", "fail" };
	static const int policy_v[] = { FS_POLICY_OPT_OUT, FS_POLICY_OPT_IN };
	int mode = (int)c->mode, scope = (int)c->scope, policy = (int)c->policy;
	int fail = c->failure_fail, level = (int)c->log_level;

	if (get_choice(root, "mode", mode_names, NULL, ARRAY_SIZE(mode_names), &mode, e) ||
	    get_choice(root, "scope", scope_names, scope_values, ARRAY_SIZE(scope_names), &scope, e) ||
	    get_choice(root, "policy", policies, policy_v, ARRAY_SIZE(policies), &policy, e) ||
	    get_choice(root, "failurePolicy", failure, NULL, ARRAY_SIZE(failure), &fail, e) ||
	    get_choice(root, "logLevel", log_level_names, NULL, LOG_LVL_COUNT, &level, e))
		return -1;
	c->mode = (enum fs_mode)mode;
	c->scope = (enum fs_scope)scope;
	c->policy = (enum fs_policy)policy;
	c->failure_fail = fail;
	c->log_level = (enum log_level)level;
	return 0;
}

static int parse_cpus(const cJSON *root, struct fs_config *c, struct fs_err *e)
{
	struct fs_err pe = { 0 };
	const char *s = NULL;

	if (get_string(root, "cpus", &s, e))
		return -1;
	if (s && config_cpuspec_parse(s, &c->cpus, &pe))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"cpus\": %s", pe.msg);
	s = NULL;
	if (get_string(root, "excludeCpus", &s, e))
		return -1;
	if (s && cpumask_parse_list(s, &c->exclude, &pe))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"excludeCpus\": %s", pe.msg);
	if (s)
		snprintf(c->exclude_text, sizeof(c->exclude_text), "%s", s);
	return 0;
}

static int parse_keys(cJSON *root, struct fs_config *c, struct fs_err *e)
{
	if (parse_choices(root, c, e) || parse_cpus(root, c, e) ||
	    get_int(root, "sockFlowEntries", 0, FS_SOCK_FLOW_MAX, &c->sock_flow_entries, e) ||
	    get_int(root, "flowCnt", 0, FS_FLOW_CNT_MAX, &c->flow_cnt, e) ||
	    parse_host_devices(root, c, e) ||
	    get_bool(root, "restoreOnLastDel", &c->restore_on_last_del, e) ||
	    get_bool(root, "respectExclusiveCpus", &c->respect_exclusive, e) ||
	    get_path(root, "cpuManagerStateFile", c->cpu_manager_state, sizeof(c->cpu_manager_state), e) ||
	    get_path(root, "annotationsFile", c->annotations_file, sizeof(c->annotations_file), e) ||
	    get_path(root, "stateDir", c->state_dir, sizeof(c->state_dir), e) ||
	    get_path(root, "logFile", c->log_file, sizeof(c->log_file), e))
		return -1;
	/* The agent talks to the API server now; an old entry must keep
	 * pods starting through an upgrade, so this is a warning at ADD. */
	c->kube_legacy = cJSON_GetObjectItemCaseSensitive(root, "kubernetes") != NULL;
	return 0;
}

static void parse_runtime_config(struct fs_config *c)
{
	const cJSON *rc = cJSON_GetObjectItemCaseSensitive(c->root, "runtimeConfig");
	const cJSON *a;

	if (!cJSON_IsObject(rc))
		return;
	a = cJSON_GetObjectItemCaseSensitive(rc, "io.kubernetes.cri.pod-annotations");
	/* Anything but an object or null is not the runtime speaking: the
	 * agent's cache and the configuration decide. */
	c->runtime_annotations_present = cJSON_IsObject(a) || cJSON_IsNull(a);
	c->runtime_annotations = cJSON_IsObject(a) ? a : NULL;
}

/* A list of {containerID, ifname}: anything else is refused whole, since
 * GC drops every record the list does not name. */
static int parse_gc_args(struct fs_config *c, struct fs_err *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, "cni.dev/valid-attachments"), *it;
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(c->root, "args");
	int i = 0;

	if (!v && cJSON_IsObject(args))
		v = cJSON_GetObjectItemCaseSensitive(args, "cni.dev/valid-attachments");
	if (!v)
		return 0;
	if (!cJSON_IsArray(v))
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "config key \"cni.dev/valid-attachments\" must be a list of {containerID, ifname}");
	cJSON_ArrayForEach(it, v) {
		const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "containerID");
		const cJSON *ifn = cJSON_GetObjectItemCaseSensitive(it, "ifname");

		if (!cJSON_IsObject(it) || !cJSON_IsString(cid) || !containerid_valid(cid->valuestring) ||
		    !cJSON_IsString(ifn) || !ifname_valid(ifn->valuestring))
			return err_set(e, CNI_ERR_INVALID_CONFIG,
				       "config key \"cni.dev/valid-attachments\"[%d] is not a {containerID, ifname} object with valid values",
				       i);
		i++;
	}
	c->valid_attachments = v;
	return 0;
}

int config_parse(const char *buf, size_t len, struct fs_config *c, struct fs_err *e)
{
	const cJSON *v;

	config_defaults(c);
	c->root = json_parse_strict(buf, len, "network configuration", CNI_ERR_INVALID_CONFIG, e);
	if (!c->root)
		return -1;
	if (!cJSON_IsObject(c->root))
		return err_set(e, CNI_ERR_DECODE, "network configuration must be a JSON object");

	v = cJSON_GetObjectItemCaseSensitive(c->root, "cniVersion");
	if (!v)
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"cniVersion\" is missing");
	if (!cJSON_IsString(v))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"cniVersion\" must be a string");
	if (!cni_version_supported(v->valuestring))
		return err_set(e, CNI_ERR_INCOMPATIBLE_VERSION,
			       "cniVersion \"%.20s\" is not supported (supported: 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0)",
			       v->valuestring);
	strcpy(c->cni_version, v->valuestring);

	v = cJSON_GetObjectItemCaseSensitive(c->root, "name");
	if (cJSON_IsString(v))
		snprintf(c->name, sizeof(c->name), "%s", v->valuestring);

	v = cJSON_GetObjectItemCaseSensitive(c->root, "type");
	if (v && !cJSON_IsString(v))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"type\" must be a string");

	if (parse_keys(c->root, c, e))
		return -1;

	v = cJSON_GetObjectItemCaseSensitive(c->root, "prevResult");
	if (v && !cJSON_IsNull(v)) {
		if (!cJSON_IsObject(v))
			return err_set(e, CNI_ERR_INVALID_CONFIG, "config key \"prevResult\" must be an object");
		c->prev_result = (cJSON *)v;
	}
	parse_runtime_config(c);
	return parse_gc_args(c, e);
}

void config_parse_paths(const char *buf, size_t len, struct fs_config *c)
{
	struct fs_err ignored = { 0 };
	cJSON *root = json_parse_strict(buf, len, "network configuration", CNI_ERR_INVALID_CONFIG, &ignored);
	const char *s = NULL;

	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return;
	}
	get_path(root, "stateDir", c->state_dir, sizeof(c->state_dir), &ignored);
	get_path(root, "logFile", c->log_file, sizeof(c->log_file), &ignored);
	if (get_string(root, "logLevel", &s, &ignored) == 0 && s)
		log_level_parse(s, &c->log_level);
	cJSON_Delete(root);
}

void config_free(struct fs_config *c)
{
	cJSON_Delete(c->root);
	c->root = NULL;
	c->prev_result = NULL;
	c->runtime_annotations = NULL;
	c->runtime_annotations_present = false;
	c->valid_attachments = NULL;
}

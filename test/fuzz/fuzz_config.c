/*
 * libFuzzer harness: everything flowsteer does with untrusted bytes before it
 * touches the kernel. The input is what a runtime writes on stdin (a network
 * configuration); the harness runs it through the same steps as cmd/ does:
 *
 *   cni_stdin_read      (size cap, NUL bytes)
 *   config_parse        (every key; DEL's lenient config_parse_paths too)
 *   prevres_host        (interface names, the host-side hint)
 *   prevres_convert     (into every supported cniVersion)
 *   annot_decide        (runtimeConfig pod annotations, and the input's
 *                        "fuzzNamespaceAnnotations" object as the namespace's)
 *   annotcache_parse    (the input as the agent's annotations file)
 *   cpumgr_parse        (the input as the kubelet's cpu_manager_state)
 *   model_json_attachment_parse (the input as a stateDir record)
 *   conflist_insert / conflist_remove (the input as a CNI config file)
 *   cpumask_parse_list / cpumask_parse_hex on every string in the input,
 *                       with round trips through the formatters checked
 *
 * and checks the invariants the kernel-facing code relies on (names valid
 * before any path is built, masks inside the CPU range, paths absolute).
 * A broken invariant aborts, so the fuzzer reports it like a crash.
 *
 * Built by test/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "annot.h"
#include "annotcache.h"
#include "cni.h"
#include "config.h"
#include "conflist.h"
#include "cpumask.h"
#include "cpuset.h"
#include "prevres.h"
#include "model_json.h"
#include "state.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond,   \
				__FILE__, __LINE__);                               \
			abort();                                                   \
		}                                                                  \
	} while (0)

static const char *const versions[] = { CNI_SUPPORTED_VERSIONS };

/* The input through a real fd, as main reads stdin. */
static void fuzz_stdin(const uint8_t *data, size_t size)
{
	struct fs_err e = { 0 };
	char *buf = NULL;
	size_t len = 0;
	int fd = memfd_create("fuzz-stdin", MFD_CLOEXEC);

	if (fd < 0)
		return;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return;
	}
	lseek(fd, 0, SEEK_SET);
	if (cni_stdin_read(fd, &buf, &len, &e) == 0) {
		CHECK(len == size && len > 0 && len <= CNI_STDIN_MAX);
		CHECK(memchr(buf, '\0', len) == NULL);
		free(buf);
	} else {
		CHECK(e.code == CNI_ERR_DECODE || e.code == CNI_ERR_IO);
	}
	close(fd);
}

/* Both directions of both formats agree. */
static void fuzz_cpumask_string(const char *s)
{
	static struct cpumask m, back;
	static char list[CPUMASK_MAX_CPUS * 6], hex[CPUMASK_HEX_MAX];
	struct fs_err e = { 0 };

	if (cpumask_parse_list(s, &m, &e) == 0) {
		CHECK(cpumask_last(&m) < CPUMASK_MAX_CPUS);
		CHECK(cpumask_format_list(&m, list, sizeof(list)) == 0);
		CHECK(cpumask_parse_list(list, &back, NULL) == 0);
		CHECK(cpumask_equal(&m, &back));
		CHECK(cpumask_format_hex(&m, CPUMASK_MAX_CPUS, hex, sizeof(hex)) == 0);
		CHECK(cpumask_parse_hex(hex, &back) == 0);
		CHECK(cpumask_equal(&m, &back));
	} else {
		CHECK(e.code == CNI_ERR_DECODE && e.msg[0] != '\0');
	}
	if (cpumask_parse_hex(s, &m) == 0) {
		unsigned nbits = (unsigned)cpumask_last(&m) + 1;

		CHECK(cpumask_last(&m) < CPUMASK_MAX_CPUS);
		CHECK(cpumask_format_hex(&m, nbits ? nbits : 1, hex, sizeof(hex)) == 0);
		CHECK(cpumask_parse_hex(hex, &back) == 0);
		CHECK(cpumask_equal(&m, &back));
	}
}

/* Every string anywhere in the JSON: keys and values. */
static void fuzz_strings(const cJSON *j, int depth)
{
	const cJSON *it;

	if (!j || depth > 64)
		return;
	if (j->string)
		fuzz_cpumask_string(j->string);
	if (cJSON_IsString(j) && j->valuestring)
		fuzz_cpumask_string(j->valuestring);
	cJSON_ArrayForEach(it, j)
		fuzz_strings(it, depth + 1);
}

static void check_config(const struct fs_config *c)
{
	CHECK(cni_version_supported(c->cni_version));
	CHECK(c->n_host_devices >= 0 && c->n_host_devices <= FS_MAX_HOST_DEVICES);
	for (int i = 0; i < c->n_host_devices; i++)
		CHECK(c->host_devices[i][0] == '@' ? !strcmp(c->host_devices[i], "@calico") ||
							     !strcmp(c->host_devices[i], "@underlay")
						   : ifname_valid(c->host_devices[i]));
	CHECK(c->state_dir[0] == '/' && c->log_file[0] == '/');
	CHECK(c->sock_flow_entries >= 0 && c->sock_flow_entries <= FS_SOCK_FLOW_MAX);
	CHECK(c->flow_cnt >= 0 && c->flow_cnt <= FS_FLOW_CNT_MAX);
	CHECK(c->mode <= FS_MODE_RFS);
	CHECK(c->scope >= FS_SCOPE_CONTAINER && c->scope <= FS_SCOPE_BOTH);
	CHECK(!c->prev_result || cJSON_IsObject(c->prev_result));
	CHECK(!c->runtime_annotations || cJSON_IsObject(c->runtime_annotations));
	CHECK(!c->valid_attachments || cJSON_IsArray(c->valid_attachments));
}

static void fuzz_prevres(const struct fs_config *c)
{
	struct fs_err e = { 0 };
	char host[16];

	if (prevres_host(c->prev_result, host, &e) == 0)
		CHECK(!host[0] || ifname_valid(host));
	else
		CHECK(e.code == CNI_ERR_INVALID_CONFIG && e.msg[0]);
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		cJSON *out = prevres_convert(c->prev_result, versions[i], &e);
		char *s;

		if (!out)
			continue;
		/* What main prints: it must serialise and name our version. */
		s = cJSON_PrintUnformatted(out);
		CHECK(s != NULL);
		CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(out, "cniVersion")->valuestring,
			      versions[i]));
		free(s);
		cJSON_Delete(out);
	}
}

static void fuzz_annotations(const struct fs_config *c)
{
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(c->root, "fuzzNamespaceAnnotations");
	struct cpumask online, node, outside;
	struct fs_decision d;
	struct fs_warn w = { 0 };

	/* A fixed 64-CPU machine with CPUs 0-47 online. */
	cpumask_zero(&online);
	for (unsigned i = 0; i < 48; i++)
		cpumask_set(&online, i);
	switch (c->cpus.kind) {
	case FS_CPUS_NONE:
		cpumask_zero(&node);
		break;
	case FS_CPUS_ALL:
		node = online;
		break;
	default:
		cpumask_and(&node, &c->cpus.list, &online);
		break;
	}
	cpumask_andnot(&node, &node, &c->exclude);
	annot_decide(c, &node, c->runtime_annotations, SRC_RUNTIME, cJSON_IsObject(ns) ? ns : NULL, &d, &w);
	/* flowsteer.io/cpus only ever narrows the node's set. */
	cpumask_andnot(&outside, &d.cpus, &node);
	CHECK(cpumask_empty(&outside));
	CHECK(d.tune ? d.mode != FS_MODE_OFF : d.mode == FS_MODE_OFF);
	CHECK(d.scope >= FS_SCOPE_CONTAINER && d.scope <= FS_SCOPE_BOTH);
	CHECK(w.n >= 0 && w.n <= FS_MAX_WARNINGS);
	for (int i = 0; i < w.n; i++)
		CHECK(strchr(w.items[i], '\n') == NULL);
	warn_free(&w);
}

/* The same bytes as the other files flowsteer reads: each parser either
 * refuses them with a message or gives values within their ranges. */
static void fuzz_side_files(const char *buf, size_t len)
{
	struct cpumgr_state k;
	struct annotcache ac;
	struct attachment *a;
	struct fs_err e = { 0 }, ae = { 0 };
	char err[256] = "";
	cJSON *j;

	if (annotcache_parse(buf, len, "team-a", "web", &ac, &ae) == 0) {
		CHECK(ac.root && ac.synced_at >= 0);
		CHECK(!ac.pod || cJSON_IsObject(ac.pod));
		annotcache_free(&ac);
	} else {
		CHECK(ae.msg[0] && !ac.root);
	}
	if (cpumgr_parse(buf, len, &k, err, sizeof(err)) == 0)
		CHECK(k.policy == CPUMGR_NONE || k.policy == CPUMGR_STATIC);
	j = cJSON_ParseWithLength(buf, len);
	a = j ? attachment_new() : NULL;
	if (a && model_json_attachment_parse(j, "fuzz", a, &e) == 0) {
		CHECK(containerid_valid(a->container_id) && ifname_valid(a->ifname));
		for (int i = 0; i < a->ndev; i++) {
			CHECK(ifname_valid(a->devs[i].name));
			CHECK(a->devs[i].nq >= 0 && a->devs[i].nq <= MODEL_MAX_QUEUES);
			CHECK(a->devs[i].want_flow >= -1);
		}
	}
	attachment_free(a);
	cJSON_Delete(j);
}

/* The splicer keeps every byte outside the entry: for a file without a
 * flowsteer entry, remove after insert gives the input back. */
static void fuzz_conflist(const char *buf, size_t len)
{
	struct fs_err e = { 0 };
	char *ins = NULL, *back = NULL;
	size_t inslen = 0, backlen = 0;
	bool converted = false;
	int none;

	none = conflist_remove(buf, len, &back, &backlen, &e) == CONFLIST_UNCHANGED;
	free(back);
	back = NULL;
	memset(&e, 0, sizeof(e));
	if (conflist_insert(buf, len, NULL, &ins, &inslen, &converted, &e) == 0 && none && !converted) {
		CHECK(conflist_remove(ins, inslen, &back, &backlen, &e) == 0);
		CHECK(backlen == len && !memcmp(back, buf, len));
	}
	free(ins);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fs_config c;
	struct fs_err e = { 0 };
	int ret;

	fuzz_stdin(data, size);
	if (size > CNI_STDIN_MAX)
		return 0;
	fuzz_side_files((const char *)data, size);
	fuzz_conflist((const char *)data, size);

	ret = config_parse((const char *)data, size, &c, &e);
	if (ret) {
		CHECK(e.code == CNI_ERR_DECODE || e.code == CNI_ERR_INVALID_CONFIG ||
		      e.code == CNI_ERR_INCOMPATIBLE_VERSION);
		CHECK(e.msg[0] != '\0');
		/* DEL and GC keep going with the paths alone. */
		config_free(&c);
		config_defaults(&c);
		config_parse_paths((const char *)data, size, &c);
		CHECK(c.state_dir[0] == '/' && c.log_file[0] == '/');
		config_free(&c);
		return 0;
	}
	check_config(&c);
	fuzz_strings(c.root, 0);

	if (c.prev_result)
		fuzz_prevres(&c);
	fuzz_annotations(&c);
	config_free(&c);
	return 0;
}

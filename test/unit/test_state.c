/* The record schema: what model_json.c writes it reads back the same, and it
 * refuses anything else by name (unknown or missing keys, wrong types,
 * out-of-range numbers: no float-to-int cast of 1e300). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model_json.h"
#include "result.h"
#include "state.h"

static struct attachment *sample(void)
{
	struct attachment *a = attachment_new();
	struct dev *d;

	strcpy(a->boot_id, "c1155020-6811-43df-8352-47bda615c271");
	strcpy(a->container_id, "ctr1");
	strcpy(a->ifname, "eth0");
	strcpy(a->netns, "/run/netns/p");
	strcpy(a->pod_namespace, "default");
	strcpy(a->pod_name, "web");
	strcpy(a->pod_uid, "u-1");
	strcpy(a->network, "k8s-pod-network");
	a->time = 1795974447;
	a->mode = FS_MODE_RFS;
	a->scope = FS_SCOPE_BOTH;
	a->source = SRC_AGENT_POD;
	a->node_ref = true;
	cpumask_parse_list("0-3", &a->cpus, NULL);
	cpumask_parse_list("5", &a->excluded.kubelet, NULL);
	a->sock = (struct sock_flow){ SOCK_APPLIED, 4096, 32768 };
	d = model_dev_add(a->devs, &a->ndev, "eth0", DEV_SCOPE_CONTAINER);
	model_dev_set_queues(d, 2);
	d->want_cpus = a->cpus;
	d->want_flow = 16384;
	d->q[1].wrote_cpus = true;
	d->q[1].set_cpus = a->cpus;
	d->q[1].orig_flow = 0;
	d = model_dev_add(a->devs, &a->ndev, "vxlan.calico", DEV_SCOPE_NODE);
	model_dev_fail(d, DEV_SKIPPED, "rss");
	warn_add(&a->warn, "a warning");
	return a;
}

static void test_round_trip(void **state)
{
	struct attachment *a = sample(), *b = attachment_new();
	struct fs_err e = { 0 };
	cJSON *j = model_json_attachment(a), *k;

	(void)state;
	assert_int_equal(model_json_attachment_parse(j, "rec", b, &e), 0);
	k = model_json_attachment(b);
	assert_true(cJSON_Compare(j, k, 1));
	assert_int_equal(b->devs[0].nq, 2);
	assert_true(b->devs[0].q[1].wrote_cpus);
	assert_false(b->devs[0].q[0].wrote_cpus);
	assert_int_equal(b->source, SRC_AGENT_POD);
	cJSON_Delete(j);
	cJSON_Delete(k);
	attachment_free(a);
	attachment_free(b);
}

/* No status line is stored; one that an older version stored is ignored. */
static void test_status_line_not_stored(void **state)
{
	struct attachment *a = sample(), *b = attachment_new();
	struct fs_err e = { 0 };
	cJSON *j = model_json_attachment(a);

	(void)state;
	assert_false(cJSON_HasObjectItem(j, "status"));
	cJSON_AddStringToObject(j, "status", "mode=rfs scope=both cpus=0-3 eth0:applied (1 applied, 0 failed)");
	assert_int_equal(model_json_attachment_parse(j, "rec", b, &e), 0);
	assert_int_equal(b->ndev, 2);
	cJSON_Delete(j);
	attachment_free(a);
	attachment_free(b);
}

/* Changes one thing in a good record with a cJSON edit, then expects a
 * code 5 naming `needle`. */
static void refuse(void (*edit)(cJSON *), const char *needle)
{
	struct attachment *a = sample(), *b = attachment_new();
	struct fs_err e = { 0 };
	cJSON *j = model_json_attachment(a);

	edit(j);
	if (!model_json_attachment_parse(j, "rec", b, &e))
		fail_msg("accepted, want an error naming %s", needle);
	assert_int_equal(e.code, CNI_ERR_IO);
	if (!strstr(e.msg, needle))
		fail_msg("\"%s\" does not name %s", e.msg, needle);
	cJSON_Delete(j);
	attachment_free(a);
	attachment_free(b);
}

static cJSON *dev0(cJSON *j)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItem(j, "devices"), 0);
}

static void unknown_key(cJSON *j) { cJSON_AddStringToObject(j, "phase", "done"); }
static void missing_key(cJSON *j) { cJSON_DeleteItemFromObject(j, "bootId"); }
static void huge_flow(cJSON *j) { cJSON_ReplaceItemInObject(dev0(j), "flowCnt", cJSON_CreateNumber(1e300)); }
static void frac_time(cJSON *j) { cJSON_ReplaceItemInObject(j, "time", cJSON_CreateNumber(1.5)); }
static void neg_flow(cJSON *j)
{
	cJSON *q = cJSON_GetArrayItem(cJSON_GetObjectItem(dev0(j), "queues"), 0);

	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(q, "orig"), "flowCnt", cJSON_CreateNumber(-7));
}
static void bad_mask(cJSON *j) { cJSON_ReplaceItemInObject(j, "cpus", cJSON_CreateString("ff")); }
static void bad_scope(cJSON *j) { cJSON_ReplaceItemInObject(dev0(j), "scope", cJSON_CreateString("pod")); }
static void bad_name(cJSON *j) { cJSON_ReplaceItemInObject(dev0(j), "name", cJSON_CreateString("../x")); }
static void bad_version(cJSON *j) { cJSON_ReplaceItemInObject(j, "version", cJSON_CreateNumber(2)); }
static void bad_type(cJSON *j) { cJSON_ReplaceItemInObject(j, "nodeRef", cJSON_CreateString("yes")); }
static void bad_cid(cJSON *j) { cJSON_ReplaceItemInObject(j, "containerId", cJSON_CreateString("../../etc")); }

static void bad_errno(cJSON *j) { cJSON_ReplaceItemInObject(dev0(j), "errno", cJSON_CreateString("EBOGUS")); }
static void set_above(cJSON *j) { cJSON_ReplaceItemInObject(dev0(j), "queuesSet", cJSON_CreateNumber(3)); }
static void set_only(cJSON *j) { cJSON_DeleteItemFromObject(dev0(j), "queuesTotal"); }

static void test_refused(void **state)
{
	(void)state;
	refuse(unknown_key, "unknown key \"phase\"");
	refuse(missing_key, "\"bootId\" is missing");
	refuse(huge_flow, "\"flowCnt\" must be an integer");
	refuse(frac_time, "\"time\" must be an integer");
	refuse(neg_flow, "\"flowCnt\" must be an integer");
	refuse(bad_mask, "\"cpus\"");
	refuse(bad_scope, "scope \"pod\"");
	refuse(bad_name, "\"../x\" is not an interface name");
	refuse(bad_version, "\"version\"");
	refuse(bad_type, "\"nodeRef\" must be true or false");
	refuse(bad_cid, "containerId \"../../etc\"");
	refuse(bad_errno, "errno \"EBOGUS\"");
	refuse(set_above, "queuesSet 3 of queuesTotal");
	refuse(set_only, "\"queuesTotal\" is missing");
}

/* Not an object at all (a list where a record should be): refused, not
 * read as keys of nothing. Found by the fuzzer. */
static void test_not_object(void **state)
{
	struct attachment *a = attachment_new();
	struct fs_err e = { 0 };
	cJSON *j = cJSON_Parse("[\"logFile\"]");

	(void)state;
	assert_int_equal(model_json_attachment_parse(j, "rec", a, &e), -1);
	assert_non_null(strstr(e.msg, "an object is expected"));
	cJSON_Delete(j);
	attachment_free(a);
}

/* A record of before the outcome was kept: no queuesSet, queuesTotal or
 * errno. It loads; an applied device had every queue set. */
static void test_old_record(void **state)
{
	struct attachment *a = sample(), *b = attachment_new();
	struct fs_err e = { 0 };
	cJSON *j = model_json_attachment(a);

	(void)state;
	for (int i = 0; i < 2; i++) {
		cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "devices"), i);

		cJSON_DeleteItemFromObject(d, "queuesSet");
		cJSON_DeleteItemFromObject(d, "queuesTotal");
		cJSON_DeleteItemFromObject(d, "errno");
	}
	assert_int_equal(model_json_attachment_parse(j, "rec", b, &e), 0);
	assert_int_equal(b->devs[0].nq_set, 2);
	assert_int_equal(b->devs[0].nq_total, 2);
	assert_int_equal(b->devs[1].nq_set, 0);
	cJSON_Delete(j);
	attachment_free(a);
	attachment_free(b);
}

/* A partial device with its errno comes back as it was written. */
static void test_partial_round_trip(void **state)
{
	struct attachment *a = sample(), *b = attachment_new();
	struct fs_err e = { 0 };
	cJSON *j;

	(void)state;
	model_dev_settle(&a->devs[0], 1, 3, EACCES, "re-mask to CPUs 0: writing eth0 rx-1");
	j = model_json_attachment(a);
	assert_int_equal(model_json_attachment_parse(j, "rec", b, &e), 0);
	assert_int_equal(b->devs[0].status, DEV_PARTIAL);
	assert_int_equal(b->devs[0].nq_set, 1);
	assert_int_equal(b->devs[0].nq_total, 3);
	assert_int_equal(b->devs[0].err, EACCES);
	assert_string_equal(b->devs[0].reason, "1 of 3 queues: re-mask to CPUs 0: writing eth0 rx-1");
	cJSON_Delete(j);
	attachment_free(a);
	attachment_free(b);
}

static void result_partial(void **state)
{
	struct attachment *a = sample();
	char *s;
	cJSON *r;

	(void)state;
	a->nbits = 8;
	model_dev_settle(&a->devs[0], 1, 3, 0, "bound");
	r = result_json(a);
	s = cJSON_PrintUnformatted(r);
	assert_non_null(strstr(s, "\"queues\":3,\"queuesSet\":1,\"queuesTotal\":3,\"errno\":null,\"rpsCpus\":\"0f\""));
	assert_non_null(strstr(s, "\"status\":\"partial\",\"reason\":\"1 of 3 queues: bound\""));
	free(s);
	cJSON_Delete(r);
	attachment_free(a);
}

static void test_result(void **state)
{
	struct attachment *a = sample();
	cJSON *r;
	char *s;

	(void)state;
	a->nbits = 8;
	r = result_json(a);
	s = cJSON_PrintUnformatted(r);
	assert_non_null(strstr(s, "\"rpsCpus\":\"0f\""));
	assert_non_null(strstr(s, "\"source\":\"agent-pod\""));
	assert_non_null(strstr(s, "\"sockFlowEntries\":32768"));
	assert_non_null(strstr(s, "\"status\":\"skipped\",\"reason\":\"rss\""));
	free(s);
	cJSON_Delete(r);
	attachment_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_status_line_not_stored),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_old_record),
		cmocka_unit_test(test_partial_round_trip),
		cmocka_unit_test(result_partial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

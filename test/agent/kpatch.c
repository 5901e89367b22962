/* Test client of the agent's status patch: kube_patch_prepare() and
 * kube_patch_finish(), the calls agent/podstatus.c makes around its loop
 * transfer, with the transfer run blocking here:
 *   kpatch (--sa-dir DIR | --kubeconfig PATH) NS NAME UID|- KEY [VALUE]
 * prints the HTTP status; exit 0 on 2xx, 1 otherwise (message on stderr);
 * no VALUE removes the key. */
#include <stdio.h>
#include <string.h>

#include "kube.h"

/* The HTTP status, or -1 when no answer came; e set unless 2xx. */
static long kpatch_send(struct kube_client *k, char **argv, int argc, struct fs_err *e)
{
	const char *uid = strcmp(argv[5], "-") ? argv[5] : NULL;
	struct kube_patch_req r;
	CURL *h = curl_easy_init();
	long status = -1;

	if (!h) {
		err_set(e, CNI_ERR_IO, "curl_easy_init: out of memory");
		return -1;
	}
	if (kube_patch_prepare(k, h, &r, argv[3], argv[4], uid, argv[6], argc == 8 ? argv[7] : NULL, e) ==
	    KUBE_PATCH_OK) {
		kube_patch_finish(k, h, &r, curl_easy_perform(h), &status, e);
		kube_patch_req_free(&r);
	}
	curl_easy_cleanup(h);
	return status;
}

int main(int argc, char **argv)
{
	struct kube_timeouts t = { .connect_ms = 5000, .request_ms = 10000 };
	struct kube_client *k;
	struct fs_err e = { 0 };
	long st;

	if (argc < 7 || argc > 8 || (strcmp(argv[1], "--sa-dir") && strcmp(argv[1], "--kubeconfig"))) {
		fprintf(stderr, "usage: kpatch (--sa-dir DIR | --kubeconfig PATH) NS NAME UID|- KEY [VALUE]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	k = strcmp(argv[1], "--sa-dir") ? kube_client_kubeconfig(argv[2], &t, &e)
					: kube_client_incluster(argv[2], &t, &e);
	if (!k) {
		fprintf(stderr, "kpatch: %s\n", e.msg);
		return 1;
	}
	st = kpatch_send(k, argv, argc, &e);
	printf("%ld\n", st);
	if (e.code)
		fprintf(stderr, "kpatch: %s\n", e.msg);
	kube_client_free(k);
	curl_global_cleanup();
	return st >= 200 && st <= 299 ? 0 : 1;
}

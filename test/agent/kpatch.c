/* Test client for kube_patch_pod_annotation(): the merge patch that the
 * status duty (podstatus.c) sends to write flowsteer.io/status, one call:
 *   kpatch (--sa-dir DIR | --kubeconfig PATH) NS NAME UID|- KEY [VALUE]
 * prints the HTTP status; exit 0 on 2xx, 1 otherwise (message on stderr);
 * no VALUE removes the key. */
#include <stdio.h>
#include <string.h>

#include "kube.h"

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
	st = kube_patch_pod_annotation(k, argv[3], argv[4], strcmp(argv[5], "-") ? argv[5] : NULL, argv[6],
				       argc == 8 ? argv[7] : NULL, &e);
	printf("%ld\n", st);
	if (e.code)
		fprintf(stderr, "kpatch: %s\n", e.msg);
	kube_client_free(k);
	curl_global_cleanup();
	return st >= 200 && st <= 299 ? 0 : 1;
}

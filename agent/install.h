/* The install duty: copies the plugin into the host's CNI bin dir (temp +
 * fsync + rename: kubelet may be executing the old one) and keeps the
 * flowsteer entry chained in the conflist the runtime uses. Calico's
 * installer rewrites its conflist (whole file, often by rename) on every
 * calico-node restart, dropping the entry: a dirwatch on the conf dir (made
 * again if it goes away), a loop_debounce (act once the burst is quiet,
 * 150 ms, at most 600 ms late) and a throttle (pace.h: 5 rewrites per 10 s:
 * another writer that keeps removing the entry must not turn this into a
 * write loop). Only writes on change. On exit (SIGTERM) install_unchain()
 * takes the entry out; the binary stays, because pods deleted later still
 * need their DEL. */
#ifndef FLOWSTEER_AGENT_INSTALL_H
#define FLOWSTEER_AGENT_INSTALL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "dirwatch.h"
#include "loop.h"
#include "pace.h"

struct install {
	struct loop *loop;           /* set from start to stop: the one "started" marker */
	const char *bin_dir;
	const char *conf_dir;
	const char *src;
	cJSON *entry;
	bool lost;                   /* the conf dir went away: make it again */
	bool waiting_logged, throttle_logged, chained_once;
	char last[PATH_MAX];         /* the file chained into last */
	char last_msg[768];          /* the last error logged (logged once) */
	struct dirwatch dw;
	struct loop_debounce deb;
	struct throttle thr;
	_Atomic unsigned long long writes; /* conflist rewrites (metrics) */
};

void install_init(struct install *in);
/* Parses entry_json (NULL: default entry), copies src into bin_dir, watches
 * conf_dir and chains once; then reacts in the loop. Returns 0 or -1
 * (logged); install_stop() then releases what it took. */
int install_start(struct install *in, const char *bin_dir, const char *conf_dir, const char *src,
		  const char *entry_json, struct loop *l);
/* Takes the entry out of the file chained last and of the one in use now.
 * Returns 0 or -1 (logged). */
int install_unchain(struct install *in);
/* Safe twice, and after init alone or a failed start. */
void install_stop(struct install *in);

#endif

#!/usr/bin/env bats
# flowsteer-agent's watch duty against the test API server (TLS, token, CA,
# all on the 127.0.0.1 of a netns the test makes): list+watch fill
# annotations.json (no file before the first sync, /readyz 503 until then),
# a dropped watch resumes without a list, so does a quiet one the server
# ends (no warning, no relist), 410 Gone relists, a hung server is noticed
# at timeoutSeconds + margin, 401/403 back off without a tight loop
# or a crash, a thousand events end in the server's state, the token never
# shows, and the merge patch the status duty (podstatus.c) sends.

bats_require_minimum_version 1.5.0

load helpers
load agent_helpers

setup() {
	agent_netns
	kube_certs
	agent_sa_dir
}

teardown() { agent_teardown; }

# ns_watch_rvs: the distinct resourceVersions the namespaces watches asked
# for; ns_watch_rv_last RV: the last one asked for RV.
ns_watch_rvs() {
	jq -r 'select(.path | startswith("/api/v1/namespaces?watch=")) | .path' "$KUBE_REQUESTS" |
		sed 's/.*resourceVersion=\([^&]*\).*/\1/' | sort -u | paste -sd' '
}
ns_watch_rv_last() {
	jq -r 'select(.path | startswith("/api/v1/namespaces?watch=")) | .path' "$KUBE_REQUESTS" | tail -n1 |
		grep -q "resourceVersion=$1&"
}

@test "agent: list+watch fill annotations.json; only the keys the plugin reads, this node's pods; /readyz after sync" {
	api_start
	ctl '{"op":"ns","name":"team-a","annotations":{"flowsteer.io/mode":"off","team":"a"}}' \
		'{"op":"ns","name":"plain","annotations":{"team":"b"}}' \
		'{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-web","annotations":{"flowsteer.io/cpus":"0","flowsteer.io/status":"old"}}' \
		'{"op":"pod","ns":"team-a","name":"elsewhere","node":"node-2","annotations":{"flowsteer.io/cpus":"1"}}'
	agent_start
	wait_until 5 file_matches
	run jq -c . "$AF"
	[[ $output == '{"namespaces":{"team-a":{"flowsteer.io/mode":"off"}},"pods":{"team-a/web":{"annotations":{"flowsteer.io/cpus":"0"},"uid":"u-web"}},"syncedAt":"'*'Z","version":1}' ]]
	[ "$(code /readyz)" = 200 ]
	[ "$(code /healthz)" = 200 ]
	[ "$(stat -c %a "$AF")" = 644 ]
}

@test "agent: the file follows ADDED, MODIFIED and DELETED of namespaces and pods" {
	api_start
	agent_start
	wait_until 5 file_matches
	ctl '{"op":"ns","name":"n1","annotations":{"flowsteer.io/scope":"host"}}' \
		'{"op":"pod","ns":"n1","name":"p1","node":"node-1","annotations":{"flowsteer.io/mode":"rps"}}'
	wait_until 3 file_has '.namespaces.n1["flowsteer.io/scope"] == "host" and .pods["n1/p1"]'
	ctl '{"op":"ns","name":"n1","annotations":{"flowsteer.io/scope":"container"}}' \
		'{"op":"pod","ns":"n1","name":"p1","node":"node-1","annotations":{"other":"x"}}'
	wait_until 3 file_has '.namespaces.n1["flowsteer.io/scope"] == "container" and (.pods | length) == 0'
	ctl '{"op":"delns","name":"n1"}'
	wait_until 3 file_has '(.namespaces | length) == 0'
	file_matches
}

@test "agent: syncedAt is rewritten every --refresh-seconds with no change; a failed refresh is retried within a second" {
	api_start
	agent_start --refresh-seconds 4
	wait_until 5 file_matches
	wait_until 6 file_has ".syncedAt != \"$(jq -r .syncedAt "$AF")\""
	rm -f "$AF"
	mkdir -p "$AF/in-the-way" # the refresh's rename into place fails (EISDIR)
	wait_until 6 log_has "annotations file $AF.*retrying in 1000 ms"
	rm -rf "$AF"
	# The retry (1 s), not the next refresh (4 s), puts the file back.
	wait_until 3 file_matches
	[ "$(metric flowsteer_agent_annotations_file_write_errors_total)" -ge 1 ]
}

@test "agent: no file before the first sync of both (pods 403), then written; the 403 is logged clearly and backs off" {
	api_start
	ctl '{"op":"ns","name":"a","annotations":{"flowsteer.io/mode":"off"}}' '{"op":"fault","fault":"403","resource":"pods"}'
	agent_start
	wait_until 5 log_has "HTTP 403"
	wait_until 5 log_has "namespaces: listed at resourceVersion"
	sleep 2
	[ ! -e "$AF" ]
	[ ! -e "$(dirname "$AF")" ] || [ -z "$(ls -A "$(dirname "$AF")")" ]
	[ "$(code /readyz)" = 503 ]
	[ "$(code /healthz)" = 200 ]
	grep -q 'pods: list: HTTP 403 (namespaces is forbidden: .*the ServiceAccount lacks RBAC' "$A_LOG"
	# Backoff (100 ms doubling to 1 s, jittered): a handful of requests
	# in 2 s, not a tight loop.
	n=$(srv_stat 403)
	echo "403 answers: $n"
	[ "$n" -ge 3 ]
	[ "$n" -le 20 ]
	kill -0 "$AGENT_PID"
	ctl '{"op":"fault","fault":"none"}'
	wait_until 5 file_matches
	[ "$(code /readyz)" = 200 ]
}

@test "agent: a rejected token (401) is logged without the token, backs off, recovers when it is fixed" {
	printf 'wrong-token-%s' "$RANDOM" >"$SA_DIR/token"
	api_start
	agent_start --log-level debug
	wait_until 5 log_has "HTTP 401"
	sleep 2
	n=$(srv_stat 401)
	echo "401 answers: $n"
	[ "$n" -ge 3 ]
	[ "$n" -le 20 ]
	grep -q 'HTTP 401 (Unauthorized): the token is not accepted' "$A_LOG"
	[ ! -e "$AF" ]
	# kubelet rotates the token file: the agent picks the new one up.
	printf '%s' "$KUBE_TOKEN" >"$SA_DIR/token.new"
	mv "$SA_DIR/token.new" "$SA_DIR/token"
	wait_until 5 file_matches
	log_has "token file $SA_DIR/token changed"
	run ! grep -q -- "$KUBE_TOKEN" "$A_LOG"
	run ! grep -q 'wrong-token' "$A_LOG"
}

@test "agent: a dropped watch resumes from its resourceVersion without a list; changes in between arrive" {
	api_start
	ctl '{"op":"ns","name":"a","annotations":{"flowsteer.io/mode":"off"}}'
	agent_start
	wait_until 5 file_matches
	lists=$(( $(srv_stat list:namespaces) + $(srv_stat list:pods) ))
	watches=$(srv_stat watch:namespaces)
	ctl '{"op":"fault","fault":"drop"}' '{"op":"ns","name":"b","annotations":{"flowsteer.io/mode":"rps"}}'
	wait_until 5 file_has '.namespaces.b'
	wait_until 5 srv_stat_gt watch:namespaces "$watches"
	[ $(( $(srv_stat list:namespaces) + $(srv_stat list:pods) )) -eq "$lists" ]
	[ "$(metric 'flowsteer_agent_watch_restarts_total{resource="namespaces"}')" -ge 1 ]
	grep -q 'resourceVersion=' "$KUBE_REQUESTS"
	file_matches
}

@test "agent: 410 Gone on the watch (ERROR event) relists and catches up" {
	api_start
	agent_start
	wait_until 5 file_matches
	lists=$(srv_stat list:namespaces)
	# Compacted history, then the watch reconnects from an old version.
	ctl '{"op":"ns","name":"a","annotations":{"flowsteer.io/mode":"off"}}' '{"op":"compact"}' '{"op":"fault","fault":"drop"}'
	wait_until 5 log_has "namespaces: watch: resourceVersion .* is too old (410 Gone); relisting"
	wait_until 5 file_has '.namespaces.a'
	[ "$(srv_stat list:namespaces)" -gt "$lists" ]
	[ "$(srv_stat gone:namespaces)" -ge 1 ]
	file_matches
}

@test "agent: 410 Gone as an HTTP status relists too (list at the old version is 410: fresh list)" {
	api_start
	agent_start
	wait_until 5 file_matches
	ctl '{"op":"gone_mode","mode":"http"}' '{"op":"pod","ns":"x","name":"p","node":"node-1","annotations":{"flowsteer.io/mode":"rfs"}}' \
		'{"op":"compact"}' '{"op":"fault","fault":"drop"}'
	wait_until 5 log_has 'pods: list at resourceVersion "[0-9]*": 410 Gone; listing the current state'
	wait_until 5 file_has '.pods["x/p"]'
	file_matches
}

# The test API server sends no bookmark unless asked, as a real one on a
# quiet resource: the server ends each watch at its timeoutSeconds.
@test "agent: a quiet watch (no change, no bookmark) outlives timeoutSeconds + margin: resumed at its resourceVersion, no warning, no relist" {
	api_start
	ctl '{"op":"ns","name":"a","annotations":{"flowsteer.io/mode":"off"}}'
	agent_start --watch-timeout-seconds 1 --watch-margin-seconds 1
	wait_until 5 file_matches
	lists=$(( $(srv_stat list:namespaces) + $(srv_stat list:pods) ))
	watches=$(srv_stat watch:namespaces)
	rv=$(ctl_get state | jq -r .rv)
	sleep 4
	[ $(( $(srv_stat list:namespaces) + $(srv_stat list:pods) )) -eq "$lists" ]
	[ "$(srv_stat watch:namespaces)" -ge $((watches + 2)) ]
	assert_eq "$(ns_watch_rvs)" "$rv" "resourceVersion of every namespaces watch"
	# A change moves the resourceVersion the next watch resumes at.
	ctl '{"op":"ns","name":"b","annotations":{"flowsteer.io/mode":"rps"}}'
	wait_until 5 file_has '.namespaces.b'
	rv2=$(ctl_get state | jq -r .rv)
	wait_until 5 ns_watch_rv_last "$rv2"
	[ $(( $(srv_stat list:namespaces) + $(srv_stat list:pods) )) -eq "$lists" ]
	run ! grep -E ' (warn|error) ' "$A_LOG"
	[ "$(metric 'flowsteer_agent_watch_restarts_total{resource="namespaces"}')" -ge 2 ]
	[ "$(metric 'flowsteer_agent_api_errors_total{resource="namespaces"}')" = 0 ]
}

@test "agent: a hung server (a watch not ended timeoutSeconds + margin on) is noticed, logged and resumed" {
	api_start
	agent_start --watch-timeout-seconds 1 --watch-margin-seconds 1
	wait_until 5 file_matches
	ctl '{"op":"fault","fault":"hang"}'
	wait_until 6 log_has "namespaces: watch interrupted: not ended by the server 1 s after its timeoutSeconds: server hung"
	echo "noticed after ${WAITED_MS} ms"
	ctl '{"op":"fault","fault":"none"}' '{"op":"ns","name":"after","annotations":{"flowsteer.io/mode":"rps"}}'
	wait_until 8 file_has '.namespaces.after'
	[ "$(code /healthz)" = 200 ]
}

@test "agent: wrong CA: TLS refused (logged), no file; the agent keeps running" {
	cp "$KT/wrong-ca.crt" "$SA_DIR/ca.crt"
	api_start
	agent_start
	wait_until 5 log_has "namespaces: list: SSL peer certificate or SSH remote key was not OK"
	[ ! -e "$AF" ]
	kill -0 "$AGENT_PID"
	agent_stop TERM
	[ "$AGENT_STATUS" -eq 0 ]
}

@test "agent: 1000 events of namespace and pod churn end in the server's state; the token shows nowhere" {
	api_start
	agent_start --log-level debug
	wait_until 5 file_matches
	ops=$(python3 -c '
import json, random
random.seed(7)
ops = []
for i in range(1000):
    r = random.random()
    n = "ns-%d" % random.randrange(60)
    if r < 0.35:
        ops.append({"op": "ns", "name": n, "annotations": {"flowsteer.io/mode": random.choice(["off", "rps", "rfs"]), "x": str(i)}})
    elif r < 0.45:
        ops.append({"op": "delns", "name": n})
    elif r < 0.85:
        ops.append({"op": "pod", "ns": n, "name": "p%d" % random.randrange(30), "node": random.choice(["node-1", "node-2"]),
                    "annotations": {"flowsteer.io/cpus": str(random.randrange(2))} if random.random() < 0.7 else {}})
    else:
        ops.append({"op": "delpod", "ns": n, "name": "p%d" % random.randrange(30)})
print(json.dumps({"ops": ops}))')
	for chunk in 0 1 2 3; do
		jq -c "{ops: .ops[$((chunk * 250)):$(((chunk + 1) * 250))]}" <<<"$ops" |
			"${A_EXEC[@]}" curl -sS -m 10 --fail -X POST --data-binary @- "$CTL_URL/ctl" >/dev/null
	done
	wait_until 10 file_matches
	jq '{ns: (.namespaces | length), pods: (.pods | length)}' "$AF"
	[ "$(metric 'flowsteer_agent_watch_events_total{resource="namespaces"}')" -gt 100 ]
	writes=$(metric flowsteer_agent_annotations_file_writes_total)
	echo "file writes for 1000 events: $writes"
	[ "$writes" -lt 200 ]
	get /metrics >"$BATS_TEST_TMPDIR/metrics.txt"
	run ! grep -q -- "$KUBE_TOKEN" "$A_LOG" "$BATS_TEST_TMPDIR/metrics.txt" "$AF"
	agent_stop TERM
	[ "$AGENT_STATUS" -eq 0 ]
}

@test "agent: --kubeconfig (Calico's shape: CA data, token) works outside a cluster" {
	api_start
	kube_kubeconfig
	ctl '{"op":"ns","name":"k","annotations":{"flowsteer.io/mode":"rps"}}'
	agent_start --kubeconfig "$KUBECONFIG_FILE"
	wait_until 5 file_has '.namespaces.k'
	log_has "API server $KUBE_URL"
}

@test "agent: a kubeconfig's insecure-skip-tls-verify is honoured, with a warning that the server is not authenticated" {
	api_start
	kube_kubeconfig "$KT/wrong-ca.crt"
	sed -i -e '/certificate-authority-data/d' \
		-e 's|^\( *\)server: .*|&\n\1insecure-skip-tls-verify: true|' "$KUBECONFIG_FILE"
	ctl '{"op":"ns","name":"k","annotations":{"flowsteer.io/mode":"rps"}}'
	agent_start --kubeconfig "$KUBECONFIG_FILE"
	wait_until 5 file_has '.namespaces.k'
	log_has "insecure-skip-tls-verify is set: the API server $KUBE_URL is not authenticated"
}

@test "kube_patch_prepare/finish (kpatch): merge patch with uid precondition (409 on another incarnation), null removes" {
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-1","annotations":{"keep":"me"}}'
	run "${A_EXEC[@]}" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$KUBE_PORT" \
		"$KPATCH_BIN" --sa-dir "$SA_DIR" team-a web u-1 flowsteer.io/status "rfs both: 2 devices"
	[ "$status" -eq 0 ]
	[ "$output" = 200 ]
	tail -n1 "$KUBE_PATCHES" | jq -e '.contentType == "application/merge-patch+json" and
		.body == {metadata: {uid: "u-1", annotations: {"flowsteer.io/status": "rfs both: 2 devices"}}}'
	ctl_get state | jq -e '.pods["team-a/web"].annotations == {keep: "me", "flowsteer.io/status": "rfs both: 2 devices"}'
	run --separate-stderr "${A_EXEC[@]}" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$KUBE_PORT" \
		"$KPATCH_BIN" --sa-dir "$SA_DIR" team-a web u-OTHER flowsteer.io/status x
	[ "$status" -eq 1 ]
	[ "$output" = 409 ]
	[[ $stderr == *"HTTP 409 (Precondition failed: UID in precondition: u-OTHER"* ]]
	run "${A_EXEC[@]}" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$KUBE_PORT" \
		"$KPATCH_BIN" --sa-dir "$SA_DIR" team-a web - flowsteer.io/status
	[ "$status" -eq 0 ]
	ctl_get state | jq -e '.pods["team-a/web"].annotations == {keep: "me"}'
	run --separate-stderr "${A_EXEC[@]}" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$KUBE_PORT" \
		"$KPATCH_BIN" --sa-dir "$SA_DIR" team-a gone - flowsteer.io/status x
	[ "$status" -eq 1 ]
	[ "$output" = 404 ]
}

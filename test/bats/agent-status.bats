#!/usr/bin/env bats
# flowsteer-agent's status duty: the plugin binary ADDs pods for real (a
# node netns that is also the agent's and the test API server's, pod
# netns joined to it by veths, the test's stateDir), and the agent patches
# flowsteer.io/status on each pod with its record's status line: uid as a
# precondition (a recreated pod never gets the old line), never the same
# line twice, retries with bounded backoff, nothing for a record without a
# pod UID, pending retries dropped with the record.

bats_require_minimum_version 1.5.0

load helpers
load agent_helpers

setup() { p2_setup; }
teardown() { p2_teardown; }

@test "status: a plugin ADD's line reaches its pod with the uid precondition; an identical record write is not re-patched" {
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-web"}'
	agent_start
	p2_add web u-web
	line=$(status_line "$output")
	wait_until 5 pod_status_is team-a/web "$line"
	echo "# status patch arrived ${WAITED_MS} ms after the ADD returned"
	tail -n1 "$KUBE_PATCHES" | jq -e --arg l "$line" \
		'.body == {metadata: {uid: "u-web", annotations: {"flowsteer.io/status": $l}}}'
	scans=$(metric flowsteer_agent_state_scans_total)
	CNI_ARGS_EXTRA=K8S_POD_UID=u-web run_helper cni ADD "$(p2_conf)"
	wait_until 5 metric_gt flowsteer_agent_state_scans_total "$scans"
	sleep 0.3
	[ "$(patches_to web)" -eq 1 ]
	metric_is 'flowsteer_status_patches_total{result="ok"}' 1
	run metrics_format_ok
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "status: a pod recreated under the same name (new uid) never gets the old pod's line (409 drops it)" {
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"db-0","node":"node-1","uid":"u-new"}'
	agent_start
	p2_add db-0 u-old
	wait_until 5 metric_is 'flowsteer_status_patches_total{result="conflict"}' 1
	sleep 1.5
	[ "$(patches_to db-0)" -eq 1 ]
	jq -e '.body.metadata.uid == "u-old"' "$KUBE_PATCHES"
	ctl_get state | jq -e '.pods["team-a/db-0"].annotations["flowsteer.io/status"] == null'
	metric_is flowsteer_status_patches_pending 0
	log_has "uid u-old is another incarnation now"
}

@test "status: 500s are retried with bounded backoff (100 ms doubling to 1 s), then the line arrives" {
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-web"}' \
		'{"op":"fault","fault":"500","resource":"patch"}'
	agent_start
	p2_add web u-web
	line=$(status_line "$output")
	sleep 3
	n=$(patches_to web)
	echo "# PATCH tries in 3 s of 500s: $n"
	[ "$n" -ge 3 ]
	[ "$n" -le 8 ]
	metric_is flowsteer_status_patches_pending 1
	[ "$(metric 'flowsteer_status_patches_total{result="error"}')" -eq "$n" ]
	ctl '{"op":"fault","fault":"none"}'
	wait_until 5 pod_status_is team-a/web "$line"
	log_has "pod team-a/web patched after $n failure(s)"
	metric_is flowsteer_status_patches_pending 0
}

@test "status: a DEL drops its pod's pending retries" {
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-web"}' \
		'{"op":"fault","fault":"500","resource":"patch"}'
	agent_start
	p2_add web u-web
	wait_until 5 metric_is flowsteer_status_patches_pending 1
	p2_del web u-web
	wait_until 5 metric_is flowsteer_status_patches_pending 0
	n=$(patches_to web)
	sleep 2
	[ "$(patches_to web)" -eq "$n" ]
}

@test "status: a record without a pod UID is not patched (logged once)" {
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-web"}'
	agent_start
	p2_add web ""
	wait_until 5 log_has 'has no pod UID'
	p2_add other u-other
	sleep 0.5
	[ "$(patches_to web)" -eq 0 ]
	[ "$(grep -c 'has no pod UID' "$A_LOG")" -eq 1 ]
}

@test "status: a storm of 20 ADDs is 20 patches, one per pod, each with its own line and uid" {
	api_start
	for i in $(seq 1 20); do ctl "{\"op\":\"pod\",\"ns\":\"team-a\",\"name\":\"p$i\",\"node\":\"node-1\",\"uid\":\"u-$i\"}"; done
	agent_start
	for i in $(seq 1 20); do p2_add "p$i" "u-$i"; done
	line=$(status_line "$output")
	wait_until 10 metric_is 'flowsteer_status_patches_total{result="ok"}' 20
	sleep 0.5
	[ "$(grep -c '"PATCH"' "$KUBE_REQUESTS")" -eq 20 ]
	pod_status_is team-a/p20 "$line"
	ctl_get state | jq -e '[.pods[] | .annotations["flowsteer.io/status"] | select(. != null)] | length == 20'
	jq -se 'map(.body.metadata.uid == ("u-" + (.path | capture("pods/p(?<n>[0-9]+)").n))) | all' "$KUBE_PATCHES"
}

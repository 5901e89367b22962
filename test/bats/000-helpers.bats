#!/usr/bin/env bats
# The vocabulary of helpers.bash itself: each check accepts what it is meant
# to and FAILS on what it is not (also inside `run`, where errexit does not
# hold), so that no test built on it can pass vacuously.

load helpers

setup() { setup_node; }
teardown() {
	[ -z "${HOLDER:-}" ] || kill "$HOLDER" 2>/dev/null || true
	teardown_node
}

# as_run STATUS STDERR OUTPUT CHECK...: CHECK as if run_helper had left
# that status, stderr and stdout.
as_run() {
	status=$1 stderr=$2 output=$3
	shift 3
	"$@"
}

@test "run_helper fails on another exit status; '?' takes any" {
	run_helper 3 sh -c 'exit 3'
	run ! run_helper sh -c 'exit 3'
	run ! run_helper 1 true
	run_helper '?' sh -c 'exit 7'
	assert_eq "$status" 7 "status after '?'"
}

@test "assert_eq, assert_match, assert_no_match and assert_json fail on a mismatch" {
	run ! assert_eq a b
	run ! assert_match abc '^b'
	run ! assert_no_match abc b
	run ! assert_json '{"a": 1}' .a 2
	run ! assert_json 'not json' .a 1
	assert_json '{"a": [1, 2]}' '.a | length' 2
}

@test "assert_log counts the log lines that match" {
	LOG_FILE=$BATS_TEST_TMPDIR/log
	printf 'one x\ntwo x\n' >"$LOG_FILE"
	assert_log x 2
	assert_log y 0
	run ! assert_log x 1
	run ! assert_log y
}

@test "expect_tuned and expect_untouched fail on another value or queue count" {
	node_write ul0 rps_flow_cnt 64
	run ! expect_untouched ul0
	run ! expect_tuned "$(kmask 0)" 64 ul0
	node_write ul0 rps_cpus "$(kmask 0)"
	expect_tuned "$(kmask 0)" 64 ul0
	run ! expect_tuned "$(kmask 0)" 64 ul0:2
	run ! expect_tuned "$(kmask 0)" 64 ul0 ul0u
}

@test "expect_tuned and expect_untouched read every rx queue of the pod's eth0" {
	make_pod web default 2
	expect_untouched pod "$HOST_VETH"
	pod_write rps_flow_cnt 8 rx-1
	run ! expect_untouched pod
	run ! expect_tuned 0 0 pod:2
	assert_match "$(dev_values pod)" "^pod=[0,]+ [0,]+/0 8$" "pod"
}

@test "expect_orig fails once a saved value changed" {
	save_orig ul0
	expect_orig ul0
	node_write ul0 rps_flow_cnt 16
	run ! expect_orig ul0
}

@test "expect_cni_error fails on exit 0, a word on stderr, another code or message, two JSON values" {
	local e='{"cniVersion":"1.0.0","code":7,"msg":"bad key"}'
	as_run 1 "" "$e" expect_cni_error 7 'bad key'
	run ! as_run 0 "" "$e" expect_cni_error 7
	run ! as_run 1 "oops" "$e" expect_cni_error 7
	run ! as_run 1 "" "$e" expect_cni_error 6
	run ! as_run 1 "" "$e" expect_cni_error 7 'good'
	run ! as_run 1 "" "$e$e" expect_cni_error 7
}

@test "expect_result, assert_dev, expect_warning and expect_prev_passed fail on a result that differs" {
	local r='{"cniVersion":"1.0.0","ips":[],"flowsteer":{"mode":"rfs","devices":[{"name":"eth0","status":"applied"}],"warnings":["host device x: gone","y"]}}'
	as_run 0 "" "$r" expect_result mode=rfs 'warnings | length=2'
	run ! as_run 0 "" "$r" expect_result mode=rfs scope=both
	run ! as_run 0 "" "$r" assert_dev eth0 .status absent
	as_run 0 "" "$r" expect_warning "host device" gone
	run ! as_run 0 "" "$r" expect_warning "host device" y
	as_run 0 "" "$r" expect_prev_passed '{"cniVersion":"1.0.0","prevResult":{"ips":[]}}'
	run ! as_run 0 "" "$r" expect_prev_passed '{"cniVersion":"1.0.0","prevResult":{"ips":[],"dns":{}}}'
}

@test "expect_no_state fails on a record, node.json or a temp file" {
	expect_no_state
	mkdir -p "$STATE_DIR/attachments"
	for f in attachments/c@eth0.p.json node.json node.json.tmp.1; do
		touch "$STATE_DIR/$f"
		run ! expect_no_state
		rm "$STATE_DIR/$f"
	done
}

@test "expect_no_state fails on a held lock" {
	mkdir -p "$STATE_DIR/attachments"
	flock "$STATE_DIR/lock" sleep 20 &
	HOLDER=$!
	# Held once a non-blocking try fails (bounded: 10 s).
	local n=0
	while flock -n "$STATE_DIR/lock" true && [ $((n++)) -lt 500 ]; do sleep 0.02; done
	run ! expect_no_state
}

@test "assert_unchanged sees a changed node value" {
	snapshot a
	node_write ul0 rps_flow_cnt 16
	snapshot b
	run ! assert_unchanged a b
	snapshot c
	assert_unchanged b c
}

@test "ro_sys and caps_dropped change the plugin's host for that one command" {
	printf '#!/bin/sh\nawk '\''$5 == "/sys" {print $6}'\'' /proc/self/mountinfo\ngrep CapBnd /proc/self/status\n' \
		>"$BATS_TEST_TMPDIR/probe"
	chmod +x "$BATS_TEST_TMPDIR/probe"
	FLOWSTEER_BIN=$BATS_TEST_TMPDIR/probe ro_sys run_helper plugin </dev/null
	assert_match "$output" '^ro,'
	FLOWSTEER_BIN=$BATS_TEST_TMPDIR/probe caps_dropped -all run_helper plugin </dev/null
	assert_match "$output" '^rw,.*CapBnd:	0000000000000000$'
}

#!/usr/bin/env bats
# Partial work is reported as partial (docs/devices.md, "Outcome"): a device
# where not every rx queue got flowsteer's value says "partial" (or
# "failed" when none did), with its counts, in the ADD result, the record,
# `flowsteer status` (text and --json, exit 3) and the status line; CHECK
# fails on it (code 101). Causes made for real: a veth with more rx queues
# than the safety bound (1024), one queue whose write fails (the debug
# build's FLOWSTEER_DEBUG_FAIL_AT), queues that appear while the device is
# written (the debug build stops there; ethtool -L adds them).

load helpers

setup() {
	setup_node
	ALL=$(all_cpus_mask)
}

teardown() {
	[ -z "${STOPPED:-}" ] || kill -CONT "$STOPPED" 2>/dev/null || true
	teardown_node
}

# rec_dev JQ: JQ of the record's eth0.
rec_dev() { record_json | jq -r ".devices[] | select(.name == \"eth0\") | $1"; }

@test "partial: a pod eth0 of 1100 rx queues: the first 1024 written, partial 1024 of 1100 everywhere; CHECK fails; the bound logged" {
	make_pod web default 1100
	CONF=$(conf 1.0.0 '.mode = "rps" | .scope = "container"')
	run_helper cni ADD "$CONF"
	assert_dev eth0 '"\(.status) \(.queuesSet)/\(.queuesTotal) \(.queues) \(.rpsCpus)"' "partial 1024/1100 1100 $ALL"
	assert_match "$(dev_json eth0 .reason)" '^1024 of 1100 queues: rx-1024 and above left as they are'
	expect_warning "container device eth0: partial: 1024 of 1100 queues"
	# The kernel: rx-0..rx-1023 steered, rx-1024..rx-1099 untouched.
	pod_rx rps_cpus | tr ' ' '\n' >"$BATS_TEST_TMPDIR/masks"
	assert_eq "$(head -n 1024 "$BATS_TEST_TMPDIR/masks" | sort -u)" "$ALL" "rx-0..1023"
	assert_match "$(tail -n 76 "$BATS_TEST_TMPDIR/masks" | sort -u)" '^[0,]+$' "rx-1024..1099"
	assert_eq "$(rec_dev '"\(.status) \(.queuesSet)/\(.queuesTotal) \(.errno)"')" "partial 1024/1100 null" "record"
	assert_eq "$(record_json | jq 'has("status")')" false "stored status line"
	run_helper 3 fs_status --json
	assert_match "$(jq -r '.attachments[0].status' <<<"$output")" ' eth0:partial\(1024/1100\) \(0 applied, 1 partial, 0 failed\)$'
	assert_json "$output" '.attachments[0].devices[0] | "\(.status) \(.queuesSet)/\(.queuesTotal) \(.queues)"' \
		"partial 1024/1100 1100"
	assert_json "$output" .unapplied 1
	run_helper 3 fs_status
	assert_match "$output" 'eth0 +container +1024/1100 .* PARTIAL: 1024 of 1100 queues'
	run_helper 1 cni CHECK "$CONF"
	expect_cni_error 101 'device eth0 \(container\) is partial: 1024 of 1100 queues'
	assert_log 'container device eth0 has 1100 rx queues: flowsteer writes the first 1024 \(a safety bound' 1
}

@test "partial: one queue whose write fails: eth0 failed 0 of 4 with its errno, the queues before it restored; the others applied" {
	debug_bin
	make_pod web default 4
	CONF=$(conf 1.0.0 '.mode = "rps"')
	FLOWSTEER_BIN=$DEBUG_BIN FLOWSTEER_DEBUG_FAIL_AT=queue-write:eth0:2 run_helper cni ADD "$CONF"
	assert_dev eth0 '"\(.status) \(.queuesSet)/\(.queuesTotal) \(.errno)"' "failed 0/4 EIO"
	assert_match "$(dev_json eth0 .reason)" '^0 of 4 queues: writing eth0 rx-2 rps_cpus=[0-9a-f,]+: Input/output error$'
	assert_dev "$HOST_VETH" '"\(.status) \(.queuesSet)/\(.queuesTotal)"' "applied 4/4"
	expect_untouched pod
	expect_tuned "$ALL" 0 "$HOST_VETH:4"
	assert_eq "$(rec_dev '"\(.status) \(.queuesSet)/\(.queuesTotal) \(.errno)"')" "failed 0/4 EIO" "record"
	run_helper 0 fs_status --json
	assert_match "$(jq -r '.attachments[0].status' <<<"$output")" " eth0:failed\(0/4,EIO\) $HOST_VETH:applied "
}

# stopped_pid: the debug build stopped by FLOWSTEER_DEBUG_STOP_AT.
stopped_pid() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$DEBUG_BIN" ] || continue
		[ "$(awk '{print $3}' "$p/stat" 2>/dev/null)" = T ] && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}

@test "partial: rx queues that appear while eth0 is written: partial 4 of 8 (queues counted again after the writes)" {
	debug_bin
	command -v ethtool >/dev/null || skip "ethtool not installed"
	make_pod web default 8
	ip netns exec "$POD_NS" ethtool -L eth0 rx 4
	CONF=$(conf 1.0.0 '.mode = "rps" | .scope = "container"')
	printf '%s' "$CONF" >"$BATS_TEST_TMPDIR/conf"
	FLOWSTEER_BIN=$DEBUG_BIN FLOWSTEER_DEBUG_STOP_AT=queues-written \
		plugin_env "$BATS_TEST_TMPDIR/conf" CNI_COMMAND=ADD >"$BATS_TEST_TMPDIR/out" 2>&1 &
	local bg=$! i
	for ((i = 0; i < 200; i++)); do STOPPED=$(stopped_pid) && break; sleep 0.05; done
	[ -n "$STOPPED" ]
	ip netns exec "$POD_NS" ethtool -L eth0 rx 8
	kill -CONT "$STOPPED"
	STOPPED=
	wait "$bg"
	output=$(cat "$BATS_TEST_TMPDIR/out")
	assert_dev eth0 '"\(.status) \(.queuesSet)/\(.queuesTotal)"' "partial 4/8"
	assert_match "$(dev_json eth0 .reason)" '^4 of 8 queues: rx-4 to rx-7 appeared while eth0 was written'
	assert_eq "$(rec_dev '"\(.status) \(.queuesSet)/\(.queuesTotal)"')" "partial 4/8" "record"
	run_helper 1 cni CHECK "$CONF"
	expect_cni_error 101 'device eth0 \(container\) is partial: 4 of 8 queues'
}

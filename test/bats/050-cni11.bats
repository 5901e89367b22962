#!/usr/bin/env bats
# CNI 1.1 verbs (SPEC §6). STATUS: ready only when the kernel has RPS and the
# stateDir is writable, else code 50 with the reason. GC: drops the records
# absent from cni.dev/valid-attachments, which is what the node's reference
# count is made of, and restores the node devices when none is left.

load helpers

setup() {
	setup_node
	save_orig ul0
	MASK=$(all_cpus_mask)
	IN=$BATS_TEST_TMPDIR/in.json
}

teardown() { teardown_node; }

# status_conf [JQ_FILTER]: STATUS's config (1.1.0, no prevResult) into $IN.
status_conf() { conf 1.1.0 "${1:-.}" | jq -c 'del(.prevResult)' >"$IN"; }

# status_verb [STATUS]: the STATUS verb on $IN (no container, netns or
# ifname), exiting STATUS (default 0).
status_verb() {
	run_helper "${1:-0}" plugin_env "$IN" CNI_COMMAND=STATUS -CNI_CONTAINERID -CNI_NETNS -CNI_IFNAME
}

# --- STATUS ------------------------------------------------------------------

@test "STATUS: ready with RPS and a writable stateDir; no probe file left" {
	status_conf
	status_verb
	assert_eq "$output" "" "STATUS's stdout"
	assert_eq "$(find "$STATE_DIR" -name '.status-probe*')" "" "probe files"
}

@test "STATUS under failurePolicy ignore: not-ready problems are logged, exit 0 (the node stays Ready)" {
	: >"$BATS_TEST_TMPDIR/afile"
	status_conf ".stateDir = \"$BATS_TEST_TMPDIR/afile/state\""
	status_verb
	assert_eq "$output" "" "STATUS's stdout"
	assert_log "warn .*not ready, but reported ready \(failurePolicy ignore\): stateDir $BATS_TEST_TMPDIR/afile/state cannot be created"
}

@test "STATUS under failurePolicy ignore with no RPS in the kernel: exit 0, logged" {
	status_conf
	no_sys status_verb
	assert_eq "$output" "" "STATUS's stdout"
	assert_log 'kernel has no RPS'
}

@test "STATUS: stateDir below a read-only bind mount: 50 naming it and EROFS" {
	mkdir -p "$BATS_TEST_TMPDIR/ro"
	status_conf ".stateDir = \"$BATS_TEST_TMPDIR/ro/state\" | .failurePolicy = \"fail\""
	ro_bind "$BATS_TEST_TMPDIR/ro" status_verb 1
	expect_cni_error 50 "stateDir $BATS_TEST_TMPDIR/ro/state cannot be created: Read-only file system"
}

@test "STATUS: an existing stateDir made read-only: 50, not writable" {
	mkdir -p -m 0700 "$BATS_TEST_TMPDIR/ro/state"
	status_conf ".stateDir = \"$BATS_TEST_TMPDIR/ro/state\" | .failurePolicy = \"fail\""
	ro_bind "$BATS_TEST_TMPDIR/ro" status_verb 1
	expect_cni_error 50 "stateDir $BATS_TEST_TMPDIR/ro/state(/attachments cannot be created| is not writable): Read-only file system"
}

@test "STATUS: stateDir below a regular file: 50, not a directory" {
	: >"$BATS_TEST_TMPDIR/afile"
	status_conf ".stateDir = \"$BATS_TEST_TMPDIR/afile/state\" | .failurePolicy = \"fail\""
	status_verb 1
	expect_cni_error 50 "stateDir $BATS_TEST_TMPDIR/afile/state cannot be created: Not a directory"
}

@test "STATUS: no RPS in the kernel (no rps_cpus in sysfs): 50 naming the file" {
	status_conf '.failurePolicy = "fail"'
	no_sys status_verb 1
	expect_cni_error 50 'kernel has no RPS: /sys/class/net/lo/queues/rx-0/rps_cpus: No such file'
}

@test "STATUS needs no privileges: ready with every capability dropped" {
	command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
	status_conf
	caps_dropped -all status_verb
}

@test "STATUS under cniVersion 1.0.0: 1, the verb is 1.1" {
	status_conf '.cniVersion = "1.0.0"'
	status_verb 1
	expect_cni_error 1 'does not allow STATUS'
}

# --- GC ------------------------------------------------------------------------

# gc STATUS VALID_JSON [JQ_FILTER]: GC with cni.dev/valid-attachments =
# VALID_JSON, exiting STATUS; on success nothing on stdout.
gc() {
	run_helper "$1" cni GC "$(conf 1.1.0 ".[\"cni.dev/valid-attachments\"] = $2 | ${3:-.}")"
	[ "$1" != 0 ] || assert_eq "$output" "" "GC's stdout"
}

@test "GC drops what is not valid, keeps what is; the node stays tuned while a record holds it" {
	add_pods a b c
	assert_eq "$(refs)" 3 "references"
	gc 0 '[{"containerID": "ctr-a", "ifname": "eth0"}, {"containerID": "ctr-c", "ifname": "eth0"}]'
	assert_eq "$(record_names)" "ctr-a@eth0.n.json ctr-c@eth0.n.json" "records"
	expect_tuned "$MASK" 32768 ul0
	assert_log 'gc: dropping record ctr-b@eth0\.n\.json'
}

@test "GC dropping the last records restores the node devices" {
	add_pods a b
	gc 0 '[]'
	expect_no_state
	expect_orig ul0
}

@test "GC: an entry without ifname is malformed: 7, nothing dropped" {
	add_pods a
	gc 1 '[{"containerID": "ctr-a"}]'
	expect_cni_error 7
	assert_eq "$(record_names)" "ctr-a@eth0.n.json" "records"
}

@test "GC: the same container with another ifname is not valid" {
	add_pods a
	gc 0 '[{"containerID": "ctr-a", "ifname": "eth1"}]'
	assert_eq "$(refs)" 0 "references"
	expect_orig ul0
}

# stale_and_corrupt: pod a added, and two more records held the count: a
# pod whose DEL never came and a record no one can read.
stale_and_corrupt() {
	add_pods a
	jq -c '.containerId = "ctr-gone"' "$STATE_DIR/attachments/ctr-a@eth0.n.json" >"$STATE_DIR/attachments/ctr-gone@eth0.n.json"
	printf '{"containerId": "ctr-tor' >"$STATE_DIR/attachments/ctr-torn@eth0.n.json"
	assert_eq "$(refs)" 3 "references"
}

@test "GC fixes a count held by a stale and a corrupt record" {
	stale_and_corrupt
	gc 0 '[{"containerID": "ctr-a", "ifname": "eth0"}]'
	assert_eq "$(record_names)" "ctr-a@eth0.n.json" "records"
}

@test "GC fixes a count held by a stale and a corrupt record: the last DEL then restores the node" {
	stale_and_corrupt
	gc 0 '[{"containerID": "ctr-a", "ifname": "eth0"}]'
	cni_del "${CONF[a]}" ctr-a
	expect_orig ul0
	expect_no_state
}

@test "GC leaves the records of another network sharing the stateDir" {
	add_pods a
	ADD_FILTER='.name = "other-net"' add_pods b
	gc 0 '[]'
	assert_eq "$(record_names)" "ctr-b@eth0.n.json" "records"
	expect_tuned "$MASK" 32768 ul0
	gc 0 '[]' '.name = "other-net"'
	expect_no_state
	expect_orig ul0
}

@test "GC with restoreOnLastDel false: records dropped, node devices left as they are" {
	add_pods a
	gc 0 '[]' '.restoreOnLastDel = false'
	assert_eq "$(records)" 0 "records"
	expect_tuned "$MASK" 32768 ul0
}

@test "GC without cni.dev/valid-attachments: 7 naming the key, nothing dropped" {
	add_pods a
	run_helper 1 cni GC "$(conf 1.1.0)"
	expect_cni_error 7 'cni\.dev/valid-attachments'
	assert_eq "$(record_names)" "ctr-a@eth0.n.json" "records"
}

@test "GC under cniVersion 1.0.0: 1, nothing dropped" {
	add_pods a
	gc 1 '[]' '.cniVersion = "1.0.0"'
	expect_cni_error 1
	assert_eq "$(record_names)" "ctr-a@eth0.n.json" "records"
}

@test "GC with a bad key in the config: the config error, nothing dropped" {
	add_pods a
	gc 1 '[]' '.mode = "fast"'
	expect_cni_error 7
	assert_eq "$(record_names)" "ctr-a@eth0.n.json" "records"
}

@test "GC on an empty node: success, nothing created but the lock" {
	gc 0 '[]'
	expect_no_state
}

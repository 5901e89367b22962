#!/usr/bin/env bats
# CNI 1.1 verbs (SPEC §6). STATUS: ready only when the kernel has RPS and the
# stateDir is writable, else code 50 with the reason. GC: drops the records
# absent from cni.dev/valid-attachments, which is what the node's reference
# count is made of, and restores the node devices when none is left.

bats_require_minimum_version 1.5.0

load helpers
load hardening_helpers

setup() {
	setup_node
	save_ul0
	MASK=$(all_cpus_mask)
	IN=$BATS_TEST_TMPDIR/in.json
}

teardown() { teardown_node; }

status_conf() { conf 1.1.0 "${1:-.}" | jq -c 'del(.prevResult)' >"$IN"; }

# status_run [WRAP...]: STATUS on $IN, behind WRAP (a command prefix).
status_run() {
	PLUGIN_WRAP=("$@")
	run --separate-stderr plugin_env "$IN" CNI_COMMAND=STATUS -CNI_CONTAINERID -CNI_NETNS -CNI_IFNAME
	PLUGIN_WRAP=()
	echo "exit $status: $output $stderr"
}

expect_not_ready() {
	[ "$status" -eq 1 ]
	[ -z "$stderr" ]
	[ "$(echo "$output" | jq -r .code)" = 50 ]
	echo "$output" | jq -r .msg | grep -Eq -- "$1"
}

# --- STATUS ------------------------------------------------------------------

@test "STATUS: ready with RPS and a writable stateDir; no probe file left" {
	status_conf
	status_run
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$(find "$STATE_DIR" -name '.status-probe*')" ]
}

@test "STATUS under failurePolicy ignore: not-ready problems are logged, exit 0 (the node stays Ready)" {
	: >"$BATS_TEST_TMPDIR/afile"
	status_conf ".stateDir = \"$BATS_TEST_TMPDIR/afile/state\""
	status_run
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	grep -q "warn .*not ready, but reported ready (failurePolicy ignore): stateDir $BATS_TEST_TMPDIR/afile/state cannot be created" "$LOG_FILE"
}

@test "STATUS under failurePolicy ignore with no RPS in the kernel: exit 0, logged" {
	status_conf
	status_run unshare -m sh -c 'mount -t tmpfs none /sys && exec "$0" "$@"'
	[ "$status" -eq 0 ]
	grep -q 'kernel has no RPS' "$LOG_FILE"
}

@test "STATUS: stateDir below a read-only bind mount: 50 naming it and EROFS" {
	mkdir -p "$BATS_TEST_TMPDIR/ro"
	status_conf ".stateDir = \"$BATS_TEST_TMPDIR/ro/state\" | .failurePolicy = \"fail\""
	status_run unshare -m sh -c \
		'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"' sh "$BATS_TEST_TMPDIR/ro"
	expect_not_ready "stateDir $BATS_TEST_TMPDIR/ro/state cannot be created: Read-only file system"
}

@test "STATUS: an existing stateDir made read-only: 50, not writable" {
	mkdir -p -m 0700 "$BATS_TEST_TMPDIR/ro/state"
	status_conf ".stateDir = \"$BATS_TEST_TMPDIR/ro/state\" | .failurePolicy = \"fail\""
	status_run unshare -m sh -c \
		'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"' sh "$BATS_TEST_TMPDIR/ro"
	expect_not_ready "stateDir $BATS_TEST_TMPDIR/ro/state(/attachments cannot be created| is not writable): Read-only file system"
}

@test "STATUS: stateDir below a regular file: 50, not a directory" {
	: >"$BATS_TEST_TMPDIR/afile"
	status_conf ".stateDir = \"$BATS_TEST_TMPDIR/afile/state\" | .failurePolicy = \"fail\""
	status_run
	expect_not_ready "stateDir $BATS_TEST_TMPDIR/afile/state cannot be created: Not a directory"
}

@test "STATUS: no RPS in the kernel (no rps_cpus in sysfs): 50 naming the file" {
	status_conf '.failurePolicy = "fail"'
	status_run unshare -m sh -c 'mount -t tmpfs none /sys && exec "$0" "$@"'
	expect_not_ready 'kernel has no RPS: /sys/class/net/lo/queues/rx-0/rps_cpus: No such file'
}

@test "STATUS needs no privileges: ready with every capability dropped" {
	command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
	status_conf
	status_run setpriv --bounding-set -all
	[ "$status" -eq 0 ]
}

@test "STATUS under cniVersion 1.0.0: 1, the verb is 1.1" {
	status_conf '.cniVersion = "1.0.0"'
	status_run
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | jq -r .code)" = 1 ]
	echo "$output" | jq -r .msg | grep -q 'does not allow STATUS'
}

# --- GC ------------------------------------------------------------------------

# add_pods NAME...: one ADD per pod; CIDS[name]=container id.
declare -A CIDS
add_pods() {
	local p
	for p; do
		make_pod "$p"
		run cni ADD "$(conf 1.0.0)"
		[ "$status" -eq 0 ]
		CIDS[$p]=ctr-$p
	done
}

# gc VALID_JSON [JQ]: GC with cni.dev/valid-attachments = VALID_JSON.
gc() {
	run cni GC "$(conf 1.1.0 ".[\"cni.dev/valid-attachments\"] = $1 | ${2:-.}")"
	echo "GC: $status $output"
}

@test "GC drops what is not valid, keeps what is; the node stays tuned while a record holds it" {
	add_pods a b c
	[ "$(refs)" -eq 3 ]
	gc '[{"containerID": "ctr-a", "ifname": "eth0"}, {"containerID": "ctr-c", "ifname": "eth0"}]'
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(refs)" -eq 2 ]
	[ -e "$STATE_DIR/attachments/ctr-a@eth0.n.json" ]
	[ ! -e "$STATE_DIR/attachments/ctr-b@eth0.n.json" ]
	[ -e "$STATE_DIR/attachments/ctr-c@eth0.n.json" ]
	[ "$(node_sysfs ul0 rps_cpus)" = "$MASK" ]
	grep -q 'gc: dropping record ctr-b@eth0.n.json' "$LOG_FILE"

	gc '[]'
	[ "$status" -eq 0 ]
	[ "$(records)" -eq 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
	assert_ul0_original
}

@test "GC: an entry without ifname is malformed: 7, nothing dropped" {
	add_pods a
	gc '[{"containerID": "ctr-a"}]'
	[ "$status" -eq 1 ]
	[ "$(jq -r .code <<<"$output")" = 7 ]
	[ "$(refs)" -eq 1 ]
}

@test "GC: the same container with another ifname is not valid" {
	add_pods a
	gc '[{"containerID": "ctr-a", "ifname": "eth1"}]'
	[ "$status" -eq 0 ]
	[ "$(refs)" -eq 0 ]
	assert_ul0_original
}

@test "GC fixes a count held by a stale and a corrupt record" {
	add_pods a
	# A pod whose DEL never came, and a record no one can read.
	cp "$STATE_DIR/attachments/ctr-a@eth0.n.json" "$STATE_DIR/attachments/ctr-gone@eth0.n.json"
	jq -c '.containerId = "ctr-gone"' "$STATE_DIR/attachments/ctr-gone@eth0.n.json" >"$BATS_TEST_TMPDIR/x"
	mv "$BATS_TEST_TMPDIR/x" "$STATE_DIR/attachments/ctr-gone@eth0.n.json"
	printf '{"containerId": "ctr-tor' >"$STATE_DIR/attachments/ctr-torn@eth0.n.json"
	[ "$(refs)" -eq 3 ]
	gc '[{"containerID": "ctr-a", "ifname": "eth0"}]'
	[ "$status" -eq 0 ]
	[ "$(refs)" -eq 1 ]
	[ -e "$STATE_DIR/attachments/ctr-a@eth0.n.json" ]
	# Then the last one goes with its DEL, and the node is restored.
	run cni DEL "$(conf 1.0.0)" ctr-a
	[ "$status" -eq 0 ]
	assert_ul0_original
	[ ! -e "$STATE_DIR/node.json" ]
}

@test "GC leaves the records of another network sharing the stateDir" {
	add_pods a
	make_pod b
	run cni ADD "$(conf 1.0.0 '.name = "other-net"')"
	[ "$status" -eq 0 ]
	gc '[]'
	[ "$status" -eq 0 ]
	[ ! -e "$STATE_DIR/attachments/ctr-a@eth0.n.json" ]
	[ -e "$STATE_DIR/attachments/ctr-b@eth0.n.json" ]
	[ "$(node_sysfs ul0 rps_cpus)" = "$MASK" ]
	gc '[]' '.name = "other-net"'
	[ "$status" -eq 0 ]
	[ "$(records)" -eq 0 ]
	assert_ul0_original
}

@test "GC with restoreOnLastDel false: records dropped, node devices left as they are" {
	add_pods a
	gc '[]' '.restoreOnLastDel = false'
	[ "$status" -eq 0 ]
	[ "$(records)" -eq 0 ]
	[ "$(node_sysfs ul0 rps_cpus)" = "$MASK" ]
}

@test "GC without cni.dev/valid-attachments: 7 naming the key, nothing dropped" {
	add_pods a
	run cni GC "$(conf 1.1.0)"
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | jq -r .code)" = 7 ]
	echo "$output" | jq -r .msg | grep -q 'cni.dev/valid-attachments'
	[ "$(refs)" -eq 1 ]
}

@test "GC under cniVersion 1.0.0: 1, nothing dropped" {
	add_pods a
	gc '[]' '.cniVersion = "1.0.0"'
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | jq -r .code)" = 1 ]
	[ "$(refs)" -eq 1 ]
}

@test "GC with a bad key in the config: the config error, nothing dropped" {
	add_pods a
	gc '[]' '.mode = "fast"'
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | jq -r .code)" = 7 ]
	[ "$(refs)" -eq 1 ]
}

@test "GC on an empty node: success, nothing created but the lock" {
	gc '[]'
	[ "$status" -eq 0 ]
	[ "$(records)" -eq 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
}

#!/usr/bin/env bats
# Crash safety (SPEC §9). A debug build (make DEBUG_HOOKS=1 BUILD=build-debug)
# SIGKILLs itself at the step named by FLOWSTEER_DEBUG_KILL_AT. After a kill
# at any step: every state file present is whole JSON, the lock is free, and
# the runtime's DEL — or a GC that no longer lists the attachment — finishes
# the clean-up: node devices back to their originals, node.json gone, no
# record, no temp file.
#
# The node has two devices (hostDevices ["@underlay", "ul1"]: ul0 carries the
# default route) so a kill between them (node-partial, restore-partial)
# leaves one changed and one not. ul1 starts from non-default values so a
# restore to zeros would show.

bats_require_minimum_version 1.5.0

load helpers
load hardening_helpers

setup() {
	debug_bin
	setup_node
	ip -n "$NODE" link add ul1 type veth peer name ul1 netns "${NODE}u"
	ip -n "$NODE" link set ul1 up
	node_run sh -c 'echo 1 >/sys/class/net/ul1/queues/rx-0/rps_cpus &&
		echo 128 >/sys/class/net/ul1/queues/rx-0/rps_flow_cnt'
	save_ul0
	UL1_CPUS=$(node_sysfs ul1 rps_cpus)
	UL1_FLOW=$(node_sysfs ul1 rps_flow_cnt)
	[ "$UL1_FLOW" = 128 ]
	MASK=$(all_cpus_mask)
	make_pod p1
	CONF=$(conf 1.0.0 '.hostDevices = ["@underlay", "ul1"]')
}

teardown() {
	[ -z "${HOLDER_PID:-}" ] || kill "$HOLDER_PID" 2>/dev/null || true
	teardown_node
}

# crash VERB STEP [CID]: the debug build, killed at STEP; nothing on stdout.
crash() {
	local verb=$1 step=$2 cid=${3:-ctr-$POD_NAME} bin=$FLOWSTEER_BIN
	export FLOWSTEER_DEBUG_KILL_AT=$step
	FLOWSTEER_BIN=$DEBUG_BIN
	run --separate-stderr cni "$verb" "$CONF" "$cid"
	FLOWSTEER_BIN=$bin
	unset FLOWSTEER_DEBUG_KILL_AT
	echo "crash at $step: exit $status, stdout: $output"
	[ "$status" -eq 137 ]
	[ -z "$output" ]
}

# What a dead process may leave: whole files and a free lock.
assert_after_crash() {
	local f
	for f in "$STATE_DIR"/node.json "$STATE_DIR"/attachments/*.json; do
		[ -e "$f" ] || continue
		jq -e 'type == "object"' "$f" >/dev/null || { echo "torn state file $f: $(cat "$f")"; return 1; }
	done
	# (Before after-lock the stateDir does not exist yet.)
	[ ! -e "$STATE_DIR/lock" ] || flock -n "$STATE_DIR/lock" true ||
		{ echo "the lock is still held after the crash"; return 1; }
}

ul_state() { echo "ul0=$(node_sysfs ul0 rps_cpus)/$(node_sysfs ul0 rps_flow_cnt) ul1=$(node_sysfs ul1 rps_cpus)/$(node_sysfs ul1 rps_flow_cnt)"; }
ul_original() { echo "ul0=$UL0_CPUS/$UL0_FLOW ul1=$UL1_CPUS/$UL1_FLOW"; }
ul_tuned() { echo "ul0=$MASK/32768 ul1=$MASK/32768"; }

assert_ul() {
	local want=$1 have
	have=$(ul_state)
	[ "$have" = "$want" ] || { echo "node devices: $have, expected $want"; return 1; }
}

assert_clean() {
	[ "$(records)" -eq 0 ] || { ls -la "$STATE_DIR/attachments"; return 1; }
	[ ! -e "$STATE_DIR/node.json" ]
	[ -z "$(tmp_files)" ] || { echo "left over: $(tmp_files)"; return 1; }
	assert_ul "$(ul_original)"
	[ ! -e "$STATE_DIR/lock" ] || flock -n "$STATE_DIR/lock" true
}

recover_del() {
	run cni DEL "$CONF" "${1:-ctr-$POD_NAME}"
	echo "DEL: $status $output"
	[ "$status" -eq 0 ]
}

recover_gc() {
	run cni GC "$(conf 1.1.0 '.hostDevices = ["@underlay", "ul1"] | .["cni.dev/valid-attachments"] = []')"
	echo "GC: $status $output"
	[ "$status" -eq 0 ]
}

# The node is usable again: a normal ADD and DEL.
assert_usable() {
	run cni ADD "$CONF"
	[ "$status" -eq 0 ]
	assert_ul "$(ul_tuned)"
	[ "$(refs)" -eq 1 ]
	run cni DEL "$CONF"
	[ "$status" -eq 0 ]
	assert_clean
}

# expect_mid STEP: what the node looks like right after a kill at STEP
# during a first pod's ADD (proves the hook fired where it is named).
expect_mid() {
	case $1 in
	after-container | after-host | after-lock)
		[ ! -e "$STATE_DIR/node.json" ]
		assert_ul "$(ul_original)" ;;
	before-rename)
		# The first atomic write into a new stateDir: its boot marker.
		[ ! -e "$STATE_DIR/node.json" ]
		[ -n "$(find "$STATE_DIR" -maxdepth 1 -name '*.tmp.*')" ]
		assert_ul "$(ul_original)" ;;
	node-saved)
		[ "$(node_orig ul1 flowCnt)" = 128 ]
		assert_ul "$(ul_original)" ;;
	node-partial)
		[ -e "$STATE_DIR/node.json" ]
		assert_ul "ul0=$MASK/32768 ul1=$UL1_CPUS/$UL1_FLOW" ;;
	after-node)
		[ -e "$STATE_DIR/node.json" ]
		assert_ul "$(ul_tuned)" ;;
	after-record)
		[ -e "$STATE_DIR/attachments/ctr-p1@eth0.n.json" ]
		assert_ul "$(ul_tuned)" ;;
	esac
	case $1 in
	after-record) [ "$(records)" -eq 1 ] ;;
	*) [ "$(records)" -eq 0 ] ;;
	esac
	# The pod's own devices were tuned from after-container on (they go
	# away with the pod; DEL does not touch them).
	case $1 in
	after-container | after-host | after-lock | node-saved | node-partial | after-node | before-rename | after-record)
		[ "$(pod_sysfs "$POD_NS" rps_cpus)" = "$MASK" ] ;;
	esac
}

ADD_STEPS="after-container after-host after-lock node-saved node-partial after-node before-rename after-record"

@test "every ADD kill point is a known hook in the source" {
	local s
	for s in $ADD_STEPS del-after-forget restore-partial; do
		grep -rq "debug_hook(\"$s\")" "$REPO/cmd" "$REPO/plugin" || { echo "no hook $s"; false; }
	done
}

@test "an unknown kill step kills nothing: the ADD completes" {
	export FLOWSTEER_DEBUG_KILL_AT=nowhere
	FLOWSTEER_BIN=$DEBUG_BIN run cni ADD "$CONF"
	unset FLOWSTEER_DEBUG_KILL_AT
	[ "$status" -eq 0 ]
	assert_ul "$(ul_tuned)"
}

# crash_case STEP del|gc: a first pod's ADD killed at STEP, then recovery.
crash_case() {
	crash ADD "$1"
	assert_after_crash
	expect_mid "$1"
	"recover_$2"
	assert_clean
	assert_usable
}

@test "ADD killed at after-container, DEL cleans up" {
	crash_case after-container del
}

@test "ADD killed at after-container, GC cleans up" {
	crash_case after-container gc
}

@test "ADD killed at after-host, DEL cleans up" {
	crash_case after-host del
}

@test "ADD killed at after-host, GC cleans up" {
	crash_case after-host gc
}

@test "ADD killed at after-lock, DEL cleans up" {
	crash_case after-lock del
}

@test "ADD killed at after-lock, GC cleans up" {
	crash_case after-lock gc
}

@test "ADD killed at node-saved, DEL cleans up" {
	crash_case node-saved del
}

@test "ADD killed at node-saved, GC cleans up" {
	crash_case node-saved gc
}

@test "ADD killed at node-partial, DEL cleans up" {
	crash_case node-partial del
}

@test "ADD killed at node-partial, GC cleans up" {
	crash_case node-partial gc
}

@test "ADD killed at after-node, DEL cleans up" {
	crash_case after-node del
}

@test "ADD killed at after-node, GC cleans up" {
	crash_case after-node gc
}

@test "ADD killed at before-rename, DEL cleans up" {
	crash_case before-rename del
}

@test "ADD killed at before-rename, GC cleans up" {
	crash_case before-rename gc
}

@test "ADD killed at after-record, DEL cleans up" {
	crash_case after-record del
}

@test "ADD killed at after-record, GC cleans up" {
	crash_case after-record gc
}

@test "ADD killed twice in a row at node-partial: originals survive, DEL restores them" {
	crash ADD node-partial
	crash ADD node-partial
	[ "$(node_orig ul0)" = "$(mask_list "$UL0_CPUS")" ]
	[ "$(node_orig ul1 flowCnt)" = "$UL1_FLOW" ]
	recover_del
	assert_clean
}

@test "ADD killed at node-partial, then another pod's ADD: the originals are still the first ones" {
	crash ADD node-partial
	local cid1=ctr-$POD_NAME
	make_pod p2
	run cni ADD "$(conf 1.0.0 '.hostDevices = ["@underlay", "ul1"]')"
	[ "$status" -eq 0 ]
	assert_ul "$(ul_tuned)"
	[ "$(node_orig ul1)" = "$(mask_list "$UL1_CPUS")" ]
	recover_del "$cid1"
	[ "$(refs)" -eq 1 ]
	assert_ul "$(ul_tuned)"
	run cni DEL "$CONF"
	[ "$status" -eq 0 ]
	assert_clean
}

@test "with another pod holding the node: ADD killed at node-partial, its DEL keeps the node tuned" {
	run cni ADD "$CONF" ctr-holder
	[ "$status" -eq 0 ]
	make_pod p2
	CONF=$(conf 1.0.0 '.hostDevices = ["@underlay", "ul1"]')
	crash ADD node-partial
	assert_after_crash
	recover_del
	[ "$(refs)" -eq 1 ]
	assert_ul "$(ul_tuned)"
	run cni DEL "$CONF" ctr-holder
	[ "$status" -eq 0 ]
	assert_clean
}

@test "with another pod holding the node: ADD killed before its record's rename leaves a temp file, DEL sweeps it" {
	run cni ADD "$CONF" ctr-holder
	[ "$status" -eq 0 ]
	make_pod p2
	CONF=$(conf 1.0.0 '.hostDevices = ["@underlay", "ul1"]')
	crash ADD before-rename
	assert_after_crash
	[ -n "$(find "$STATE_DIR/attachments" -name 'ctr-p2@eth0.n.json.tmp.*')" ]
	[ "$(refs)" -eq 1 ]
	recover_del
	[ -z "$(tmp_files)" ]
	[ "$(refs)" -eq 1 ]
	assert_ul "$(ul_tuned)"
	grep -q 'left by a writer that died before its rename' "$LOG_FILE"
	run cni DEL "$CONF" ctr-holder
	[ "$status" -eq 0 ]
	assert_clean
}

@test "DEL killed after forgetting the attachment: a retried DEL restores the node" {
	run cni ADD "$CONF"
	[ "$status" -eq 0 ]
	crash DEL del-after-forget
	assert_after_crash
	[ "$(records)" -eq 0 ]
	[ -e "$STATE_DIR/node.json" ]
	assert_ul "$(ul_tuned)"
	recover_del
	assert_clean
}

@test "DEL killed after forgetting the attachment: GC restores the node" {
	run cni ADD "$CONF"
	[ "$status" -eq 0 ]
	crash DEL del-after-forget
	recover_gc
	assert_clean
}

@test "DEL killed between two restored devices: a retried DEL finishes the restore" {
	run cni ADD "$CONF"
	[ "$status" -eq 0 ]
	crash DEL restore-partial
	assert_after_crash
	[ -e "$STATE_DIR/node.json" ]
	assert_ul "ul0=$UL0_CPUS/$UL0_FLOW ul1=$MASK/32768"
	recover_del
	assert_clean
}

@test "a lock held by a live process: ADD waits for it, then succeeds" {
	mkdir -p "$STATE_DIR"
	flock "$STATE_DIR/lock" sleep 2 &
	HOLDER_PID=$!
	sleep 0.3
	local t0=$EPOCHREALTIME
	run cni ADD "$CONF"
	local waited
	waited=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print (b - a >= 1.5) }')
	[ "$status" -eq 0 ]
	[ "$waited" = 1 ]
	[ "$(refs)" -eq 1 ]
	assert_ul "$(ul_tuned)"
}

@test "a lock held for over 10 s: ADD (fail) and DEL give 11 naming the lock, ADD (ignore) rolls back and reports" {
	run cni ADD "$CONF"
	[ "$status" -eq 0 ]
	local p1_cid=ctr-$POD_NAME
	make_pod p2
	local conf_ignore conf_fail p2_ns=$POD_NS p2_netns=$POD_NETNS
	conf_ignore=$(conf 1.0.0 '.hostDevices = ["@underlay", "ul1"]')
	make_pod p3
	conf_fail=$(conf 1.0.0 '.hostDevices = ["@underlay", "ul1"] | .failurePolicy = "fail"')
	local p3_ns=$POD_NS
	flock "$STATE_DIR/lock" sleep 13 &
	HOLDER_PID=$!
	sleep 0.3
	local t0=$EPOCHREALTIME
	POD_NAME=p2 POD_NETNS=$p2_netns cni ADD "$conf_ignore" >"$BATS_TEST_TMPDIR/ignore.out" &
	local a=$!
	POD_NAME=p3 cni ADD "$conf_fail" >"$BATS_TEST_TMPDIR/fail.out" &
	local b=$!
	cni DEL "$CONF" "$p1_cid" >"$BATS_TEST_TMPDIR/del.out" &
	local c=$!
	local ra=0 rb=0 rc=0
	wait "$a" || ra=$?
	wait "$b" || rb=$?
	wait "$c" || rc=$?
	local took
	took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a }')
	cat "$BATS_TEST_TMPDIR"/*.out
	[ "$took" -ge 9 ] && [ "$took" -le 13 ]
	# ignore: the pod starts; its devices are put back and the lock named.
	[ "$ra" -eq 0 ]
	jq -e '.flowsteer.warnings | any(test("lock .*/lock held by another invocation for over 10000 ms"))' \
		"$BATS_TEST_TMPDIR/ignore.out"
	jq -e '[.flowsteer.devices[] | select(.status == "applied")] | length == 0' "$BATS_TEST_TMPDIR/ignore.out"
	[ "$(pod_sysfs "$p2_ns" rps_cpus)" = 0 ]
	# fail: code 11, and its pod's devices are put back too.
	[ "$rb" -eq 1 ]
	[ "$(jq -r .code "$BATS_TEST_TMPDIR/fail.out")" = 11 ]
	jq -r .msg "$BATS_TEST_TMPDIR/fail.out" | grep -q 'lock .*/lock held by another invocation'
	[ "$(pod_sysfs "$p3_ns" rps_cpus)" = 0 ]
	# DEL: code 11 (the runtime retries), the attachment is still there.
	[ "$rc" -eq 1 ]
	[ "$(jq -r .code "$BATS_TEST_TMPDIR/del.out")" = 11 ]
	[ "$(refs)" -eq 1 ]
	kill "$HOLDER_PID" 2>/dev/null || true
	wait "$HOLDER_PID" 2>/dev/null || true
	HOLDER_PID=
	recover_del "$p1_cid"
	assert_clean
}

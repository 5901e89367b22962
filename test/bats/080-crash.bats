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

load helpers

setup() {
	debug_bin
	setup_node
	ip -n "$NODE" link add ul1 type veth peer name ul1 netns "${NODE}u"
	ip -n "$NODE" link set ul1 up
	node_write ul1 rps_cpus "$(kmask 0)"
	node_write ul1 rps_flow_cnt 128
	save_orig ul0 ul1
	assert_eq "${ORIG[ul1]#*/}" 128 "ul1's rps_flow_cnt"
	MASK=$(all_cpus_mask)
	ADD_FILTER='.hostDevices = ["@underlay", "ul1"]'
	make_pod p1
	CONF=$(conf 1.0.0 "$ADD_FILTER")
}

teardown() {
	[ -z "${HOLDER_PID:-}" ] || kill "$HOLDER_PID" 2>/dev/null || true
	teardown_node
}

# crash VERB STEP [CID]: the debug build, killed at STEP; nothing on stdout.
crash() {
	FLOWSTEER_BIN=$DEBUG_BIN FLOWSTEER_DEBUG_KILL_AT=$2 run_helper 137 cni "$1" "$CONF" "${3:-}"
	assert_eq "$output" "" "stdout of the killed $1"
}

# What a dead process may leave: whole files and a free lock.
expect_after_crash() {
	local f
	for f in "$STATE_DIR"/node.json "$STATE_DIR"/attachments/*.json; do
		[ -e "$f" ] || continue
		jq -e 'type == "object"' "$f" >/dev/null || { echo "torn state file $f: $(cat "$f")" >&2; return 1; }
	done
	# (Before after-lock the stateDir does not exist yet.)
	lock_free || { echo "the lock is still held after the crash" >&2; return 1; }
}

# No state left and both node devices back to their originals.
expect_clean() {
	expect_no_state
	expect_orig ul0 ul1
}

recover_del() { cni_del "$CONF" "${1:-}"; }
recover_gc() { run_helper cni GC "$(conf 1.1.0 "$ADD_FILTER | .[\"cni.dev/valid-attachments\"] = []")"; }

# The node is usable again: a normal ADD and DEL.
expect_usable() {
	run_helper cni ADD "$CONF"
	expect_tuned "$MASK" 32768 ul0 ul1
	assert_eq "$(refs)" 1 "references"
	cni_del "$CONF"
	expect_clean
}

# expect_mid STEP: what the node looks like right after a kill at STEP
# during a first pod's ADD (proves the hook fired where it is named).
expect_mid() {
	case $1 in
	after-container | after-host | after-lock)
		[ ! -e "$STATE_DIR/node.json" ]
		expect_orig ul0 ul1 ;;
	before-rename)
		# The first atomic write into a new stateDir: its boot marker.
		[ ! -e "$STATE_DIR/node.json" ]
		[ -n "$(find "$STATE_DIR" -maxdepth 1 -name '*.tmp.*')" ]
		expect_orig ul0 ul1 ;;
	node-saved)
		expect_node_orig ul1
		expect_orig ul0 ul1 ;;
	node-partial)
		[ -e "$STATE_DIR/node.json" ]
		expect_tuned "$MASK" 32768 ul0
		expect_orig ul1 ;;
	after-node)
		[ -e "$STATE_DIR/node.json" ]
		expect_tuned "$MASK" 32768 ul0 ul1 ;;
	after-record)
		expect_tuned "$MASK" 32768 ul0 ul1 ;;
	esac
	case $1 in
	after-record) assert_eq "$(record_names)" "ctr-p1@eth0.n.json" "records" ;;
	*) assert_eq "$(records)" 0 "records" ;;
	esac
	# The pod's own devices were tuned from after-container on (they go
	# away with the pod; DEL does not touch them).
	expect_tuned "$MASK" 32768 pod
}

ADD_STEPS="after-container after-host after-lock node-saved node-partial after-node before-rename after-record"

@test "every ADD kill point is a known hook in the source" {
	local s
	for s in $ADD_STEPS del-after-forget restore-partial; do
		grep -rq "debug_hook(\"$s\")" "$REPO/cmd" "$REPO/plugin" || { echo "no hook $s"; false; }
	done
}

@test "an unknown kill step kills nothing: the ADD completes" {
	FLOWSTEER_BIN=$DEBUG_BIN FLOWSTEER_DEBUG_KILL_AT=nowhere run_helper cni ADD "$CONF"
	expect_tuned "$MASK" 32768 ul0 ul1
}

# crash_case STEP del|gc: a first pod's ADD killed at STEP, then recovery.
crash_case() {
	crash ADD "$1"
	expect_after_crash
	expect_mid "$1"
	"recover_$2"
	expect_clean
	expect_usable
}

@test "ADD killed at after-container, DEL cleans up" { crash_case after-container del; }
@test "ADD killed at after-container, GC cleans up" { crash_case after-container gc; }
@test "ADD killed at after-host, DEL cleans up" { crash_case after-host del; }
@test "ADD killed at after-host, GC cleans up" { crash_case after-host gc; }
@test "ADD killed at after-lock, DEL cleans up" { crash_case after-lock del; }
@test "ADD killed at after-lock, GC cleans up" { crash_case after-lock gc; }
@test "ADD killed at node-saved, DEL cleans up" { crash_case node-saved del; }
@test "ADD killed at node-saved, GC cleans up" { crash_case node-saved gc; }
@test "ADD killed at node-partial, DEL cleans up" { crash_case node-partial del; }
@test "ADD killed at node-partial, GC cleans up" { crash_case node-partial gc; }
@test "ADD killed at after-node, DEL cleans up" { crash_case after-node del; }
@test "ADD killed at after-node, GC cleans up" { crash_case after-node gc; }
@test "ADD killed at before-rename, DEL cleans up" { crash_case before-rename del; }
@test "ADD killed at before-rename, GC cleans up" { crash_case before-rename gc; }
@test "ADD killed at after-record, DEL cleans up" { crash_case after-record del; }
@test "ADD killed at after-record, GC cleans up" { crash_case after-record gc; }

@test "ADD killed twice in a row at node-partial: originals survive, DEL restores them" {
	crash ADD node-partial
	crash ADD node-partial
	expect_node_orig ul0
	expect_node_orig ul1
	recover_del
	expect_clean
}

@test "ADD killed at node-partial, then another pod's ADD: the originals are still the first ones" {
	crash ADD node-partial
	add_pods p2
	expect_tuned "$MASK" 32768 ul0 ul1
	expect_node_orig ul1
	recover_del ctr-p1
	assert_eq "$(record_names)" "ctr-p2@eth0.n.json" "records"
	expect_tuned "$MASK" 32768 ul0 ul1
	cni_del "${CONF[p2]}"
	expect_clean
}

# holder_and_p2: pod holder added (it holds the node), CONF now pod p2's.
holder_and_p2() {
	add_pods holder
	make_pod p2
	CONF=$(conf 1.0.0 "$ADD_FILTER")
}

@test "with another pod holding the node: ADD killed at node-partial, its DEL keeps the node tuned" {
	holder_and_p2
	crash ADD node-partial
	expect_after_crash
	recover_del
	assert_eq "$(record_names)" "ctr-holder@eth0.n.json" "records"
	expect_tuned "$MASK" 32768 ul0 ul1
	cni_del "${CONF[holder]}" ctr-holder
	expect_clean
}

@test "with another pod holding the node: ADD killed before its record's rename leaves a temp file, DEL sweeps it" {
	holder_and_p2
	crash ADD before-rename
	expect_after_crash
	assert_match "$(record_names)" '^ctr-holder@eth0\.n\.json ctr-p2@eth0\.n\.json\.tmp\.[^ ]+$' "records"
	recover_del
	assert_eq "$(record_names)|$(tmp_files)" "ctr-holder@eth0.n.json|" "records|temp files"
	expect_tuned "$MASK" 32768 ul0 ul1
	assert_log 'left by a writer that died before its rename'
	cni_del "${CONF[holder]}" ctr-holder
	expect_clean
}

@test "DEL killed after forgetting the attachment: a retried DEL restores the node" {
	run_helper cni ADD "$CONF"
	crash DEL del-after-forget
	expect_after_crash
	assert_eq "$(records)" 0 "records"
	[ -e "$STATE_DIR/node.json" ]
	expect_tuned "$MASK" 32768 ul0 ul1
	recover_del
	expect_clean
}

@test "DEL killed after forgetting the attachment: GC restores the node" {
	run_helper cni ADD "$CONF"
	crash DEL del-after-forget
	recover_gc
	expect_clean
}

@test "DEL killed between two restored devices: a retried DEL finishes the restore" {
	run_helper cni ADD "$CONF"
	crash DEL restore-partial
	expect_after_crash
	[ -e "$STATE_DIR/node.json" ]
	expect_orig ul0
	expect_tuned "$MASK" 32768 ul1
	recover_del
	expect_clean
}

# hold_lock SECONDS: another process (HOLDER_PID) holds the stateDir's
# lock that long, or until killed; T0 is when it got it (its own clock
# reading, written once the lock is held: no guess at how long that takes).
hold_lock() {
	mkdir -p "$STATE_DIR"
	(
		exec 9>>"$STATE_DIR/lock"
		flock 9
		echo "$EPOCHREALTIME" >"$BATS_TEST_TMPDIR/t0.tmp"
		mv "$BATS_TEST_TMPDIR/t0.tmp" "$BATS_TEST_TMPDIR/t0"
		exec sleep "$1"
	) &
	HOLDER_PID=$!
	local n=0
	until [ -s "$BATS_TEST_TMPDIR/t0" ] || [ $((n++)) -ge 500 ]; do sleep 0.02; done
	T0=$(cat "$BATS_TEST_TMPDIR/t0")
}

# elapsed: whole seconds since hold_lock's T0.
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a }'; }

@test "a lock held by a live process: ADD waits for it, then succeeds" {
	hold_lock 2
	run_helper cni ADD "$CONF"
	# The holder let go 2 s after T0 at the earliest; the ADD ended later.
	assert_eq "$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { print (b - a >= 2) }')" 1 "waited 2 s or more"
	assert_eq "$(refs)" 1 "references"
	expect_tuned "$MASK" 32768 ul0 ul1
}

# bg NAME CMD...: CMD in the background, its stdout, stderr and exit
# status kept for bg_result NAME; BG holds the pids.
bg() {
	local n=$BATS_TEST_TMPDIR/$1
	shift
	(rc=0; "$@" >"$n.out" 2>"$n.err" || rc=$?; echo "$rc" >"$n.rc") &
	BG+=($!)
}

# bg_result NAME: its run, as run_helper leaves one (output, stderr, status).
bg_result() {
	local n=$BATS_TEST_TMPDIR/$1
	output=$(cat "$n.out") stderr=$(cat "$n.err") status=$(cat "$n.rc")
	echo "$1: exit $status, stdout $output, stderr $stderr"
}

@test "a lock held for over 10 s: ADD (fail) and DEL give 11 naming the lock, ADD (ignore) rolls back and reports" {
	local p2_ns
	run_helper cni ADD "$CONF"
	# Held until all three have ended, however long a loaded machine makes
	# them: each must give up on its own 10 s timeout.
	hold_lock 600
	make_pod p2
	p2_ns=$POD_NS
	bg ignore cni ADD "$(conf 1.0.0 "$ADD_FILTER")"
	make_pod p3
	bg fail cni ADD "$(conf 1.0.0 "$ADD_FILTER | .failurePolicy = \"fail\"")"
	bg del cni DEL "$CONF" ctr-p1
	wait "${BG[@]}"
	assert_match "$(elapsed)" '^(9|[1-9][0-9]+)$' "seconds until all three ended"
	kill -0 "$HOLDER_PID"
	# ignore: the pod starts; its devices are put back and the lock named.
	bg_result ignore
	assert_eq "$status" 0 "exit status of the ADD under ignore"
	assert_json "$output" '.flowsteer.warnings | any(test("lock .*/lock held by another invocation for over 10000 ms"))' true
	assert_json "$output" '[.flowsteer.devices[] | select(.status == "applied")] | length' 0
	POD_NS=$p2_ns expect_untouched pod
	# fail: code 11, and its pod's devices are put back too.
	bg_result fail
	expect_cni_error 11 'lock .*/lock held by another invocation'
	expect_untouched pod
	# DEL: code 11 (the runtime retries), the attachment is still there.
	bg_result del
	expect_cni_error 11
	assert_eq "$(record_names)" "ctr-p1@eth0.n.json" "records"
	kill "$HOLDER_PID"
	wait "$HOLDER_PID" || true
	HOLDER_PID=
	recover_del ctr-p1
	expect_clean
}

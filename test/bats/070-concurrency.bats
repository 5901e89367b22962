#!/usr/bin/env bats
# Many invocations at once on one node (SPEC §9: serialised on the stateDir
# lock, records written atomically). 64 pods on 2 cores.
#
# While the invocations run, a watcher lists and parses the stateDir over and
# over: every record it sees must be whole JSON (never torn), and the
# reference count (*.n.json) must move one way only and stay between what has
# finished and what has started.

load helpers
load hardening_helpers

N=${CONCURRENCY_PODS:-64}

setup() {
	setup_node
	save_ul0
	PODS=()
	VETHS=()
	NETNSES=()
	for ((i = 0; i < N; i++)); do
		make_pod "c$i"
		PODS+=("c$i")
		VETHS+=("$HOST_VETH")
		NETNSES+=("$POD_NETNS")
		conf 1.0.0 >"$BATS_TEST_TMPDIR/conf.$i"
	done
	MASK=$(all_cpus_mask)
	MARK=$BATS_TEST_TMPDIR/marks
	LAUNCHED=()
	mkdir -p "$MARK"
}

teardown() {
	[ -z "${WATCH_PID:-}" ] || kill "$WATCH_PID" 2>/dev/null || true
	teardown_node
}

# launch VERB I: one invocation in the background; marks started/done.
launch() {
	local verb=$1 i=$2
	(
		POD_NAME=${PODS[$i]} POD_NETNS=${NETNSES[$i]} HOST_VETH=${VETHS[$i]}
		touch "$MARK/$verb.start.$i"
		rc=0
		cni "$verb" "$(cat "$BATS_TEST_TMPDIR/conf.$i")" >"$BATS_TEST_TMPDIR/out.$verb.$i" 2>&1 || rc=$?
		echo "$rc" >"$BATS_TEST_TMPDIR/rc.$verb.$i"
		touch "$MARK/$verb.done.$i"
	) &
	LAUNCHED+=($!)
}

# wait_launched: waits for every invocation launched so far.
wait_launched() {
	wait "${LAUNCHED[@]}"
	LAUNCHED=()
}

# watch_start PHASE: PHASE is "up" (ADDs: the count only grows) or "down".
watch_start() {
	rm -f "$BATS_TEST_TMPDIR/watch.stop" "$BATS_TEST_TMPDIR/watch.stop.ready" "$BATS_TEST_TMPDIR/watch.out"
	python3 - "$STATE_DIR" "$MARK" "$1" "$N" "$BATS_TEST_TMPDIR/watch.stop" \
		>"$BATS_TEST_TMPDIR/watch.out" 2>&1 <<'EOF' &
import json, os, sys
state, mark, phase, n, stop = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
verb = "ADD" if phase == "up" else "DEL"
att = os.path.join(state, "attachments")
last, samples, bad = None, 0, []
def count(kind):
    return sum(1 for f in os.listdir(mark) if f.startswith(verb + "." + kind + "."))
while True:
    stopping = os.path.exists(stop)
    done = count("done")
    try:
        names = os.listdir(att)
    except FileNotFoundError:
        names = []
    started = count("start")
    refs = 0
    for f in names:
        if not f.endswith(".json"):
            continue
        try:
            with open(os.path.join(att, f)) as fh:
                rec = json.load(fh)
            if not isinstance(rec, dict) or "containerId" not in rec:
                bad.append(f"record {f} lacks containerId: {rec!r:.200}")
        except FileNotFoundError:
            pass  # removed by a DEL between listing and opening
        except ValueError as e:
            bad.append(f"torn record {f}: {e}")
        if f.endswith(".n.json"):
            refs += 1
    # ADDs: finished <= refs <= started; DELs: n - started <= refs <= n - finished.
    lo, hi = (done, started) if phase == "up" else (n - started, n - done)
    if not lo <= refs <= hi:
        bad.append(f"sample {samples}: {refs} references, expected {lo}..{hi}")
    if last is not None and (refs < last if phase == "up" else refs > last):
        bad.append(f"sample {samples}: references went from {last} to {refs}")
    last = refs
    samples += 1
    if samples == 1:
        open(stop + ".ready", "w").close()
    if stopping:
        break
print(f"{samples} samples, last count {last}")
for b in bad[:20]:
    print("VIOLATION", b)
sys.exit(1 if bad else 0)
EOF
	WATCH_PID=$!
	# Launch nothing before the watcher has taken its first sample.
	local n
	for ((n = 0; n < 200; n++)); do
		[ -e "$BATS_TEST_TMPDIR/watch.stop.ready" ] && break
		sleep 0.05
	done
	[ -e "$BATS_TEST_TMPDIR/watch.stop.ready" ]
}

watch_stop() {
	touch "$BATS_TEST_TMPDIR/watch.stop"
	local rc=0
	wait "$WATCH_PID" || rc=$?
	WATCH_PID=
	cat "$BATS_TEST_TMPDIR/watch.out"
	[ "$rc" -eq 0 ]
	# It sampled before the first invocation started and after the last ended.
	[ "$(awk 'NR == 1 {print $1}' "$BATS_TEST_TMPDIR/watch.out")" -ge 2 ]
}

# all_ok VERB: every invocation of VERB exited 0.
all_ok() {
	local i fail=0
	for ((i = 0; i < N; i++)); do
		if [ "$(cat "$BATS_TEST_TMPDIR/rc.$1.$i")" != 0 ]; then
			echo "$1 ${PODS[$i]}: exit $(cat "$BATS_TEST_TMPDIR/rc.$1.$i"): $(cat "$BATS_TEST_TMPDIR/out.$1.$i")"
			fail=1
		fi
	done
	return "$fail"
}

assert_pod_tuned() {
	local i=$1 out=$BATS_TEST_TMPDIR/out.ADD.$1 ns
	jq -e --arg mask "$MASK" --arg host "${VETHS[$i]}" '
		[.flowsteer.devices[] | select(.status == "applied") | .name] as $a
		| ($a | index("eth0")) and ($a | index($host)) and ($a | index("ul0"))' "$out" >/dev/null ||
		{ echo "ADD ${PODS[$i]} did not apply eth0, ${VETHS[$i]} and ul0: $(cat "$out")"; return 1; }
	ns=${NETNSES[$i]##*/}
	[ "$(pod_sysfs "$ns" rps_cpus)" = "$MASK" ] || { echo "${PODS[$i]} eth0 not tuned"; return 1; }
	[ "$(node_sysfs "${VETHS[$i]}" rps_cpus)" = "$MASK" ] || { echo "${VETHS[$i]} not tuned"; return 1; }
}

assert_clean_end() {
	[ "$(refs)" -eq 0 ]
	[ "$(records)" -eq 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
	[ -z "$(tmp_files)" ]
	assert_ul0_original
	# The lock is free: no invocation left it held.
	flock -n "$STATE_DIR/lock" true
}

@test "$N ADDs in parallel, then $N DELs in parallel: all tuned, count exact, node restored" {
	watch_start up
	for ((i = 0; i < N; i++)); do launch ADD "$i"; done
	wait_launched
	watch_stop
	all_ok ADD
	[ "$(refs)" -eq "$N" ]
	[ -z "$(tmp_files)" ]
	for ((i = 0; i < N; i++)); do assert_pod_tuned "$i"; done
	[ "$(node_sysfs ul0 rps_cpus)" = "$MASK" ]
	[ "$(node_orig ul0)" = "$(mask_list "$UL0_CPUS")" ]

	rm -f "$MARK"/*
	watch_start down
	for ((i = 0; i < N; i++)); do launch DEL "$i"; done
	wait_launched
	watch_stop
	all_ok DEL
	assert_clean_end
	# Exactly one DEL restored the node: the one that took the count to 0.
	[ "$(grep -c 'restored node device ul0 ' "$LOG_FILE")" -eq 1 ]
}

@test "ADDs and DELs interleaved: half the pods leave while the other half arrive" {
	local half=$((N / 2))
	for ((i = 0; i < half; i++)); do launch ADD "$i"; done
	wait_launched
	for ((i = 0; i < half; i++)); do [ "$(cat "$BATS_TEST_TMPDIR/rc.ADD.$i")" = 0 ]; done
	[ "$(refs)" -eq "$half" ]

	# Arrivals and departures alternate as they are launched.
	for ((i = 0; i < half; i++)); do
		launch ADD "$((half + i))"
		launch DEL "$i"
	done
	wait_launched
	for ((i = half; i < N; i++)); do
		[ "$(cat "$BATS_TEST_TMPDIR/rc.ADD.$i")" = 0 ] || { cat "$BATS_TEST_TMPDIR/out.ADD.$i"; false; }
		assert_pod_tuned "$i"
	done
	for ((i = 0; i < half; i++)); do [ "$(cat "$BATS_TEST_TMPDIR/rc.DEL.$i")" = 0 ]; done
	[ "$(refs)" -eq "$((N - half))" ]
	[ -z "$(tmp_files)" ]
	# The node stayed tuned throughout: some pod always held it.
	[ "$(node_sysfs ul0 rps_cpus)" = "$MASK" ]
	[ "$(grep -c 'restored node device ul0 ' "$LOG_FILE" || true)" -eq 0 ]
	for ((i = half; i < N; i++)); do
		[ -e "$STATE_DIR/attachments/ctr-${PODS[$i]}@eth0.n.json" ]
	done

	for ((i = half; i < N; i++)); do launch DEL "$i"; done
	wait_launched
	for ((i = half; i < N; i++)); do [ "$(cat "$BATS_TEST_TMPDIR/rc.DEL.$i")" = 0 ]; done
	assert_clean_end
}

@test "$N DELs of the same attachment at once: idempotent, one restore" {
	run cni ADD "$(conf 1.0.0)" ctr-same
	[ "$status" -eq 0 ]
	[ "$(refs)" -eq 1 ]
	for ((i = 0; i < N; i++)); do
		(
			rc=0
			cni DEL "$(conf 1.0.0)" ctr-same >/dev/null 2>&1 || rc=$?
			echo "$rc" >"$BATS_TEST_TMPDIR/rc.same.$i"
		) &
	done
	wait
	for ((i = 0; i < N; i++)); do [ "$(cat "$BATS_TEST_TMPDIR/rc.same.$i")" = 0 ]; done
	assert_clean_end
	[ "$(grep -c 'restored node device ul0 ' "$LOG_FILE")" -eq 1 ]
}

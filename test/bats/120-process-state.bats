#!/usr/bin/env bats
# The process state a runtime, a shim or a wrapper hands the plugin
# (docs/cni.md, "Process state"): standard descriptors closed or pointing
# at odd files, blocked or ignored signals, low limits, an odd umask, an
# empty environment, an unusable working directory, leaked descriptors, a
# terminal of which it is a background job.
# Whatever it inherits, the result goes to stdout and nowhere else, the
# lock wait ends, and files get the modes docs/state.md gives.

load helpers

setup() {
	setup_pod
	conf 1.0.0 >"$IN"
}

teardown() {
	[ -z "${LOCK_PID:-}" ] || kill "$LOCK_PID" 2>/dev/null || true
	[ -z "${BG_PID:-}" ] || wait "$BG_PID" 2>/dev/null || true
	teardown_node
}

# Every line of the log is a log line: no result or message landed in it.
expect_log_lines_only() {
	local stray
	stray=$(grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$LOG_FILE" 2>/dev/null || :)
	assert_eq "$stray" "" "lines in the log that are not log lines"
}

# The ADD's result is on stdout and the pod, its veth and the node tuned.
expect_added() {
	expect_prev_passed "$(cat "$IN")" || return
	assert_json "$output" "[.flowsteer.devices[] | select(.name == \"eth0\" or .name == \"$HOST_VETH\" or .name == \"ul0\") | .status] | join(\" \")" \
		"applied applied applied" || return
	expect_tuned "$MASK" 32768 pod "$HOST_VETH" ul0 || return
	expect_log_lines_only
}

# An ADD that could not deliver its result left nothing behind.
expect_undone() {
	expect_orig pod "$HOST_VETH" ul0 || return
	expect_no_state || return
	expect_log_lines_only
}

# hold_state_lock: a process holds the stateDir's lock until it is killed.
hold_state_lock() {
	mkdir -p "$STATE_DIR"
	(exec 9>"$STATE_DIR/lock" && flock 9 && touch "$BATS_TEST_TMPDIR/locked" && exec sleep 300) &
	LOCK_PID=$!
	wait_for "the lock holder" test -e "$BATS_TEST_TMPDIR/locked"
}

# bg_add WRAPPER...: an ADD behind WRAPPER (in_state SH, deny_syscalls ...
# --) in the background; its stdout in $BATS_TEST_TMPDIR/bg.out, its exit
# status in bg.rc once it ended.
bg_add() {
	local n=$BATS_TEST_TMPDIR/bg
	(rc=0; "$@" plugin_env "$IN" >"$n.out" || rc=$?; echo "$rc" >"$n.rc") &
	BG_PID=$!
}

# bg_status: the exit status of the bg_add ADD, once it ended.
bg_status() {
	wait_for "the ADD" test -e "$BATS_TEST_TMPDIR/bg.rc" || return
	cat "$BATS_TEST_TMPDIR/bg.rc"
}

lock_waited() { [ -n "$(plugin_pids "$STATE_DIR/lock")" ]; }

# The ADD started by bg_add, once it waits for the lock: its pid.
waiting_add_pid() {
	local p
	wait_for "the ADD to wait for the lock" lock_waited || return
	# The plugin itself, not a child of it.
	for p in $(plugin_pids "$STATE_DIR/lock"); do
		[ "$(readlink "/proc/$(awk '{print $4}' "/proc/$p/stat")/exe")" = "$(readlink -f "$FLOWSTEER_BIN")" ] ||
			echo "$p"
	done
}

# ---------------------------------------------------- standard descriptors ---

@test "stdin closed: read as empty input, code 6 on stdout" {
	in_state 'exec 0<&-' run_helper 1 plugin
	expect_cni_error 6 'no network configuration on stdin'
	expect_log_lines_only
}

@test "stdout closed: ADD refused before it changes anything; the log says why and holds no result" {
	in_state 'exec 1>&-' run_helper 1 plugin_env "$IN"
	assert_eq "$output" "" "stdout"
	assert_log 'code 5: stdout is closed: the ADD result could not be delivered; nothing done'
	expect_undone
}

@test "stdout and stderr closed: DEL still cleans up (it has no result)" {
	run_helper cni ADD "$(conf 1.0.0)"
	in_state 'exec 1>&- 2>&-' run_helper plugin_env "$IN" CNI_COMMAND=DEL
	expect_orig ul0
	expect_no_state
}

@test "stderr closed: the result on stdout, nothing but log lines in the log" {
	in_state 'exec 2>&-' run_helper plugin_env "$IN"
	expect_added
}

@test "stdout /dev/full: exit 1, the ADD rolled back, the log names the error" {
	in_state 'exec >/dev/full' run_helper 1 plugin_env "$IN"
	assert_log 'writing the result to stdout: No space left on device: everything this ADD changed was rolled back'
	expect_undone
}

@test "stdout a file on a full filesystem: exit 1, the ADD rolled back" {
	local d=$BATS_TEST_TMPDIR/full
	mkdir "$d"
	local -a PLUGIN_WRAP=(unshare -m)
	in_state "mount -t tmpfs -o size=8k none $d; cat /dev/zero >$d/fill 2>/dev/null || :; exec >$d/out" \
		run_helper 1 plugin_env "$IN"
	assert_log 'writing the result to stdout: No space left on device'
	expect_undone
}

@test "stdout a pipe nobody reads, SIGPIPE default or ignored: exit 1 (no death by SIGPIPE), rolled back" {
	local f=$BATS_TEST_TMPDIR/fifo pipe trap
	mkfifo "$f"
	# A reader opens it (4), the writer (5) too; then the reader goes.
	pipe="exec 4<>$f 5>$f; exec 4<&- 1>&5 5>&-"
	for trap in : "trap '' PIPE"; do
		in_state "$trap; $pipe" run_helper 1 plugin_env "$IN"
		assert_log 'writing the result to stdout: Broken pipe' || return
		expect_undone || return
	done
}

@test "stdin and stdout non-blocking pipes, the input late: read whole, the result written whole" {
	deny_syscalls --nonblock -- run_helper plugin < <(sleep 1; cat "$IN")
	expect_added
}

@test "stdout a FIFO with a reader: the result arrives whole through it" {
	local f=$BATS_TEST_TMPDIR/fifo
	mkfifo "$f"
	cat "$f" >"$BATS_TEST_TMPDIR/read" &
	BG_PID=$!
	in_state "exec >$f" run_helper plugin_env "$IN"
	wait "$BG_PID"
	BG_PID=
	output=$(cat "$BATS_TEST_TMPDIR/read")
	expect_added
}

@test "stdout a terminal (TOSTOP) of which the plugin is a background job: the result is written there, no stop" {
	local -a PLUGIN_WRAP=(python3 "$REPO/test/helpers/bg-tty.py")
	run_helper plugin_env "$IN"
	expect_added
}

# ------------------------------------------------------------------ signals ---

@test "every signal blocked: an ADD (fail) on a lock held too long ends with code 11, not a hang" {
	hold_state_lock
	conf 1.0.0 '.failurePolicy = "fail"' >"$IN"
	deny_syscalls --block-signals -- run_helper 1 plugin_env "$IN"
	expect_cni_error 11 "lock $STATE_DIR/lock held by another invocation for over 10000 ms"
	expect_orig pod "$HOST_VETH" ul0
}

@test "every signal blocked: an ADD that waits for the lock gets it when it is released" {
	hold_state_lock
	bg_add deny_syscalls --block-signals --
	waiting_add_pid >/dev/null
	kill "$LOCK_PID"
	assert_eq "$(bg_status)" 0 "exit status"
	output=$(cat "$BATS_TEST_TMPDIR/bg.out")
	expect_added
}

@test "every signal ignored: ADD tunes as usual, and SIGTERM still ends one waiting for the lock" {
	local ign='trap "" HUP INT QUIT PIPE ALRM TERM CHLD USR1 USR2'
	in_state "$ign" run_helper plugin_env "$IN"
	expect_added
	make_pod p2
	conf 1.0.0 >"$IN"
	hold_state_lock
	bg_add in_state "$ign"
	kill -TERM "$(waiting_add_pid)"
	assert_eq "$(bg_status)" 143 "exit status (128 + SIGTERM)"
}

# ------------------------------------------------------------------- limits ---

# Soft limits the plugin raises up to the hard ones.
@test "RLIMIT_NOFILE 2 above the descriptors it inherits: ADD tunes as usual" {
	in_state 'ulimit -S -n $(($(ls /proc/$$/fd | wc -l) + 2))' run_helper plugin_env "$IN"
	expect_added
}

@test "RLIMIT_FSIZE of 0 and RLIMIT_CPU of 1 s: ADD tunes, writes its record and logs" {
	in_state 'ulimit -S -f 0; ulimit -t 1' run_helper plugin_env "$IN"
	expect_added
	assert_eq "$(records)" 1 "records"
	assert_log 'pod default/p1 netns'
}

# A hard limit goes only with CAP_SYS_RESOURCE (root's, unless a sandbox
# took it); without, the ADD is abandoned and reported, never killed.
@test "hard RLIMIT_FSIZE of 0: the ADD tunes, or (without CAP_SYS_RESOURCE) starts the pod untuned, never dies of SIGXFSZ" {
	in_state 'ulimit -f 0' run_helper plugin_env "$IN"
	if (($(printf '%d' "0x$(awk '/^CapBnd/ {print $2}' /proc/self/status)") & (1 << 24))); then
		expect_added
	else
		expect_warning 'tuning abandoned, rolled back' 'File too large'
		expect_undone
	fi
}

# -------------------------------------------------------------------- umask ---

# umask_case MASK: under umask MASK, ADD creates the stateDir, its files,
# the log's directory and the log with the modes docs/state.md gives; a
# DEL (which keeps no CAP_DAC_OVERRIDE) then opens them and restores.
umask_case() {
	local claim
	LOG_FILE=$BATS_TEST_TMPDIR/logs/flowsteer.log
	conf 1.0.0 >"$IN"
	in_state "umask $1" run_helper plugin_env "$IN"
	expect_added || return
	claim=$(grep -lx "$STATE_DIR" /run/lock/flowsteer-net*.claim)
	assert_eq "$(stat -c '%a %n' "$STATE_DIR" "$STATE_DIR"/attachments "$STATE_DIR"/attachments/* \
		"$STATE_DIR"/node.json "$STATE_DIR"/boot_id "$STATE_DIR"/lock "$claim" \
		"${LOG_FILE%/*}" "$LOG_FILE" | awk '{print $1}' | paste -sd' ')" \
		"700 700 600 600 600 600 600 750 640" "modes of the stateDir, attachments/, the record, node.json, boot_id, lock, claim, log dir, log" || return
	in_state "umask $1" run_helper plugin_env "$IN" CNI_COMMAND=DEL
	expect_orig ul0 || return
	expect_no_state
}

@test "umask 0777: the documented modes, and a DEL can use them" {
	umask_case 0777
}

@test "umask 0000: the documented modes, and a DEL can use them" {
	umask_case 0000
}

# -------------------------------------------------------------- environment ---

@test "an empty environment: ADD with only the CNI_* variables (no PATH) tunes; without CNI_COMMAND it is the command line" {
	local -a PLUGIN_WRAP=(env -i)
	run_helper plugin_env "$IN"
	expect_added
	run_helper 2 node_run env -i "$FLOWSTEER_BIN" <"$IN"
	assert_eq "$output" "" "stdout"
	assert_match "$stderr" 'As a CNI plugin: run by the container runtime with CNI_COMMAND set'
	run_helper 1 node_run env -i CNI_COMMAND=ADD "$FLOWSTEER_BIN" <"$IN"
	expect_cni_error 4 'CNI_CONTAINERID is not set'
}

@test "an unreadable, then a deleted, working directory: ADD and DEL work" {
	local d=$BATS_TEST_TMPDIR/cwd
	mkdir -m 0 "$d"
	in_state "cd $d" run_helper plugin_env "$IN"
	expect_added
	in_state "cd $d; rmdir $d" run_helper plugin_env "$IN" CNI_COMMAND=DEL
	expect_orig ul0
	expect_no_state
}

@test "inherited descriptors: closed at start, not held while the ADD waits" {
	local f=$BATS_TEST_TMPDIR/inherited p
	hold_state_lock
	bg_add in_state "exec 7>$f"
	waiting_add_pid >/dev/null
	for p in $(plugin_pids "$STATE_DIR/lock"); do
		assert_eq "$(find "/proc/$p/fd" -lname "$f" | wc -l)" 0 "descriptors of $f in plugin process $p"
	done
	kill "$LOCK_PID"
	assert_eq "$(bg_status)" 0 "exit status"
}

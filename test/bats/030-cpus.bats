#!/usr/bin/env bats
# CPUs flowsteer never steers onto: isolated and nohz_full CPUs, and with
# the kubelet's static CPU manager every CPU outside its shared pool. The
# kernel files are replaced, for the plugin alone, by bind mounts in a
# private mount namespace; the kubelet's state file is the test's own.

bats_require_minimum_version 1.5.0

load helpers
load core_helpers
load hardening_helpers

setup() {
	[ "$(python3 "$CPUMASK_PY" list "$(all_cpus_mask)")" != 0 ] || skip "needs 2 online CPUs"
	setup_node
	make_pod p1
	IN=$BATS_TEST_TMPDIR/in.json
	KSTATE=$BATS_TEST_TMPDIR/cpu_manager_state
	LAST=$(cut -d- -f2 /sys/devices/system/cpu/online)
	REST=$(mask_list "$(python3 "$CPUMASK_PY" except 0)")
}

teardown() { teardown_node; }

# kubelet POLICY SHARED [ENTRY_CPUS]: the kubelet's checkpoint, v2 shape.
kubelet() {
	jq -n --arg p "$1" --arg d "$2" --arg e "${3:-}" '{policyName: $p, defaultCpuSet: $d,
		entries: (if $e == "" then {} else {"5c7b5f86-0000-4000-8000-000000000001": {app: $e}} end),
		checksum: 1234567890}' >"$KSTATE"
}

# cpu_dir CPU_FILE CONTENT: a stand-in for /sys/devices/system/cpu with the
# real online and possible lists and CPU_FILE reading CONTENT (this kernel
# may lack nohz_full altogether); CPU_WRAP mounts it for one command.
cpu_dir() {
	local d=$BATS_TEST_TMPDIR/cpu
	mkdir -p "$d"
	cp /sys/devices/system/cpu/online /sys/devices/system/cpu/possible "$d/"
	printf '%s\n' "$2" >"$d/$1"
	CPU_WRAP=(unshare -m sh -c 'mount --bind "$1" /sys/devices/system/cpu && shift && exec "$@"' sh "$d")
}

# add_with CPU_FILE CONTENT: ADD with the kernel's CPU_FILE reading CONTENT,
# for the plugin only.
add_with() {
	cpu_dir "$1" "$2"
	conf 1.0.0 ".cpuManagerStateFile = \"$KSTATE\"" >"$IN"
	PLUGIN_WRAP=("${CPU_WRAP[@]}")
	run_helper plugin_env "$IN"
}

@test "kubelet static policy: only the shared pool, on the pod, its veth and the node" {
	kubelet static 0 "1-$LAST"
	run_helper cni ADD "$(conf 1.0.0 ".cpuManagerStateFile = \"$KSTATE\"")"
	assert_json "$output" .flowsteer.cpus 0
	expect_pod_tuned "$(kmask 0)" 32768 1
	expect_node_tuned ul0 "$(kmask 0)" 32768 1
	assert_json "$(cat "$STATE_DIR"/attachments/*.json)" .excludedCpus.kubelet "$REST"
}

@test "kubelet static policy with respectExclusiveCpus false: every online CPU" {
	kubelet static 0 "1-$LAST"
	run_helper cni ADD "$(conf 1.0.0 ".cpuManagerStateFile = \"$KSTATE\" | .respectExclusiveCpus = false")"
	expect_pod_tuned "$(all_cpus_mask)" 32768 1
}

@test "kubelet policy none: every online CPU" {
	kubelet none ""
	run_helper cni ADD "$(conf 1.0.0 ".cpuManagerStateFile = \"$KSTATE\"")"
	expect_pod_tuned "$(all_cpus_mask)" 32768 1
}

@test "an explicit cpus list is intersected with the shared pool" {
	kubelet static "1-$LAST"
	run_helper cni ADD "$(conf 1.0.0 ".cpuManagerStateFile = \"$KSTATE\" | .cpus = \"0-1\"")"
	assert_json "$output" .flowsteer.cpus 1
	expect_pod_tuned "$(kmask 1)" 32768 1
}

@test "a kubelet state file that cannot be read: nothing is steered, the file is named" {
	echo '{"policyName": "static", "defaultCpuSet": "0-' >"$KSTATE"
	run_helper cni ADD "$(conf 1.0.0 ".cpuManagerStateFile = \"$KSTATE\"")"
	assert_json "$output" "[.flowsteer.warnings[] | select(startswith(\"cpuManagerStateFile $KSTATE\"))] | length" 1
	expect_pod_untouched
	assert_json "$output" '.flowsteer.devices[0].reason' "no CPU left to steer onto"
}

@test "an isolated CPU is left out of every mask" {
	add_with isolated 1
	m=$(python3 "$CPUMASK_PY" except 1)
	assert_json "$output" .flowsteer.cpus "$(mask_list "$m")"
	expect_pod_tuned "$m" 32768 1
	expect_node_tuned ul0 "$m" 32768 1
}

@test "a nohz_full CPU is left out of every mask" {
	add_with nohz_full 0
	expect_pod_tuned "$(python3 "$CPUMASK_PY" except 0)" 32768 1
	assert_json "$(cat "$STATE_DIR"/attachments/*.json)" .excludedCpus.nohzFull 0
}

@test "every CPU isolated: nothing is tuned, the pod starts, the warning says why" {
	add_with isolated "0-$LAST"
	expect_pod_untouched
	assert_json "$output" '[.flowsteer.warnings[] | select(startswith("no CPU left to steer onto (isolated: 0-"))] | length' 1
}

@test "flowsteer status shows which CPUs are left out and why" {
	kubelet static 0 "1-$LAST"
	cpu_dir isolated 1
	run_helper node_run "${CPU_WRAP[@]}" "$FLOWSTEER_BIN" status --json --state-dir "$STATE_DIR" \
		--cpu-manager-state "$KSTATE"
	assert_json "$output" .cpus.allowed 0
	assert_json "$output" .cpus.excluded.isolated 1
	assert_json "$output" .cpus.excluded.kubelet "$REST"
}

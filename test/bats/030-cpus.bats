#!/usr/bin/env bats
# CPUs flowsteer never steers onto: isolated and nohz_full CPUs, and with
# the kubelet's static CPU manager every CPU outside its shared pool. The
# kernel files are replaced, for the plugin alone, by bind mounts in a
# private mount namespace; the kubelet's state file is the test's own.

load helpers

setup() {
	LAST=$(last_cpu)
	[ "$LAST" -ge 1 ] || skip "needs 2 online CPUs"
	setup_node
	make_pod p1
	# The cpuManagerStateFile conf names.
	KSTATE=$BATS_TEST_TMPDIR/cpu_manager_state
	REST=$(mask_list "$(mask_except 0)")
}

teardown() { teardown_node; }

# kubelet POLICY SHARED [ENTRY_CPUS]: the kubelet's checkpoint, v2 shape.
kubelet() {
	jq -n --arg p "$1" --arg d "$2" --arg e "${3:-}" '{policyName: $p, defaultCpuSet: $d,
		entries: (if $e == "" then {} else {"5c7b5f86-0000-4000-8000-000000000001": {app: $e}} end),
		checksum: 1234567890}' >"$KSTATE"
}

# with_cpu_file CPU_FILE CONTENT CMD...: CMD, with the plugin's
# /sys/devices/system/cpu a stand-in holding the real online and possible
# lists and CPU_FILE reading CONTENT (this kernel may lack nohz_full
# altogether).
with_cpu_file() {
	local d=$BATS_TEST_TMPDIR/cpu
	mkdir -p "$d"
	cp /sys/devices/system/cpu/online /sys/devices/system/cpu/possible "$d/"
	printf '%s\n' "$2" >"$d/$1"
	shift 2
	local -a PLUGIN_WRAP=(unshare -m sh -c 'mount --bind "$1" /sys/devices/system/cpu && shift && exec "$@"' sh "$d")
	"$@"
}

@test "kubelet static policy: only the shared pool, on the pod, its veth and the node" {
	kubelet static 0 "1-$LAST"
	run_helper cni ADD "$(conf 1.0.0)"
	expect_result cpus=0
	expect_tuned "$(kmask 0)" 32768 pod "$HOST_VETH" ul0
	assert_json "$(record_json)" .excludedCpus.kubelet "$REST"
}

@test "kubelet static policy with respectExclusiveCpus false: every online CPU" {
	kubelet static 0 "1-$LAST"
	run_helper cni ADD "$(conf 1.0.0 '.respectExclusiveCpus = false')"
	expect_tuned "$(all_cpus_mask)" 32768 pod
}

@test "kubelet policy none: every online CPU" {
	kubelet none ""
	run_helper cni ADD "$(conf 1.0.0)"
	expect_tuned "$(all_cpus_mask)" 32768 pod
}

@test "an explicit cpus list is intersected with the shared pool" {
	kubelet static "1-$LAST"
	run_helper cni ADD "$(conf 1.0.0 '.cpus = "0-1"')"
	expect_result cpus=1
	expect_tuned "$(kmask 1)" 32768 pod
}

@test "a kubelet state file that cannot be read: nothing is steered, the file is named" {
	echo '{"policyName": "static", "defaultCpuSet": "0-' >"$KSTATE"
	run_helper cni ADD "$(conf 1.0.0)"
	assert_json "$output" "[.flowsteer.warnings[] | select(startswith(\"cpuManagerStateFile $KSTATE\"))] | length" 1
	expect_untouched pod
	expect_result "devices[0].reason=no CPU left to steer onto"
}

@test "an isolated CPU is left out of every mask" {
	with_cpu_file isolated 1 run_helper cni ADD "$(conf 1.0.0)"
	expect_result cpus="$(mask_list "$(mask_except 1)")"
	expect_tuned "$(mask_except 1)" 32768 pod ul0
}

@test "a nohz_full CPU is left out of every mask" {
	with_cpu_file nohz_full 0 run_helper cni ADD "$(conf 1.0.0)"
	expect_tuned "$(mask_except 0)" 32768 pod
	assert_json "$(record_json)" .excludedCpus.nohzFull 0
}

@test "every CPU isolated: nothing is tuned, the pod starts, the warning says why" {
	with_cpu_file isolated "0-$LAST" run_helper cni ADD "$(conf 1.0.0)"
	expect_untouched pod
	assert_json "$output" '[.flowsteer.warnings[] | select(startswith("no CPU left to steer onto (isolated: 0-"))] | length' 1
}

@test "flowsteer status shows which CPUs are left out and why" {
	kubelet static 0 "1-$LAST"
	with_cpu_file isolated 1 run_helper fs_status --json --cpu-manager-state "$KSTATE"
	assert_json "$output" '.cpus | "\(.allowed) \(.excluded.isolated) \(.excluded.kubelet)"' "0 1 $REST"
}

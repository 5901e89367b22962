#!/usr/bin/env bats
# failurePolicy (SPEC §4): with "ignore" a tuning failure never blocks the pod
# — exit 0, prevResult passed on unchanged, the failure in
# flowsteer.devices[].status and in warnings; with "fail" the ADD gives code
# 100 naming the first failure and leaves nothing half-applied.
#
# Failures provoked for real on this kernel:
#   - EROFS: the plugin runs with /sys mounted read-only in a private mount
#     namespace (ro_sys: unshare -m + a read-only bind remount inside the
#     node netns): every host-side write fails; the pod side still works
#     because it takes its own sysfs of the pod's netns.
#   - a device that is absent: CNI_IFNAME names an interface the pod does not
#     have (prevResult names it too), or prevResult names a host veth that
#     does not exist, or the pod's veth is deleted before the ADD.
# EINVAL from an rps_cpus mask needs CPUs isolated at boot (isolcpus /
# nohz_full) or an isolated cpuset partition; neither is set up here, as it
# would disturb everything else running on the machine.

load helpers

setup() { setup_pod; }

teardown() { teardown_node; }

# Nothing half-applied: the pod's, the host veth's and the node's values are
# what they were, and no record, node.json or temp file is left.
expect_nothing_applied() {
	expect_orig pod "$HOST_VETH" ul0
	expect_no_state
}

# --- read-only sysfs -----------------------------------------------------------

@test "ignore, read-only /sys: exit 0, prevResult passed on, host and node devices failed with EROFS" {
	conf 1.0.0 >"$IN"
	ro_sys run_helper plugin_env "$IN"
	assert_eq "$stderr" "" "stderr"
	expect_prev_passed "$(cat "$IN")"
	assert_json "$output" '[.flowsteer.devices[] | select(.name == "eth0" or .name == "ul0") | .status] | join(" ")' "applied failed"
	assert_dev "$HOST_VETH" .status failed
	assert_match "$(dev_json "$HOST_VETH" .reason)" "writing $HOST_VETH rx-0 rps_cpus=$MASK: Read-only file system"
	assert_match "$(dev_json ul0 .reason)" 'Read-only file system'
}

@test "ignore, read-only /sys: warnings name the devices; eth0 tuned, the host side as it was, the record says failed" {
	conf 1.0.0 >"$IN"
	ro_sys run_helper plugin_env "$IN"
	assert_json "$output" ".flowsteer.warnings | any(startswith(\"host device $HOST_VETH\") and contains(\"Read-only\"))" true
	assert_json "$output" '.flowsteer.warnings | any(startswith("node device ul0") and contains("Read-only"))' true
	# The pod side does not use the host's /sys: eth0 is tuned.
	expect_tuned "$MASK" 32768 pod
	expect_orig "$HOST_VETH" ul0
	# The record says what happened, for `flowsteer status` and CHECK.
	assert_json "$(record_json)" ".devices[] | select(.name == \"$HOST_VETH\") | .status" failed
}

@test "ignore, read-only /sys: the DEL afterwards leaves no state and the node as it was" {
	conf 1.0.0 >"$IN"
	ro_sys run_helper plugin_env "$IN"
	cni_del "$(conf 1.0.0)"
	expect_orig ul0
	expect_no_state
}

@test "fail, read-only /sys: 100 naming the device and EROFS; the pod's eth0 is put back" {
	conf 1.0.0 '.failurePolicy = "fail"' >"$IN"
	ro_sys run_helper 1 plugin_env "$IN"
	expect_cni_error 100 "nothing left applied: host device $HOST_VETH: 0 of 1 queues: writing $HOST_VETH rx-0 rps_cpus=$MASK: Read-only file system"
	expect_nothing_applied
}

@test "scope container under a read-only /sys: applied (the pod side has its own sysfs)" {
	conf 1.0.0 '.scope = "container" | .failurePolicy = "fail"' >"$IN"
	ro_sys run_helper plugin_env "$IN"
	assert_dev eth0 .status applied
	expect_tuned "$MASK" 32768 pod
	# One record, and not one that holds the node.
	assert_eq "$(records) $(refs)" "1 0" "records, references"
}

@test "DEL under a read-only /sys: succeeds, logs what could not be restored, forgets the node" {
	run_helper cni ADD "$(conf 1.0.0)"
	expect_tuned "$MASK" 32768 ul0
	ro_sys cni_del "$(conf 1.0.0)"
	assert_log 'restoring node device ul0: writing ul0 rx-0 rps_cpus: Read-only file system'
	expect_no_state
}

# --- absent devices ---------------------------------------------------------

@test "ignore, CNI_IFNAME names an interface the pod lacks: exit 0, absent + warning, node applied" {
	conf 1.0.0 '.prevResult.interfaces[1].name = "eth1"' >"$IN"
	run_helper plugin_env "$IN" CNI_IFNAME=eth1
	expect_prev_passed "$(cat "$IN")"
	assert_dev eth1 '"\(.status): \(.reason)"' "absent: no such device"
	assert_json "$output" '.flowsteer.warnings | any(. == "container device eth1: no such device")' true
	assert_dev ul0 .status applied
}

@test "ignore, CNI_IFNAME names an interface the pod lacks: the veth prevResult names is not tuned on its word alone" {
	conf 1.0.0 '.prevResult.interfaces[1].name = "eth1"' >"$IN"
	run_helper plugin_env "$IN" CNI_IFNAME=eth1
	# Without the pod interface its peer cannot be told.
	assert_dev "$HOST_VETH" .status absent
	assert_match "$(dev_json "$HOST_VETH" .reason)" 'pod interface eth1'
	expect_orig "$HOST_VETH"
}

@test "fail, CNI_IFNAME names an interface the pod lacks: 100 naming it; host veth and node put back" {
	conf 1.0.0 '.prevResult.interfaces[1].name = "eth1" | .failurePolicy = "fail"' >"$IN"
	run_helper 1 plugin_env "$IN" CNI_IFNAME=eth1
	expect_cni_error 100 'nothing left applied: container device eth1: no such device'
	expect_nothing_applied
	assert_log 'restored node device ul0'
}

# ghost_veth POLICY: prevResult names a host veth that does not exist; the
# kernel's peer of eth0 is tuned and the mismatch named, under POLICY.
ghost_veth() {
	conf 1.0.0 ".prevResult.interfaces[0].name = \"calidead0\" | .failurePolicy = \"$1\"" >"$IN"
	run_helper plugin_env "$IN"
	assert_dev "$HOST_VETH" .status applied
	expect_warning calidead0 "$HOST_VETH"
	expect_tuned "$MASK" 32768 "$HOST_VETH"
}

@test "fail, prevResult names a host veth that does not exist: the kernel's peer is tuned, the mismatch named" {
	ghost_veth fail
}

@test "ignore, prevResult names a host veth that does not exist: the kernel's peer is tuned, the mismatch named" {
	ghost_veth ignore
}

@test "ignore, the pod's veth vanished before the ADD: exit 0, both ends absent" {
	node_run ip link del "$HOST_VETH"
	conf 1.0.0 >"$IN"
	run_helper plugin_env "$IN"
	assert_json "$output" "[.flowsteer.devices[] | select(.name == \"eth0\" or .name == \"$HOST_VETH\") | .status] | join(\" \")" "absent absent"
	assert_json "$output" '.flowsteer.warnings | length >= 2' true
}

@test "fail, the pod's veth vanished before the ADD: 100, the node left as it was" {
	node_run ip link del "$HOST_VETH"
	conf 1.0.0 '.failurePolicy = "fail"' >"$IN"
	run_helper 1 plugin_env "$IN"
	expect_cni_error 100 'container device eth0: no such device'
	expect_orig ul0
	expect_no_state
}

# holder_then_fail: pod p1 holds the node (ctr-holder); pod p2's ADD then
# fails (100) on an interface it lacks. Snapshots before and after it.
holder_then_fail() {
	run_helper cni ADD "$(conf 1.0.0)" ctr-holder
	make_pod p2
	snapshot before
	conf 1.0.0 '.prevResult.interfaces[1].name = "eth1" | .failurePolicy = "fail"' >"$IN"
	run_helper 1 plugin_env "$IN" CNI_IFNAME=eth1
	snapshot after
}

@test "fail with another pod holding the node: 100; the node, the holder's record and node.json as they were" {
	holder_then_fail
	expect_cni_error 100
	expect_tuned "$MASK" 32768 ul0
	assert_unchanged before after
	assert_eq "$(record_names)" "ctr-holder@eth0.n.json" "records"
}

@test "fail with another pod holding the node: the holder's DEL then restores the node" {
	holder_then_fail
	cni_del "$(conf 1.0.0)" ctr-holder
	expect_orig ul0
}

@test "fail, a stateDir that cannot be made: 5 naming it (its own code, not 100); nothing left applied" {
	touch "$BATS_TEST_TMPDIR/afile"
	run_helper '?' cni ADD "$(conf 1.0.0 ".failurePolicy = \"fail\" | .stateDir = \"$BATS_TEST_TMPDIR/afile/state\"")"
	expect_cni_error 5 "afile/state"
	expect_orig pod "$HOST_VETH" ul0
}

@test "a named hostDevice that is absent, even under fail: reported absent with a warning, not a failure" {
	conf 1.0.0 '.hostDevices = ["ul0", "nosuchdev0"] | .failurePolicy = "fail"' >"$IN"
	run_helper plugin_env "$IN"
	assert_dev nosuchdev0 .status absent
	expect_warning nosuchdev0 absent
	assert_dev ul0 .status applied
}

# --- planning errors: the node, not the input --------------------------------
# Under ignore the pod starts untuned: exit 0, prevResult passed on, a
# warning naming the error, nothing changed or recorded. Under fail the
# error keeps its code (5). Each is caused for real: a seccomp filter
# (test/helpers/deny-syscalls.py) or a private mount namespace.

# plan_error MSG WRAPPER...: ADD under ignore, then under fail, behind
# WRAPPER (a helper that runs the plugin behind a changed host).
plan_error() {
	local msg=$1
	shift
	conf 1.0.0 >"$IN"
	"$@" run_helper plugin_env "$IN"
	expect_prev_passed "$(cat "$IN")" &&
		expect_warning 'tuning abandoned, nothing changed' "$msg" &&
		assert_json "$output" '[.flowsteer.devices[] | select(.status == "applied")] | length' 0 &&
		expect_nothing_applied || return
	conf 1.0.0 '.failurePolicy = "fail"' >"$IN"
	"$@" run_helper 1 plugin_env "$IN"
	expect_cni_error 5 "$msg" && expect_nothing_applied
}

# Behind these: /sys/class/net absent; a CPU list the plugin may not read.
no_class_net() {
	local -a PLUGIN_WRAP=(unshare -m sh -c 'mount -t tmpfs none /sys/class && exec "$0" "$@"')
	"$@"
}
cpulist_unreadable() {
	local f=$BATS_TEST_TMPDIR/cpulist
	install -m 0 /dev/null "$f"
	local -a PLUGIN_WRAP=(unshare -m sh -c 'mount --bind "$1" /sys/devices/system/cpu/isolated && shift && exec "$@"'
		sh "$f" setpriv --bounding-set -dac_override)
	"$@"
}

@test "no sysfs of the pod netns (fsopen and mount fail): ignore starts the pod untuned, fail gives 5" {
	plan_error "netns $POD_NETNS: a sysfs of it: No such device" deny_syscalls fsopen=ENOSYS mount=ENODEV --
}

@test "no /sys/class/net: ignore starts the pod untuned, fail gives 5" {
	plan_error 'opening /sys/class/net: No such file or directory' no_class_net
}

@test "no rtnetlink: ignore starts the pod untuned, fail gives 5" {
	plan_error 'opening rtnetlink: Address family not supported' deny_syscalls socket:16=EAFNOSUPPORT --
}

@test "unreadable CPU lists: ignore starts the pod untuned, fail gives 5" {
	plan_error 'reading the CPU lists of /sys/devices/system/cpu: Permission denied' cpulist_unreadable
}

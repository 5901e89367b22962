#!/usr/bin/env bats
# failurePolicy (SPEC §4): with "ignore" a tuning failure never blocks the pod
# — exit 0, prevResult passed on unchanged, the failure in
# flowsteer.devices[].status and in warnings; with "fail" the ADD gives code
# 100 naming the first failure and leaves nothing half-applied.
#
# Failures provoked for real on this kernel:
#   - EROFS: the plugin runs with /sys mounted read-only in a private mount
#     namespace (unshare -m + a read-only bind remount inside the node
#     netns): every host-side write fails; the pod side still works because
#     it takes its own sysfs of the pod's netns.
#   - a device that is absent: CNI_IFNAME names an interface the pod does not
#     have (prevResult names it too), or prevResult names a host veth that
#     does not exist, or the pod's veth is deleted before the ADD.
# EINVAL from an rps_cpus mask needs CPUs isolated at boot (isolcpus /
# nohz_full) or an isolated cpuset partition; neither is set up here, as it
# would disturb everything else running on the machine.

bats_require_minimum_version 1.5.0

load helpers
load hardening_helpers

RO_SYS=(unshare -m sh -c 'mount -o remount,bind,ro /sys && exec "$0" "$@"')

setup() {
	setup_node
	save_ul0
	MASK=$(all_cpus_mask)
	make_pod p1
	IN=$BATS_TEST_TMPDIR/in.json
	POD_ORIG=$(pod_sysfs "$POD_NS" rps_cpus)/$(pod_sysfs "$POD_NS" rps_flow_cnt)
	HOST_ORIG=$(node_sysfs "$HOST_VETH" rps_cpus)/$(node_sysfs "$HOST_VETH" rps_flow_cnt)
}

teardown() { teardown_node; }

# same_prev: the output's prevResult part is the input's, unchanged.
same_prev() {
	diff <(jq -S '.prevResult | {interfaces, ips, routes, dns}' "$IN") \
		<(echo "$output" | jq -S '{interfaces, ips, routes, dns}')
}

dev() { echo "$output" | jq -r --arg n "$1" ".flowsteer.devices[] | select(.name == \$n) | .$2"; }

pod_now() { echo "$(pod_sysfs "$POD_NS" rps_cpus)/$(pod_sysfs "$POD_NS" rps_flow_cnt)"; }
host_now() { echo "$(node_sysfs "$HOST_VETH" rps_cpus)/$(node_sysfs "$HOST_VETH" rps_flow_cnt)"; }

# Nothing half-applied: the pod's, the host veth's and the node's values are
# what they were, and no record or node.json is left.
assert_nothing_applied() {
	[ "$(pod_now)" = "$POD_ORIG" ] || { echo "pod eth0 is $(pod_now), was $POD_ORIG"; return 1; }
	[ "$(host_now)" = "$HOST_ORIG" ] || { echo "$HOST_VETH is $(host_now), was $HOST_ORIG"; return 1; }
	assert_ul0_original
	[ "$(records)" -eq 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
	[ -z "$(tmp_files)" ]
}

# --- read-only sysfs -----------------------------------------------------------

@test "ignore, read-only /sys: exit 0, prevResult passed on, host and node devices failed with EROFS, warnings" {
	conf 1.0.0 >"$IN"
	PLUGIN_WRAP=("${RO_SYS[@]}")
	run --separate-stderr plugin_env "$IN"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	same_prev
	[ "$(echo "$output" | jq -r .cniVersion)" = 1.0.0 ]
	[ "$(dev eth0 status)" = applied ]
	[ "$(dev "$HOST_VETH" status)" = failed ]
	dev "$HOST_VETH" reason | grep -q "writing $HOST_VETH rx-0 rps_cpus=$MASK: Read-only file system"
	[ "$(dev ul0 status)" = failed ]
	dev ul0 reason | grep -q 'Read-only file system'
	echo "$output" | jq -e --arg h "$HOST_VETH" '.flowsteer.warnings | any(startswith("host device " + $h) and contains("Read-only"))'
	echo "$output" | jq -e '.flowsteer.warnings | any(startswith("node device ul0") and contains("Read-only"))'
	# The pod side does not use the host's /sys: eth0 is tuned.
	[ "$(pod_now)" = "$MASK/32768" ]
	[ "$(host_now)" = "$HOST_ORIG" ]
	assert_ul0_original
	# The record says what happened, for `flowsteer status` and CHECK.
	jq -e --arg h "$HOST_VETH" '.devices[] | select(.name == $h) | .status == "failed"' \
		"$STATE_DIR/attachments/ctr-p1@eth0.n.json"
	run cni DEL "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	assert_ul0_original
	[ "$(records)" -eq 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
}

@test "fail, read-only /sys: 100 naming the device and EROFS; the pod's eth0 is put back" {
	conf 1.0.0 '.failurePolicy = "fail"' >"$IN"
	PLUGIN_WRAP=("${RO_SYS[@]}")
	run --separate-stderr plugin_env "$IN"
	echo "$output"
	[ "$status" -eq 1 ]
	[ -z "$stderr" ]
	[ "$(echo "$output" | jq -r .code)" = 100 ]
	echo "$output" | jq -r .msg |
		grep -q "nothing left applied: host device $HOST_VETH: writing $HOST_VETH rx-0 rps_cpus=$MASK: Read-only file system"
	assert_nothing_applied
}

@test "scope container under a read-only /sys: applied (the pod side has its own sysfs)" {
	conf 1.0.0 '.scope = "container" | .failurePolicy = "fail"' >"$IN"
	PLUGIN_WRAP=("${RO_SYS[@]}")
	run --separate-stderr plugin_env "$IN"
	[ "$status" -eq 0 ]
	[ "$(dev eth0 status)" = applied ]
	[ "$(pod_now)" = "$MASK/32768" ]
	[ "$(records)" -eq 1 ]
	[ "$(refs)" -eq 0 ]
}

@test "DEL under a read-only /sys: succeeds, logs what could not be restored, forgets the node" {
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	[ "$(node_sysfs ul0 rps_cpus)" = "$MASK" ]
	conf 1.0.0 >"$IN"
	PLUGIN_WRAP=("${RO_SYS[@]}")
	run --separate-stderr plugin_env "$IN" CNI_COMMAND=DEL
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	grep -q 'restoring node device ul0: writing ul0 rx-0 rps_cpus: Read-only file system' "$LOG_FILE"
	[ "$(records)" -eq 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
}

# --- absent devices ---------------------------------------------------------

@test "ignore, CNI_IFNAME names an interface the pod lacks: exit 0, absent + warning, node applied" {
	conf 1.0.0 '.prevResult.interfaces[1].name = "eth1"' >"$IN"
	run --separate-stderr plugin_env "$IN" CNI_IFNAME=eth1
	echo "$output"
	[ "$status" -eq 0 ]
	same_prev
	[ "$(dev eth1 status)" = absent ]
	[ "$(dev eth1 reason)" = "no such device" ]
	echo "$output" | jq -e '.flowsteer.warnings | any(. == "container device eth1: no such device")'
	# Without the pod interface its peer cannot be told: the veth prevResult
	# names is not tuned on its word alone.
	[ "$(dev "$HOST_VETH" status)" = absent ]
	dev "$HOST_VETH" reason | grep -q 'pod interface eth1'
	[ "$(host_now)" = "$HOST_ORIG" ]
	[ "$(dev ul0 status)" = applied ]
}

@test "fail, CNI_IFNAME names an interface the pod lacks: 100 naming it; host veth and node put back" {
	conf 1.0.0 '.prevResult.interfaces[1].name = "eth1" | .failurePolicy = "fail"' >"$IN"
	run --separate-stderr plugin_env "$IN" CNI_IFNAME=eth1
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | jq -r .code)" = 100 ]
	echo "$output" | jq -r .msg | grep -q 'nothing left applied: container device eth1: no such device'
	assert_nothing_applied
	grep -q 'restored node device ul0' "$LOG_FILE"
}

@test "prevResult names a host veth that does not exist: the kernel's peer is tuned, the mismatch named" {
	for policy in fail ignore; do
		conf 1.0.0 '.prevResult.interfaces[0].name = "calidead0" | .failurePolicy = "'$policy'"' >"$IN"
		run --separate-stderr plugin_env "$IN"
		[ "$status" -eq 0 ]
		[ "$(dev "$HOST_VETH" status)" = applied ]
		echo "$output" | jq -e --arg h "$HOST_VETH" '.flowsteer.warnings | any(contains("calidead0") and contains($h))'
		[ "$(host_now)" = "$MASK/32768" ]
	done
}

@test "ignore, the pod's veth vanished before the ADD: exit 0, both ends absent" {
	node_run ip link del "$HOST_VETH"
	conf 1.0.0 >"$IN"
	run --separate-stderr plugin_env "$IN"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(dev eth0 status)" = absent ]
	[ "$(dev "$HOST_VETH" status)" = absent ]
	[ "$(echo "$output" | jq '.flowsteer.warnings | length')" -ge 2 ]
}

@test "fail, the pod's veth vanished before the ADD: 100, the node left as it was" {
	node_run ip link del "$HOST_VETH"
	conf 1.0.0 '.failurePolicy = "fail"' >"$IN"
	run --separate-stderr plugin_env "$IN"
	[ "$(echo "$output" | jq -r .code)" = 100 ]
	echo "$output" | jq -r .msg | grep -q 'container device eth0: no such device'
	assert_ul0_original
	[ "$(records)" -eq 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
}

@test "fail with another pod holding the node: 100, the node stays tuned for the other pod" {
	run cni ADD "$(conf 1.0.0)" ctr-holder
	[ "$status" -eq 0 ]
	local holder_rec
	holder_rec=$(sha1sum "$STATE_DIR/attachments/ctr-holder@eth0.n.json" "$STATE_DIR/node.json")
	make_pod p2
	POD_ORIG=$(pod_sysfs "$POD_NS" rps_cpus)/$(pod_sysfs "$POD_NS" rps_flow_cnt)
	conf 1.0.0 '.prevResult.interfaces[1].name = "eth1" | .failurePolicy = "fail"' >"$IN"
	run --separate-stderr plugin_env "$IN" CNI_IFNAME=eth1
	[ "$(echo "$output" | jq -r .code)" = 100 ]
	[ "$(node_sysfs ul0 rps_cpus)" = "$MASK" ]
	[ "$(sha1sum "$STATE_DIR/attachments/ctr-holder@eth0.n.json" "$STATE_DIR/node.json")" = "$holder_rec" ]
	[ "$(records)" -eq 1 ]
	[ "$(pod_now)" = "$POD_ORIG" ]
	run cni DEL "$(conf 1.0.0)" ctr-holder
	[ "$status" -eq 0 ]
	assert_ul0_original
}

@test "ignore, a named hostDevice that is absent: reported absent with a warning, not a failure" {
	conf 1.0.0 '.hostDevices = ["ul0", "nosuchdev0"] | .failurePolicy = "fail"' >"$IN"
	run --separate-stderr plugin_env "$IN"
	[ "$status" -eq 0 ]
	[ "$(dev nosuchdev0 status)" = absent ]
	echo "$output" | jq -e '.flowsteer.warnings | any(contains("nosuchdev0") and contains("absent"))'
	[ "$(dev ul0 status)" = applied ]
}

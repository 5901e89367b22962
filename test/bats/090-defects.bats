#!/usr/bin/env bats
# Regression tests for the host-boundary defects found by an adversarial
# review: values were trusted because of where they were read, not because
# of what they are. Each test failed before its fix.

bats_require_minimum_version 1.5.0

load helpers
load core_helpers
load hardening_helpers

setup() {
	core_setup
	[ -z "$NODE" ] || save_ul0
	ALL=$(all_cpus_mask)
	IN=$BATS_TEST_TMPDIR/in.json
}

teardown() {
	[ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null
	[ -n "${XNS:-}" ] && ip netns del "$XNS" 2>/dev/null
	core_teardown
}

# A node.json planted by someone else: restoring it would write its
# "originals" (CPU 1 on ul0) into the node.
plant_node_json() {
	mkdir -p "$STATE_DIR/attachments"
	jq -n --arg b "$(cat /proc/sys/kernel/random/boot_id)" '{version: 1, bootId: $b,
		devices: [{name: "ul0", queues: [{orig: {cpus: "1", flowCnt: 7}, set: {cpus: null, flowCnt: null}}]}],
		sockFlowEntries: null}' >"$STATE_DIR/node.json"
	chmod 0644 "$STATE_DIR/node.json"
}

# --- 1. state is trusted only when it is root's -------------------------------

@test "a stateDir owned by another user is refused; a planted node.json never reaches a device" {
	make_pod p1
	plant_node_json
	chown -R 1000 "$STATE_DIR"
	run_helper cni DEL "$(conf 1.0.0)"
	[ "$(node_sysfs ul0 rps_flow_cnt)" = "$UL0_FLOW" ]
	grep -q "stateDir $STATE_DIR is not safe to use: owned by uid 1000, not root" "$LOG_FILE"
}

@test "a stateDir writable by others is refused: ADD rolls the pod back and says why" {
	make_pod p1
	mkdir -p -m 0777 "$STATE_DIR"
	run_helper cni ADD "$(conf 1.0.0)"
	assert_json "$output" '.flowsteer.warnings | map(select(contains("writable by group or others"))) | length' 1
	expect_pod_untouched
	assert_ul0_original
}

@test "a node.json not owned by root is left alone: nothing is restored from it" {
	make_pod p1
	run_helper cni ADD "$(conf 1.0.0)"
	plant_node_json
	chown 1000 "$STATE_DIR/node.json"
	run_helper cni DEL "$(conf 1.0.0)"
	[ "$(node_sysfs ul0 rps_flow_cnt)" = 32768 ]
	grep -q "node devices not restored, $STATE_DIR left for the operator: .*owned by uid 1000" "$LOG_FILE"
}

@test "a FIFO planted as node.json or lock hangs neither ADD nor GC" {
	make_pod p1
	run_helper cni ADD "$(conf 1.0.0)"
	run_helper cni DEL "$(conf 1.0.0)"
	mkfifo "$STATE_DIR/node.json"
	run_helper cni ADD "$(conf 1.0.0)"
	assert_json "$output" '.flowsteer.devices[] | select(.name == "ul0") | .reason' \
		"state file $STATE_DIR/node.json is not safe to use: not a regular file"
	rm "$STATE_DIR/node.json" "$STATE_DIR/lock"
	mkfifo "$STATE_DIR/lock"
	run_helper 1 cni GC "$(conf 1.1.0 '.["cni.dev/valid-attachments"] = []')"
	assert_json "$output" .msg "lock $STATE_DIR/lock is not safe to use: not a regular file"
}

# --- 2. the kernel says which host device is the pod's ------------------------

@test "prevResult naming a node device as the host veth: the real peer is tuned, the named device is not" {
	make_pod p1
	node_run ip link add dev9 type veth peer name dev9p
	run_helper cni ADD "$(conf 1.0.0 '.prevResult.interfaces[0].name = "dev9"')"
	assert_json "$output" ".flowsteer.devices[] | select(.scope == \"host\") | .name" "$HOST_VETH"
	[ "$(node_sysfs "$HOST_VETH" rps_flow_cnt)" = 32768 ]
	[ "$(node_sysfs dev9 rps_flow_cnt)" = 0 ]
	assert_json "$output" '.flowsteer.warnings | map(select(contains("dev9"))) | length' 1
}

@test "a bridge-plugin shaped result [bridge, veth, eth0]: the veth is tuned, not the bridge" {
	make_pod p1
	node_run ip link add br0 type bridge
	run_helper cni ADD "$(conf 1.0.0 '.prevResult.interfaces = [{name: "br0"}] + .prevResult.interfaces')"
	[ "$(node_sysfs "$HOST_VETH" rps_flow_cnt)" = 32768 ]
	[ "$(node_sysfs br0 rps_flow_cnt)" = 0 ]
}

@test "a pod interface whose peer lives in a third netns: the host device with that ifindex is left alone" {
	XNS=$(fs_prefix)x
	ip netns add "$XNS"
	make_pod p1
	ip -n "$POD_NS" link del eth0
	ip -n "$XNS" link add peer0 index 4000 type veth peer name eth0 netns "$POD_NS"
	[ "$(ip netns exec "$POD_NS" cat /sys/class/net/eth0/iflink)" = 4000 ]
	node_run ip link add dev9 index 4000 type veth peer name dev9p
	run_helper cni ADD "$(conf 1.0.0 '.scope = "host"')"
	[ "$(node_sysfs dev9 rps_flow_cnt)" = 0 ]
	assert_json "$output" ".flowsteer.devices[] | select(.scope == \"host\") | .status" absent
}

# --- 3. restore only what is still flowsteer's --------------------------------

@test "sysctl: an operator's raise after the first ADD survives the last DEL" {
	echo 4096 >"$SOCK_SYSCTL"
	make_pod p1
	run_helper cni ADD "$(conf 1.0.0 '.hostDevices = []')"
	[ "$(cat "$SOCK_SYSCTL")" = 32768 ]
	echo 65536 >"$SOCK_SYSCTL"
	run_helper cni DEL "$(conf 1.0.0 '.hostDevices = []')"
	[ "$(cat "$SOCK_SYSCTL")" = 65536 ]
	grep -q 'rps_sock_flow_entries is 65536, not flowsteer.s 32768: left as it is' "$LOG_FILE"
}

@test "a node device's mask an operator changed while held is not reverted by the last DEL" {
	make_pod p1
	run_helper cni ADD "$(conf 1.0.0)"
	node_write ul0 rps_cpus "$(kmask 0)"
	run_helper cni DEL "$(conf 1.0.0)"
	[ "$(node_sysfs ul0 rps_cpus)" = "$(kmask 0)" ]
	[ "$(node_sysfs ul0 rps_flow_cnt)" = "$UL0_FLOW" ]
}

# --- 4. queues a node device gains while held ---------------------------------

@test "a node device recreated with more rx queues while held: every queue is restored" {
	node_run ip link add ulq type veth peer name ulqp
	c=$(conf 1.0.0 '.hostDevices = ["ulq"]')
	make_pod p1
	CID=ctr-p1 run_helper cni ADD "$c"
	node_run ip link del ulq
	node_run ip link add ulq numrxqueues 4 numtxqueues 4 type veth peer name ulqp
	make_pod p2
	CID=ctr-p2 run_helper cni ADD "$c"
	[ "$(node_queues ulq rps_flow_cnt)" = "8192 8192 8192 8192" ]
	CID=ctr-p2 run_helper cni DEL "$c"
	CID=ctr-p1 run_helper cni DEL "$c"
	[ "$(node_queues ulq rps_flow_cnt)" = "0 0 0 0" ]
	is_zero_mask "$(node_queues ulq rps_cpus)"
}

# --- 5. GC with a malformed list changes nothing ------------------------------

@test "GC with a malformed cni.dev/valid-attachments: 7 and nothing changes" {
	make_pod p1
	run_helper cni ADD "$(conf 1.0.0)"
	snapshot before
	for v in '["c16"]' '[null]' '[{"containerId": "ctr-p1", "ifname": "eth0"}]'; do
		run_helper 1 cni GC "$(conf 1.1.0 ".[\"cni.dev/valid-attachments\"] = $v")"
		assert_json "$output" .code 7
	done
	snapshot after
	assert_unchanged before after
}

# --- 6. pods in a user namespace ----------------------------------------------

@test "a pod in a user namespace (hostUsers: false) is tuned: its sysfs belongs to the mapped root" {
	HOLDER=$(python3 "$BATS_TEST_DIRNAME/../helpers/userns-netns.py" --seconds 120)
	node_run ip link add caliu0 type veth peer name eth0 netns "$HOLDER"
	POD_NETNS=/proc/$HOLDER/ns/net HOST_VETH=caliu0 POD_NAME=u0
	run_helper cni ADD "$(conf 1.0.0 '.scope = "container"')"
	assert_json "$output" '.flowsteer.devices[0].status' applied
	got=$(nsenter -t "$HOLDER" -n unshare -m sh -c 'mount -t sysfs none /sys && cat /sys/class/net/eth0/queues/rx-0/rps_flow_cnt')
	[ "$got" = 32768 ]
}

# --- 7. an escaped NUL is refused, never cut ----------------------------------

@test "escaped NULs in strings are configuration errors naming the key" {
	make_pod p1
	run_helper 1 cni ADD "$(conf 1.0.0 | sed 's|"stateDir":"[^"]*"|"stateDir":"/x\\u0000/../y"|')"
	assert_json "$output" .code 7
	[[ $(jq -r .msg <<<"$output") == *'"stateDir" holds an escaped NUL'* ]]
	run_helper 1 cni ADD "$(conf 1.0.0 '.mode = "rfs"' | sed 's|"mode":"rfs"|"mode":"rfs\\u0000junk"|')"
	[[ $(jq -r .msg <<<"$output") == *'"mode" holds an escaped NUL'* ]]
	[ ! -e /x ]
}

@test "conflist insert --entry with an escaped NUL: refused naming the key, file untouched" {
	cp "$FIXTURES/10-calico.conflist" "$BATS_TEST_TMPDIR/c.conflist"
	run_helper 1 "$FLOWSTEER_BIN" conflist insert "$BATS_TEST_TMPDIR/c.conflist" \
		--entry '{"type":"flowsteer","stateDir":"/run/x\u0000/../y"}'
	[[ $stderr == *stateDir* ]]
	cmp "$FIXTURES/10-calico.conflist" "$BATS_TEST_TMPDIR/c.conflist"
}

# --- 8. one stateDir per node -------------------------------------------------

@test "a second stateDir on the node: its node devices are skipped naming the first, which keeps them" {
	make_pod p1
	A=$STATE_DIR B=$BATS_TEST_TMPDIR/state-b
	CID=ctr-p1 run_helper cni ADD "$(conf 1.0.0)"
	make_pod p2
	CID=ctr-p2 run_helper cni ADD "$(conf 1.0.0 ".stateDir = \"$B\"")"
	assert_json "$output" '.flowsteer.devices[] | select(.name == "ul0") | .reason' \
		"they are held by stateDir $A (one stateDir per node tunes them)"
	CID=ctr-p2 run_helper cni DEL "$(conf 1.0.0 ".stateDir = \"$B\"")"
	[ "$(node_sysfs ul0 rps_flow_cnt)" = 32768 ]
	CID=ctr-p1 run_helper cni DEL "$(conf 1.0.0)"
	assert_ul0_original
	CID=ctr-p2 run_helper cni ADD "$(conf 1.0.0 ".stateDir = \"$B\"")"
	assert_json "$output" '.flowsteer.devices[] | select(.name == "ul0") | .status' applied
}

# --- 9. the smaller ones -------------------------------------------------------

@test "a UTF-8 interface name the kernel accepts is tuned" {
	make_pod p1
	ip -n "$POD_NS" link set eth0 name "eth-é"
	CNI_IFNAME_OVERRIDE="eth-é" run_helper cni ADD "$(conf 1.0.0 '.prevResult.interfaces[1].name = "eth-é"')"
	[ "$(pod_sysfs "$POD_NS" rps_flow_cnt "eth-é")" = 32768 ]
}

@test "a corrupted node.json is never overwritten with tuned values" {
	make_pod p1
	CID=ctr-p1 run_helper cni ADD "$(conf 1.0.0)"
	printf '{"version": 1, "devices": [' >"$STATE_DIR/node.json"
	sum=$(sha1sum <"$STATE_DIR/node.json")
	make_pod p2
	CID=ctr-p2 run_helper cni ADD "$(conf 1.0.0)"
	assert_json "$output" '.flowsteer.devices[] | select(.name == "ul0") | .status' skipped
	[ "$(sha1sum <"$STATE_DIR/node.json")" = "$sum" ]
	[ "$(pod_sysfs "$POD_NS" rps_flow_cnt)" = 32768 ]
}

@test "sysctl: after a rollback the result does not report sockFlowEntries as applied" {
	echo 4096 >"$SOCK_SYSCTL"
	make_pod p1
	mkdir -p -m 0700 "$STATE_DIR/attachments"
	conf 1.0.0 '.hostDevices = []' >"$IN"
	PLUGIN_WRAP=(unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"' sh "$STATE_DIR/attachments")
	run --separate-stderr plugin_env "$IN"
	[ "$status" -eq 0 ]
	assert_json "$output" .flowsteer.sockFlowEntries null
	[ "$(cat "$SOCK_SYSCTL")" = 4096 ]
}

#!/usr/bin/env bats
# Regression tests for the host-boundary defects found by an adversarial
# review: values were trusted because of where they were read, not because
# of what they are. Each test failed before its fix.

load helpers

setup() {
	setup_node
	[ -z "$NODE" ] || save_orig ul0
	ALL=$(all_cpus_mask)
}

teardown() {
	[ -z "${HOLDER:-}" ] || kill "$HOLDER" 2>/dev/null || true
	teardown_node
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
	expect_orig ul0
	assert_log "stateDir $STATE_DIR is not safe to use: owned by uid 1000, not root"
}

@test "a stateDir writable by others is refused: ADD rolls the pod back and says why" {
	make_pod p1
	mkdir -p -m 0777 "$STATE_DIR"
	run_helper cni ADD "$(conf 1.0.0)"
	assert_json "$output" '.flowsteer.warnings | map(select(contains("writable by group or others"))) | length' 1
	expect_untouched pod
	expect_orig ul0
}

@test "a node.json not owned by root is left alone: nothing is restored from it" {
	make_pod p1
	run_helper cni ADD "$(conf 1.0.0)"
	plant_node_json
	chown 1000 "$STATE_DIR/node.json"
	run_helper cni DEL "$(conf 1.0.0)"
	expect_tuned "$ALL" 32768 ul0
	assert_log "node devices not restored, $STATE_DIR left for the operator: .*owned by uid 1000"
}

# A stateDir that has been used: an ADD and DEL of pod p1.
used_state_dir() {
	add_pods p1
	cni_del "${CONF[p1]}"
}

@test "a FIFO planted as node.json hangs no ADD: the node devices are skipped naming it" {
	used_state_dir
	mkfifo "$STATE_DIR/node.json"
	run_helper cni ADD "${CONF[p1]}"
	assert_dev ul0 .reason "state file $STATE_DIR/node.json is not safe to use: not a regular file"
}

@test "a FIFO planted as the lock hangs no GC: refused naming it" {
	used_state_dir
	rm "$STATE_DIR/lock"
	mkfifo "$STATE_DIR/lock"
	run_helper 1 cni GC "$(conf 1.1.0 '.["cni.dev/valid-attachments"] = []')"
	expect_cni_error 5 "^lock $STATE_DIR/lock is not safe to use: not a regular file$"
}

# --- 2. the kernel says which host device is the pod's ------------------------

@test "prevResult naming a node device as the host veth: the real peer is tuned, the named device is not" {
	make_pod p1
	node_run ip link add dev9 type veth peer name dev9p
	run_helper cni ADD "$(conf 1.0.0 '.prevResult.interfaces[0].name = "dev9"')"
	assert_json "$output" ".flowsteer.devices[] | select(.scope == \"host\") | .name" "$HOST_VETH"
	expect_tuned "$ALL" 32768 "$HOST_VETH"
	expect_untouched dev9
	assert_json "$output" '.flowsteer.warnings | map(select(contains("dev9"))) | length' 1
}

@test "a bridge-plugin shaped result [bridge, veth, eth0]: the veth is tuned, not the bridge" {
	make_pod p1
	node_run ip link add br0 type bridge
	run_helper cni ADD "$(conf 1.0.0 '.prevResult.interfaces = [{name: "br0"}] + .prevResult.interfaces')"
	expect_tuned "$ALL" 32768 "$HOST_VETH"
	expect_untouched br0
}

@test "a pod interface whose peer lives in a third netns: the host device with that ifindex is left alone" {
	make_pod p1
	ip netns add "$(fs_prefix)x"
	FS_NS+=("$(fs_prefix)x")
	ip -n "$POD_NS" link del eth0
	ip -n "$(fs_prefix)x" link add peer0 index 4000 type veth peer name eth0 netns "$POD_NS"
	assert_eq "$(ip netns exec "$POD_NS" cat /sys/class/net/eth0/iflink)" 4000 "eth0's peer ifindex"
	node_run ip link add dev9 index 4000 type veth peer name dev9p
	# No host entry in prevResult: the peer's index alone must not pick a device.
	run_helper cni ADD "$(conf 1.0.0 '.scope = "host" | .prevResult.interfaces |= map(select(.sandbox))')"
	expect_untouched dev9
	assert_json "$output" ".flowsteer.devices[] | select(.scope == \"host\") | .status" absent
}

@test "a host veth and its pod interface with the same ifindex, each in its namespace: the veth is tuned" {
	make_pod p1
	ip -n "$POD_NS" link del eth0
	node_run ip link add calisame index 4001 type veth peer name eth0 netns "$POD_NS" index 4001
	node_run ip link set calisame up
	run_helper cni ADD "$(conf 1.0.0 '.scope = "host" | .prevResult.interfaces[0].name = "calisame"')"
	assert_json "$output" ".flowsteer.devices[] | select(.scope == \"host\") | .status" applied
	expect_tuned "$(all_cpus_mask)" 32768 calisame
}

# --- 3. restore only what is still flowsteer's --------------------------------

@test "sysctl: an operator's raise after the first ADD survives the last DEL" {
	echo 4096 >"$SOCK_SYSCTL"
	make_pod p1
	run_helper cni ADD "$(conf 1.0.0 '.hostDevices = []')"
	assert_eq "$(sock_flow)" 32768 "rps_sock_flow_entries after ADD"
	echo 65536 >"$SOCK_SYSCTL"
	run_helper cni DEL "$(conf 1.0.0 '.hostDevices = []')"
	assert_eq "$(sock_flow)" 65536 "rps_sock_flow_entries after DEL"
	assert_log 'rps_sock_flow_entries is 65536, not flowsteer.s 32768: left as it is' 
}

@test "a node device's mask an operator changed while held is not reverted by the last DEL" {
	make_pod p1
	run_helper cni ADD "$(conf 1.0.0)"
	node_write ul0 rps_cpus "$(kmask 0)"
	run_helper cni DEL "$(conf 1.0.0)"
	assert_eq "$(dev_values ul0)" "ul0=$(kmask 0)/${ORIG[ul0]#*/}" "ul0"
}

# --- 4. queues a node device gains while held ---------------------------------

@test "a node device recreated with more rx queues while held: every queue is restored" {
	ADD_FILTER='.hostDevices = ["ulq"]'
	node_run ip link add ulq type veth peer name ulqp
	add_pods p1
	node_run ip link del ulq
	node_run ip link add ulq numrxqueues 4 numtxqueues 4 type veth peer name ulqp
	add_pods p2
	expect_tuned "$ALL" 8192 ulq:4
	cni_del "${CONF[p2]}" ctr-p2
	cni_del "${CONF[p1]}" ctr-p1
	expect_untouched ulq
}

# --- 5. GC with a malformed list changes nothing ------------------------------

@test "GC with a malformed cni.dev/valid-attachments: 7 and nothing changes" {
	make_pod p1
	run_helper cni ADD "$(conf 1.0.0)"
	snapshot before
	for v in '["c16"]' '[null]' '[{"containerId": "ctr-p1", "ifname": "eth0"}]'; do
		run_helper 1 cni GC "$(conf 1.1.0 ".[\"cni.dev/valid-attachments\"] = $v")"
		expect_cni_error 7
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
	assert_eq "$(nsenter -t "$HOLDER" -n unshare -m sh -c 'mount -t sysfs none /sys && cat /sys/class/net/eth0/queues/rx-0/rps_flow_cnt')" \
		32768 "eth0 rps_flow_cnt in the user-namespaced pod"
}

# --- 7. an escaped NUL is refused, never cut ----------------------------------

@test "escaped NULs in strings are configuration errors naming the key" {
	make_pod p1
	# Cut at the NUL, the stateDir would be $BATS_TEST_TMPDIR/x.
	run_helper 1 cni ADD "$(conf 1.0.0 | sed "s|\"stateDir\":\"[^\"]*\"|\"stateDir\":\"$BATS_TEST_TMPDIR/x\\\\u0000/../y\"|")"
	expect_cni_error 7 '"stateDir" holds an escaped NUL'
	run_helper 1 cni ADD "$(conf 1.0.0 '.mode = "rfs"' | sed 's|"mode":"rfs"|"mode":"rfs\\u0000junk"|')"
	expect_cni_error 7 '"mode" holds an escaped NUL'
	[ ! -e "$BATS_TEST_TMPDIR/x" ]
}

@test "conflist insert --entry with an escaped NUL: refused naming the key, file untouched" {
	cp "$FIXTURES/10-calico.conflist" "$BATS_TEST_TMPDIR/c.conflist"
	run_helper 1 "$FLOWSTEER_BIN" conflist insert "$BATS_TEST_TMPDIR/c.conflist" \
		--entry '{"type":"flowsteer","stateDir":"/run/x\u0000/../y"}'
	assert_match "$stderr" stateDir
	cmp "$FIXTURES/10-calico.conflist" "$BATS_TEST_TMPDIR/c.conflist"
}

# --- 8. one stateDir per node -------------------------------------------------

# two_state_dirs: pod p1 added with the test's stateDir, then pod p2
# with a second one, $B.
two_state_dirs() {
	B=$BATS_TEST_TMPDIR/state-b
	add_pods p1
	ADD_FILTER=".stateDir = \"$B\"" add_pods p2
}

@test "a second stateDir on the node: its node devices are skipped naming the first, which keeps them" {
	two_state_dirs
	assert_dev ul0 .reason "they are held by stateDir $STATE_DIR (one stateDir per node tunes them)"
	cni_del "${CONF[p2]}" ctr-p2
	expect_tuned "$ALL" 32768 ul0
}

@test "a second stateDir on the node takes the node devices once the first let them go" {
	two_state_dirs
	cni_del "${CONF[p2]}" ctr-p2
	cni_del "${CONF[p1]}" ctr-p1
	expect_orig ul0
	run_helper cni ADD "${CONF[p2]}" ctr-p2
	assert_dev ul0 .status applied
}

# --- 9. the smaller ones -------------------------------------------------------

@test "a UTF-8 interface name the kernel accepts is tuned" {
	make_pod p1
	ip -n "$POD_NS" link set eth0 name "eth-é"
	CNI_IFNAME_OVERRIDE="eth-é" run_helper cni ADD "$(conf 1.0.0 '.prevResult.interfaces[1].name = "eth-é"')"
	assert_eq "$(pod_rx rps_flow_cnt "eth-é")" 32768 "eth-é rps_flow_cnt"
}

@test "a corrupted node.json is never overwritten with tuned values" {
	make_pod p1
	CID=ctr-p1 run_helper cni ADD "$(conf 1.0.0)"
	printf '{"version": 1, "devices": [' >"$STATE_DIR/node.json"
	sum=$(sha1sum <"$STATE_DIR/node.json")
	make_pod p2
	CID=ctr-p2 run_helper cni ADD "$(conf 1.0.0)"
	assert_json "$output" '.flowsteer.devices[] | select(.name == "ul0") | .status' skipped
	assert_eq "$(sha1sum <"$STATE_DIR/node.json")" "$sum" "node.json's checksum"
	expect_tuned "$ALL" 32768 pod
}

@test "sysctl: after a rollback the result does not report sockFlowEntries as applied" {
	echo 4096 >"$SOCK_SYSCTL"
	make_pod p1
	mkdir -p -m 0700 "$STATE_DIR/attachments"
	ro_bind "$STATE_DIR/attachments" run_helper cni ADD "$(conf 1.0.0 '.hostDevices = []')"
	assert_json "$output" .flowsteer.sockFlowEntries null
	assert_eq "$(sock_flow)" 4096 "rps_sock_flow_entries"
}

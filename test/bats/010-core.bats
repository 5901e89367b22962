#!/usr/bin/env bats
# The core plugin as a runtime runs it (env + stdin JSON), in network
# namespaces: ADD for every mode x scope, the pod's eth0, the cali veth and
# the node devices (vxlan.calico, the underlay), both Calico result shapes,
# DEL's restore and reference count, CHECK's drift, the core error codes,
# VERSION, net.core.rps_sock_flow_entries (initial netns), `flowsteer status`
# and the log. Every assertion reads the kernel's sysfs, the result JSON or
# the exit code.

bats_require_minimum_version 1.5.0
load helpers
load core_helpers

setup() {
	core_setup
	ALL=$(all_cpus_mask)
	ONLINE=$(cat /sys/devices/system/cpu/online)
}

teardown() {
	core_teardown
}

# ---------------------------------------------------------------- ADD ---

# add_combo MODE SCOPE: ADD with that mode and scope on a fresh node; what
# the scope covers holds the mask (and rps_flow_cnt in rfs), the rest is
# untouched; the result reports exactly those devices.
add_combo() {
	local mode=$1 scope=$2 c pod=0 host=0 flow=0 names
	add_vxlan
	make_pod web
	c=$(conf 1.0.0 ".mode = \"$mode\" | .scope = \"$scope\"")
	run cni ADD "$c"
	[ "$status" -eq 0 ]
	expect_prev_passed "$c"
	expect_eq "$(fsj .mode)" "$mode" "flowsteer.mode"
	expect_eq "$(fsj .scope)" "$scope" "flowsteer.scope"
	if [ "$mode" != off ]; then
		[ "$scope" = host ] || pod=1
		[ "$scope" = container ] || host=1
	fi
	[ "$mode" = rfs ] && flow=32768
	if [ $pod = 1 ]; then
		expect_pod_tuned "$ALL" "$flow" 1
	else
		expect_pod_untouched
	fi
	for d in "$HOST_VETH" vxlan.calico ul0; do
		if [ $host = 1 ]; then
			expect_node_tuned "$d" "$ALL" "$flow" 1
		else
			expect_node_untouched "$d"
		fi
	done
	names=$(fsj '.devices | map(select(.status == "applied") | .name) | join(" ")')
	case $pod$host in
	00) expect_eq "$(fsj '.devices | length')" 0 "devices reported for mode off" ;;
	10) expect_eq "$names" "eth0" "applied devices" ;;
	01) expect_eq "$names" "$HOST_VETH vxlan.calico ul0" "applied devices" ;;
	11) expect_eq "$names" "eth0 $HOST_VETH vxlan.calico ul0" "applied devices" ;;
	esac
	if [ $host = 1 ]; then
		# Calico's other tunnels are not on this node: reported absent.
		expect_eq "$(devj vxlan-v6.calico .status)" absent "vxlan-v6.calico status"
		expect_eq "$(devj tunl0 .status)" absent "tunl0 status"
	fi
	for d in $names; do
		expect_eq "$(devj "$d" .queues)" 1 "$d queues"
		expect_eq "$(devj "$d" .rpsCpus)" "$ALL" "$d rpsCpus"
		if [ "$mode" = rfs ]; then
			expect_eq "$(devj "$d" .flowCnt)" 32768 "$d flowCnt"
		else
			expect_eq "$(devj "$d" .flowCnt)" null "$d flowCnt in rps mode"
		fi
	done
	[ "$mode" = off ] || expect_eq "$(fsj .cpus)" "$ONLINE" "flowsteer.cpus"
	expect_eq "$(fsj '.warnings | length')" 0 "warnings"
}

@test "ADD mode off, scope container: nothing written" { add_combo off container; }
@test "ADD mode off, scope host: nothing written" { add_combo off host; }
@test "ADD mode off, scope both: nothing written" { add_combo off both; }
@test "ADD mode rps, scope container: eth0 only, no rps_flow_cnt" { add_combo rps container; }
@test "ADD mode rps, scope host: cali veth + node devices, no rps_flow_cnt" { add_combo rps host; }
@test "ADD mode rps, scope both: everything, no rps_flow_cnt" { add_combo rps both; }
@test "ADD mode rfs, scope container: eth0 only" { add_combo rfs container; }
@test "ADD mode rfs, scope host: cali veth + node devices" { add_combo rfs host; }
@test "ADD mode rfs, scope both: everything" { add_combo rfs both; }

@test "ADD defaults are rfs/both; auto flowCnt = 32768 / 4 on every rx queue of a 4-queue veth" {
	add_vxlan
	make_pod web default 4
	c=$(jq -c 'del(.mode, .scope)' <<<"$(conf 1.0.0)")
	run cni ADD "$c"
	[ "$status" -eq 0 ]
	expect_eq "$(fsj .mode)/$(fsj .scope)" rfs/both "defaults"
	expect_pod_tuned "$ALL" 8192 4
	expect_node_tuned "$HOST_VETH" "$ALL" 8192 4
	# Node devices have one queue: the whole table.
	expect_node_tuned vxlan.calico "$ALL" 32768 1
	expect_node_tuned ul0 "$ALL" 32768 1
	expect_eq "$(devj eth0 .queues)/$(devj eth0 .flowCnt)" 4/8192 "eth0 report"
	expect_eq "$(devj "$HOST_VETH" .queues)/$(devj "$HOST_VETH" .flowCnt)" 4/8192 "host veth report"
	expect_eq "$(devj eth0 .scope)/$(devj "$HOST_VETH" .scope)/$(devj ul0 .scope)" container/host/node "scopes"
	expect_prev_passed "$c"
}

@test "ADD explicit flowCnt: rounded up to a power of two on every queue of every device" {
	add_vxlan
	make_pod web default 4
	run cni ADD "$(conf 1.0.0 '.flowCnt = 1000')"
	[ "$status" -eq 0 ]
	expect_pod_tuned "$ALL" 1024 4
	expect_node_tuned "$HOST_VETH" "$ALL" 1024 4
	expect_node_tuned vxlan.calico "$ALL" 1024 1
	expect_eq "$(devj eth0 .flowCnt)/$(devj vxlan.calico .flowCnt)" 1024/1024 "reported flowCnt"
}

@test "ADD sockFlowEntries 65536 with auto flowCnt: 16384 per queue of 4, 65536 on one queue" {
	add_vxlan
	make_pod web default 4
	run cni ADD "$(conf 1.0.0 '.sockFlowEntries = 65536')"
	[ "$status" -eq 0 ]
	expect_pod_tuned "$ALL" 16384 4
	expect_node_tuned "$HOST_VETH" "$ALL" 16384 4
	expect_node_tuned vxlan.calico "$ALL" 65536 1
}

@test "ADD cpus \"1\": mask of CPU 1 on pod, host veth and node devices" {
	[ "$(kmask 1)" != "$(kmask '')" ] || skip "CPU 1 is not online"
	add_vxlan
	make_pod web
	run cni ADD "$(conf 1.0.0 '.cpus = "1"')"
	[ "$status" -eq 0 ]
	want=$(kmask 1)
	[ "$(nproc --all)" != 2 ] || [ "$want" = 2 ]
	expect_pod_tuned "$want" 32768 1
	expect_node_tuned "$HOST_VETH" "$want" 32768 1
	expect_node_tuned vxlan.calico "$want" 32768 1
	expect_node_tuned ul0 "$want" 32768 1
	expect_eq "$(fsj .cpus)" 1 "flowsteer.cpus"
	expect_eq "$(devj eth0 .rpsCpus)" "$want" "eth0 rpsCpus"
}

@test "ADD excludeCpus \"0\": every online CPU but 0" {
	[ "$(kmask 1)" != "$(kmask '')" ] || skip "needs 2 online CPUs"
	add_vxlan
	make_pod web
	run cni ADD "$(conf 1.0.0 '.excludeCpus = "0"')"
	[ "$status" -eq 0 ]
	want=$(kmask "1-8191")
	[ "$(nproc --all)" != 2 ] || [ "$want" = 2 ]
	expect_pod_tuned "$want" 32768 1
	expect_node_tuned "$HOST_VETH" "$want" 32768 1
	expect_node_tuned vxlan.calico "$want" 32768 1
	expect_eq "$(devj "$HOST_VETH" .rpsCpus)" "$want" "host veth rpsCpus"
}

@test "ADD cpus \"none\": rps_cpus written as an empty mask" {
	add_vxlan
	make_pod web
	# Non-zero beforehand, so the zero proves a write.
	pod_write rps_cpus 1
	node_write "$HOST_VETH" rps_cpus 1
	run cni ADD "$(conf 1.0.0 '.cpus = "none" | .mode = "rps"')"
	[ "$status" -eq 0 ]
	is_zero_mask "$(pod_queues rps_cpus)"
	is_zero_mask "$(node_queues "$HOST_VETH" rps_cpus)"
	is_zero_mask "$(node_queues vxlan.calico rps_cpus)"
	expect_eq "$(devj eth0 .status)" applied "eth0 status"
	is_zero_mask "$(devj eth0 .rpsCpus)"
}

@test "ADD @underlay: a multi-queue underlay NIC is skipped (rss), untouched" {
	add_mq_underlay
	make_pod web
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	expect_eq "$(devj ulq .status)" skipped "ulq status"
	expect_eq "$(devj ulq .reason)" rss "ulq reason"
	expect_eq "$(devj ulq .queues)" 4 "ulq queues"
	expect_node_untouched ulq
	# ul0 no longer carries the default route: not a target.
	expect_eq "$(devj ul0 .name)" "" "ul0 in the report"
	expect_node_untouched ul0
	expect_pod_tuned "$ALL" 32768 1
}

@test "ADD hostDevices naming a multi-queue NIC: tuned on every queue; absent names reported" {
	add_mq_underlay
	make_pod web
	run cni ADD "$(conf 1.0.0 '.hostDevices = ["ulq", "nosuch0"]')"
	[ "$status" -eq 0 ]
	expect_node_tuned ulq "$ALL" 8192 4
	expect_eq "$(devj ulq .status)/$(devj ulq .queues)/$(devj ulq .flowCnt)" applied/4/8192 "ulq report"
	expect_eq "$(devj nosuch0 .status)" absent "nosuch0 status"
	fsj '.warnings[]' | grep -q nosuch0
	# Only what was named: ul0 and Calico's devices are left alone.
	expect_node_untouched ul0
	expect_eq "$(fsj '.devices | map(.name) | sort | join(" ")')" "$(printf '%s\n' eth0 "$HOST_VETH" nosuch0 ulq | sort | paste -sd' ')" "devices"
}

# ------------------------------------------------- Calico result shapes ---

# shape_conf FIXTURE VERSION: the config libcni sends after Calico: the
# fixture's result converted to VERSION (ips[].version exists only below
# 1.0.0), names and netns of the current pod.
shape_conf() {
	jq -c --arg v "$2" --arg host "$HOST_VETH" --arg netns "$POD_NETNS" \
		--arg state "$STATE_DIR" --arg log "$LOG_FILE" '
		{cniVersion: $v, name: "k8s-pod-network", type: "flowsteer",
		 stateDir: $state, logFile: $log, logLevel: "debug",
		 prevResult: (.cniVersion = $v
			| .interfaces |= map(if .sandbox then .sandbox = $netns else .name = $host end)
			| .ips |= map(if ($v | startswith("0.")) then .version = (if (.address | test(":")) then "6" else "4" end)
				      else del(.version) end))}' "$FIXTURES/$1"
}

shape_add() { # FIXTURE VERSION
	make_pod iperf-server-1 default
	c=$(shape_conf "$1" "$2")
	run cni ADD "$c"
	[ "$status" -eq 0 ]
	expect_prev_passed "$c"
	expect_eq "$(jq -r .cniVersion <<<"$output")" "$2" "result cniVersion"
	expect_pod_tuned "$ALL" 32768 1
	expect_node_tuned "$HOST_VETH" "$ALL" 32768 1
	expect_eq "$(devj eth0 .status)/$(devj "$HOST_VETH" .status)" applied/applied "statuses"
	expect_eq "$(fsj '.warnings | length')" 0 "warnings"
}

@test "Calico v3.30 shape (host veth only) at 0.3.1: eth0 still tuned in the pod" {
	shape_add calico-v3.30-prevresult-0.3.1.json 0.3.1
	expect_eq "$(jq -c '.ips' <<<"$output")" '[{"version":"4","address":"10.244.1.5/32"}]' "ips"
}
@test "Calico v3.30 shape (host veth only) at 1.0.0" {
	shape_add calico-v3.30-prevresult-0.3.1.json 1.0.0
	expect_eq "$(jq -c '.ips' <<<"$output")" '[{"address":"10.244.1.5/32"}]' "ips"
}
@test "Calico v3.31 shape (host + container) at 1.0.0" {
	shape_add calico-v3.31-prevresult-1.0.0.json 1.0.0
}
@test "Calico v3.31 shape (host + container) at 0.3.1" {
	shape_add calico-v3.31-prevresult-1.0.0.json 0.3.1
	expect_eq "$(jq -c '.ips[0].version' <<<"$output")" '"4"' "ips[0].version"
}

@test "prevResult in another version than the config: result in the config's cniVersion" {
	make_pod web
	c=$(conf 0.3.1 '.cniVersion = "1.0.0"')
	run cni ADD "$c"
	[ "$status" -eq 0 ]
	expect_eq "$(jq -r .cniVersion <<<"$output")" 1.0.0 "cniVersion"
	expect_eq "$(jq -c '.ips' <<<"$output")" '[{"address":"10.244.1.5/32"}]' "ips without version"
	expect_eq "$(jq -c 'del(.flowsteer, .cniVersion, .ips)' <<<"$output")" \
		"$(jq -c '.prevResult | del(.cniVersion, .ips)' <<<"$c")" "rest of the result"
}

@test "prevResult without the host veth: found as the pod interface's peer and tuned" {
	add_vxlan
	make_pod web default 2
	c=$(conf 1.0.0 '.prevResult.interfaces |= map(select(.sandbox)) | .prevResult.ips[0].interface = 0')
	run cni ADD "$c"
	[ "$status" -eq 0 ]
	expect_prev_passed "$c"
	expect_node_tuned "$HOST_VETH" "$ALL" 16384 2
	expect_pod_tuned "$ALL" 16384 2
	expect_eq "$(devj "$HOST_VETH" .status)/$(devj "$HOST_VETH" .scope)" applied/host "host veth report"
	expect_eq "$(fsj '.warnings | length')" 0 "warnings"
}

@test "prevResult without the host veth, scope host: peer found, eth0 left alone" {
	make_pod web
	run cni ADD "$(conf 1.0.0 '.scope = "host" | .prevResult.interfaces |= map(select(.sandbox))')"
	[ "$status" -eq 0 ]
	expect_node_tuned "$HOST_VETH" "$ALL" 32768 1
	expect_pod_untouched
	expect_eq "$(fsj '.devices | map(select(.scope != "node")) | map(.name) | join(" ")')" "$HOST_VETH" "pod devices"
}

# ---------------------------------------------------------------- DEL ---

# A node device with a non-zero original (test fixture): DEL must restore
# exactly that.
node_original() {
	add_vxlan
	node_write vxlan.calico rps_cpus 1
	node_write vxlan.calico rps_flow_cnt 16
}

expect_node_restored() {
	expect_node_tuned vxlan.calico 1 16 1
	expect_node_untouched ul0
	[ ! -e "$STATE_DIR/node.json" ]
	expect_eq "$(state_records)" 0 "records left"
}

@test "DEL of the last pod restores node devices to the values found" {
	node_original
	make_pod web
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	expect_node_tuned vxlan.calico "$ALL" 32768 1
	expect_node_tuned ul0 "$ALL" 32768 1
	run cni DEL "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	expect_node_restored
}

@test "DEL reference count: the node stays tuned until the second pod goes" {
	node_original
	make_pod a
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	ca=$(conf 1.0.0)
	make_pod b
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	expect_eq "$(state_records)" 2 "records"
	run cni DEL "$ca" ctr-a
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	expect_node_tuned vxlan.calico "$ALL" 32768 1
	expect_node_tuned ul0 "$ALL" 32768 1
	expect_eq "$(state_records)" 1 "records"
	run cni DEL "$(conf 1.0.0)" ctr-b
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	expect_node_restored
}

@test "DEL is idempotent: twice gives 0 and empty stdout" {
	node_original
	make_pod web
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	for i in 1 2; do
		run cni DEL "$(conf 1.0.0)"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
	done
	expect_node_restored
}

@test "DEL without prevResult works from stateDir" {
	node_original
	make_pod web
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	run cni DEL "$(conf 1.0.0 'del(.prevResult)')"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	expect_node_restored
}

@test "DEL at cniVersion 0.3.1 without prevResult (Calico's stock conflist)" {
	node_original
	make_pod web
	run cni ADD "$(conf 0.3.1)"
	[ "$status" -eq 0 ]
	run cni DEL "$(conf 0.3.1 'del(.prevResult)')"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	expect_node_restored
}

@test "DEL with an empty CNI_NETNS (containerd after the netns closed)" {
	node_original
	make_pod web
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	CNI_NETNS_OVERRIDE="" run cni DEL "$(conf 1.0.0 'del(.prevResult)')"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	expect_node_restored
}

@test "DEL after the pod netns was deleted (veth gone too)" {
	node_original
	make_pod web
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	c=$(conf 1.0.0)
	ip netns del "$POD_NS"
	if node_run ip link show "$HOST_VETH" >/dev/null 2>&1; then false; fi
	run cni DEL "$c"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	expect_node_restored
}

@test "DEL with no record at all: 0, empty stdout, node left as it is" {
	node_original
	make_pod web
	run cni DEL "$(conf 1.0.0)" never-added
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	expect_node_tuned vxlan.calico 1 16 1
}

@test "DEL with restoreOnLastDel false leaves the node tuned" {
	node_original
	make_pod web
	run cni ADD "$(conf 1.0.0 '.restoreOnLastDel = false')"
	[ "$status" -eq 0 ]
	run cni DEL "$(conf 1.0.0 '.restoreOnLastDel = false')"
	[ "$status" -eq 0 ]
	expect_node_tuned vxlan.calico "$ALL" 32768 1
	expect_eq "$(state_records)" 0 "records left"
}

# -------------------------------------------------------------- CHECK ---

@test "CHECK passes right after ADD" {
	add_vxlan
	make_pod web default 2
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	run cni CHECK "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "CHECK drift in the pod's eth0: code 101 naming device, queue, expected, actual" {
	[ "$(kmask 1)" != "$ALL" ] || skip "needs 2 online CPUs"
	make_pod web default 4
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	drift=$(kmask 1)
	pod_write rps_cpus "$drift" rx-2
	run cni CHECK "$(conf 1.0.0)"
	expect_cni_error 101
	msg=$(jq -r .msg <<<"$output")
	[[ $msg == *eth0* ]]
	[[ $msg == *rx-2* ]]
	[[ $msg == *"expected $ALL"* ]]
	[[ $msg == *"actual $drift"* ]]
}

@test "CHECK drift in the cali veth: code 101 naming it" {
	[ "$(kmask 1)" != "$ALL" ] || skip "needs 2 online CPUs"
	make_pod web
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	node_write "$HOST_VETH" rps_cpus "$(kmask 1)"
	run cni CHECK "$(conf 1.0.0)"
	expect_cni_error 101
	msg=$(jq -r .msg <<<"$output")
	[[ $msg == *"$HOST_VETH"*rx-0*"expected $ALL"*"actual $(kmask 1)"* ]]
}

@test "CHECK drift in rps_flow_cnt: code 101 naming the value" {
	make_pod web
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	pod_write rps_flow_cnt 64
	run cni CHECK "$(conf 1.0.0)"
	expect_cni_error 101
	msg=$(jq -r .msg <<<"$output")
	[[ $msg == *eth0*rx-0*"expected 32768"*"actual 64"* ]]
}

@test "CHECK on a mode-off pod passes" {
	make_pod web
	run cni ADD "$(conf 1.0.0 '.mode = "off"')"
	[ "$status" -eq 0 ]
	run cni CHECK "$(conf 1.0.0 '.mode = "off"')"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# -------------------------------------------------- errors and VERSION ---

@test "error 7: ADD without prevResult; nothing tuned" {
	add_vxlan
	make_pod web
	run cni ADD "$(conf 1.0.0 'del(.prevResult)')"
	expect_cni_error 7
	[[ $(jq -r .msg <<<"$output") == *prevResult* ]]
	expect_eq "$(jq -r .cniVersion <<<"$output")" 1.0.0 "error cniVersion"
	expect_pod_untouched
	expect_node_untouched vxlan.calico
}

@test "error 4: CNI_NETNS that is not a network namespace, named" {
	make_pod web
	CNI_NETNS_OVERRIDE=/tmp run cni ADD "$(conf 1.0.0)"
	expect_cni_error 4
	[[ $(jq -r .msg <<<"$output") == *CNI_NETNS*/tmp* ]]
	expect_pod_untouched
}

@test "error 1: unsupported cniVersion" {
	make_pod web
	run cni ADD "$(conf 1.0.0 '.cniVersion = "0.2.0"')"
	expect_cni_error 1
	[[ $(jq -r .msg <<<"$output") == *0.2.0* ]]
	expect_pod_untouched
}

@test "error 6: malformed JSON" {
	make_pod web
	run cni ADD '{"cniVersion": "1.0.0", "type": "flowsteer",'
	expect_cni_error 6
	expect_pod_untouched
}

@test "VERSION: supportedVersions exactly 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0" {
	run cni VERSION '{"cniVersion":"1.0.0"}'
	[ "$status" -eq 0 ]
	expect_eq "$(jq -c .supportedVersions <<<"$output")" '["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]' "supportedVersions"
	expect_eq "$(jq -r .cniVersion <<<"$output")" 1.0.0 "cniVersion"
}

# ---------------------------------------- net.core.rps_sock_flow_entries ---
# Initial netns (the only one with the sysctl): the pod's host veth and a
# test veth named in hostDevices live there; the host's own NICs are never
# named, and @calico/@underlay are not used.

# A veth in the initial netns as the only node device, removed in teardown.
init_node_dev() {
	NODE_DEV=$(fs_prefix)x
	ip link add "$NODE_DEV" type veth peer name x0 netns "$POD_NS"
	FS_HOST_LINKS+=("$NODE_DEV")
}

init_conf() { conf 1.0.0 ".hostDevices = [\"$NODE_DEV\"] $1"; }

@test "sysctl: rfs ADD raises it to 32768; the last DEL puts the original back" {
	echo 1024 >"$SOCK_SYSCTL"
	make_pod "sysctl-$$-a"
	init_node_dev
	ca=$(init_conf)
	run cni ADD "$ca"
	[ "$status" -eq 0 ]
	expect_eq "$(cat "$SOCK_SYSCTL")" 32768 "rps_sock_flow_entries after ADD"
	expect_eq "$(fsj .sockFlowEntries)/$(fsj .sockFlowEntriesStatus)" 32768/applied "report"
	# Only the pod's devices and the named test veth: never the host's NICs.
	expect_eq "$(fsj '.devices | map(.name) | join(" ")')" "eth0 $HOST_VETH $NODE_DEV" "devices"
	expect_node_tuned "$NODE_DEV" "$ALL" 32768 1
	make_pod "sysctl-$$-b"
	run cni ADD "$(init_conf)"
	[ "$status" -eq 0 ]
	run cni DEL "$ca" "ctr-sysctl-$$-a"
	[ "$status" -eq 0 ]
	expect_eq "$(cat "$SOCK_SYSCTL")" 32768 "rps_sock_flow_entries with one pod left"
	run cni DEL "$(init_conf)"
	[ "$status" -eq 0 ]
	expect_eq "$(cat "$SOCK_SYSCTL")" 1024 "rps_sock_flow_entries after the last DEL"
	expect_node_untouched "$NODE_DEV"
}

@test "sysctl: never lowered (65536 stays 65536)" {
	echo 65536 >"$SOCK_SYSCTL"
	make_pod "sysctl-$$"
	init_node_dev
	run cni ADD "$(init_conf)"
	[ "$status" -eq 0 ]
	expect_eq "$(cat "$SOCK_SYSCTL")" 65536 "rps_sock_flow_entries after ADD"
	expect_eq "$(fsj .sockFlowEntries)" 65536 "reported sockFlowEntries"
	run cni DEL "$(init_conf)"
	[ "$status" -eq 0 ]
	expect_eq "$(cat "$SOCK_SYSCTL")" 65536 "rps_sock_flow_entries after DEL"
}

@test "sysctl: rps mode leaves it alone" {
	echo 1024 >"$SOCK_SYSCTL"
	make_pod "sysctl-$$"
	init_node_dev
	run cni ADD "$(init_conf '| .mode = "rps"')"
	[ "$status" -eq 0 ]
	expect_eq "$(cat "$SOCK_SYSCTL")" 1024 "rps_sock_flow_entries"
	run cni DEL "$(init_conf)"
	[ "$status" -eq 0 ]
	expect_eq "$(cat "$SOCK_SYSCTL")" 1024 "rps_sock_flow_entries after DEL"
}

# ----------------------------------------------------- flowsteer status ---

status_cli() { node_run "$FLOWSTEER_BIN" status --state-dir "$STATE_DIR" "$@"; }

two_pods() {
	add_vxlan
	make_pod a
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	make_pod b ns2 2
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
}

@test "status --json after real ADDs: attachments listed, live values equal recorded" {
	two_pods
	run status_cli --json
	[ "$status" -eq 0 ]
	expect_eq "$(jq '.attachments | length' <<<"$output")" 2 "attachments"
	expect_eq "$(jq -r '.attachments | map("\(.podNamespace)/\(.podName)/\(.containerId)") | sort | join(" ")' <<<"$output")" \
		"default/a/ctr-a ns2/b/ctr-b" "pods"
	expect_eq "$(jq '.drift' <<<"$output")" 0 "drift"
	expect_eq "$(jq '[.attachments[].devices[] | select(.state != "ok")] | length' <<<"$output")" 0 "devices not ok"
	expect_eq "$(jq '[.attachments[].devices[] | select(.rpsCpus != .liveRpsCpus or .flowCnt != .liveFlowCnt)] | length' <<<"$output")" 0 "live != recorded"
	expect_eq "$(jq -r '.attachments[] | select(.podName == "b") | .devices[] | select(.name == "eth0") | "\(.queues) \(.liveRpsCpus) \(.liveFlowCnt)"' <<<"$output")" \
		"2 $ALL 16384" "pod b eth0"
	expect_eq "$(jq -r '.node.refcount' <<<"$output")" 2 "node refcount"
	expect_eq "$(jq -r '.node.devices | map(.name) | sort | join(" ")' <<<"$output")" "ul0 vxlan.calico" "node devices"
	expect_eq "$(jq -r '.node.devices[] | select(.name == "vxlan.calico") | .liveRpsCpus' <<<"$output")" "$ALL" "vxlan live"
}

@test "status (text) after real ADDs: every device ok" {
	two_pods
	run status_cli
	[ "$status" -eq 0 ]
	[[ $output == *default/a* ]]
	[[ $output == *ns2/b* ]]
	[[ $output != *DRIFT* ]]
	expect_eq "$(grep -c "^  $HOST_VETH .* ok$" <<<"$output")" 1 "pod b host veth line"
}

@test "status marks drift (exit 3) after a change" {
	[ "$(kmask 1)" != "$ALL" ] || skip "needs 2 online CPUs"
	two_pods
	node_write "$HOST_VETH" rps_cpus "$(kmask 1)" rx-1
	run status_cli --json
	[ "$status" -eq 3 ]
	expect_eq "$(jq '.drift' <<<"$output")" 1 "drift"
	d=$(jq -c --arg n "$HOST_VETH" '.attachments[].devices[] | select(.name == $n)' <<<"$output")
	expect_eq "$(jq -r .state <<<"$d")" drift "state"
	expect_eq "$(jq -r .liveRpsCpus <<<"$d")" "$(kmask 1)" "liveRpsCpus"
	[[ $(jq -r .detail <<<"$d") == *rx-1*"expected $ALL"*"actual $(kmask 1)"* ]]
	run status_cli
	[ "$status" -eq 3 ]
	[[ $output == *DRIFT*$HOST_VETH*rx-1* ]]
}

# ---------------------------------------------------------------- log ---

@test "log: one line per event, each with the container ID" {
	make_pod web
	run cni ADD "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	run cni CHECK "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	run cni DEL "$(conf 1.0.0)"
	[ "$status" -eq 0 ]
	make_pod other
	run cni ADD "$(conf 1.0.0 'del(.prevResult)')"
	[ "$status" -ne 0 ]
	# Every line: time, level, pid, verb and container ID, then the event.
	bad=$(grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z (error|warn|info|debug) \[[0-9]+\] (ADD|DEL|CHECK) ctr-(web|other): .+' "$LOG_FILE" || true)
	expect_eq "$bad" "" "malformed log lines"
	expect_eq "$(grep -c 'ADD ctr-web: pod default/web netns .*mode=rfs scope=both' "$LOG_FILE")" 1 "ADD summary lines"
	expect_eq "$(grep -c 'DEL ctr-web: forgot ctr-web/eth0' "$LOG_FILE")" 1 "DEL lines"
	expect_eq "$(grep -c 'ADD ctr-other: code 7: .*prevResult' "$LOG_FILE")" 1 "error lines"
	# No event is split over lines or merged with another.
	expect_eq "$(grep -c 'ctr-' "$LOG_FILE")" "$(wc -l <"$LOG_FILE")" "lines with a container ID"
}

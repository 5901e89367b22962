#!/usr/bin/env bats
# The core plugin as a runtime runs it (env + stdin JSON), in network
# namespaces: ADD for every mode x scope, the pod's eth0, the cali veth and
# the node devices (vxlan.calico, the underlay), both Calico result shapes,
# DEL's restore and reference count, CHECK's drift, the core error codes,
# VERSION, net.core.rps_sock_flow_entries (initial netns), `flowsteer status`
# and the log. Every assertion reads the kernel's sysfs, the result JSON or
# the exit code. Tagged needs:rtm_getnsid: the host veth, which the plugin
# proves to be the pod interface's peer with RTM_GETNSID; qemu-user does not
# pass that message on, so test/arm64/run.sh leaves these out. Tagged
# needs:fspick: a write through a read-only pod sysfs superblock (a
# container of the pod runs), which qemu-user refuses (no fspick).

load helpers

setup() {
	setup_node
	ALL=$(all_cpus_mask)
}

teardown() { teardown_node; }

@test "CPU-mask oracle: the kernel prints each mask back as cpumask.py formats it" {
	local l m
	for l in 0 "$(last_cpu)" "$(online_cpus)" ""; do
		m=$(kmask "$l")
		node_write ul0 rps_cpus "$m"
		assert_eq "$(node_rx ul0 rps_cpus)" "$m" "rps_cpus written as cpulist '$l'"
		assert_eq "$(mask_list "$m")" "$l" "cpulist '$l' back from its mask"
	done
	[ "$(nproc --all)" != 2 ] || assert_eq "$(kmask 1)" 2 "CPU 1's mask on 2 CPUs"
}

# ---------------------------------------------------------------- ADD ---

# add_combo MODE SCOPE: ADD with that mode and scope on a fresh node; what
# the scope covers holds the mask (and rps_flow_cnt in rfs), the rest is
# untouched; the result reports exactly those devices.
add_combo() {
	local mode=$1 scope=$2 c flow=0 want=null tuned=() w
	add_vxlan
	make_pod web
	c=$(conf 1.0.0 ".mode = \"$mode\" | .scope = \"$scope\"")
	run_helper cni ADD "$c"
	expect_prev_passed "$c"
	assert_json "$output" '.flowsteer | "\(.mode) \(.scope) \(.warnings | length)"' "$mode $scope 0"
	[ "$mode" = off ] || [ "$scope" = host ] || tuned+=(eth0)
	[ "$mode" = off ] || [ "$scope" = container ] || tuned+=("$HOST_VETH" vxlan.calico ul0)
	[ "$mode" != rfs ] || { flow=32768; want=32768; }
	for w in pod "$HOST_VETH" vxlan.calico ul0; do
		case " ${tuned[*]} " in
		*" ${w/#pod/eth0} "*) expect_tuned "$ALL" "$flow" "$w" ;;
		*) expect_untouched "$w" ;;
		esac
	done
	assert_json "$output" '[.flowsteer.devices[] | select(.status == "applied") | .name] | join(" ")' "${tuned[*]}"
	for w in "${tuned[@]}"; do assert_dev "$w" '"\(.queues) \(.rpsCpus) \(.flowCnt)"' "1 $ALL $want"; done
	[ "$mode" != off ] || assert_json "$output" '.flowsteer.devices | length' 0
	[ "$mode" = off ] || assert_json "$output" .flowsteer.cpus "$(online_cpus)"
	# Calico's other tunnels are not on this node: reported absent.
	[[ " ${tuned[*]} " != *" ul0 "* ]] || assert_dev vxlan-v6.calico .status absent
	[[ " ${tuned[*]} " != *" ul0 "* ]] || assert_dev tunl0 .status absent
}

@test "ADD mode off, scope container: nothing written" { add_combo off container; }
@test "ADD mode off, scope host: nothing written" { add_combo off host; }
@test "ADD mode off, scope both: nothing written" { add_combo off both; }
@test "ADD mode rps, scope container: eth0 only, no rps_flow_cnt" { add_combo rps container; }
# bats test_tags=needs:rtm_getnsid
@test "ADD mode rps, scope host: cali veth + node devices, no rps_flow_cnt" { add_combo rps host; }
# bats test_tags=needs:rtm_getnsid
@test "ADD mode rps, scope both: everything, no rps_flow_cnt" { add_combo rps both; }
@test "ADD mode rfs, scope container: eth0 only" { add_combo rfs container; }
# bats test_tags=needs:rtm_getnsid
@test "ADD mode rfs, scope host: cali veth + node devices" { add_combo rfs host; }
# bats test_tags=needs:rtm_getnsid
@test "ADD mode rfs, scope both: everything" { add_combo rfs both; }

# add_web QUEUES [JQ_FILTER]: vxlan.calico on the node, a pod "web" with
# QUEUES rx queues, its ADD with conf 1.0.0 | JQ_FILTER.
add_web() {
	add_vxlan
	make_pod web default "$1"
	ADD_CONF=$(conf 1.0.0 "${2:-.}")
	run_helper cni ADD "$ADD_CONF"
}

@test "ADD defaults are rfs/both: prevResult passed on, devices reported with their scope" {
	add_web 4 'del(.mode, .scope)'
	expect_prev_passed "$ADD_CONF"
	assert_json "$output" '.flowsteer | "\(.mode)/\(.scope)"' rfs/both
	assert_dev eth0 .scope container
	assert_dev "$HOST_VETH" .scope host
	assert_dev ul0 .scope node
}

# bats test_tags=needs:rtm_getnsid
@test "ADD auto flowCnt: 32768 / 4 on every rx queue of a 4-queue veth, the whole table on node devices" {
	add_web 4 'del(.mode, .scope)'
	expect_tuned "$ALL" 8192 pod:4 "$HOST_VETH:4"
	# Node devices have one queue: the whole table.
	expect_tuned "$ALL" 32768 vxlan.calico ul0
	assert_dev eth0 '"\(.queues)/\(.flowCnt)"' 4/8192
	assert_dev "$HOST_VETH" '"\(.queues)/\(.flowCnt)"' 4/8192
}

# bats test_tags=needs:rtm_getnsid
@test "ADD explicit flowCnt: rounded up to a power of two on every queue of every device" {
	add_web 4 '.flowCnt = 1000'
	expect_tuned "$ALL" 1024 pod:4 "$HOST_VETH:4" vxlan.calico
	assert_dev eth0 .flowCnt 1024
	assert_dev vxlan.calico .flowCnt 1024
}

# bats test_tags=needs:rtm_getnsid
@test "ADD sockFlowEntries 65536 with auto flowCnt: 16384 per queue of 4, 65536 on one queue" {
	add_web 4 '.sockFlowEntries = 65536'
	expect_tuned "$ALL" 16384 pod:4 "$HOST_VETH:4"
	expect_tuned "$ALL" 65536 vxlan.calico
}

# bats test_tags=needs:rtm_getnsid
@test "ADD cpus \"1\": mask of CPU 1 on pod, host veth and node devices" {
	need_cpu1
	add_web 1 '.cpus = "1"'
	expect_tuned "$(kmask 1)" 32768 pod "$HOST_VETH" vxlan.calico ul0
	assert_json "$output" .flowsteer.cpus 1
	assert_dev eth0 .rpsCpus "$(kmask 1)"
}

# bats test_tags=needs:rtm_getnsid
@test "ADD excludeCpus \"0\": every online CPU but 0" {
	need_cpu1
	add_web 1 '.excludeCpus = "0"'
	expect_tuned "$(mask_except 0)" 32768 pod "$HOST_VETH" vxlan.calico
	assert_dev "$HOST_VETH" .rpsCpus "$(mask_except 0)"
}

# bats test_tags=needs:rtm_getnsid
@test "ADD cpus \"none\": rps_cpus written as an empty mask" {
	add_vxlan
	make_pod web
	# Non-zero beforehand, so the zero proves a write.
	pod_write rps_cpus "$(kmask 0)"
	node_write "$HOST_VETH" rps_cpus "$(kmask 0)"
	run_helper cni ADD "$(conf 1.0.0 '.cpus = "none" | .mode = "rps"')"
	assert_match "$(pod_rx rps_cpus) $(node_rx "$HOST_VETH" rps_cpus) $(node_rx vxlan.calico rps_cpus)" "$ZERO_MASKS" "rps_cpus"
	assert_dev eth0 .status applied
	assert_match "$(jq -r '.flowsteer.devices[] | select(.name == "eth0") | .rpsCpus' <<<"$output")" "$ZERO_MASKS" "eth0 rpsCpus"
}

@test "ADD @underlay: a multi-queue underlay NIC is skipped (rss), untouched" {
	add_mq_underlay
	make_pod web
	run_helper cni ADD "$(conf 1.0.0)"
	assert_dev ulq '"\(.status) \(.reason) \(.queues)"' "skipped rss 4"
	# ul0 no longer carries the default route: not a target.
	assert_dev ul0 .name ""
	expect_untouched ulq ul0
	expect_tuned "$ALL" 32768 pod
}

@test "ADD hostDevices naming a multi-queue NIC: tuned on every queue; absent names reported" {
	add_mq_underlay
	make_pod web
	run_helper cni ADD "$(conf 1.0.0 '.hostDevices = ["ulq", "nosuch0"]')"
	expect_tuned "$ALL" 8192 ulq:4
	assert_dev ulq '"\(.status)/\(.queues)/\(.flowCnt)"' applied/4/8192
	assert_dev nosuch0 .status absent
	expect_warning nosuch0
}

@test "ADD hostDevices: only what was named; ul0 and Calico's devices are left alone" {
	add_mq_underlay
	make_pod web
	run_helper cni ADD "$(conf 1.0.0 '.hostDevices = ["ulq", "nosuch0"]')"
	expect_untouched ul0
	assert_json "$output" '.flowsteer.devices | map(.name) | sort | join(" ")' \
		"$(printf '%s\n' eth0 "$HOST_VETH" nosuch0 ulq | sort | paste -sd' ')"
}

# ------------------------------------------------- Calico result shapes ---

# The fixture's ips as libcni converts them to the config's version
# (ips[].version exists only below 1.0.0).
IPS_AT_VERSION='.cniVersion as $v | .prevResult.ips |= map(if ($v | startswith("0."))
	then .version = (if (.address | test(":")) then "6" else "4" end) else del(.version) end)'

# shape_add FIXTURE VERSION: ADD after Calico's result FIXTURE at VERSION;
# the result is that, plus .flowsteer, and the pod and its veth are tuned.
shape_add() {
	local c
	make_pod iperf-server-1
	c=$(conf_from "$1" "$2" "$IPS_AT_VERSION")
	run_helper cni ADD "$c"
	expect_prev_passed "$c"
	assert_json "$output" '"\(.cniVersion) \(.flowsteer.warnings | length)"' "$2 0"
	expect_tuned "$ALL" 32768 pod "$HOST_VETH"
	assert_json "$output" "[.flowsteer.devices[] | select(.name == \"eth0\" or .name == \"$HOST_VETH\") | .status] | join(\" \")" "applied applied"
}

# bats test_tags=needs:rtm_getnsid
@test "Calico v3.30 shape (host veth only) at 0.3.1: eth0 still tuned in the pod" {
	shape_add calico-v3.30-prevresult-0.3.1.json 0.3.1
	assert_json "$output" '.ips | tojson' '[{"version":"4","address":"10.244.1.5/32"}]'
}
# bats test_tags=needs:rtm_getnsid
@test "Calico v3.30 shape (host veth only) at 1.0.0" {
	shape_add calico-v3.30-prevresult-0.3.1.json 1.0.0
	assert_json "$output" '.ips | tojson' '[{"address":"10.244.1.5/32"}]'
}
# bats test_tags=needs:rtm_getnsid
@test "Calico v3.31 shape (host + container) at 1.0.0" {
	shape_add calico-v3.31-prevresult-1.0.0.json 1.0.0
}
# bats test_tags=needs:rtm_getnsid
@test "Calico v3.31 shape (host + container) at 0.3.1" {
	shape_add calico-v3.31-prevresult-1.0.0.json 0.3.1
	assert_json "$output" '.ips[0].version | tojson' '"4"'
}

@test "prevResult in another version than the config: result in the config's cniVersion" {
	make_pod web
	c=$(conf 0.3.1 '.cniVersion = "1.0.0"')
	run_helper cni ADD "$c"
	assert_json "$output" .cniVersion 1.0.0
	assert_json "$output" '.ips | tojson' '[{"address":"10.244.1.5/32"}]' "ips without version"
	assert_eq "$(jq -c 'del(.flowsteer, .cniVersion, .ips)' <<<"$output")" \
		"$(jq -c '.prevResult | del(.cniVersion, .ips)' <<<"$c")" "rest of the result"
}

# bats test_tags=needs:rtm_getnsid
@test "prevResult without the host veth: found as the pod interface's peer and tuned" {
	add_web 2 '.prevResult.interfaces |= map(select(.sandbox)) | .prevResult.ips[0].interface = 0'
	expect_prev_passed "$ADD_CONF"
	expect_tuned "$ALL" 16384 "$HOST_VETH:2" pod:2
	assert_dev "$HOST_VETH" '"\(.status)/\(.scope)"' applied/host
	assert_json "$output" '.flowsteer.warnings | length' 0
}

# bats test_tags=needs:rtm_getnsid
@test "prevResult without the host veth, scope host: peer found, eth0 left alone" {
	make_pod web
	run_helper cni ADD "$(conf 1.0.0 '.scope = "host" | .prevResult.interfaces |= map(select(.sandbox))')"
	expect_tuned "$ALL" 32768 "$HOST_VETH"
	expect_untouched pod
	assert_json "$output" '.flowsteer.devices | map(select(.scope != "node")) | map(.name) | join(" ")' "$HOST_VETH"
}

# ---------------------------------------------------------------- DEL ---

# A node device with a non-zero original (test fixture): DEL must restore
# exactly that.
node_original() {
	add_vxlan
	node_write vxlan.calico rps_cpus "$(kmask 0)"
	node_write vxlan.calico rps_flow_cnt 16
}

expect_node_restored() {
	expect_tuned "$(kmask 0)" 16 vxlan.calico
	expect_untouched ul0
	expect_no_state
}

@test "DEL of the last pod restores node devices to the values found" {
	node_original
	add_pods web
	expect_tuned "$ALL" 32768 vxlan.calico ul0
	cni_del "${CONF[web]}"
	expect_node_restored
}

@test "DEL reference count: the node stays tuned until the second pod goes" {
	node_original
	add_pods a b
	assert_eq "$(record_names)" "ctr-a@eth0.n.json ctr-b@eth0.n.json" "records"
	cni_del "${CONF[a]}" ctr-a
	expect_tuned "$ALL" 32768 vxlan.calico ul0
	assert_eq "$(record_names)" "ctr-b@eth0.n.json" "records"
	cni_del "${CONF[b]}" ctr-b
	expect_node_restored
}

# containerd starts a user-namespace pod's sandbox before its network: the
# netns's sysfs superblock is read-only then (runc mounts /sys read-only).
# bats test_tags=needs:fspick
@test "ADD while a container of the pod runs (its /sys read-only): eth0 tuned; its /sys stays read-only" {
	make_pod web
	pod_container nsenter --net="/run/netns/$POD_NS"
	run_helper cni ADD "$(conf 1.0.0)"
	expect_tuned "$ALL" 32768 pod
	ctr_sys_ro
}

# Kernels before 5.2 have no fsopen: the pod's sysfs comes from a forked
# child's private mount namespace (netns.c); scope container: the pod side
# only, so that these run under qemu-user too.
@test "without fsopen (forked child): ADD tunes eth0, CHECK sees it and its drift, DEL; the plugin's mounts unchanged" {
	local c
	make_pod web
	c=$(conf 1.0.0 '.scope = "container"')
	run_helper no_fsopen cni ADD "$c"
	expect_tuned "$ALL" 32768 pod
	assert_dev eth0 .status applied
	run_helper no_fsopen cni CHECK "$c"
	assert_eq "$output" "" "CHECK's stdout"
	pod_write rps_flow_cnt 0
	run_helper 1 no_fsopen cni CHECK "$c"
	expect_cni_error 101 "eth0.*rx-0.*expected 32768.*actual 0"
	cni_del "$c"
	assert_eq "$(records)" 0 "records after DEL"
}

# bats test_tags=needs:fspick
@test "without fsopen (forked child), a container of the pod running: eth0 tuned; its /sys stays read-only" {
	make_pod web
	pod_container nsenter --net="/run/netns/$POD_NS"
	run_helper no_fsopen cni ADD "$(conf 1.0.0 '.scope = "container"')"
	expect_tuned "$ALL" 32768 pod
	ctr_sys_ro
}

@test "DEL is idempotent: twice gives 0 and empty stdout" {
	node_original
	add_pods web
	cni_del "$(conf 1.0.0)"
	cni_del "$(conf 1.0.0)"
	expect_node_restored
}

@test "DEL without prevResult works from stateDir" {
	node_original
	add_pods web
	cni_del "$(conf 1.0.0 'del(.prevResult)')"
	expect_node_restored
}

@test "DEL at cniVersion 0.3.1 without prevResult (Calico's stock conflist)" {
	node_original
	make_pod web
	run_helper cni ADD "$(conf 0.3.1)"
	cni_del "$(conf 0.3.1 'del(.prevResult)')"
	expect_node_restored
}

@test "DEL with an empty CNI_NETNS (containerd after the netns closed)" {
	node_original
	add_pods web
	CNI_NETNS_OVERRIDE="" cni_del "$(conf 1.0.0 'del(.prevResult)')"
	expect_node_restored
}

veth_gone() { ! node_run ip link show "$HOST_VETH" >/dev/null 2>&1; }

@test "DEL after the pod netns was deleted (veth gone too)" {
	node_original
	add_pods web
	ip netns del "$POD_NS"
	# The kernel tears the netns down, and the veth with it, in a work
	# queue after the last reference is gone: wait for it, bounded.
	wait_for "the host veth $HOST_VETH to go with the pod netns" veth_gone
	cni_del "${CONF[web]}"
	expect_node_restored
}

@test "DEL with no record at all: 0, empty stdout, node left as it is" {
	node_original
	make_pod web
	cni_del "$(conf 1.0.0)" never-added
	expect_tuned "$(kmask 0)" 16 vxlan.calico
}

@test "DEL with restoreOnLastDel false leaves the node tuned" {
	node_original
	ADD_FILTER='.restoreOnLastDel = false' add_pods web
	cni_del "${CONF[web]}"
	expect_tuned "$ALL" 32768 vxlan.calico
	assert_eq "$(records)" 0 "records left"
}

# -------------------------------------------------------------- CHECK ---

@test "CHECK passes right after ADD" {
	add_web 2
	run_helper cni CHECK "$ADD_CONF"
	assert_eq "$output" "" "CHECK's stdout"
}

@test "CHECK drift in the pod's eth0: code 101 naming device, queue, expected, actual" {
	need_cpu1
	make_pod web default 4
	run_helper cni ADD "$(conf 1.0.0)"
	pod_write rps_cpus "$(kmask 1)" rx-2
	run_helper 1 cni CHECK "$(conf 1.0.0)"
	expect_cni_error 101 "eth0.*rx-2.*expected $ALL.*actual $(kmask 1)"
}

# bats test_tags=needs:rtm_getnsid
@test "CHECK drift in the cali veth: code 101 naming it" {
	need_cpu1
	add_pods web
	node_write "$HOST_VETH" rps_cpus "$(kmask 1)"
	run_helper 1 cni CHECK "${CONF[web]}"
	expect_cni_error 101 "$HOST_VETH.*rx-0.*expected $ALL.*actual $(kmask 1)"
}

@test "CHECK drift in rps_flow_cnt: code 101 naming the value" {
	add_pods web
	pod_write rps_flow_cnt 64
	run_helper 1 cni CHECK "${CONF[web]}"
	expect_cni_error 101 "eth0.*rx-0.*expected 32768.*actual 64"
}

@test "CHECK on a mode-off pod passes" {
	ADD_FILTER='.mode = "off"' add_pods web
	run_helper cni CHECK "${CONF[web]}"
	assert_eq "$output" "" "CHECK's stdout"
}

# -------------------------------------------------- errors and VERSION ---

@test "error 7: ADD without prevResult; nothing tuned" {
	add_vxlan
	make_pod web
	run_helper 1 cni ADD "$(conf 1.0.0 'del(.prevResult)')"
	expect_cni_error 7 prevResult
	assert_json "$output" .cniVersion 1.0.0
	expect_untouched pod vxlan.calico
}

@test "error 4: CNI_NETNS that is not a network namespace, named" {
	make_pod web
	CNI_NETNS_OVERRIDE=/tmp run_helper 1 cni ADD "$(conf 1.0.0)"
	expect_cni_error 4 'CNI_NETNS.*/tmp'
	expect_untouched pod
}

@test "error 1: unsupported cniVersion" {
	make_pod web
	run_helper 1 cni ADD "$(conf 1.0.0 '.cniVersion = "0.2.0"')"
	expect_cni_error 1 '0\.2\.0'
	expect_untouched pod
}

@test "error 6: malformed JSON" {
	make_pod web
	run_helper 1 cni ADD '{"cniVersion": "1.0.0", "type": "flowsteer",'
	expect_cni_error 6
	expect_untouched pod
}

@test "VERSION: supportedVersions exactly 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0" {
	run_helper cni VERSION '{"cniVersion":"1.0.0"}'
	assert_json "$output" '.supportedVersions | tojson' '["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]'
	assert_json "$output" .cniVersion 1.0.0
}

# ---------------------------------------- net.core.rps_sock_flow_entries ---
# Initial netns (the only one with the sysctl): the pod's host veth and a
# test veth named in hostDevices live there; the host's own NICs are never
# named, and @calico/@underlay are not used.

# A veth in the initial netns as the only node device (its peer in a netns
# of the test's), removed in teardown; ADD_FILTER names it.
init_node_dev() {
	NODE_DEV=$(fs_prefix)x
	ip netns add "${NODE_DEV}p"
	FS_NS+=("${NODE_DEV}p")
	ip link add "$NODE_DEV" type veth peer name x0 netns "${NODE_DEV}p"
	FS_HOST_LINKS+=("$NODE_DEV")
	ADD_FILTER=".hostDevices = [\"$NODE_DEV\"]"
}

@test "sysctl: rfs ADD raises it to 32768 and reports it; only the pod's devices and the named veth are tuned" {
	echo 1024 >"$SOCK_SYSCTL"
	init_node_dev
	add_pods a
	assert_eq "$(sock_flow)" 32768 "rps_sock_flow_entries after ADD"
	assert_json "$output" '.flowsteer | "\(.sockFlowEntries)/\(.sockFlowEntriesStatus)"' 32768/applied
	assert_json "$output" '.flowsteer.devices | map(.name) | join(" ")' "eth0 $HOST_VETH $NODE_DEV"
	expect_tuned "$ALL" 32768 "$NODE_DEV"
}

@test "sysctl: the last DEL, not an earlier one, puts the original back" {
	echo 1024 >"$SOCK_SYSCTL"
	init_node_dev
	add_pods a b
	cni_del "${CONF[a]}" ctr-a
	assert_eq "$(sock_flow)" 32768 "rps_sock_flow_entries with one pod left"
	cni_del "${CONF[b]}" ctr-b
	assert_eq "$(sock_flow)" 1024 "rps_sock_flow_entries after the last DEL"
	expect_untouched "$NODE_DEV"
}

@test "sysctl: never lowered (65536 stays 65536)" {
	echo 65536 >"$SOCK_SYSCTL"
	init_node_dev
	add_pods a
	assert_eq "$(sock_flow)" 65536 "rps_sock_flow_entries after ADD"
	assert_json "$output" .flowsteer.sockFlowEntries 65536
	cni_del "${CONF[a]}"
	assert_eq "$(sock_flow)" 65536 "rps_sock_flow_entries after DEL"
}

@test "sysctl: rps mode leaves it alone" {
	echo 1024 >"$SOCK_SYSCTL"
	init_node_dev
	make_pod a
	run_helper cni ADD "$(conf 1.0.0 "$ADD_FILTER | .mode = \"rps\"")"
	assert_eq "$(sock_flow)" 1024 "rps_sock_flow_entries"
	cni_del "$(conf 1.0.0 "$ADD_FILTER")"
	assert_eq "$(sock_flow)" 1024 "rps_sock_flow_entries after DEL"
}

# ----------------------------------------------------- flowsteer status ---

# Pod a (default, 1 queue) and pod b (ns2, 2 queues), both added.
two_pods() {
	add_vxlan
	add_pods a
	make_pod b ns2 2
	run_helper cni ADD "$(conf 1.0.0)"
}

@test "status --json after real ADDs: both attachments listed, no drift, node refcount 2" {
	two_pods
	run_helper fs_status --json
	assert_json "$output" '.attachments | map("\(.podNamespace)/\(.podName)/\(.containerId)") | sort | join(" ")' \
		"default/a/ctr-a ns2/b/ctr-b"
	assert_json "$output" '"\(.drift) \(.node.refcount)"' "0 2"
	assert_json "$output" '.node.devices | map(.name) | sort | join(" ")' "ul0 vxlan.calico"
}

@test "status --json after real ADDs: every device ok, live values equal recorded" {
	two_pods
	run_helper fs_status --json
	assert_json "$output" '[.attachments[].devices[] | select(.state != "ok")] | length' 0
	assert_json "$output" '[.attachments[].devices[] | select(.rpsCpus != .liveRpsCpus or .flowCnt != .liveFlowCnt)] | length' 0
	assert_json "$output" '.attachments[] | select(.podName == "b") | .devices[] | select(.name == "eth0")
		| "\(.queues) \(.liveRpsCpus) \(.liveFlowCnt)"' "2 $ALL 16384"
	assert_json "$output" '.node.devices[] | select(.name == "vxlan.calico") | .liveRpsCpus' "$ALL"
}

# bats test_tags=needs:rtm_getnsid
@test "status (text) after real ADDs: every device ok" {
	two_pods
	run_helper fs_status
	assert_match "$output" "default/a.*ns2/b"
	assert_no_match "$output" DRIFT
	assert_eq "$(grep -c "^  $HOST_VETH .* ok$" <<<"$output")" 1 "pod b host veth line"
}

# bats test_tags=needs:rtm_getnsid
@test "status marks drift (exit 3) after a change" {
	need_cpu1
	two_pods
	node_write "$HOST_VETH" rps_cpus "$(kmask 1)" rx-1
	run_helper 3 fs_status --json
	assert_json "$output" "[.drift] + [.attachments[].devices[] | select(.name == \"$HOST_VETH\") | .state, .liveRpsCpus] | join(\" \")" "1 drift $(kmask 1)"
	assert_match "$(jq -r ".attachments[].devices[] | select(.name == \"$HOST_VETH\") | .detail" <<<"$output")" \
		"rx-1.*expected $ALL.*actual $(kmask 1)"
	run_helper 3 fs_status
	assert_match "$output" "DRIFT.*$HOST_VETH.*rx-1"
}

# ---------------------------------------------------------------- log ---

# ADD, CHECK and DEL of pod web, then an ADD of pod other that fails (7).
log_events() {
	add_pods web
	run_helper cni CHECK "${CONF[web]}"
	cni_del "${CONF[web]}"
	make_pod other
	run_helper 1 cni ADD "$(conf 1.0.0 'del(.prevResult)')"
}

@test "log: one line per event: time, level, pid, verb and container ID, then the event" {
	log_events
	assert_eq "$(grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z (error|warn|info|debug) \[[0-9]+\] (ADD|DEL|CHECK) ctr-(web|other): .+' "$LOG_FILE")" \
		"" "malformed log lines"
	# No event is split over lines or merged with another.
	assert_eq "$(log_count 'ctr-')" "$(wc -l <"$LOG_FILE")" "lines with a container ID"
}

@test "log: the ADD summary, the DEL and the error each logged once" {
	log_events
	assert_log 'ADD ctr-web: pod default/web netns .*mode=rfs scope=both' 1
	assert_log 'DEL ctr-web: forgot ctr-web/eth0' 1
	assert_log 'ADD ctr-other: code 7: .*prevResult' 1
}

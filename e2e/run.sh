#!/bin/bash
# flowsteer end-to-end correctness run (make e2e): a two-node Calico VXLAN
# testbed in network namespaces, pods created by the real chain (Calico
# stand-in -> flowsteer) executed by libcni, then: the tuning in each pod
# and on each node, pod-to-pod TCP across the overlay, CHECK, DEL restoring
# the nodes, and (steering.sh) that the kernel then processes packets on
# the CPUs flowsteer chose. Prints "N passed, N failed" and exits non-zero
# on failure.
#
# Env: FLOWSTEER_BIN (default build/flowsteer, built if absent), E2E_KEEP=1
# keeps the temp dir (state, logs, raw plugin I/O), E2E_VERBOSE=1.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

e2e_need_root
e2e_need_tools ip jq iperf3 ss nsenter flock sha1sum sha256sum timeout taskset awk
e2e_build_flowsteer
e2e_build_driver
tb_init

N1=node1 N2=node2
ALL=$(cpulist_to_mask "$(cpus_online)")
NONE=$(cpulist_to_mask "")
CPU0=$(cpulist_to_mask 0)
FLOWS=32768

echo "# flowsteer e2e: $FLOWSTEER_BIN ($("$FLOWSTEER_BIN" version 2>/dev/null | head -1))"
echo "# testbed: namespaces ${TB_PREFIX}*, online CPUs $(cpus_online) (mask $ALL), temp $TB_TMP"
tb_up $N1 $N2
# Exception 1: the RFS sysctl lives only in the initial netns (see README).
tb_sockflow_set $FLOWS

# What the nodes look like before any pod: DEL of the last pod must bring
# these back.
declare -A ORIG
for n in $N1 $N2; do
	for d in vxlan.calico eth0; do
		for f in rps_cpus rps_flow_cnt; do ORIG[$n/$d/$f]=$(node_sysfs $n $d $f); done
	done
done

# One conflist per (node, cniVersion, result shape, queues); flowsteer with
# its defaults (mode rfs, scope both, cpus all, hostDevices @calico +
# @underlay, policy opt-out) plus the testbed's stateDir/logFile.
conf() { # NODE VERSION SHAPE [QUEUES]
	local f=${NODE_DIR[$1]}/conf/$2-$3-q${4:-1}.conflist
	[ -f "$f" ] || tb_conflist "$1" "$f" "$2" "$3" '{}' "${4:-1}"
	echo "$f"
}

echo "# ADD: pods on both nodes, both Calico result shapes, CNI 0.3.1 and 1.0.0"
# pod node version shape queues annotations
PODS=(
	"srv1 $N1 1.0.0 v3.31 1 {}"
	"srv2 $N1 0.3.1 v3.30 1 {}"
	"optout $N1 1.0.0 v3.31 1 {\"flowsteer.io/mode\":\"off\"}"
	"cli1 $N2 0.3.1 v3.31 1 none"
	"cli2 $N2 1.0.0 v3.30 2 {}"
	"narrow $N2 1.0.0 v3.31 1 {\"flowsteer.io/cpus\":\"0\",\"flowsteer.io/scope\":\"container\"}"
)
declare -A VER QUEUES
for spec in "${PODS[@]}"; do
	read -r pod n ver shape q ann <<<"$spec"
	VER[$pod]=$ver QUEUES[$pod]=$q
	if tb_pod_add "$n" "$pod" "$(conf "$n" "$ver" "$shape" "$q")" "$ann" 2>"$TB_TMP/add.err"; then
		ok "ADD $pod on $n (Calico $shape result, CNI $ver, $q rx queue(s), annotations $ann)"
	else
		not_ok "ADD $pod on $n" "$(tr '\n' ' ' <"$TB_TMP/add.err" | cut -c1-600)"
		continue
	fi
	res=${NODE_DIR[$n]}/raw/$pod.result.json

	# What the runtime gets: Calico's result, passed on unchanged, in the
	# conflist's version.
	t_eq "$pod: result cniVersion" "$ver" "$(jq -r .cniVersion "$res")"
	if [ "$shape" = v3.31 ]; then
		t_eq "$pod: result keeps [host cali*, container eth0 + sandbox]" \
			"$(pod_cali $pod) eth0 /run/netns/${POD_NS[$pod]} 1" \
			"$(jq -r '[.interfaces[0].name, .interfaces[1].name, .interfaces[1].sandbox, (.ips[0].interface|tostring)] | join(" ")' "$res")"
	else
		t_eq "$pod: result keeps the host veth only" "$(pod_cali $pod) 1 null" \
			"$(jq -r '[.interfaces[0].name, (.interfaces|length|tostring), (.ips[0].interface|tostring)] | join(" ")' "$res")"
	fi
	# libcni drops unknown keys; flowsteer's own output carries its report.
	t_eq "$pod: flowsteer ADD output has its \"flowsteer\" report" object \
		"$(pod_raw ADD $pod | jq -r '.flowsteer | type' 2>/dev/null)"
done

echo "# tuning: pods (inside their netns), host veths, node devices"
for pod in srv1 srv2 cli1 cli2; do
	q=${QUEUES[$pod]}
	for ((i = 0; i < q; i++)); do
		t_eq "$pod: eth0 rx-$i rps_cpus (all online CPUs)" "$ALL" "$(pod_sysfs $pod rps_cpus rx-$i)"
		t_eq "$pod: eth0 rx-$i rps_flow_cnt ($FLOWS / $q queues)" $((FLOWS / q)) "$(pod_sysfs $pod rps_flow_cnt rx-$i)"
		t_eq "$pod: $(pod_cali $pod) rx-$i rps_cpus" "$ALL" "$(node_sysfs ${POD_NODE[$pod]} "$(pod_cali $pod)" rps_cpus rx-$i)"
		t_eq "$pod: $(pod_cali $pod) rx-$i rps_flow_cnt" $((FLOWS / q)) "$(node_sysfs ${POD_NODE[$pod]} "$(pod_cali $pod)" rps_flow_cnt rx-$i)"
	done
	t_eq "$pod: flowsteer reports eth0 applied" applied \
		"$(pod_raw ADD $pod | jq -r '[.flowsteer.devices[]? | select(.name == "eth0")][0].status' 2>/dev/null)"
done
t_eq "optout: flowsteer reports mode off, from the runtime's annotations" "off runtime" \
	"$(pod_raw ADD optout | jq -r '[.flowsteer.mode, .flowsteer.source] | join(" ")' 2>/dev/null)"
t_eq "cli1 (runtime passes no annotations): flowsteer reports source config" config \
	"$(pod_raw ADD cli1 | jq -r '.flowsteer.source' 2>/dev/null)"
t_eq "narrow: flowsteer reports cpus 0, scope container, from the runtime" "0 container runtime" \
	"$(pod_raw ADD narrow | jq -r '[.flowsteer.cpus, .flowsteer.scope, .flowsteer.source] | join(" ")' 2>/dev/null)"
t_eq "optout (flowsteer.io/mode=off): eth0 rps_cpus untouched" "$NONE" "$(pod_sysfs optout rps_cpus)"
t_eq "optout: eth0 rps_flow_cnt untouched" 0 "$(pod_sysfs optout rps_flow_cnt)"
t_eq "optout: $(pod_cali optout) rps_cpus untouched" "$NONE" "$(node_sysfs $N1 "$(pod_cali optout)" rps_cpus)"
t_eq "narrow (flowsteer.io/cpus=0): eth0 rps_cpus narrowed to CPU 0" "$CPU0" "$(pod_sysfs narrow rps_cpus)"
t_eq "narrow: eth0 rps_flow_cnt" $FLOWS "$(pod_sysfs narrow rps_flow_cnt)"
t_eq "narrow (flowsteer.io/scope=container): $(pod_cali narrow) untouched" "$NONE" \
	"$(node_sysfs $N2 "$(pod_cali narrow)" rps_cpus)"
for n in $N1 $N2; do
	for d in vxlan.calico eth0; do
		t_eq "$n: $d rps_cpus (hostDevices @calico/@underlay)" "$ALL" "$(node_sysfs $n $d rps_cpus)"
		t_eq "$n: $d rps_flow_cnt" $FLOWS "$(node_sysfs $n $d rps_flow_cnt)"
	done
done

echo "# traffic: pod-to-pod TCP, across the VXLAN overlay and on one node"
# tcp CLIENT SERVER: iperf3 for 1 s from CLIENT's netns to SERVER's IP.
tcp() {
	local c=$1 s=$2 out bytes spid
	[ -n "${POD_IP[$s]:-}" ] && [ -n "${POD_IP[$c]:-}" ] || { not_ok "TCP $c -> $s" "pod missing"; return; }
	tb_bg ip netns exec "${POD_NS[$s]}" iperf3 -s -1 -p 5201 >/dev/null 2>&1
	spid=$TB_LAST_PID
	pod_wait_listen "$s" 5201 || { tb_reap $spid; not_ok "TCP $c -> $s" "iperf3 server did not listen"; return; }
	e2e_traffic_lock
	out=$(timeout 20 ip netns exec "${POD_NS[$c]}" iperf3 -c "${POD_IP[$s]}" -p 5201 -t 1 -J 2>&1)
	e2e_traffic_unlock
	tb_reap $spid
	bytes=$(jq -r '.end.sum_received.bytes // 0' <<<"$out" 2>/dev/null)
	if [ "${bytes:-0}" -gt 0 ] 2>/dev/null; then
		ok "TCP $c (${POD_IP[$c]}, ${POD_NODE[$c]}) -> $s (${POD_IP[$s]}, ${POD_NODE[$s]}): $(jq -r '.end.sum_received.bits_per_second / 1e9 * 100 | floor / 100' <<<"$out") Gbit/s"
	else
		not_ok "TCP $c -> $s" "$(jq -r '.error // empty' <<<"$out" 2>/dev/null || echo "$out" | tail -2)"
	fi
}
vx_before=$(node_stat $N1 vxlan.calico rx_packets)
tcp cli1 srv1
tcp cli2 srv2
tcp narrow optout
tcp srv2 srv1
vx_after=$(node_stat $N1 vxlan.calico rx_packets)
if [ "$vx_after" -gt $((vx_before + 100)) ]; then
	ok "cross-node traffic went through vxlan.calico ($((vx_after - vx_before)) packets received on $N1)"
else
	not_ok "cross-node traffic went through vxlan.calico" "rx_packets $vx_before -> $vx_after"
fi

echo "# CHECK (libcni runs it for cniVersion >= 0.4.0 only)"
for pod in srv1 optout cli2 narrow; do
	t_run "CHECK $pod (CNI ${VER[$pod]})" tb_cni check $pod
done

if e2e_driver_has_gc; then
	# libcni sends GC and STATUS only to CNI >= 1.1.0 conflists.
	echo "# STATUS / GC (CNI 1.1.0 conflist, libcni >= 1.2)"
	c11=$(conf $N1 1.1.0 v3.31)
	drv11() { node_exec $N1 "$DRIVER" -conflist "$c11" -path "$TB_TMP/cni-bin" \
		-cache-dir "${NODE_DIR[$N1]}/cache" -raw-dir "${NODE_DIR[$N1]}/raw/node" "$@"; }
	if tb_pod_add $N1 gc1 "$c11" '{}' 2>"$TB_TMP/add.err"; then
		ok "ADD gc1 on $N1 (CNI 1.1.0)"
		t_eq "gc1: eth0 rps_cpus" "$ALL" "$(pod_sysfs gc1 rps_cpus)"
	else
		not_ok "ADD gc1 on $N1 (CNI 1.1.0)" "$(tr '\n' ' ' <"$TB_TMP/add.err" | cut -c1-600)"
	fi
	t_eq "flowsteer status lists gc1 before GC" "gc1 srv1 srv2" \
		"$(node_exec $N1 "$FLOWSTEER_BIN" status --json --state-dir "${NODE_DIR[$N1]}/state" 2>/dev/null |
			jq -r '[.attachments[]?.podName] | sort | join(" ")' 2>/dev/null)"
	t_run "STATUS $N1" drv11 status
	t_eq "STATUS reached flowsteer" yes "$([ -e "${NODE_DIR[$N1]}/raw/node/STATUS-flowsteer.in" ] && echo yes)"
	# gc1 is left out of the valid attachments: flowsteer forgets it, the
	# node stays tuned for srv1 and srv2.
	valid=$(for p in srv1 srv2 optout; do printf '%s/eth0,' "${POD_CID[$p]}"; done)
	t_run "GC $N1 (gc1 not valid)" drv11 -valid "$valid" gc
	t_eq "GC reached flowsteer" yes "$([ -e "${NODE_DIR[$N1]}/raw/node/GC-flowsteer.in" ] && echo yes)"
	t_eq "flowsteer forgot gc1 after GC (status lists srv1 srv2)" "srv1 srv2" \
		"$(node_exec $N1 "$FLOWSTEER_BIN" status --json --state-dir "${NODE_DIR[$N1]}/state" 2>/dev/null |
			jq -r '[.attachments[]?.podName] | sort | join(" ")' 2>/dev/null)"
	t_eq "$N1: vxlan.calico still tuned after GC" "$ALL" "$(node_sysfs $N1 vxlan.calico rps_cpus)"
	t_eq "srv1: eth0 still tuned after GC" "$ALL" "$(pod_sysfs srv1 rps_cpus)"
	[ -n "${POD_NS[gc1]:-}" ] && t_run "DEL gc1 after GC" tb_pod_del gc1
else
	skip "STATUS / GC" "this libcni ($(dpkg-query -W -f '${Version}' golang-github-appc-cni-dev 2>/dev/null || echo '?')) has no GC/STATUS (libcni >= 1.2)"
fi

echo "# flowsteer status (the operator's view, run in $N1's netns with its stateDir)"
if out=$(node_exec $N1 "$FLOWSTEER_BIN" status --json --state-dir "${NODE_DIR[$N1]}/state" 2>&1) &&
	jq -e . >/dev/null 2>&1 <<<"$out"; then
	t_eq "flowsteer status lists the tuned pods of $N1" "srv1 srv2" \
		"$(jq -r '[.attachments[]?.podName] | sort | join(" ")' <<<"$out")"
	t_eq "flowsteer status: no drift" 0 "$(jq -r '.drift' <<<"$out")"
else
	# A crash or output that is not JSON is a defect, not a missing feature.
	not_ok "flowsteer status --json: exits 0 with JSON" "$(head -c 300 <<<"$out")"
fi

echo "# DEL: in reverse, the last pod of a node restores the node devices"
for pod in optout srv1 cli1 narrow; do
	t_run "DEL $pod" tb_pod_del $pod
	t_eq "$pod: $(pod_cali $pod) gone" "" "$(node_exec ${POD_NODE[$pod]} ip -br link show "$(pod_cali $pod)" 2>/dev/null)"
done
for n in $N1 $N2; do
	t_eq "$n: vxlan.calico still tuned while a tuned pod is left" "$ALL" "$(node_sysfs $n vxlan.calico rps_cpus)"
done
for pod in srv2 cli2; do
	t_run "DEL $pod (last tuned pod on ${POD_NODE[$pod]})" tb_pod_del $pod
done
for n in $N1 $N2; do
	for d in vxlan.calico eth0; do
		for f in rps_cpus rps_flow_cnt; do
			t_eq "$n: $d $f restored" "${ORIG[$n/$d/$f]}" "$(node_sysfs $n $d $f)"
		done
	done
	t_eq "$n: no address left allocated" "" "$(ls "${NODE_DIR[$n]}/ipam")"
done
# containerd repeats DEL, with an empty CNI_NETNS once the sandbox is gone.
for pod in srv2 cli2; do
	t_run "DEL $pod again, netns gone (CNI ${VER[$pod]})" tb_cni del $pod ""
done

# Steering: the kernel's per-CPU counters show packets really processed
# on the CPUs flowsteer chose (e2e/steering.sh; its own pods, on these nodes).
. "$E2E_DIR/steering.sh"
steer_section

echo "$PASS passed, $FAIL failed$([ $SKIP = 0 ] || echo ", $SKIP skipped")"
if [ $FAIL -gt 0 ]; then
	for n in $N1 $N2; do
		echo "# last lines of $n's flowsteer log:"
		tail -n 15 "${NODE_DIR[$n]}/flowsteer.log" 2>/dev/null | sed 's/^/#   /'
	done
	exit 1
fi
exit 0

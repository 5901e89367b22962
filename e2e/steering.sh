#!/bin/bash
# Steering: shows that the kernel really moves receive processing to the CPUs
# flowsteer chose, with the kernel's own per-CPU counters, not sysfs values.
#
# Part of make e2e (run.sh sources this file and calls steer_section on its
# testbed), or alone with its own testbed, N times over, with a summary:
#   e2e/steering.sh [--repeat N]          (make e2e-steer STEER_ARGS=...)
#
# What runs: per case, a client pod on node2 and a server pod on node1,
# created through the chain with that case's flowsteer entry per node; one
# rate-limited UDP flow (iperf3, STEER_PKTS datagrams of 1400 bytes at
# STEER_RATE) from the client pod to the server pod across vxlan.calico and
# the underlay. The client is pinned to CPU 0: it plays the NIC, since a
# veth's receive work runs on the CPU that sent the packet (netif_rx queues
# to the current CPU's backlog unless RPS/RFS picks another). The server is
# pinned (taskset) to the case's CPU, and moved between the RFS case's flows
# (taskset -p). Around each flow: /proc/net/softnet_stat
# (processed, received_rps) and /proc/softirqs (NET_RX) per CPU.
#
# A datagram is received four times on its way, each time on the CPU that
# the previous hop ran on unless the receiving device's RPS/RFS moves it,
# and each receive counts once in that CPU's "processed":
#   hop 1  node2  cali* of the client pod   host veth, flowsteer scope host
#   hop 2  node1  eth0 (the underlay)       node device, hostDevices @underlay
#   hop 3  node1  vxlan.calico (decap)      node device, hostDevices @calico
#   hop 4  server pod eth0                  pod veth, scope container
# (UDP is used because each datagram is one skb on every hop: no GSO/GRO
# batching, no ACKs flowing back; the flow's processed count is 4 x packets.)
# So the share of the flow's processing found on CPU 1 says how many hops
# were steered: 0, 1/4, 2/4, 3/4 or all of it.
#
# Robust to a busy machine: the testbed's own receive count is known exactly
# (rx_packets of every device in its namespaces); whatever else the machine
# processed in the same window is other traffic, which the per-CPU counters
# cannot tell apart. Each check is judged counting that traffic whichever
# way is worst: "pass", "fail", or "unsure", and an unsure flow is measured
# again (STEER_TRIES in all). Margins are far from the measured values (see
# e2e/README.md "How to see that steering works": 20 runs' numbers).

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	. "$(dirname "$0")/lib.sh"
fi

STEER_RATE=${STEER_RATE:-200M}
STEER_PKTS=${STEER_PKTS:-10000}
STEER_TRIES=${STEER_TRIES:-5}
STEER_HOPS=4
STEER_SEQ=0

# The cases: name | node2 (client) flowsteer entry | node1 (server) entry |
# server CPU per flow | CPU 1's expected share of the flow's processing per
# flow, in per mille | hop 1-4 devices' rps_cpus/rps_flow_cnt as flowsteer
# must have set them (M1 = mask of CPU 1, MA = all online CPUs).
# The hop ladder (rows 2-4) tunes one more device each time, from the pod's
# end; "rps" is the study's RPS+ with cpus 1, where hop 1 (the client's
# host veth, on the sending node) already moves everything to CPU 1 and the
# other hops, also tuned to CPU 1, keep it there. "rfs": in this testbed the
# skb hash of the client socket travels with the packet through every hop
# (a veth keeps it; VXLAN keeps an L4 hash), so each hop's RFS lookup finds
# the entry the server socket recorded, and hop 1 already moves the flow to
# wherever the server runs. On two real nodes the client node's hops would
# not find it; the server node's would.
STEER_CASES=(
	'baseline|{"mode":"off"}|{"mode":"off"}|1|0|0/0 0/0 0/0 0/0'
	'hop 4: server pod eth0|{"mode":"off"}|{"mode":"rps","cpus":"1","scope":"container"}|1|250|0/0 0/0 0/0 M1/0'
	'hops 3-4: node1 vxlan.calico|{"mode":"off"}|{"mode":"rps","cpus":"1","scope":"host","hostDevices":["@calico"]}|1|500|0/0 0/0 M1/0 0/0'
	'hops 2-4: node1 underlay eth0|{"mode":"off"}|{"mode":"rps","cpus":"1","scope":"host","hostDevices":["@underlay"]}|1|750|0/0 M1/0 0/0 0/0'
	'rps cpus 1|{"mode":"rps","cpus":"1"}|{"mode":"rps","cpus":"1"}|1|1000|M1/0 M1/0 M1/0 M1/0'
	'rfs|{"mode":"rfs"}|{"mode":"rfs"}|1 0 1|1000 0 1000|MA/F MA/F MA/F MA/F'
)
STEER_FLOWS=32768 # sockFlowEntries (flowsteer's default) = rps_flow_cnt of a 1-queue device

# The hop devices' rps_cpus/rps_flow_cnt, hop 1 to 4, as the kernel holds
# them now.
steer_hops() {
	local cali
	cali=$(pod_cali "$ST_CLI")
	printf '%s/%s %s/%s %s/%s %s/%s' \
		"$(node_sysfs "$N2" "$cali" rps_cpus)" "$(node_sysfs "$N2" "$cali" rps_flow_cnt)" \
		"$(node_sysfs "$N1" eth0 rps_cpus)" "$(node_sysfs "$N1" eth0 rps_flow_cnt)" \
		"$(node_sysfs "$N1" vxlan.calico rps_cpus)" "$(node_sysfs "$N1" vxlan.calico rps_flow_cnt)" \
		"$(pod_sysfs "$ST_SRV" rps_cpus)" "$(pod_sysfs "$ST_SRV" rps_flow_cnt)"
}

# steer_measure SERVER_CPU: the case's server moved to SERVER_CPU, one
# flow, counters read around it. Sets ST_P, ST_R, ST_S (per-CPU deltas of
# processed, received_rps, NET_RX), ST_OWN (the testbed's receives),
# ST_TOTAL, ST_OTHER (everything else processed meanwhile), ST_SENT
# (datagrams iperf3 sent), ST_SF0/ST_SF1 (the sysctl before/after).
# Returns 1 with ST_ERR set when the flow did not run.
steer_measure() {
	local scpu=$1 out a b own0 own1 cpu p r s
	local -a ns=("${NODE_NS[$N1]}" "${NODE_NS[$N2]}" "${POD_NS[$ST_SRV]}" "${POD_NS[$ST_CLI]}")
	local -A ap=() ar=() as=()
	# The running server (all its threads) moves to SERVER_CPU.
	if ! taskset -a -p -c "$scpu" "$ST_SPID" >/dev/null || ! pod_wait_listen "$ST_SRV" 5201; then
		ST_ERR="iperf3 server in $ST_SRV (pid $ST_SPID) is not running or not listening"
		return 1
	fi
	# Shared with every e2e run on the machine, each of which puts its own
	# original back on exit: raised again if one did.
	tb_sockflow_set "$STEER_FLOWS"
	ST_SF0=$(cat /proc/sys/net/core/rps_sock_flow_entries)
	own0=$(netns_rx_packets "${ns[@]}")
	a=$(cpu_net_counters)
	out=$(timeout 30 taskset -c 0 ip netns exec "${POD_NS[$ST_CLI]}" iperf3 -c "${POD_IP[$ST_SRV]}" -p 5201 \
		-u -b "$STEER_RATE" -l 1400 -k "$STEER_PKTS" -J 2>/dev/null)
	b=$(cpu_net_counters)
	own1=$(netns_rx_packets "${ns[@]}")
	ST_SF1=$(cat /proc/sys/net/core/rps_sock_flow_entries)
	ST_SENT=$(jq -r '.end.sum.packets // 0' <<<"$out" 2>/dev/null)
	if ! [ "${ST_SENT:-0}" -gt 0 ] 2>/dev/null; then
		ST_ERR="iperf3 client: $(jq -r '.error // empty' <<<"$out" 2>/dev/null || tail -c 300 <<<"$out")"
		return 1
	fi
	while read -r cpu p r s; do ap[$cpu]=$p ar[$cpu]=$r as[$cpu]=$s; done <<<"$a"
	ST_P=() ST_R=() ST_S=() ST_TOTAL=0
	while read -r cpu p r s; do
		ST_P[cpu]=$((p - ${ap[$cpu]:-$p})) ST_R[cpu]=$((r - ${ar[$cpu]:-$r})) ST_S[cpu]=$((s - ${as[$cpu]:-$s}))
		ST_TOTAL=$((ST_TOTAL + ST_P[cpu]))
	done <<<"$b"
	ST_OWN=$((own1 - own0))
	if [ "$ST_OWN" -le 0 ]; then
		ST_ERR="the testbed's devices received nothing ($own0 -> $own1)"
		return 1
	fi
	ST_OTHER=$((ST_TOTAL > ST_OWN ? ST_TOTAL - ST_OWN : 0))
	return 0
}

# steer_judge WANT_PERMILLE SERVER_CPU: the flow's checks, each "pass",
# "fail" or "unsure", counting the other traffic of the same window (which
# the kernel's counters do not tell apart) whichever way is worst: sets
# ST_V (verdicts, in ST_NAMES' order), ST_NAMES, ST_DETAILS.
steer_judge() {
	local want=$1 scpu=$2 p1 lo hi rall=0 c min
	p1=${ST_P[1]:-0}
	# The flow's own processing on CPU 1: between P1 minus all other
	# traffic and P1 (at most the testbed's receives), in per mille of them.
	lo=$(((p1 > ST_OTHER ? p1 - ST_OTHER : 0) * 1000 / ST_OWN))
	hi=$(((p1 < ST_OWN ? p1 : ST_OWN) * 1000 / ST_OWN))
	ST_NAMES=("CPU 1 does ${want}‰ ±100‰ of the flow's receive work")
	ST_DETAILS=("${lo}‰$([ "$lo" = "$hi" ] || echo "-${hi}‰"): processed CPU 0 +${ST_P[0]:-0}, CPU 1 +$p1; testbed receives $ST_OWN ($ST_SENT datagrams x $STEER_HOPS hops), other traffic $ST_OTHER")
	if [ "$lo" -ge $((want - 100)) ] && [ "$hi" -le $((want + 100)) ]; then
		ST_V=(pass)
	elif [ "$hi" -lt $((want - 100)) ] || [ "$lo" -gt $((want + 100)) ]; then
		ST_V=(fail)
	else
		ST_V=(unsure)
	fi
	[ "$scpu" = 1 ] || return 0
	# RPS wake-ups: CPU 0 queues to CPU 1's backlog and wakes it with an IPI
	# whenever that backlog was idle: one per batch, not per packet. Other
	# traffic can add at most one per packet it brings. The line between
	# "woken" and "not woken" is 1 per 500 datagrams (20 for 10000):
	# measured without steering 0 to 8, with it 160 (4 busy loops beside
	# it) to 9000 (README).
	min=$((ST_SENT / 500))
	if [ "$want" = 0 ]; then
		for c in "${ST_R[@]}"; do rall=$((rall + c)); done
		ST_NAMES+=("no RPS wake-up (received_rps): fewer than 1 per 500 datagrams on all CPUs")
		ST_DETAILS+=("received_rps +$rall on all CPUs, want < $min; other traffic $ST_OTHER")
		if [ "$rall" -lt "$min" ]; then
			ST_V+=(pass)
		elif [ $((rall - ST_OTHER)) -ge "$min" ]; then
			ST_V+=(fail)
		else
			ST_V+=(unsure)
		fi
	else
		ST_NAMES+=("CPU 1 woken by RPS (received_rps): 1 per 500 datagrams at least")
		ST_DETAILS+=("CPU 1 received_rps +${ST_R[1]:-0}, want $min + other traffic $ST_OTHER")
		if [ $((${ST_R[1]:-0} - ST_OTHER)) -ge "$min" ]; then
			ST_V+=(pass)
		elif [ "${ST_R[1]:-0}" -lt "$min" ]; then
			ST_V+=(fail)
		else
			ST_V+=(unsure)
		fi
	fi
}

# steer_flow LABEL SERVER_CPU WANT_PERMILLE: steer_measure and steer_judge,
# printing the deltas; measured again (STEER_TRIES in all) while other
# traffic leaves a check unsure or the sysctl changed under the flow.
# Concurrent e2e runs on the machine do not send their own traffic during
# the flow (e2e_traffic_lock).
steer_flow() {
	local label=$1 scpu=$2 want=$3 try cpu line rc
	ST_WHY=""
	for ((try = 1; try <= STEER_TRIES; try++)); do
		ST_TRY=$try
		# Backing off longer each time: a busy spell (another make e2e's
		# TCP flows) lasts seconds.
		[ "$try" = 1 ] || sleep "$((try / 2)).$((try % 2 * 5))$((RANDOM % 10))"
		e2e_traffic_lock
		steer_measure "$scpu"
		rc=$?
		e2e_traffic_unlock
		if [ $rc != 0 ]; then
			echo "#   $label: $ST_ERR"
			continue
		fi
		line=""
		for cpu in "${!ST_P[@]}"; do
			line+="CPU $cpu: processed +${ST_P[cpu]} received_rps +${ST_R[cpu]} NET_RX +${ST_S[cpu]}; "
		done
		echo "#   $label: ${line}sent $ST_SENT, testbed receives $ST_OWN, other traffic $ST_OTHER"
		steer_judge "$want" "$scpu"
		if [ "$ST_SF1" != "$ST_SF0" ]; then
			ST_WHY="net.core.rps_sock_flow_entries changed during the flow ($ST_SF0 -> $ST_SF1, another run)"
		elif [[ " ${ST_V[*]} " == *" unsure "* ]]; then
			ST_WHY="other traffic on the machine ($ST_OTHER packets) leaves a check unsure"
		else
			ST_WHY=""
			return 0
		fi
		[ "$try" = "$STEER_TRIES" ] || echo "#   $ST_WHY: measuring again"
	done
	[ $rc = 0 ]
}

# steer_check LABEL SERVER_CPU WANT_PERMILLE: one flow and its checks.
steer_check() {
	local label=$1 scpu=$2 want=$3 i note=""
	if ! steer_flow "$label" "$scpu" "$want"; then
		not_ok "steering $label: flow ran" "$ST_ERR (after $STEER_TRIES attempts)"
		return
	fi
	[ -z "$ST_WHY" ] || note="; after $STEER_TRIES attempts: $ST_WHY"
	for i in "${!ST_V[@]}"; do
		if [ "${ST_V[i]}" = pass ] && [ -z "$note" ]; then
			ok "steering $label: ${ST_NAMES[i]} (${ST_DETAILS[i]})"
		else
			not_ok "steering $label: ${ST_NAMES[i]}" "${ST_V[i]}: ${ST_DETAILS[i]}$note"
		fi
	done
	[ -z "${STEER_METRICS:-}" ] ||
		echo "$label|$((${ST_P[1]:-0} * 1000 / (ST_TOTAL > 0 ? ST_TOTAL : 1)))|${ST_R[0]:-0}|${ST_R[1]:-0}|$ST_OTHER|$ST_TRY" >>"$STEER_METRICS"
	return 0
}

# steer_case SPEC: pods through the chain with the case's entries, the hop
# devices as flowsteer set them, the flows, the pods deleted.
steer_case() {
	local name cfg2 cfg1 cpus wants hops c1 c2 i label
	local -a cpu want
	IFS='|' read -r name cfg2 cfg1 cpus wants hops <<<"$1"
	read -ra cpu <<<"$cpus"
	read -ra want <<<"$wants"
	hops=${hops//M1/$(cpulist_to_mask 1)}
	hops=${hops//MA/$(cpulist_to_mask "$(cpus_online)")}
	hops=${hops//F/$STEER_FLOWS}
	STEER_SEQ=$((STEER_SEQ + 1))
	ST_CLI=steer$STEER_SEQ-cli ST_SRV=steer$STEER_SEQ-srv
	c2=${NODE_DIR[$N2]}/conf/steer$STEER_SEQ.conflist
	c1=${NODE_DIR[$N1]}/conf/steer$STEER_SEQ.conflist
	tb_conflist "$N2" "$c2" 1.0.0 v3.31 "$cfg2"
	tb_conflist "$N1" "$c1" 1.0.0 v3.31 "$cfg1"
	echo "# steering $name: $N2 $cfg2, $N1 $cfg1"
	if ! tb_pod_add "$N1" "$ST_SRV" "$c1" '{}' >/dev/null 2>"$TB_TMP/add.err" ||
		! tb_pod_add "$N2" "$ST_CLI" "$c2" '{}' >/dev/null 2>>"$TB_TMP/add.err"; then
		not_ok "steering $name: ADD client and server pods" "$(tr '\n' ' ' <"$TB_TMP/add.err" | cut -c1-600)"
	else
		t_eq "steering $name: hop 1-4 devices rps_cpus/rps_flow_cnt" "$hops" "$(steer_hops)"
		# One server for the case, moved between its flows (taskset -p).
		tb_bg taskset -c "${cpu[0]}" ip netns exec "${POD_NS[$ST_SRV]}" iperf3 -s -p 5201 >/dev/null 2>&1
		ST_SPID=$TB_LAST_PID
		for i in "${!cpu[@]}"; do
			label="$name, server on CPU ${cpu[i]}"
			if [ "$i" -gt 0 ]; then
				label="$name, server moved to CPU ${cpu[i]}"
				[[ " ${cpu[*]:0:i} " == *" ${cpu[i]} "* ]] && label="$name, server moved back to CPU ${cpu[i]}"
			fi
			steer_check "$label" "${cpu[i]}" "${want[i]}"
		done
		tb_reap "$ST_SPID"
	fi
	for i in "$ST_CLI" "$ST_SRV"; do
		[ -n "${POD_NS[$i]:-}" ] || continue
		tb_pod_del "$i" >/dev/null 2>&1 || not_ok "steering $name: DEL $i" "exit $?"
	done
}

# steer_section: every case, on the testbed of nodes N1 (server) and N2.
steer_section() {
	local spec online
	online=$(cpulist_expand "$(cpus_online)")
	if ! grep -qx 0 <<<"$online" || ! grep -qx 1 <<<"$online"; then
		skip "steering" "needs CPUs 0 and 1 online (online: $(cpus_online))"
		return
	fi
	echo "# steering: UDP, $STEER_PKTS x 1400 bytes at $STEER_RATE, client pinned to CPU 0;" \
		"per-CPU deltas of /proc/net/softnet_stat and /proc/softirqs"
	# Exception 1 (see README): RFS needs the initial netns's sock flow
	# table, which flowsteer cannot reach from a node's netns. Restored on
	# exit; the RPS cases leave rps_flow_cnt at 0, so it does not act there.
	tb_sockflow_set "$STEER_FLOWS"
	for spec in "${STEER_CASES[@]}"; do
		[[ $spec == ${STEER_ONLY:-}* ]] && steer_case "$spec"
	done
}

# steer_summary FILE: min / median / max over the runs, per flow: CPU 1's
# share of all processing, RPS wake-ups of CPU 0 and 1, other traffic,
# attempts.
steer_summary() {
	local file=$1 key col n line
	local -a vals
	echo "# steering over $(grep -c '^run ' "$file") run(s), $STEER_PKTS datagrams a flow: min / median / max"
	echo "# | flow | CPU 1 share of processed (‰) | received_rps CPU 0 | received_rps CPU 1 | other traffic (packets) | attempts |"
	echo "# | --- | --- | --- | --- | --- | --- |"
	while IFS= read -r key; do
		line="# | $key |"
		for col in 2 3 4 5 6; do
			mapfile -t vals < <(grep -F "$key|" "$file" | cut -d'|' -f"$col" | sort -n)
			n=${#vals[@]}
			line+=" ${vals[0]} / ${vals[n / 2]} / ${vals[n - 1]} |"
		done
		echo "$line"
	done < <(grep -v '^run ' "$file" | cut -d'|' -f1 | awk '!seen[$0]++')
}

steer_main() {
	local repeat=1 run
	while [ $# -gt 0 ]; do
		case $1 in
		--repeat) repeat=${2?--repeat needs a value}; shift ;;
		-h | --help) echo "usage: $0 [--repeat N]   (env: STEER_ONLY=<case name prefix>, STEER_RATE, STEER_PKTS, STEER_TRIES, E2E_KEEP)"; exit 0 ;;
		*) e2e_die "unknown option \"$1\" (usage: $0 [--repeat N])" ;;
		esac
		shift
	done
	[[ $repeat =~ ^[1-9][0-9]*$ ]] || e2e_die "--repeat: \"$repeat\" is not a positive integer"
	e2e_need_root
	e2e_need_tools ip jq iperf3 ss taskset flock sha1sum sha256sum timeout awk
	e2e_build_flowsteer
	e2e_build_driver
	tb_init
	N1=node1 N2=node2
	tb_up $N1 $N2
	STEER_METRICS=$TB_TMP/steer-metrics
	: >"$STEER_METRICS"
	for ((run = 1; run <= repeat; run++)); do
		echo "# steering run $run/$repeat"
		echo "run $run" >>"$STEER_METRICS"
		steer_section
	done
	steer_summary "$STEER_METRICS"
	echo "$PASS passed, $FAIL failed$([ "$SKIP" = 0 ] || echo ", $SKIP skipped")"
	[ "$FAIL" = 0 ]
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	steer_main "$@"
	exit
fi

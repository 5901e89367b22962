#!/bin/bash
# flowsteer benchmark on the e2e testbed (make bench-e2e BENCH_ARGS=...):
# the seed study's 7 configurations x 1, 2, 4, 8, 16 iperf3 client/server
# pod pairs, servers on one node and clients on the other, each node
# confined to its own CPUs, the NIC interrupt emulated on one server CPU.
# Writes raw runs (CSV), a summary normalised to Baseline next to the
# study's numbers (Markdown) and gnuplot PNGs into the output dir.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

ALL_CONFIGS=Baseline,RPS,RPS-7,RFS,RPS+,RPS-7+,RFS+

usage() {
	cat <<EOF
usage: $0 [options]
  --configs LIST      configurations, default $ALL_CONFIGS
  --replicas LIST     client/server pod pairs, default 1,2,4,8,16
  --reps N            repetitions of each (configuration, replicas), default 3
  --duration S        iperf3 seconds per run, default 30 (as in the study)
  --omit S            iperf3 -O: seconds of ramp-up left out, default 0
  --quick             short runs: --duration 5 --reps 1 unless given
  --server-cpus LIST  CPUs of the server node, default the first half online
  --client-cpus LIST  CPUs of the client node, default the second half
  --nic-cpu N         CPU taking the server node's NIC interrupt (emulated),
                      default the last server CPU; RPS-7 excludes it
  --client-nic-cpu N  the same for the client node, default the last client CPU
  --veth-wire         leave the underlay a plain veth pair: 64 KB GSO frames
                      and skb hashes cross between the nodes (a wire carries
                      neither; see e2e/README.md). Default: emulate a wire
  --out DIR           output dir, default e2e/results/<timestamp>
  -h, --help
Env: FLOWSTEER_BIN (default build/flowsteer), E2E_KEEP=1 keeps the temp dir.
EOF
}

CONFIGS="" REPLICAS="" REPS="" DURATION="" OMIT=0 QUICK=0 VETH_WIRE=0
SERVER_CPUS="" CLIENT_CPUS="" NIC_CPU="" CLIENT_NIC_CPU="" OUT=""
ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--configs) CONFIGS=${2?--configs needs a value}; shift ;;
	--replicas) REPLICAS=${2?--replicas needs a value}; shift ;;
	--reps) REPS=${2?--reps needs a value}; shift ;;
	--duration) DURATION=${2?--duration needs a value}; shift ;;
	--omit) OMIT=${2?--omit needs a value}; shift ;;
	--quick) QUICK=1 ;;
	--veth-wire) VETH_WIRE=1 ;;
	--server-cpus) SERVER_CPUS=${2?--server-cpus needs a value}; shift ;;
	--client-cpus) CLIENT_CPUS=${2?--client-cpus needs a value}; shift ;;
	--nic-cpu) NIC_CPU=${2?--nic-cpu needs a value}; shift ;;
	--client-nic-cpu) CLIENT_NIC_CPU=${2?--client-nic-cpu needs a value}; shift ;;
	--out) OUT=${2?--out needs a value}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; e2e_die "unknown option \"$1\"" ;;
	esac
	shift
done
if [ $QUICK = 1 ]; then
	DURATION=${DURATION:-5}
	REPS=${REPS:-1}
fi
CONFIGS=${CONFIGS:-$ALL_CONFIGS}
REPLICAS=${REPLICAS:-1,2,4,8,16}
REPS=${REPS:-3}
DURATION=${DURATION:-30}

e2e_need_root
e2e_need_tools ip tc jq iperf3 ss nsenter flock sha1sum sha256sum timeout taskset mpstat gnuplot awk
for c in ${CONFIGS//,/ }; do
	case ",$ALL_CONFIGS," in *",$c,"*) ;; *) e2e_die "--configs: unknown configuration \"$c\" (known: $ALL_CONFIGS)" ;; esac
done
for r in ${REPLICAS//,/ }; do
	[[ $r =~ ^[1-9][0-9]*$ ]] || e2e_die "--replicas: \"$r\" is not a positive integer"
	[ "$r" -le 60 ] || e2e_die "--replicas: $r pairs do not fit a /26 pod block (max 60)"
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || e2e_die "--reps: \"$REPS\" is not a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || e2e_die "--duration: \"$DURATION\" is not a positive integer"
[[ $OMIT =~ ^[0-9]+$ ]] || e2e_die "--omit: \"$OMIT\" is not an integer"

ONLINE=$(cpus_online)
mapfile -t ONL < <(cpulist_expand "$ONLINE")
if [ -z "$SERVER_CPUS" ] && [ -z "$CLIENT_CPUS" ]; then
	[ ${#ONL[@]} -ge 2 ] || e2e_die "need at least 2 online CPUs (one per node); have $ONLINE"
	half=$((${#ONL[@]} / 2))
	SERVER_CPUS=$(cpulist_compact "${ONL[@]:0:half}")
	CLIENT_CPUS=$(cpulist_compact "${ONL[@]:half}")
fi
[ -n "$SERVER_CPUS" ] && [ -n "$CLIENT_CPUS" ] || e2e_die "give both --server-cpus and --client-cpus, or neither"
for l in "$SERVER_CPUS" "$CLIENT_CPUS"; do
	[[ $l =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || e2e_die "\"$l\" is not a cpulist"
	for c in $(cpulist_expand "$l"); do
		[[ " ${ONL[*]} " == *" $c "* ]] || e2e_die "CPU $c (in $l) is not online ($ONLINE)"
	done
done
# shellcheck disable=SC2046 # one CPU per word
SERVER_CPUS=$(cpulist_compact $(cpulist_expand "$SERVER_CPUS"))
# shellcheck disable=SC2046
CLIENT_CPUS=$(cpulist_compact $(cpulist_expand "$CLIENT_CPUS"))
[ -z "$(cpulist_minus "$SERVER_CPUS" "$(cpulist_minus "$SERVER_CPUS" "$CLIENT_CPUS")")" ] ||
	e2e_log "bench: warning: server CPUs $SERVER_CPUS and client CPUs $CLIENT_CPUS overlap; the nodes are not confined"
NIC_CPU=${NIC_CPU:-$(cpulist_expand "$SERVER_CPUS" | tail -1)}
CLIENT_NIC_CPU=${CLIENT_NIC_CPU:-$(cpulist_expand "$CLIENT_CPUS" | tail -1)}
cpulist_expand "$SERVER_CPUS" | grep -qx "$NIC_CPU" || e2e_die "--nic-cpu $NIC_CPU is not a server CPU ($SERVER_CPUS)"
cpulist_expand "$CLIENT_CPUS" | grep -qx "$CLIENT_NIC_CPU" || e2e_die "--client-nic-cpu $CLIENT_NIC_CPU is not a client CPU ($CLIENT_CPUS)"

OUT=${OUT:-$E2E_DIR/results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" || e2e_die "cannot create output dir $OUT"
OUT=$(cd "$OUT" && pwd)

e2e_build_flowsteer
e2e_build_driver
if [ $VETH_WIRE = 0 ] && ! e2e_build_wire; then
	e2e_die "building e2e/wire/clear_hash.bpf.c needs clang (apt-get install clang), or run with --veth-wire (see e2e/README.md)"
fi
tb_init

SN=server-node CN=client-node
tb_up $SN $CN
# Exception 2: the NIC interrupt of each node, on one of its CPUs.
tb_nic_emulate $SN "$NIC_CPU"
tb_nic_emulate $CN "$CLIENT_NIC_CPU"
[ $VETH_WIRE = 1 ] || tb_wire_emulate $SN $CN
NODE_CPUS[$SN]=$SERVER_CPUS NODE_CPUS[$CN]=$CLIENT_CPUS
declare -A NODE_NIC=([$SN]=$NIC_CPU [$CN]=$CLIENT_NIC_CPU) NODE_EXCL=()
# RPS-7 / RPS-7+ leave the NIC's CPU out of the node's mask, unless that
# leaves no CPU at all (a one-CPU node): then they run as RPS / RPS+.
for n in $SN $CN; do
	NODE_EXCL[$n]=${NODE_NIC[$n]}
	if [ -z "$(cpulist_minus "${NODE_CPUS[$n]}" "${NODE_NIC[$n]}")" ]; then
		NODE_EXCL[$n]=""
		[[ ,$CONFIGS, == *-7* ]] &&
			e2e_log "bench: warning: $n has only CPU ${NODE_CPUS[$n]}: RPS-7/RPS-7+ cannot exclude its NIC CPU and run as RPS/RPS+"
	fi
done

# flowsteer's entry for CONFIG on NODE: the node's CPUs as "cpus", the
# tunnel devices only (never the emulated NIC) as node devices.
fs_entry() {
	local cfg=$1 n=$2 ex=""
	case $cfg in *-7*) ex=${NODE_EXCL[$n]} ;; esac
	jq -cn --arg cfg "$cfg" --arg cpus "${NODE_CPUS[$n]}" --arg ex "$ex" '
		{Baseline: {mode: "off"},
		 RPS: {mode: "rps", scope: "host"}, "RPS-7": {mode: "rps", scope: "host", excl: true},
		 RFS: {mode: "rfs", scope: "host"},
		 "RPS+": {mode: "rps", scope: "both"}, "RPS-7+": {mode: "rps", scope: "both", excl: true},
		 "RFS+": {mode: "rfs", scope: "both"}}[$cfg] as $c
		| {mode: $c.mode, cpus: $cpus, hostDevices: ["@calico"], sockFlowEntries: 32768}
		+ (if $c.scope then {scope: $c.scope} else {} end)
		+ (if $c.excl and $ex != "" then {excludeCpus: $ex} else {} end)'
}

RUNS=$OUT/runs.csv CPU=$OUT/cpu.csv
echo "timestamp,config,replicas,rep,duration_s,pairs,pairs_ok,bitrate_bps,retransmits,srv_pod_rps_cpus,srv_pod_flow_cnt,srv_cali_rps_cpus,srv_vxlan_rps_cpus,srv_vxlan_flow_cnt,srv_nic_rps_cpus,sock_flow_entries,srv_nic_rx_avg_bytes" >"$RUNS"
echo "config,replicas,rep,cpu,usr,sys,soft,idle,samples,node" >"$CPU"
# Shell-quotes only what needs it, so the line reads as typed.
shq() {
	local a out=()
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./,:=+@%-]+$ ]]; then out+=("$a"); else out+=("$(printf '%q' "$a")"); fi
	done
	echo "${out[*]}"
}
{
	echo "cd $(shq "$REPO") && FLOWSTEER_BIN=$(shq "$FLOWSTEER_BIN") e2e/bench.sh $(shq "${ARGS[@]}")"
	echo "# equivalently, from the repo root: make bench-e2e BENCH_ARGS='$(shq "${ARGS[@]}")'"
} >"$OUT/command.txt"
cat >"$OUT/setup.txt" <<EOF
date: $(date -Is)
host: $(uname -n), kernel $(uname -r), $(nproc) CPUs online ($ONLINE), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
flowsteer: $FLOWSTEER_BIN ($("$FLOWSTEER_BIN" version 2>/dev/null | head -1))
iperf3: $(iperf3 --version | head -1)
server node CPUs: $SERVER_CPUS (NIC interrupt emulated on CPU $NIC_CPU)
client node CPUs: $CLIENT_CPUS (NIC interrupt emulated on CPU $CLIENT_NIC_CPU)
configs: $CONFIGS
replicas: $REPLICAS
repetitions: $REPS, duration ${DURATION}s, omit ${OMIT}s, iperf3 -l 128K
underlay: $([ $VETH_WIRE = 1 ] && echo "plain veth (--veth-wire): GSO super-frames and skb hashes cross nodes" || echo "wire emulation: frames cut to the MTU, skb hash reset at egress")
EOF

# run_one CONFIG REPLICAS REP
run_one() {
	local cfg=$1 r=$2 rep=$3 i n f total=0 retr=0 okn=0 bps rt p
	local -a spids=() cpids=()
	for n in $SN $CN; do
		tb_conflist $n "${NODE_DIR[$n]}/conf/$cfg.conflist" 1.0.0 v3.31 "$(fs_entry "$cfg" $n)"
	done
	case $cfg in RFS*) tb_sockflow_set 32768 ;; *) tb_sockflow_reset ;; esac
	for ((i = 1; i <= r; i++)); do
		tb_pod_add $SN iperf-server-$i "${NODE_DIR[$SN]}/conf/$cfg.conflist" '{}' bench 2>"$TB_TMP/err" ||
			e2e_die "ADD iperf-server-$i ($cfg): $(cat "$TB_TMP/err")"
		tb_pod_add $CN iperf-client-$i "${NODE_DIR[$CN]}/conf/$cfg.conflist" '{}' bench 2>"$TB_TMP/err" ||
			e2e_die "ADD iperf-client-$i ($cfg): $(cat "$TB_TMP/err")"
	done
	[ -f "$OUT/flowsteer-$cfg.json" ] || pod_raw ADD iperf-server-1 | jq '.flowsteer' >"$OUT/flowsteer-$cfg.json" 2>/dev/null
	local tuning
	tuning="$(pod_sysfs iperf-server-1 rps_cpus),$(pod_sysfs iperf-server-1 rps_flow_cnt),$(node_sysfs $SN "$(pod_cali iperf-server-1)" rps_cpus),$(node_sysfs $SN vxlan.calico rps_cpus),$(node_sysfs $SN vxlan.calico rps_flow_cnt),$(node_sysfs $SN eth0 rps_cpus),$(cat /proc/sys/net/core/rps_sock_flow_entries)"

	for ((i = 1; i <= r; i++)); do
		tb_bg ip netns exec "${POD_NS[iperf-server-$i]}" taskset -c "$SERVER_CPUS" iperf3 -s -1 -p 5201 >/dev/null 2>&1
		spids+=("$TB_LAST_PID")
	done
	for ((i = 1; i <= r; i++)); do
		pod_wait_listen iperf-server-$i 5201 || e2e_die "iperf3 server in iperf-server-$i did not listen"
	done
	local rxp0 rxb0 avgf
	rxp0=$(node_stat $SN eth0 rx_packets) rxb0=$(node_stat $SN eth0 rx_bytes)
	tb_bg mpstat -P "$SERVER_CPUS,$CLIENT_CPUS" -o JSON 1 "$DURATION" >"$TB_TMP/mpstat.json" 2>/dev/null
	local mpid=$TB_LAST_PID
	for ((i = 1; i <= r; i++)); do
		tb_bg timeout $((DURATION + OMIT + 30)) ip netns exec "${POD_NS[iperf-client-$i]}" taskset -c "$CLIENT_CPUS" \
			iperf3 -c "${POD_IP[iperf-server-$i]}" -p 5201 -l 128K -t "$DURATION" -O "$OMIT" -J \
			>"$TB_TMP/client-$i.json" 2>"$TB_TMP/client-$i.err"
		cpids+=("$TB_LAST_PID")
	done
	for p in "${cpids[@]}"; do tb_wait "$p"; done
	tb_wait "$mpid"
	# The servers end with their one test (-1); one whose client failed
	# is stopped here.
	tb_reap "${spids[@]}"
	avgf=$(( ($(node_stat $SN eth0 rx_bytes) - rxb0) / ($(node_stat $SN eth0 rx_packets) - rxp0 + 1) ))

	for ((i = 1; i <= r; i++)); do
		f=$TB_TMP/client-$i.json
		bps=$(jq -r '.end.sum_received.bits_per_second // empty' "$f" 2>/dev/null)
		rt=$(jq -r '.end.sum_sent.retransmits // 0' "$f" 2>/dev/null)
		if [ -n "$bps" ]; then
			okn=$((okn + 1))
			total=$(awk -v a="$total" -v b="$bps" 'BEGIN { printf "%.0f", a + b }')
			retr=$((retr + ${rt:-0}))
		else
			e2e_log "bench: $cfg r=$r rep=$rep pair $i failed: $(jq -r '.error // empty' "$f" 2>/dev/null || tail -1 "$TB_TMP/client-$i.err")"
		fi
	done
	echo "$(date -Is),$cfg,$r,$rep,$DURATION,$r,$okn,$total,$retr,$tuning,$avgf" >>"$RUNS"
	jq -r --arg cfg "$cfg" --arg r "$r" --arg rep "$rep" --argjson srv "[$(cpulist_expand "$SERVER_CPUS" | paste -sd,)]" '
		[.sysstat.hosts[0].statistics[]."cpu-load"[]] | group_by(.cpu)[]
		| [$cfg, $r, $rep, .[0].cpu,
		   (map(.usr) | add / length), (map(.sys) | add / length),
		   (map(.soft) | add / length), (map(.idle) | add / length), length,
		   (if (.[0].cpu | tonumber) as $c | $srv | index([$c]) then "server" else "client" end)]
		| map(tostring) | join(",")' "$TB_TMP/mpstat.json" >>"$CPU" 2>/dev/null ||
		e2e_log "bench: $cfg r=$r rep=$rep: no mpstat data"

	for ((i = 1; i <= r; i++)); do
		tb_pod_del iperf-client-$i || e2e_log "bench: DEL iperf-client-$i ($cfg) failed"
		tb_pod_del iperf-server-$i || e2e_log "bench: DEL iperf-server-$i ($cfg) failed"
	done
	# flowsteer puts the node back when its last pod goes: the next
	# configuration starts from the same node.
	[ "$(node_sysfs $SN vxlan.calico rps_cpus)" = "$(cpulist_to_mask "")" ] ||
		e2e_log "bench: warning: vxlan.calico on $SN not restored after $cfg"
	printf 'bench: %-8s replicas %2d rep %d: %6.2f Gbit/s (%d/%d pairs), server CPUs soft/idle %s\n' "$cfg" "$r" "$rep" \
		"$(awk -v t="$total" 'BEGIN { print t / 1e9 }')" "$okn" "$r" \
		"$(awk -F, -v c="$cfg" -v r="$r" -v p="$rep" '$1 == c && $2 == r && $3 == p {
			if ($10 == "server") printf "cpu%s %.0f/%.0f ", $4, $7, $8; else { ci += $8; cn++ } }
			END { if (cn) printf "| client CPUs mean idle %.0f", ci / cn }' "$CPU")"
}

total_runs=$(($(tr ',' '\n' <<<"$CONFIGS" | grep -c .) * $(tr ',' '\n' <<<"$REPLICAS" | grep -c .) * REPS))
echo "bench: $total_runs runs of ${DURATION}s; server CPUs $SERVER_CPUS (NIC $NIC_CPU), client CPUs $CLIENT_CPUS (NIC $CLIENT_NIC_CPU); output $OUT"
# Configurations interleave within each repetition so that drift of the
# machine over time spreads over all of them instead of favouring one.
for ((rep = 1; rep <= REPS; rep++)); do
	for r in ${REPLICAS//,/ }; do
		for cfg in ${CONFIGS//,/ }; do
			run_one "$cfg" "$r" "$rep"
		done
	done
done
tb_sockflow_reset
for n in $SN $CN; do cp "${NODE_DIR[$n]}/flowsteer.log" "$OUT/flowsteer-$n.log" 2>/dev/null; done

"$E2E_DIR/bench-report.sh" "$OUT" || e2e_die "report failed"
echo "bench: results in $OUT (summary.md, runs.csv, cpu.csv, *.png)"

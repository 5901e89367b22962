#!/bin/bash
# make demo: flowsteer in two minutes, on a fresh Debian/Ubuntu machine.
#  1. installs what is missing (build-aux/deps.sh: make's package lists), builds;
#  2. brings up a two-node Calico VXLAN testbed in network namespaces;
#  3. creates two pods through the CNI chain (Calico stand-in -> flowsteer,
#     run by libcni like containerd does) and shows what flowsteer tuned;
#  4. flowsteer status, pod-to-pod traffic, DEL puts the node back;
#  5. a short Baseline vs RFS+ iperf3 comparison (e2e/bench.sh --quick);
#  6. everything it made is gone again.
# Env: DEMO_DURATION (iperf3 seconds per run, default 5), DEMO_REPLICAS
# (pod pairs, default 1,4), DEMO_SKIP_DEPS=1, DEMO_SKIP_BENCH=1.
set -uo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$E2E_DIR/.." && pwd)

step() { printf '\n==> %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "demo: needs root (network namespaces)" >&2; exit 1; }
	exec sudo -E "$0" "$@"
fi

# ------------------------------------------------------------ 1. deps, build
step "1/6 dependencies and build"
# What make test and make e2e need (build-aux/packages/{build,test,e2e}.txt):
# only what dpkg lacks is installed.
if [ "${DEMO_SKIP_DEPS:-0}" != 1 ]; then
	"$REPO/build-aux/deps.sh" build test e2e || exit 1
fi
say "make"
make -C "$REPO" >/dev/null || { echo "demo: make failed (run make to see why)" >&2; exit 1; }
FLOWSTEER_BIN=${FLOWSTEER_BIN:-$REPO/build/flowsteer}
export FLOWSTEER_BIN
. "$E2E_DIR/lib.sh"
e2e_build_flowsteer
e2e_build_driver
say "flowsteer: $FLOWSTEER_BIN ($("$FLOWSTEER_BIN" version | head -1))"

# ---------------------------------------------------------------- 2. testbed
step "2/6 testbed: two nodes, underlay veth (the NIC), vxlan.calico on each"
tb_init
tb_up node1 node2
tb_sockflow_set 32768 # exception 1, see e2e/README.md; restored on exit
cat <<EOF
    node1 [${NODE_NS[node1]}]  eth0 $TB_UNDERLAY_NET.1 ==== $TB_UNDERLAY_NET.2 eth0  [${NODE_NS[node2]}] node2
      vxlan.calico $TB_POD_NET.1.0 (VNI 4096)                   vxlan.calico $TB_POD_NET.2.0
      pods $(node_block node1)                              pods $(node_block node2)
EOF

# ------------------------------------------------------------------- 3. pods
step "3/6 two pods, created by the CNI chain [calico (stand-in) -> flowsteer] via libcni"
for n in node1 node2; do
	tb_conflist $n "${NODE_DIR[$n]}/conf/demo.conflist" 1.0.0 v3.31 '{}'
done
say "flowsteer's conflist entry (defaults: mode rfs, scope both = the study's RFS+):"
jq -c '.plugins[1]' "${NODE_DIR[node1]}/conf/demo.conflist" | sed 's/^/      /'
tb_pod_add node1 iperf-server-1 "${NODE_DIR[node1]}/conf/demo.conflist" '{}' default ||
	e2e_die "ADD iperf-server-1 failed"
tb_pod_add node2 iperf-client-1 "${NODE_DIR[node2]}/conf/demo.conflist" '{}' default ||
	e2e_die "ADD iperf-client-1 failed"
for p in iperf-server-1 iperf-client-1; do
	say "$p on ${POD_NODE[$p]}: ip ${POD_IP[$p]}, host veth $(pod_cali $p)"
done
say "flowsteer's report for iperf-server-1 (its ADD output; libcni drops it, the log and state keep it):"
pod_raw ADD iperf-server-1 | jq -c '.flowsteer.devices[] | select(.status != "absent")' | sed 's/^/      /'
say "what the kernel now says (rps_cpus / rps_flow_cnt):"
say "  pod eth0 (inside the pod):  $(pod_sysfs iperf-server-1 rps_cpus) / $(pod_sysfs iperf-server-1 rps_flow_cnt)"
say "  node1 $(pod_cali iperf-server-1):     $(node_sysfs node1 "$(pod_cali iperf-server-1)" rps_cpus) / $(node_sysfs node1 "$(pod_cali iperf-server-1)" rps_flow_cnt)"
say "  node1 vxlan.calico:         $(node_sysfs node1 vxlan.calico rps_cpus) / $(node_sysfs node1 vxlan.calico rps_flow_cnt)"

# ------------------------------------------------- 4. status, traffic, DEL
step "4/6 flowsteer status on node1, traffic, DEL"
if ! node_exec node1 "$FLOWSTEER_BIN" status --state-dir "${NODE_DIR[node1]}/state" 2>&1 | sed 's/^/    /'; then
	say "(flowsteer status failed here; the values above are the kernel's)"
fi
tb_bg ip netns exec "${POD_NS[iperf-server-1]}" iperf3 -s -1 -p 5201 >/dev/null 2>&1
spid=$TB_LAST_PID
pod_wait_listen iperf-server-1 5201 || e2e_die "iperf3 server did not start"
bps=$(timeout 30 ip netns exec "${POD_NS[iperf-client-1]}" iperf3 -c "${POD_IP[iperf-server-1]}" -t 2 -J |
	jq -r '.end.sum_received.bits_per_second / 1e9 * 100 | floor / 100')
tb_reap "$spid"
say "iperf3 iperf-client-1 -> iperf-server-1 across the VXLAN overlay: ${bps:-?} Gbit/s"
tb_pod_del iperf-server-1 || say "DEL iperf-server-1 failed"
tb_pod_del iperf-client-1 || say "DEL iperf-client-1 failed"
say "after DEL of the last pod: node1 vxlan.calico $(node_sysfs node1 vxlan.calico rps_cpus) / $(node_sysfs node1 vxlan.calico rps_flow_cnt) (restored)"

step "5/6 testbed down"
tb_cleanup_demo() {
	local n
	for ((n = ${#TB_NS[@]} - 1; n >= 0; n--)); do
		case ${TB_NS[$n]} in "$TB_PREFIX"*) ip netns del "${TB_NS[$n]}" 2>/dev/null ;; esac
	done
	TB_NS=()
	tb_sockflow_reset
	TB_SOCKFLOW_ORIG=""
}
tb_cleanup_demo
say "namespaces ${TB_PREFIX}* removed"

# ---------------------------------------------------------- 6. comparison
if [ "${DEMO_SKIP_BENCH:-0}" != 1 ]; then
	step "6/6 Baseline vs RFS+ (e2e/bench.sh --quick, its own testbed, up and down again)"
	if [ "$(nproc)" -lt 8 ]; then
		say "note: $(nproc) CPUs here. The effect needs nodes with several cores each (the study:"
		say "4-core nodes); with few cores both configurations saturate the same CPUs, so expect"
		say "no difference. Full run: make bench-e2e (see e2e/README.md)."
	fi
	out=$E2E_DIR/results/demo-$(date +%Y%m%d-%H%M%S)
	if "$E2E_DIR/bench.sh" --quick --duration "${DEMO_DURATION:-5}" --replicas "${DEMO_REPLICAS:-1,4}" \
		--configs Baseline,RFS+ --reps 1 --out "$out"; then
		sed -n '/^## Bitrate normalised/,/^## Aggregate/p' "$out/summary.md" | sed '$d' | sed 's/^/    /'
		say "full summary and plots: $out"
	else
		say "the comparison failed; see the output above"
	fi
fi
step "done"

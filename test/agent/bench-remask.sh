#!/usr/bin/env bash
# Numbers of the status and re-mask duties (not pass/fail), in a node netns
# made here with PODS (default 50) pods the plugin ADDs for real (pod netns
# + veth, the node's underlay held by all), the agent in that netns with the
# test API server:
#  1. status patch latency: from each ADD's return to its patch on the
#     server (the server's clock, the same host), p50/p99/max; and the
#     patches sent for PODS ADDs (one each is the floor);
#  2. re-mask time for PODS attachments (3 devices each, the node device
#     once): FLIPS (default 10) changes of the CPU manager state, shared
#     pool CPU 0 <-> every CPU, the agent's own measure of each pass
#     (its log), p50/max, and the time from the rename to the last device
#     written, seen from outside (sysfs polled);
#  3. a rescan of PODS records (what every stateDir change costs): the
#     agent's CPU time over SCANS (default 20) record rewrites, per scan.
# Usage: test/agent/bench-remask.sh (make bench-remask); PODS=, FLIPS=.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
AGENT=${FLOWSTEER_AGENT_BIN:-$REPO/build/flowsteer-agent}
PLUGIN=${FLOWSTEER_BIN:-$REPO/build/flowsteer}
PODS=${PODS:-50}
FLIPS=${FLIPS:-10}
SCANS=${SCANS:-20}
T=$(mktemp -d /tmp/fs-bench-p2.XXXXXX)
NS=fsbp$$
SRV= AG=
# shellcheck source=test/agent/lib.sh
. "$REPO/test/agent/lib.sh"
BG=()
trap bench_cleanup EXIT
in_ns() { ip netns exec "$NS" "$@"; }
stats() { sort -n | awk '{v[NR] = $1} END {if (NR) printf "p50 %s, p99 %s, max %s (n=%d)\n", v[int((NR + 1) / 2)], v[int(NR * 0.99 + 0.999)], v[NR], NR}'; }

mkdir -p "$T/kubelet"
TOKEN=bench-$RANDOM$RANDOM
kube_files "$T" "$TOKEN"
ip netns add "$NS" && ip netns add "${NS}u"
ip -n "$NS" link set lo up
ip -n "$NS" link add ul0 type veth peer name ul0 netns "${NS}u"
ip -n "$NS" addr add 198.51.100.1/30 dev ul0 && ip -n "$NS" link set ul0 up
ip -n "${NS}u" link set ul0 up
ip -n "$NS" route add default via 198.51.100.2 dev ul0
start_apiserver "$NS" "$T" "$TOKEN" --patch-log "$T/patches.jsonl" || exit 1
python3 -c 'import json, sys; print(json.dumps({"ops": [{"op": "pod", "ns": "team-a", "name": "p%d" % i, "node": "node-1", "uid": "u-%d" % i} for i in range(1, int(sys.argv[1]) + 1)]}))' "$PODS" |
	in_ns curl -sS --fail -X POST --data-binary @- "$CTL/ctl" >/dev/null

cni() { plugin_cni "$1" "$NS" "p$2" "/run/netns/$NS-$2" "calibp$2" "u-$2" "$T" >/dev/null; } # cni VERB I
cpu_state() {
	printf '{"policyName":"static","defaultCpuSet":"%s","entries":{},"checksum":1}' "$1" >"$T/kubelet/cpu.tmp"
	mv "$T/kubelet/cpu.tmp" "$T/kubelet/cpu_manager_state"
}

start_agent "$NS" "$T" "$T/run/annotations.json" || exit 1
metric() { in_ns curl -sS -m 10 "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

echo "# 1. $PODS ADDs, one after the other; patch latency from each ADD's return"
for ((i = 1; i <= PODS; i++)); do
	ip netns add "$NS-$i"
	# Index above the pod's: plan.c takes iflink == ifindex for "no peer".
	ip -n "$NS" link add "calibp$i" index $((1000 + i)) type veth peer name eth0 netns "$NS-$i"
	ip -n "$NS" link set "calibp$i" up && ip -n "$NS-$i" link set eth0 up
	cni ADD "$i" || { echo "ADD $i failed"; exit 1; }
	echo "p$i $(date +%s.%N)" >>"$T/added"
done
all_patched() { [ "$(metric 'flowsteer_status_patches_total{result="ok"}')" = "$PODS" ]; }
until_ok 30 all_patched || { echo "not every pod was patched"; exit 1; }
jq -r '"\(.path | capture("pods/(?<p>[^/]+)$").p) \(.t)"' "$T/patches.jsonl" | sort >"$T/patched"
sort "$T/added" | join - "$T/patched" | awk '{printf "%.1f\n", ($3 - $2) * 1000}' | stats | sed 's/^/#    latency ms: /'
echo "#    patches sent: $(wc -l <"$T/patches.jsonl") for $PODS ADDs"

echo "# 2. re-mask of $PODS attachments, $FLIPS changes of the shared pool"
last=$(($(nproc) - 1))
[ "$last" -ge 1 ] || { echo "# needs 2 CPUs"; exit 0; }
want() { [ "$(ip netns exec "$NS-$PODS" cat /sys/class/net/eth0/queues/rx-0/rps_cpus | tr -d ',0')" = "$1" ]; }
for ((f = 1; f <= FLIPS; f++)); do
	if ((f % 2)); then pool=0 mask=1; else pool=0-$last mask=$(python3 -c "print('%x' % ((1 << $((last + 1))) - 1))" | tr -d 0); fi
	t0=$(date +%s%N)
	cpu_state "$pool"
	until_ok 30 want "$mask" || { echo "re-mask $f did not arrive"; tail "$T/agent.log"; exit 1; }
	echo $((($(date +%s%N) - t0) / 1000000)) >>"$T/outside"
done
grep -o 're-mask (CPU manager state changed): .* ms$' "$T/agent.log" | awk '{print $(NF - 1)}' | stats |
	sed 's/^/#    pass (agent log, ms): /'
grep 're-mask (CPU manager state changed)' "$T/agent.log" | tail -n1 | sed 's/.*: \([0-9]* attachment.*\), [0-9]* ms$/#    last pass: \1/'
stats <"$T/outside" | sed 's/^/#    rename to the last pod eth0 written (polled every 100 ms, ms; 100 ms debounce included): /'

echo "# 3. rescans of $PODS records"
s0=$(metric flowsteer_agent_state_scans_total)
c0=$(cpu_ns "$AG")
for ((k = 1; k <= SCANS; k++)); do
	cni ADD $((k % PODS + 1))
	sleep 0.2
done
c1=$(cpu_ns "$AG")
s1=$(metric flowsteer_agent_state_scans_total)
echo "#    $((s1 - s0)) rescans, agent CPU $(((c1 - c0) / 1000000)) ms: $(((c1 - c0) / 1000 / (s1 - s0 > 0 ? s1 - s0 : 1))) us per rescan of $PODS records"
echo "# command: PODS=$PODS FLIPS=$FLIPS SCANS=$SCANS test/agent/bench-remask.sh"

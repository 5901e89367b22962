#!/usr/bin/env bash
# Is the agent's loop ever stalled by a metrics scrape? (numbers, not
# pass/fail; target: p99 with scrapes within 2x of the quiet run).
# In a node netns made here: PODS (default 200) pods the plugin ADDs for
# real (pod netns + veth, records in the agent's stateDir), the agent with
# --drift-interval-seconds 1 against the test API server, and for DURATION
# s (default 20) twice, once quiet and once with /metrics scraped every
# 100 ms:
#  - a namespace annotation changed on the server every 20 ms, and the
#    time until annotations.json holds it (file polled every 1 ms): the
#    event-to-file latency of the agent's loop, p50/p99/max;
#  - the kubelet's CPU manager state flipped every FLIP_MS (default 1000)
#    ms (shared pool CPU 0 <-> every CPU): a re-mask of every pod on the
#    loop, in both runs (the re-mask is what used to wait behind a scrape's
#    drift pass).
# Usage: test/agent/bench-stall.sh (make bench-agent-stall); PODS=,
# DURATION=, FLIP_MS=; FLOWSTEER_AGENT_BIN=, FLOWSTEER_BIN= for other builds.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
AGENT=${FLOWSTEER_AGENT_BIN:-$REPO/build/flowsteer-agent}
PLUGIN=${FLOWSTEER_BIN:-$REPO/build/flowsteer}
PODS=${PODS:-200}
DURATION=${DURATION:-20}
FLIP_MS=${FLIP_MS:-1000}
T=$(mktemp -d /tmp/fs-bench-stall.XXXXXX)
NS=fsbs$$
SRV= AG= BG=()
# shellcheck source=test/agent/lib.sh
. "$REPO/test/agent/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
in_ns() { ip netns exec "$NS" "$@"; }
last=$(($(nproc) - 1))
[ "$last" -ge 1 ] || { echo "# needs 2 CPUs"; exit 0; }

mkdir -p "$T/kubelet"
TOKEN=bench-$RANDOM$RANDOM
kube_files "$T" "$TOKEN"
ip netns add "$NS" && ip netns add "${NS}u"
ip -n "$NS" link set lo up
ip -n "$NS" link add ul0 type veth peer name ul0 netns "${NS}u"
ip -n "$NS" addr add 198.51.100.1/30 dev ul0 && ip -n "$NS" link set ul0 up
ip -n "${NS}u" link set ul0 up
ip -n "$NS" route add default via 198.51.100.2 dev ul0
start_apiserver "$NS" "$T" "$TOKEN" || exit 1
python3 -c 'import json, sys; print(json.dumps({"ops": [{"op": "ns", "name": "team-a", "annotations": {"flowsteer.io/mode": "rfs"}}] + [{"op": "pod", "ns": "team-a", "name": "p%d" % i, "node": "node-1", "uid": "u-%d" % i, "annotations": {"flowsteer.io/cpus": "0-%d" % (i % 4)}} for i in range(1, int(sys.argv[1]) + 1)]}))' "$PODS" |
	in_ns curl -sS --fail -X POST --data-binary @- "$CTL/ctl" >/dev/null || exit 1

cpu_state() {
	printf '{"policyName":"static","defaultCpuSet":"%s","entries":{},"checksum":1}' "$1" >"$T/kubelet/cpu.tmp"
	mv "$T/kubelet/cpu.tmp" "$T/kubelet/cpu_manager_state"
}
cpu_state "0-$last"
echo "# $PODS ADDs (pod netns + veth each)"
for ((i = 1; i <= PODS; i++)); do
	ip netns add "$NS-$i" || exit 1
	# Index above the pod's: plan.c takes iflink == ifindex for "no peer".
	ip -n "$NS" link add "calibs$i" index $((1000 + i)) type veth peer name eth0 netns "$NS-$i" || exit 1
	ip -n "$NS" link set "calibs$i" up && ip -n "$NS-$i" link set eth0 up
	plugin_cni ADD "$NS" "p$i" "/run/netns/$NS-$i" "calibs$i" "u-$i" "$T" >/dev/null || { echo "ADD $i failed"; exit 1; }
done
[ "$(find "$T/state/attachments" -name '*.json' | wc -l)" -ge "$PODS" ] || { echo "records missing"; exit 1; }

AF=$T/run/annotations.json
ip netns exec "$NS" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$PORT" "$AGENT" --no-install \
	--node-name node-1 --sa-dir "$T/sa" --annotations-file "$AF" --metrics-addr 127.0.0.1:0 \
	--state-dir "$T/state" --cpu-manager-state "$T/kubelet/cpu_manager_state" --drift-interval-seconds 1 \
	>"$T/agent.log" 2>&1 &
AG=$!
until_ok 20 test -s "$AF" || { tail "$T/agent.log"; exit 1; }
MPORT=$(sed -n 's/.*metrics on .*(port \([0-9]*\)).*/\1/p' "$T/agent.log")

# flipper SECONDS: the CPU manager state flipped every FLIP_MS, bounded.
flipper() {
	local n=$(($1 * 1000 / FLIP_MS)) k
	for ((k = 1; k <= n; k++)); do
		if ((k % 2)); then cpu_state 0; else cpu_state "0-$last"; fi
		sleep "$(awk -v m="$FLIP_MS" 'BEGIN {print m / 1000}')"
	done
}
# scraper SECONDS: /metrics every 100 ms (each scrape's time in $T/scrapes).
scraper() {
	local n=$(($1 * 10)) k
	for ((k = 1; k <= n; k++)); do
		in_ns curl -sS -m 10 -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$MPORT/metrics" >>"$T/scrapes"
		sleep 0.1
	done
}

# phase LABEL SCRAPE: DURATION s of namespace changes, the latency printed.
phase() {
	local r0
	BG=()
	: >"$T/scrapes"
	r0=$(grep -c 're-mask (CPU manager state changed)' "$T/agent.log")
	flipper "$DURATION" &
	BG+=($!)
	if [ "$2" = 1 ]; then
		scraper "$DURATION" &
		BG+=($!)
	fi
	in_ns python3 - "$CTL" "$AF" "$DURATION" "$1" <<'PY'
import json, os, sys, threading, time, urllib.request
ctl, af, dur, label = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
posted, seen, stop = {}, [], threading.Event()
base = int(time.time() * 1000) % 1000000000
def watch():
    ino = None
    while not stop.is_set():
        try:
            st = os.stat(af)
            if (st.st_ino, st.st_mtime_ns) != ino:
                ino = (st.st_ino, st.st_mtime_ns)
                with open(af) as f:
                    v = json.load(f)["namespaces"].get("bench-target", {}).get("flowsteer.io/cpus")
                if v is not None:
                    seen.append((time.monotonic(), int(v)))
        except (OSError, ValueError):
            pass
        time.sleep(0.001)
threading.Thread(target=watch, daemon=True).start()
end = time.monotonic() + dur
i = 0
while time.monotonic() < end:
    i += 1
    t0 = time.monotonic()
    req = urllib.request.Request(ctl + "/ctl", method="POST", data=json.dumps(
        {"ops": [{"op": "ns", "name": "bench-target", "annotations": {"flowsteer.io/cpus": str(base + i)}}]}).encode())
    urllib.request.urlopen(req, timeout=10).read()
    posted[base + i] = t0
    time.sleep(max(0, 0.02 - (time.monotonic() - t0)))
time.sleep(3)
stop.set()
lat = []
for v, t0 in posted.items():
    t = next((ts for ts, sv in seen if sv >= v), None)
    if t is not None:
        lat.append((t - t0) * 1000)
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))]
print("%-28s event -> file: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d of %d changes)" %
      (label, pct(50), pct(99), lat[-1], len(lat), len(posted)))
with open(os.environ.get("STALL_OUT", "/dev/null"), "a") as f:
    f.write("%s %.3f\n" % (label.split()[0], pct(99)))
PY
	for p in "${BG[@]}"; do wait "$p" 2>/dev/null; done
	BG=()
	echo "#   re-masks during the run: $(($(grep -c 're-mask (CPU manager state changed)' "$T/agent.log") - r0))$([ -s "$T/scrapes" ] && sort -n "$T/scrapes" | awk '{v[NR] = $1} END {printf "; %d scrapes, p50 %.1f ms, max %.1f ms", NR, v[int((NR + 1) / 2)] * 1000, v[NR] * 1000}')"
}

echo "# test/agent/bench-stall.sh: $PODS tuned pods, a namespace change every 20 ms, CPU manager state flipped every $FLIP_MS ms, $DURATION s per run, $(nproc) CPUs, $(uname -r); agent $("$AGENT" --version 2>/dev/null | head -n1)"
export STALL_OUT=$T/p99
phase "quiet:" 0
phase "scrapes/100ms:" 1
awk '{p[$1] = $2} END {if (p["quiet:"] > 0) printf "# p99 with scrapes / p99 quiet = %.2f (target <= 2)\n", p["scrapes/100ms:"] / p["quiet:"]}' "$T/p99"
echo "# agent: $(grep -c 'warn\|error' "$T/agent.log") warnings/errors in its log"
echo "# command: PODS=$PODS DURATION=$DURATION FLIP_MS=$FLIP_MS test/agent/bench-stall.sh"

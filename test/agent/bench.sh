#!/usr/bin/env bash
# Agent benchmarks (numbers, not pass/fail), against the test API server in
# a netns made here:
#  1. steady state on an idle node: CPU time over DURATION s (default 180),
#     extrapolated to one hour, and RSS; once quiet, once with a Prometheus
#     scrape every 15 s. The server holds 500 namespaces and 100 pods and
#     sends a bookmark every 60 s (as the API server's watch cache does).
#  2. latency from a namespace annotation change on the server to the new
#     value in annotations.json, over CHANGES (default 200) changes, p50/p99,
#     side by side with the same change seen on a plain watch stream
#     (the reference: what any client's watch sees).
# Usage: test/agent/bench.sh (make bench-agent); DURATION=, CHANGES= to tune.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
AGENT=${FLOWSTEER_AGENT_BIN:-$REPO/build/flowsteer-agent}
DURATION=${DURATION:-180}
CHANGES=${CHANGES:-200}
T=$(mktemp -d /tmp/fs-bench.XXXXXX)
# The file on a tmpfs, as /run is on a node (fsync there costs nothing;
# on ext4 it adds tens of ms to the tail). FILE_DIR= to choose.
FD=$(mktemp -d "${FILE_DIR:-/dev/shm}/fs-bench.XXXXXX")
NS=fsbench$$
SRV= AG=
# shellcheck source=test/agent/lib.sh
. "$REPO/test/agent/lib.sh"
cleanup() {
	[ -n "$AG" ] && kill "$AG" 2>/dev/null
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T" "$FD"
}
trap cleanup EXIT
in_ns() { ip netns exec "$NS" "$@"; }

TOKEN=bench-$RANDOM$RANDOM
kube_files "$T" "$TOKEN"
ip netns add "$NS"
ip -n "$NS" link set lo up
start_apiserver "$NS" "$T" "$TOKEN" --bookmark-seconds 60 || exit 1
python3 -c '
import json
ops = [{"op": "ns", "name": "ns-%d" % i, "annotations": {"flowsteer.io/mode": "rps"} if i % 5 == 0 else {"team": "x"}} for i in range(500)]
ops += [{"op": "pod", "ns": "ns-%d" % (i % 500), "name": "p%d" % i, "node": "node-1", "annotations": {"flowsteer.io/cpus": "0"}} for i in range(100)]
print(json.dumps({"ops": ops}))' | in_ns curl -sS --fail -X POST --data-binary @- "$CTL/ctl" >/dev/null

AF=$FD/annotations.json
start_agent "$NS" "$T" "$AF" || exit 1
sleep 2

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# measure LABEL: CPU over DURATION s (scraping when SCRAPE=1).
measure() {
	local t0 t1 s=0
	t0=$(cpu_ns "$AG")
	while [ "$s" -lt "$DURATION" ]; do
		[ "${SCRAPE:-0}" = 1 ] && [ $((s % 15)) -eq 0 ] && in_ns curl -s "http://127.0.0.1:$MPORT/metrics" >/dev/null
		sleep 1
		s=$((s + 1))
	done
	t1=$(cpu_ns "$AG")
	awk -v d=$((t1 - t0)) -v hz=1000000000 -v dur="$DURATION" -v l="$1" -v rss="$(rss_kib "$AG")" -v hwm="$(hwm_kib "$AG")" \
		'BEGIN {printf "%-34s CPU %.4f s in %d s = %.2f s/hour (%.5f%% of a core); RSS %.1f MiB (peak %.1f MiB)\n",
			l, d / hz, dur, d / hz * 3600 / dur, d / hz / dur * 100, rss / 1024, hwm / 1024}'
}

echo "# test/agent/bench.sh (DURATION=$DURATION CHANGES=$CHANGES) on $(nproc) CPUs, $(uname -r); file on $(stat -f -c %T "$FD")"
echo "# $(jq '.namespaces | length' "$AF") namespaces and $(jq '.pods | length' "$AF") pods in the file (500 and 100 on the server)"
measure "idle, no scrapes:"
SCRAPE=1 measure "idle, /metrics every 15 s:"

# Latency: change, then watch both the file and a plain watch stream.
in_ns python3 - "$PORT" "$TOKEN" "$T/ca.crt" "$CTL" "$AF" "$CHANGES" <<'PY'
import http.client, json, ssl, sys, threading, time, urllib.request
port, token, ca, ctl, af, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
seen = {}
def reference():
    ctx = ssl.create_default_context(cafile=ca)
    c = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx)
    c.request("GET", "/api/v1/namespaces?watch=1&resourceVersion=%d&timeoutSeconds=600" % start_rv,
              headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    for line in r:
        ev = json.loads(line)
        v = ev["object"]["metadata"].get("annotations", {}).get("flowsteer.io/cpus")
        if v is not None and v not in seen:
            seen[v] = time.monotonic()
def post(ops):
    req = urllib.request.Request(ctl + "/ctl", data=json.dumps({"ops": ops}).encode(), method="POST")
    return json.loads(urllib.request.urlopen(req).read())["rv"]
start_rv = post([])
threading.Thread(target=reference, daemon=True).start()
time.sleep(0.5)
lat_file, lat_ref = [], []
for i in range(n):
    val = "0-%d" % (i + 1)
    t0 = time.monotonic()
    post([{"op": "ns", "name": "bench-target", "annotations": {"flowsteer.io/cpus": val}}])
    while True:
        try:
            with open(af) as f:
                d = json.load(f)
            if d["namespaces"].get("bench-target", {}).get("flowsteer.io/cpus") == val:
                break
        except (OSError, ValueError):
            pass
        if time.monotonic() - t0 > 10:
            sys.exit("change %d not in the file after 10 s" % i)
        time.sleep(0.0002)
    lat_file.append((time.monotonic() - t0) * 1000)
    end = time.monotonic() + 2
    while val not in seen and time.monotonic() < end:
        time.sleep(0.0002)
    if val in seen:
        lat_ref.append((seen[val] - t0) * 1000)
    time.sleep(0.02)
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]
for name, xs in (("plain watch stream (reference)", lat_ref), ("annotations.json (agent)", lat_file)):
    print("%-34s change -> visible: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d changes)" %
          (name + ":", pct(xs, 50), pct(xs, 99), max(xs), len(xs)))
PY
echo "# agent: $(grep -c 'relisting\|410 Gone' "$T/agent.log") relists, $(grep -c 'warn\|error' "$T/agent.log") warnings/errors in its log"

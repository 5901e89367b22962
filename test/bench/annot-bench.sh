#!/usr/bin/env bash
# What an ADD pays for its annotations: from the runtime (runtimeConfig)
# against from the node agent's cache (annotationsFile), side by side in one
# hyperfine run, next to the API-server path this replaced (15.3 ms median
# measured on this VM with the previous plugin, test/bench/annot-bench.sh at
# 07aa024). The cache holds 500 namespaces and 100 pods, as a busy node's.
#
#   test/bench/annot-bench.sh [RUNS]      (root; FLOWSTEER_BIN overrides the binary)
#
# Each timed ADD is preceded (untimed, --prepare) by a DEL of the same
# attachment. Prints the medians, their ratio, and the hyperfine command.
set -euo pipefail

RUNS=${1:-100}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FLOWSTEER_BIN:-$ROOT/build/flowsteer}
FIXTURES=${FIXTURES:-$ROOT/test/fixtures}
API_MS=15.3

[ "$(id -u)" = 0 ] || { echo "annot-bench: needs root (network namespaces)" >&2; exit 1; }
for t in hyperfine jq ip; do
	command -v "$t" >/dev/null || { echo "annot-bench: $t is not installed" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "annot-bench: $BIN not built (run make)" >&2; exit 1; }

W=$(mktemp -d /tmp/annot-bench.XXXXXX)
NODE=fsab$$n
POD=fsab$$p
cleanup() {
	local c
	ip netns del "$POD" 2>/dev/null || true
	ip netns del "$NODE" 2>/dev/null || true
	for c in /run/lock/flowsteer-net*.claim; do
		[ -e "$c" ] && [[ $(cat "$c") == "$W"/* ]] && rm -f "$c"
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

HOST_VETH=cali$(printf 'bench.web' | sha1sum | cut -c1-11)
ip netns add "$NODE"
ip netns add "$POD"
ip -n "$NODE" link set lo up
ip -n "$NODE" link add "$HOST_VETH" type veth peer name eth0 netns "$POD"
ip -n "$NODE" link set "$HOST_VETH" up
ip -n "$POD" link set eth0 up

# The agent's file: this pod and its namespace among many others.
jq -n --arg t "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{version: 1, syncedAt: $t,
	namespaces: ([range(500) | {key: "ns\(.)", value: {"flowsteer.io/scope": "both"}}] | from_entries
		| .bench = {"flowsteer.io/scope": "both"}),
	pods: ([range(100) | {key: "ns\(.)/p\(.)", value: {uid: "u\(.)", annotations: {"flowsteer.io/mode": "rfs"}}}]
		| from_entries | .["bench/web"] = {uid: "u-web", annotations: {"flowsteer.io/mode": "rps"}})}' \
	>"$W/annotations.json"

base() {
	jq -c --arg host "$HOST_VETH" --arg netns "/run/netns/$POD" --arg w "$W" '
		{cniVersion: "1.0.0", name: "k8s-pod-network", type: "flowsteer", stateDir: ($w + "/state"),
		 logFile: ($w + "/flowsteer.log"), annotationsFile: ($w + "/annotations.json"),
		 cpuManagerStateFile: ($w + "/cpu_manager_state"), hostDevices: [],
		 prevResult: (.interfaces |= map(if .sandbox then .sandbox = $netns else .name = $host end))}' \
		"$FIXTURES/calico-v3.31-prevresult-1.0.0.json"
}
base | jq -c '.capabilities = {"io.kubernetes.cri.pod-annotations": true}
	| .runtimeConfig = {"io.kubernetes.cri.pod-annotations": {"flowsteer.io/mode": "rps"}}' >"$W/runtime.json"
base >"$W/cache.json"

ENVS="CNI_CONTAINERID=bench CNI_NETNS=/run/netns/$POD CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin CNI_ARGS='IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=web;K8S_POD_UID=u-web'"
add_cmd() { echo "env CNI_COMMAND=ADD $ENVS $BIN < $W/$1.json > $W/$1.out"; }
del_cmd() { echo "env CNI_COMMAND=DEL $ENVS $BIN < $W/$1.json > /dev/null"; }

# Each ADD works and decides from where it should.
for c in runtime cache; do
	ip netns exec "$NODE" sh -c "$(add_cmd $c)"
	src=$(jq -r .flowsteer.source "$W/$c.out")
	echo "== $c ADD: source=$src mode=$(jq -r .flowsteer.mode "$W/$c.out") warnings=$(jq -c .flowsteer.warnings "$W/$c.out")"
	want=$([ $c = runtime ] && echo runtime || echo agent-pod)
	[ "$src" = "$want" ] || { echo "FAIL: $c ADD decided from $src, not $want" >&2; exit 1; }
	ip netns exec "$NODE" sh -c "$(del_cmd $c)"
done

HF=(hyperfine --warmup 5 --runs "$RUNS" -S sh --export-json "$W/hf.json"
	--prepare "$(del_cmd runtime)" -n runtime "$(add_cmd runtime)"
	--prepare "$(del_cmd cache)" -n cache "$(add_cmd cache)")
echo "== command: ip netns exec $NODE $(printf "'%s' " "${HF[@]}")"
ip netns exec "$NODE" "${HF[@]}" >/dev/null

echo "== medians (ms), $RUNS runs each"
jq -r '.results[] | [.command, (.median * 1000), (.stddev * 1000)] | @tsv' "$W/hf.json" |
	awk -F'\t' '{ printf "  %-8s %7.3f ms  (stddev %.3f)\n", $1, $2, $3 }'
jq -r --argjson api "$API_MS" '.results as $r | ($r[] | select(.command == "runtime") | .median) as $rt
	| ($r[] | select(.command == "cache") | .median) as $c
	| "  cache / runtime         \(($c / $rt * 100 | round) / 100)x",
	  "  API path (before) / cache \(($api / ($c * 1000) * 10 | round) / 10)x (API path: \($api) ms, the previous plugin)"' \
	"$W/hf.json"

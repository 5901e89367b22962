#!/usr/bin/env bash
# What the API path costs an ADD, and proof that an ADD which needs no API
# call never loads libcurl or libyaml (they are dlopen()ed by plugin/kube.c).
#
#   test/bench/annot-bench.sh [RUNS]      (root; FLOWSTEER_BIN overrides the binary)
#
# Builds a node netns with a pod netns and veth, a local HTTPS API server
# (test/kube/apiserver.py) inside the node netns, and times with hyperfine:
#   runtime     ADD with runtimeConfig pod annotations, no kubeconfig
#   preloaded   the same with libcurl + libyaml LD_PRELOADed (what linking them would cost)
#   api         ADD that reads the pod and namespace from the API server and patches the status
# Each timed ADD is preceded (untimed, --prepare) by a DEL of the same
# attachment. Prints the medians and the hyperfine command used.
set -euo pipefail

RUNS=${1:-50}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FLOWSTEER_BIN:-$ROOT/build/flowsteer}
SERVER=$ROOT/test/kube/apiserver.py
FIXTURES=${FIXTURES:-$ROOT/test/fixtures}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

[ "$(id -u)" = 0 ] || { echo "annot-bench: needs root (network namespaces)" >&2; exit 1; }
for t in hyperfine strace jq openssl ip; do
	command -v "$t" >/dev/null || { echo "annot-bench: $t is not installed" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "annot-bench: $BIN not built (run make)" >&2; exit 1; }

W=$(mktemp -d /tmp/annot-bench.XXXXXX)
NODE=fsab$$n
POD=fsab$$p
SRV_PID=
cleanup() {
	# (an `a && b` whose last part fails would end this under set -e,
	# before the namespaces are gone)
	if [ -n "$SRV_PID" ]; then
		kill "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || true
	fi
	ip netns del "$POD" 2>/dev/null || true
	ip netns del "$NODE" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the ldd check: neither library is linked ---
echo "== ldd $BIN | grep -E 'libcurl|libyaml'"
if ldd "$BIN" | grep -E 'libcurl|libyaml'; then
	echo "FAIL: libcurl or libyaml is linked" >&2
	exit 1
fi
echo "(none: not linked)"

# --- node, pod, veth ---
HOST_VETH=cali$(printf 'bench.web' | sha1sum | cut -c1-11)
ip netns add "$NODE"
ip netns add "$POD"
ip -n "$NODE" link set lo up
ip -n "$NODE" link add "$HOST_VETH" type veth peer name eth0 netns "$POD"
ip -n "$NODE" link set "$HOST_VETH" up
ip -n "$POD" link set eth0 up

# --- certificates, server, kubeconfig ---
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$W/ca.key" -out "$W/ca.crt" -days 1 -subj /CN=bench-ca 2>/dev/null
openssl req "${ec[@]}" -keyout "$W/srv.key" -out "$W/srv.csr" -subj /CN=kube-apiserver 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$W/srv.ext"
openssl x509 -req -in "$W/srv.csr" -CA "$W/ca.crt" -CAkey "$W/ca.key" -CAcreateserial \
	-out "$W/srv.crt" -days 1 -extfile "$W/srv.ext" 2>/dev/null
TOKEN=bench-token-$RANDOM$RANDOM
echo '{"namespaces":{"bench":{"flowsteer.io/scope":"both"}},"pods":{"bench/web":{"flowsteer.io/mode":"rps"}}}' >"$W/objects.json"
ip netns exec "$NODE" "$PY" "$SERVER" --objects "$W/objects.json" --cert "$W/srv.crt" --key "$W/srv.key" \
	--token "$TOKEN" --port-file "$W/port" >"$W/server.out" 2>&1 &
SRV_PID=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
[ -s "$W/port" ] || { cat "$W/server.out" >&2; exit 1; }
sed -e "s|https://127.0.0.1:6443|https://127.0.0.1:$(cat "$W/port")|" \
	-e "s|REPLACE_WITH_BASE64_CA|$(base64 -w0 "$W/ca.crt")|" \
	-e "s|REPLACE_WITH_TOKEN|$TOKEN|" "$FIXTURES/calico-kubeconfig" >"$W/kubeconfig"

# --- configurations ---
base() {
	jq -c --arg host "$HOST_VETH" --arg netns "/run/netns/$POD" --arg state "$W/state" --arg log "$W/flowsteer.log" '
		{cniVersion: "1.0.0", name: "k8s-pod-network", type: "flowsteer", stateDir: $state, logFile: $log,
		 hostDevices: [],
		 prevResult: (.interfaces |= map(if .sandbox then .sandbox = $netns else .name = $host end))}' \
		"$FIXTURES/calico-v3.31-prevresult-1.0.0.json"
}
base | jq -c '.capabilities = {"io.kubernetes.cri.pod-annotations": true}
	| .runtimeConfig = {"io.kubernetes.cri.pod-annotations": {"flowsteer.io/mode": "rps"}}' >"$W/runtime.json"
base | jq -c --arg k "$W/kubeconfig" '.kubernetes = {kubeconfig: $k, timeoutMs: 2000}' >"$W/api.json"

ENVS="CNI_CONTAINERID=bench CNI_NETNS=/run/netns/$POD CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin CNI_ARGS='IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=web'"
add_cmd() { echo "env CNI_COMMAND=ADD $ENVS ${2:-} $BIN < $W/$1.json > $W/$1.out"; }
del_cmd() { echo "env CNI_COMMAND=DEL $ENVS $BIN < $W/$1.json > /dev/null"; }

# Sanity: each ADD works and comes from where it should.
for c in runtime api; do
	ip netns exec "$NODE" sh -c "$(add_cmd $c)"
	src=$(jq -r .flowsteer.source "$W/$c.out")
	warns=$(jq -c .flowsteer.warnings "$W/$c.out")
	echo "== $c ADD: source=$src mode=$(jq -r .flowsteer.mode "$W/$c.out") warnings=$warns"
	[ "$warns" = "[]" ] || { echo "FAIL: $c ADD warned" >&2; exit 1; }
	ip netns exec "$NODE" sh -c "$(del_cmd $c)"
done

# --- libcurl is not mapped by the runtime ADD (and is by the API ADD) ---
echo "== strace -f -e trace=openat: libraries opened"
for c in runtime api; do
	ip netns exec "$NODE" sh -c "strace -f -e trace=openat -o $W/$c.strace $(add_cmd $c)"
	ip netns exec "$NODE" sh -c "$(del_cmd $c)"
	n=$(grep -cE 'libcurl|libyaml' "$W/$c.strace" || true)
	echo "$c ADD: $(grep -c '\.so' "$W/$c.strace") shared-object opens, libcurl/libyaml: $n"
	grep -oE '"[^"]*(libcurl|libyaml)[^"]*"' "$W/$c.strace" | sort -u | sed 's/^/    /' || true
	if [ "$c" = runtime ] && [ "$n" != 0 ]; then
		echo "FAIL: the runtime-annotation ADD opened libcurl or libyaml" >&2
		exit 1
	fi
	if [ "$c" = api ] && [ "$n" = 0 ]; then
		echo "FAIL: the API ADD did not open libcurl (is the API path working?)" >&2
		exit 1
	fi
done

# --- timings ---
PRE="LD_PRELOAD=libcurl.so.4:libyaml-0.so.2"
HF=(hyperfine --warmup 5 --runs "$RUNS" -S sh --export-json "$W/hf.json"
	--prepare "$(del_cmd runtime)" -n runtime "$(add_cmd runtime)"
	--prepare "$(del_cmd runtime)" -n preloaded "$(add_cmd runtime "$PRE")"
	--prepare "$(del_cmd api)" -n api "$(add_cmd api)")
echo "== command: ip netns exec $NODE $(printf "'%s' " "${HF[@]}")"
ip netns exec "$NODE" "${HF[@]}"

echo "== medians (ms)"
jq -r '.results[] | [.command, (.median * 1000 | . * 100 | round / 100)] | @tsv' "$W/hf.json" |
	awk -F'\t' '{ printf "%-10s %8.2f ms\n", $1, $2 }'

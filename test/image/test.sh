#!/usr/bin/env bash
# make test-image: builds the agent image and runs it with podman the way
# the DaemonSet does (host dirs as temp dirs, a fake ServiceAccount dir,
# all capabilities dropped, read-only root) against the test API server
# (TLS, token, CA) in a network namespace made here, and checks:
#   1. the plugin lands in the bin dir (same bytes as build/flowsteer)
#   2. the conflist is chained
#   3. annotations.json follows namespace and pod changes on the server
#   4. /metrics shows per-CPU softnet counters that rise under traffic
#      between two other namespaces made here
#   5. SIGTERM (podman stop) unchains, exit 0
# Prints "N passed, N failed". Private podman storage, removed at the end
# with every container and image; namespaces removed too.
set -uo pipefail
# shellcheck source=test/image/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/agent/lib.sh
. "$(dirname "$0")/../agent/lib.sh"
T=$(mktemp -d /var/tmp/flowsteer-image-test.XXXXXX)
NS=fsimg$$
PASS=0 FAIL=0 SRV=
img_init "$T/podman"

cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	img_cleanup "$T/podman"
	for n in "$NS" "${NS}a" "${NS}b"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

check() { # check NAME CMD...
	local name=$1
	shift
	if "$@"; then
		echo "ok - $name"
		PASS=$((PASS + 1))
	else
		echo "not ok - $name"
		FAIL=$((FAIL + 1))
	fi
}
in_ns() { ip netns exec "$NS" "$@"; }
ctl() { in_ns curl -sS -m 10 --fail -X POST --data-binary "$(printf '%s\n' "$@" | jq -cs '{ops: .}')" "$CTL/ctl" >/dev/null; }
metrics() { in_ns curl -sS -m 5 "http://127.0.0.1:9967$1"; }
softnet_sum() { metrics /metrics | awk 'index($1, "flowsteer_softnet_processed_total{") == 1 {s += $2} END {printf "%.0f\n", s}'; }

start=$(date +%s)
echo "# building $IMAGE"
img_build "$T" || exit 1
echo "# image built in $(($(date +%s) - start)) s"

# Certificates, token, the fake ServiceAccount dir and host dirs.
mkdir -p "$T/k" "$T/sa" "$T/host/opt/cni/bin" "$T/host/etc/cni/net.d" "$T/host/run/flowsteer"
make_certs "$T/k"
TOKEN=image-test-token-$RANDOM$RANDOM
cp "$T/k/ca.crt" "$T/sa/ca.crt"
printf '%s' "$TOKEN" >"$T/sa/token"
cp "$REPO/test/fixtures/10-calico.conflist" "$T/host/etc/cni/net.d/10-calico.conflist"

ip netns add "$NS"
ip -n "$NS" link set lo up
start_apiserver "$NS" "$T/k" "$TOKEN" || exit 1
ctl '{"op":"ns","name":"team-a","annotations":{"flowsteer.io/mode":"off"}}'

"${PODMAN[@]}" run -d --name flowsteer-agent-test --network "ns:/run/netns/$NS" \
	--cap-drop=ALL --read-only --security-opt=no-new-privileges --user 0:0 \
	--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
	-e NODE_NAME=node-1 -e KUBERNETES_SERVICE_HOST=127.0.0.1 -e KUBERNETES_SERVICE_PORT="$PORT" \
	-v "$T/host/opt/cni/bin:/host/opt/cni/bin" -v "$T/host/etc/cni/net.d:/host/etc/cni/net.d" \
	-v "$T/host/run/flowsteer:/run/flowsteer" -v "$T/sa:/var/run/secrets/kubernetes.io/serviceaccount:ro" \
	"$IMAGE" --cni-bin-dir=/host/opt/cni/bin --cni-conf-dir=/host/etc/cni/net.d \
	--annotations-file=/run/flowsteer/annotations.json --metrics-addr=127.0.0.1:9967 >/dev/null || exit 1

AF=$T/host/run/flowsteer/annotations.json
F=$T/host/etc/cni/net.d/10-calico.conflist
chained() { [ "$(jq -r '[.plugins[].type] | join(",")' "$F")" = calico,flowsteer,portmap ]; }
file_is() { jq -e "$1" "$AF" >/dev/null; }

check "the plugin lands in the bin dir (same bytes as $BUILD/flowsteer, mode 755)" \
	until_ok 20 cmp -s "$T/host/opt/cni/bin/flowsteer" "$REPO/$BUILD/flowsteer"
[ "$(stat -c %a "$T/host/opt/cni/bin/flowsteer")" = 755 ] || echo "# mode $(stat -c %a "$T/host/opt/cni/bin/flowsteer")"
check "the conflist is chained after calico" until_ok 10 chained
check "annotations.json written after the first sync" until_ok 10 file_is '.namespaces["team-a"]["flowsteer.io/mode"] == "off"'
check "/readyz is 200" until_ok 5 test "$(metrics /readyz)" = "readyz ok"
ctl '{"op":"ns","name":"team-a","annotations":{"flowsteer.io/mode":"rps"}}' \
	'{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-1","annotations":{"flowsteer.io/cpus":"0"}}' \
	'{"op":"pod","ns":"team-a","name":"other","node":"node-2","annotations":{"flowsteer.io/cpus":"1"}}'
check "annotations.json follows namespace and pod changes (this node's pods only)" until_ok 5 file_is \
	'.namespaces["team-a"]["flowsteer.io/mode"] == "rps" and .pods["team-a/web"].uid == "u-1" and (.pods | length) == 1'
ctl '{"op":"delpod","ns":"team-a","name":"web"}' '{"op":"delns","name":"team-a"}'
check "deletions reach annotations.json" until_ok 5 file_is '(.namespaces | length) == 0 and (.pods | length) == 0'

# Traffic between two namespaces made here; the container reads the
# global per-CPU counters from its own /proc.
ip netns add "${NS}a" && ip netns add "${NS}b"
ip -n "${NS}a" link add va type veth peer name vb netns "${NS}b"
ip -n "${NS}a" addr add 192.0.2.1/30 dev va && ip -n "${NS}b" addr add 192.0.2.2/30 dev vb
ip -n "${NS}a" link set va up && ip -n "${NS}b" link set vb up
ncpu=$(grep -c . /proc/net/softnet_stat)
check "/metrics has one softnet row per CPU ($ncpu)" \
	test "$(metrics /metrics | grep -c '^flowsteer_softnet_processed_total{cpu="[0-9]*"}')" -eq "$ncpu"
before=$(softnet_sum)
timeout 30 ip netns exec "${NS}a" ping -f -q -c 20000 192.0.2.2 >/dev/null
after=$(softnet_sum)
echo "# softnet processed +$((after - before)) under 20000 pings"
check "softnet counters rise under traffic in a netns" test $((after - before)) -ge 20000
check "the token is in no log line" bash -c "! ${PODMAN[*]} logs flowsteer-agent-test 2>&1 | grep -q -- '$TOKEN'"

"${PODMAN[@]}" stop -t 20 flowsteer-agent-test >/dev/null
code=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' flowsteer-agent-test)
check "SIGTERM: exit 0" test "$code" = 0
check "SIGTERM: the entry is taken out (the Calico file as it was)" cmp -s "$F" "$REPO/test/fixtures/10-calico.conflist"
check "SIGTERM: the plugin stays for pending DELs" test -x "$T/host/opt/cni/bin/flowsteer"
if [ "$FAIL" -gt 0 ]; then
	echo "--- agent log:"
	"${PODMAN[@]}" logs flowsteer-agent-test 2>&1 | tail -n 40
fi
echo "# image test took $(($(date +%s) - start)) s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

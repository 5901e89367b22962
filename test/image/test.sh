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
#   5. the plugin (build/flowsteer, the binary the image carries) ADDs a
#      pod on the host side (the container's netns) with the stateDir the
#      container mounts: the pod's flowsteer.io/status arrives; the
#      container reads the pod interface (drift 0) and re-masks host and
#      pod devices when the CPU manager state changes, through its
#      read-only /sys, with the DaemonSet's three capabilities
#   6. SIGTERM (podman stop) with no DaemonSet on the API server (deleted)
#      unchains, exit 0
#   7. without SYS_ADMIN and NET_ADMIN (docs/agent.md, "What the pod
#      needs"): the agent keeps running, counts the pod interface as
#      unreadable, and a re-mask fails, logged and counted, changing nothing
# The arm64 image of the same index runs too, under qemu-user (a binfmt_misc
# entry made here and removed at exit), for checks 1, 2, 3 and 6 with its
# own plugin (build-arm64/flowsteer); 4 and 5 run for the native image only
# (5 runs the plugin on this host, where qemu-user cannot prove the host
# veth: test/arm64/run.sh).
# Prints "N passed, N failed". Private podman storage, removed at the end
# with every container and image; namespaces removed too.
set -uo pipefail
# shellcheck source=test/image/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/agent/lib.sh
. "$(dirname "$0")/../agent/lib.sh"
# shellcheck source=test/helpers/binfmt.sh
. "$REPO/test/helpers/binfmt.sh"
T=$(mktemp -d /var/tmp/flowsteer-image-test.XXXXXX)
NS=fsimg$$
POD=${NS}p
PASS=0 FAIL=0 SRV=
img_init "$T/podman"

cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	img_cleanup "$T/podman"
	for n in "$NS" "${NS}a" "${NS}b" "$POD"; do ip netns del "$n" 2>/dev/null; done
	for c in /run/lock/flowsteer-net*.claim; do
		[ -e "$c" ] && [[ $(cat "$c") == "$T"/* ]] && rm -f "$c"
	done
	rm -rf "$T"
	binfmt_arm64_off
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
echo "# building $IMAGE ($IMAGE_ARCHES)"
if [[ " $IMAGE_ARCHES " == *" arm64 "* ]]; then binfmt_arm64_on || exit 1; fi
img_build "$T" || exit 1
echo "# image built in $(($(date +%s) - start)) s"

# Certificates, token, the fake ServiceAccount dir and host dirs.
mkdir -p "$T/k" "$T/sa" "$T/host/opt/cni/bin" "$T/host/etc/cni/net.d" "$T/host/run/flowsteer" \
	"$T/host/var/lib/kubelet"
make_certs "$T/k"
TOKEN=image-test-token-$RANDOM$RANDOM
cp "$T/k/ca.crt" "$T/sa/ca.crt"
printf '%s' "$TOKEN" >"$T/sa/token"
cp "$REPO/test/fixtures/10-calico.conflist" "$T/host/etc/cni/net.d/10-calico.conflist"

ip netns add "$NS"
ip -n "$NS" link set lo up
start_apiserver "$NS" "$T/k" "$TOKEN" || exit 1
ctl '{"op":"ns","name":"team-a","annotations":{"flowsteer.io/mode":"off"}}'

# agent_run NAME IMAGE HOST [CAPS]: the agent as the DaemonSet runs it, host
# dirs under HOST. The DaemonSet's privileges and mounts
# (conf/flowsteer-daemonset.yaml): CAPS (default: its three capabilities), read-only root and
# /sys, /run/netns with host-to-container propagation, the kubelet's dir
# read-only.
agent_run() {
	local h=$3
	"${PODMAN[@]}" run -d --name "$1" --network "ns:/run/netns/$NS" \
		--cap-drop=ALL --cap-add="${4:-NET_ADMIN,SYS_ADMIN,DAC_OVERRIDE}" --read-only --security-opt=no-new-privileges \
		--user 0:0 --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
		-e NODE_NAME=node-1 -e KUBERNETES_SERVICE_HOST=127.0.0.1 -e KUBERNETES_SERVICE_PORT="$PORT" \
		-v "$h/opt/cni/bin:/host/opt/cni/bin" -v "$h/etc/cni/net.d:/host/etc/cni/net.d" \
		-v "$h/run/flowsteer:/run/flowsteer" -v "$T/sa:/var/run/secrets/kubernetes.io/serviceaccount:ro" \
		-v /run/netns:/run/netns:ro,rslave -v "$h/var/lib/kubelet:/var/lib/kubelet:ro" \
		"$2" --cni-bin-dir=/host/opt/cni/bin --cni-conf-dir=/host/etc/cni/net.d \
		--annotations-file=/run/flowsteer/annotations.json --metrics-addr=127.0.0.1:9967 \
		--state-dir=/run/flowsteer --cpu-manager-state=/var/lib/kubelet/cpu_manager_state \
		--drift-interval-seconds=1 >/dev/null
}
agent_run flowsteer-agent-test "$IMAGE-$NATIVE_ARCH" "$T/host" || exit 1

AF=$T/host/run/flowsteer/annotations.json
F=$T/host/etc/cni/net.d/10-calico.conflist
chained() { [ "$(jq -r '[.plugins[].type] | join(",")' "$F")" = calico,flowsteer,portmap ]; }
file_is() { jq -e "$1" "$AF" >/dev/null; }

check "the plugin lands in the bin dir (same bytes as $BUILD/flowsteer)" \
	until_ok 20 cmp -s "$T/host/opt/cni/bin/flowsteer" "$REPO/$BUILD/flowsteer"
check "the plugin's mode is 755" test "$(stat -c %a "$T/host/opt/cni/bin/flowsteer")" = 755
check "the conflist is chained after calico" until_ok 10 chained
check "annotations.json written after the first sync" until_ok 10 file_is '.namespaces["team-a"]["flowsteer.io/mode"] == "off"'
ready() { [ "$(metrics /readyz)" = "readyz ok" ]; }
check "/readyz is 200" until_ok 5 ready
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
# A pod the plugin ADDs on the host side (the container's netns $NS): a
# veth into a pod netns made after the container started.
metric() { metrics /metrics | awk -v m="$1" '$1 == m {print $2}'; }
ctl '{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-img"}'
ip netns add "$POD"
# Index 100: not the pod eth0's (2). The plugin (plan.c host_peer) takes
# iflink == ifindex for "no peer", so a host veth whose index equals its
# peer's is not found (reported to the lead).
ip -n "$NS" link add caliimg0 index 100 type veth peer name eth0 netns "$POD"
ip -n "$NS" link set caliimg0 up && ip -n "$POD" link set eth0 up
KUBELET=$T/host/var/lib/kubelet
plugin() {
	jq -c --arg t "$T/host" --arg netns "/run/netns/$POD" '. as $p |
		{cniVersion: "1.0.0", name: "k8s-pod-network", type: "flowsteer", stateDir: ($t + "/run/flowsteer"),
		 logFile: ($t + "/flowsteer.log"), annotationsFile: ($t + "/run/flowsteer/annotations.json"),
		 cpuManagerStateFile: ($t + "/var/lib/kubelet/cpu_manager_state"),
		 prevResult: ($p | .interfaces |= map(if .sandbox then .sandbox = $netns else .name = "caliimg0" end))}' \
		"$REPO/test/fixtures/calico-v3.31-prevresult-1.0.0.json" |
		in_ns env CNI_COMMAND="$1" CNI_CONTAINERID=ctr-img CNI_NETNS="/run/netns/$POD" CNI_IFNAME=eth0 \
		CNI_PATH=/opt/cni/bin CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web;K8S_POD_UID=u-img" \
		timeout 20 "$REPO/$BUILD/flowsteer"
}
pod_status() { ctl_state | jq -r '.pods["team-a/web"].annotations["flowsteer.io/status"] // ""'; }
ctl_state() { in_ns curl -sS -m 10 --fail "$CTL/state"; }
t0=$(date +%s%N)
result=$(plugin ADD)
line=$(jq -r -f "$REPO/test/helpers/status-line.jq" <<<"$result")
status_is() { [ "$(pod_status)" = "$line" ]; }
check "the status patch arrives after a plugin ADD (the record's line: $line)" until_ok 10 status_is
echo "# status patch seen $((($(date +%s%N) - t0) / 1000000)) ms after the ADD started (100 ms polls)"
# Drift inside the pod's netns: the container must enter it to see it.
drift_is() { [ "$(metric flowsteer_drift_devices) $(metric flowsteer_drift_unreadable_devices)" = "$1" ]; }
pod_cpus() { ip netns exec "$POD" cat /sys/class/net/eth0/queues/rx-0/rps_cpus; }
pod_set() { ip netns exec "$POD" sh -c "echo $1 > /sys/class/net/eth0/queues/rx-0/rps_cpus"; }
set_cpus=$(jq -r '.flowsteer.devices[] | select(.name == "eth0") | .rpsCpus' <<<"$result")
pod_set 0
check "drift: the container reads the pod's eth0 inside its netns (1 drifted, 0 unreadable)" until_ok 5 drift_is "1 0"
pod_set "$set_cpus"
check "drift: back to 0 once eth0 holds flowsteer's value again" until_ok 5 drift_is "0 0"
veth_cpus() { in_ns cat /sys/class/net/caliimg0/queues/rx-0/rps_cpus; }
if [ "$(nproc)" -ge 2 ]; then
	printf '{"policyName":"static","defaultCpuSet":"0","entries":{"u-g":{"c":"1-%d"}},"checksum":1}' \
		$(($(nproc) - 1)) >"$KUBELET/cpu.tmp" && mv "$KUBELET/cpu.tmp" "$KUBELET/cpu_manager_state"
	on_cpu0() { [ "$(veth_cpus | tr -d ',0') $(pod_cpus | tr -d ',0')" = "1 1" ]; }
	check "re-mask from the container: the pool shrinks to CPU 0, host veth and pod eth0 follow" until_ok 10 on_cpu0
fi
plugin DEL >/dev/null
untuned() { [ "$(metric 'flowsteer_attachments{mode="rfs",scope="both"}')" = 0 ]; }
check "a DEL takes the attachment out of the gauges" until_ok 5 untuned
check "the token is in no log line" bash -c "! ${PODMAN[*]} logs flowsteer-agent-test 2>&1 | grep -q -- '$TOKEN'"

"${PODMAN[@]}" stop -t 20 flowsteer-agent-test >/dev/null
code=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' flowsteer-agent-test)
check "SIGTERM: exit 0" test "$code" = 0
check "SIGTERM, its DaemonSet gone: the entry is taken out (the Calico file as it was)" cmp -s "$F" "$REPO/test/fixtures/10-calico.conflist"
check "SIGTERM: the plugin stays for pending DELs" test -x "$T/host/opt/cni/bin/flowsteer"

# Without SYS_ADMIN and NET_ADMIN: a tuned pod on CPU 0, then the pool
# grows to every CPU; the re-mask cannot happen and must say so.
if [ "$(nproc)" -ge 2 ]; then
	plugin ADD >/dev/null
	before="$(veth_cpus) $(pod_cpus)"
	NOCAPS="without SYS_ADMIN, NET_ADMIN"
	agent_run flowsteer-agent-nocaps "$IMAGE-$NATIVE_ARCH" "$T/host" DAC_OVERRIDE >/dev/null
	running() { [ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' flowsteer-agent-nocaps)" = true ]; }
	unreadable() { [ "$(metric flowsteer_drift_unreadable_devices)" -ge 1 ] 2>/dev/null; }
	check "$NOCAPS: the pod interface counts as unreadable (drift)" until_ok 10 unreadable
	printf '{"policyName":"static","defaultCpuSet":"0-%d","checksum":2}' $(($(nproc) - 1)) \
		>"$KUBELET/cpu.tmp" && mv "$KUBELET/cpu.tmp" "$KUBELET/cpu_manager_state"
	remask_failed() {
		[ "$(metric flowsteer_remask_errors_total)" -ge 1 ] 2>/dev/null &&
			"${PODMAN[@]}" logs flowsteer-agent-nocaps 2>&1 | grep -q 're-mask (CPU manager state changed): '
	}
	check "$NOCAPS: the re-mask fails, counted (flowsteer_remask_errors_total) and logged" until_ok 10 remask_failed
	check "$NOCAPS: host veth and pod eth0 keep their masks ($before)" test "$(veth_cpus) $(pod_cpus)" = "$before"
	check "$NOCAPS: the agent is still running" running
	"${PODMAN[@]}" stop -t 20 flowsteer-agent-nocaps >/dev/null
	plugin DEL >/dev/null
fi

if [ "$FAIL" -gt 0 ]; then
	for c in flowsteer-agent-test flowsteer-agent-nocaps; do
		echo "--- $c log:"
		"${PODMAN[@]}" logs "$c" 2>&1 | tail -n 40
	done
fi

# image_file_is IMAGE PATH TEXT: `file` of PATH in IMAGE says TEXT.
image_file_is() {
	local m out
	m=$("${PODMAN[@]}" image mount "$1") || return 1
	out=$(file -L "$m$2")
	"${PODMAN[@]}" image unmount "$1" >/dev/null
	echo "# $out"
	[[ $out == *"$3"* ]]
}

# The other platforms of the index, under qemu-user: the same host layout,
# a fresh copy of it, the same API server.
for arch in $IMAGE_ARCHES; do
	[ "$arch" != "$NATIVE_ARCH" ] || continue
	H=$T/host-$arch
	mkdir -p "$H/opt/cni/bin" "$H/etc/cni/net.d" "$H/run/flowsteer" "$H/var/lib/kubelet"
	cp "$REPO/test/fixtures/10-calico.conflist" "$H/etc/cni/net.d/10-calico.conflist"
	AF=$H/run/flowsteer/annotations.json F=$H/etc/cni/net.d/10-calico.conflist
	agent_run "flowsteer-agent-test-$arch" "$IMAGE-$arch" "$H" || exit 1
	check "$arch: the image is linux/$arch" test "$("${PODMAN[@]}" image inspect -f '{{.Os}}/{{.Architecture}}' "$IMAGE-$arch")" = "linux/$arch"
	check "$arch: its agent is an aarch64 ELF" image_file_is "$IMAGE-$arch" /usr/bin/flowsteer-agent "ARM aarch64"
	check "$arch: the plugin lands in the bin dir (same bytes as $(img_bin_dir "$arch")/flowsteer)" \
		until_ok 60 cmp -s "$H/opt/cni/bin/flowsteer" "$REPO/$(img_bin_dir "$arch")/flowsteer"
	check "$arch: the conflist is chained after calico" until_ok 20 chained
	ctl '{"op":"ns","name":"team-b","annotations":{"flowsteer.io/mode":"rps"}}'
	check "$arch: annotations.json follows a namespace change" until_ok 20 file_is '.namespaces["team-b"]["flowsteer.io/mode"] == "rps"'
	ctl '{"op":"ns","name":"team-b","annotations":{"flowsteer.io/mode":"off"}}'
	check "$arch: ... and the next one" until_ok 20 file_is '.namespaces["team-b"]["flowsteer.io/mode"] == "off"'
	ctl '{"op":"delns","name":"team-b"}'
	"${PODMAN[@]}" stop -t 30 "flowsteer-agent-test-$arch" >/dev/null
	code=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' "flowsteer-agent-test-$arch")
	check "$arch: SIGTERM: exit 0" test "$code" = 0
	check "$arch: SIGTERM: the entry is taken out (the Calico file as it was)" cmp -s "$F" "$REPO/test/fixtures/10-calico.conflist"
	check "$arch: SIGTERM: the plugin stays for pending DELs" test -x "$H/opt/cni/bin/flowsteer"
	if [ "$FAIL" -gt 0 ]; then
		echo "--- $arch agent log:"
		"${PODMAN[@]}" logs "flowsteer-agent-test-$arch" 2>&1 | tail -n 40
	fi
done
echo "# image test took $(($(date +%s) - start)) s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

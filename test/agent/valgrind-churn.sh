#!/usr/bin/env bash
# Memcheck of the agent across 1000 watch events (namespace and pod churn),
# a dropped watch, a 410 Gone relist, the duties driven by the plugin's
# records (status patches for three pods the plugin ADDs for real, one of
# them a 409, one DEL; two re-masks after CPU manager state changes) and
# SIGTERM, against the test API server in a network namespace made here
# (removed at the end):
#
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
#            --error-exitcode=99 flowsteer-agent ...
#
# One log per process: the agent's, and those of the children netns.c forks
# for a pod's sysfs (valgrind 3.19 answers ENOSYS to fsopen(), so the
# fallback runs), none of which may show a memory error; their
# mount(NULL, "/", NULL, MS_SLAVE|MS_REC) trips a valgrind false positive
# on the NULL filesystem type (test/helpers/valgrind-netns.supp).
#
# Prints valgrind's leak and error summary and "N passed, N failed".
# Usage: test/agent/valgrind-churn.sh [AGENT_BIN] (default build/flowsteer-agent, not an ASan build)
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
AGENT=${1:-$REPO/build/flowsteer-agent}
EVENTS=${EVENTS:-1000}
T=$(mktemp -d /tmp/fs-vg.XXXXXX)
NS=fsvg$$
PLUGIN=${PLUGIN:-$REPO/build/flowsteer}
SRV= AG= PODS=()
cleanup() {
	local c p
	[ -n "$AG" ] && kill -KILL "$AG" 2>/dev/null
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	wait 2>/dev/null
	for p in "${PODS[@]}"; do ip netns del "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	for c in /run/lock/flowsteer-net*.claim; do
		[ -e "$c" ] && [[ $(cat "$c") == "$T"/* ]] && rm -f "$c"
	done
	[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
if ldd "$AGENT" | grep -q libasan; then
	echo "$AGENT is an ASan build; valgrind needs the plain one" >&2
	exit 2
fi
# shellcheck source=test/agent/lib.sh
. "$REPO/test/agent/lib.sh"
in_ns() { ip netns exec "$NS" "$@"; }
ctl_json() { in_ns curl -sS -m 30 --fail -X POST --data-binary @- "$CTL/ctl" >/dev/null; }

kube_files "$T" "vg-token-$RANDOM"
ip netns add "$NS"
ip -n "$NS" link set lo up
start_apiserver "$NS" "$T" "$(cat "$T/sa/token")" || exit 1

# cni VERB POD UID: the plugin for pod POD (netns $NS-POD, host veth
# caliPOD in $NS), every path in $T.
cni() { plugin_cni "$1" "$NS" "$2" "/run/netns/$NS-$2" "cali$2" "$3" "$T" >/dev/null; }
add_pod() {
	ip netns add "$NS-$1" && PODS+=("$NS-$1")
	# An index of its own: plan.c takes iflink == ifindex for "no peer".
	ip -n "$NS" link add "cali$1" index $((100 + ${#PODS[@]})) type veth peer name eth0 netns "$NS-$1"
	ip -n "$NS" link set "cali$1" up
	ip -n "$NS-$1" link set eth0 up
	cni ADD "$1" "$2"
}
cpu_state() {
	printf '{"policyName":"static","defaultCpuSet":"%s","entries":{},"checksum":1}' "$1" >"$T/kubelet/cpu.tmp"
	mv "$T/kubelet/cpu.tmp" "$T/kubelet/cpu_manager_state"
}
mkdir -p "$T/kubelet"
printf '{"ops":[{"op":"pod","ns":"team-a","name":"v1","node":"node-1","uid":"u-1"},{"op":"pod","ns":"team-a","name":"v2","node":"node-1","uid":"u-2"},{"op":"pod","ns":"team-a","name":"v3","node":"node-1","uid":"u-new"}]}' | ctl_json

ip netns exec "$NS" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$PORT" \
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--suppressions="$REPO/test/helpers/valgrind-netns.supp" --log-file="$T/vg.%p.log" "$AGENT" --no-install --node-name node-1 --sa-dir "$T/sa" \
	--annotations-file "$T/run/annotations.json" --metrics-addr 127.0.0.1:0 --backoff-base-ms 100 \
	--state-dir "$T/state" --cpu-manager-state "$T/kubelet/cpu_manager_state" --drift-interval-seconds 20 \
	>"$T/agent.log" 2>&1 &
AG=$!
AG_PID=$AG
until_ok 60 test -s "$T/run/annotations.json" || { cat "$T/agent.log"; exit 1; }
add_pod v1 u-1 && add_pod v2 u-2 && add_pod v3 u-old || { echo "plugin ADD failed"; exit 1; }
MPORT=$(sed -n 's/.*metrics on .*(port \([0-9]*\)).*/\1/p' "$T/agent.log" | head -n1)
metric() { in_ns curl -sS -m 30 "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# metric_is NAME VALUE (until_ok calls it again each time).
metric_is() { [ "$(metric "$1")" = "$2" ]; }
step() { until_ok 60 metric_is "$@" || { echo "status/re-mask duties: $1 never became $2"; exit 1; }; }
step 'flowsteer_status_patches_total{result="ok"}' 2
step 'flowsteer_status_patches_total{result="conflict"}' 1
cpu_state 0
step flowsteer_remask_total 1
cpu_state "0-$(($(nproc) - 1))"
step flowsteer_remask_total 2
cni DEL v2 u-2
step 'flowsteer_attachments{mode="rfs",scope="both"}' 2
echo "# status and re-mask duties: patches ok $(metric 'flowsteer_status_patches_total{result="ok"}'), conflict $(metric 'flowsteer_status_patches_total{result="conflict"}'), re-masks $(metric flowsteer_remask_total), drift $(metric flowsteer_drift_devices)"
start=$(date +%s)
python3 - "$EVENTS" <<'PY' | ctl_json
import json, random, sys
random.seed(11)
ops = []
for i in range(int(sys.argv[1])):
    n = "ns-%d" % random.randrange(50)
    r = random.random()
    if r < 0.3:
        ops.append({"op": "ns", "name": n, "annotations": {"flowsteer.io/mode": random.choice(["off", "rps", "rfs"])}})
    elif r < 0.4:
        ops.append({"op": "delns", "name": n})
    elif r < 0.85:
        ops.append({"op": "pod", "ns": n, "name": "p%d" % random.randrange(20), "node": "node-1",
                    "annotations": {"flowsteer.io/cpus": str(random.randrange(4))}})
    else:
        ops.append({"op": "delpod", "ns": n, "name": "p%d" % random.randrange(20)})
    if i == 500:
        ops.append({"op": "fault", "fault": "drop"})
print(json.dumps({"ops": ops}))
PY
printf '{"ops":[{"op":"compact"},{"op":"fault","fault":"drop"},{"op":"ns","name":"last","annotations":{"flowsteer.io/mode":"rps"}}]}' | ctl_json
until_ok 60 jq -e '.namespaces.last' "$T/run/annotations.json" >/dev/null
sleep 1
kill -TERM "$AG"
wait "$AG"
rc=$?
AG=
echo "# $EVENTS events + drop + 410 relist in $(($(date +%s) - start)) s under valgrind; agent exit $rc"
VG=$T/vg.$AG_PID.log
grep -E 'in use at exit|total heap usage|All heap blocks|definitely lost|indirectly lost|possibly lost|still reachable|ERROR SUMMARY' "$VG" | sed 's/^==[0-9]*== /# /'
nlogs=$(find "$T" -maxdepth 1 -name 'vg.*.log' | wc -l)
# A child forked by a thread of a multi-threaded process keeps the heap of
# threads it does not have: its leak report is meaningless (and timing
# dependent), its other errors are not.
bad=$(grep -lE '^==[0-9]+== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination)' "$T"/vg.*.log)
echo "# valgrind logs: $nlogs (the agent and $((nlogs - 1)) forked netns children); with errors: ${bad:-none}"
grep -c 'relisting' "$T/agent.log" | sed 's/^/# relists after 410: /'
pass=0 fail=0
if [ "$rc" -eq 0 ] && [ -z "$bad" ] && grep -q 'ERROR SUMMARY: 0 errors' "$VG" &&
	grep -Eq 'definitely lost: 0 bytes|All heap blocks were freed' "$VG"; then
	pass=1
else
	fail=1
	tail -n 40 "$VG"
	for f in $bad; do tail -n 30 "$f"; done
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

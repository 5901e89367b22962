#!/usr/bin/env bash
# Memcheck of the agent across 1000 watch events (namespace and pod churn),
# a dropped watch, a 410 Gone relist and SIGTERM, against the test API
# server in a network namespace made here (removed at the end):
#
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
#            --error-exitcode=99 flowsteer-agent ...
#
# Prints valgrind's leak and error summary and "N passed, N failed".
# Usage: test/agent/valgrind-churn.sh [AGENT_BIN] (default build/flowsteer-agent, not an ASan build)
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
AGENT=${1:-$REPO/build/flowsteer-agent}
EVENTS=${EVENTS:-1000}
T=$(mktemp -d /tmp/fs-vg.XXXXXX)
NS=fsvg$$
SRV= AG=
cleanup() {
	[ -n "$AG" ] && kill -KILL "$AG" 2>/dev/null
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
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

mkdir -p "$T/sa"
make_certs "$T"
cp "$T/ca.crt" "$T/sa/ca.crt"
printf 'vg-token-%s' "$RANDOM" >"$T/sa/token"
ip netns add "$NS"
ip -n "$NS" link set lo up
start_apiserver "$NS" "$T" "$(cat "$T/sa/token")" || exit 1

ip netns exec "$NS" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$PORT" \
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--log-file="$T/vg.log" "$AGENT" --no-install --node-name node-1 --sa-dir "$T/sa" \
	--annotations-file "$T/run/annotations.json" --metrics-addr 127.0.0.1:0 --backoff-base-ms 100 \
	>"$T/agent.log" 2>&1 &
AG=$!
until_ok 60 test -s "$T/run/annotations.json" || { cat "$T/agent.log"; exit 1; }
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
grep -E 'in use at exit|total heap usage|All heap blocks|definitely lost|indirectly lost|possibly lost|still reachable|ERROR SUMMARY' "$T/vg.log" | sed 's/^==[0-9]*== /# /'
grep -c 'relisting' "$T/agent.log" | sed 's/^/# relists after 410: /'
pass=0 fail=0
if [ "$rc" -eq 0 ] && grep -q 'ERROR SUMMARY: 0 errors' "$T/vg.log" &&
	grep -Eq 'definitely lost: 0 bytes|All heap blocks were freed' "$T/vg.log"; then
	pass=1
else
	fail=1
	tail -n 40 "$T/vg.log"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# How long an ADD and a DEL take, next to the reference `tuning` plugin and
# to the floor (the least a process can do to write the same sysfs files).
#
#   test/bench/bench.sh [RUNS]        (root; `make bench` sets FLOWSTEER_BIN)
#
# Environment:
#   FLOWSTEER_BIN   the binary (default build/flowsteer, the static build)
#   BASELINE_BIN    a second flowsteer binary measured in the same loop
#                   (before/after comparisons), optional
#   RUNS            iterations of the interleaved loop (default 200)
#   STORM_PODS / STORM_PAR   the pod-start storm: pods, ADDs at a time (100 / 8)
#   STORM_ROUNDS    storm rounds, each floor storm then flowsteer's (default 3)
#   ABLATION=0      skip the "where the time goes" variants
#   STATE_BASE      where the temp dir with stateDirs, logFile and
#                   annotationsFile lives (default /var/tmp: a disk, like
#                   /var/lib/cni; tmpfs would hide the cost of fsync)
#   STRICT=1        exit 3 when a target below is not met
#   PROFILE=1       instead of timing: where one steady-state ADD spends its
#                   time (strace -c -w: wall time per syscall; perf: CPU
#                   samples by symbol, kernel included; callgrind: user-space
#                   instructions by function), over RUNS ADDs
#
# What runs, all inside a node netns made here (never the host's devices):
#   - a node netns with an underlay veth carrying the default route
#     (@underlay), a pod netns joined by a cali* veth, and a second pod
#     ("holder") kept attached so the node's devices are already tuned: the
#     steady state of a node that has pods. A first-pod case is measured too.
#   - one loop, interleaved per iteration: flowsteer ADD, tuning ADD, floor,
#     flowsteer DEL, tuning DEL (and BASELINE_BIN's ADD/DEL when set).
#     flowsteer: mode rfs, scope both, default hostDevices; every config
#     names a stateDir, logFile and annotationsFile in the temp dir (the
#     annotations file does not exist: no node agent).
#     tuning (/usr/lib/cni/tuning): sysctl net.core.somaxconn in the pod netns.
#     floor (test/bench/floor.c, cc -O2 -static): fork, setns, unshare,
#     mount sysfs, write rps_cpus + rps_flow_cnt of eth0; then the same on the
#     host veth — the files flowsteer has to write for a pod on a node whose
#     devices are already tuned (ul0 holds its values), nothing else.
#     Before each timed ADD (flowsteer's and the floor's) the pod's eth0 and
#     host veth are put back to 0, untimed: a new pod's queues are untuned,
#     and flowsteer skips writing values a queue already holds.
#   Wall time per invocation is taken by a small Python driver around
#   fork/exec/wait4 (it includes process start, as a runtime sees it). Peak RSS
#   comes from /usr/bin/time -f %M.
#   - the pod-start storm: STORM_PODS pods, STORM_PAR ADDs at a time, then the
#     DELs the same way, next to the floor program's storm over the same pods
#     (same parallelism), STORM_ROUNDS times interleaved: total time (median
#     over rounds) and per-call median/p99; the node's reference count
#     (`flowsteer status --json`) is checked after each phase.
#   - ablation: the same ADD with one cost taken away at a time.
#   - the targets, each with its measured value and "met" or "NOT MET".
set -euo pipefail

RUNS=${1:-${RUNS:-200}}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FLOWSTEER_BIN:-$ROOT/build/flowsteer}
BASE_BIN=${BASELINE_BIN:-}
TUNING=${TUNING_BIN:-/usr/lib/cni/tuning}
FIXTURES=${FIXTURES:-$ROOT/test/fixtures}
PREV=$FIXTURES/calico-v3.31-prevresult-1.0.0.json
STORM_PODS=${STORM_PODS:-100}
STORM_PAR=${STORM_PAR:-8}
STORM_ROUNDS=${STORM_ROUNDS:-5}
PROFILE=${PROFILE:-0}
STRICT=${STRICT:-0}
ABLATION=${ABLATION:-1}
STATE_BASE=${STATE_BASE:-/var/tmp}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for t in ip jq cc "$PY"; do command -v "$t" >/dev/null || die "$t is not installed"; done
[ -x /usr/bin/time ] || die "/usr/bin/time is not installed (Debian package: time)"
[ -x "$BIN" ] || die "$BIN not built (run make)"
[ -x "$TUNING" ] || die "$TUNING missing (Debian package: containernetworking-plugins)"
[ -f "$PREV" ] || die "fixture $PREV missing"
BIN=$(readlink -f "$BIN")
[ -z "$BASE_BIN" ] || BASE_BIN=$(readlink -f "$BASE_BIN")

P=fsb$$
NODE=${P}n
W=$(mktemp -d "$STATE_BASE/flowsteer-bench.XXXXXX")
NSS=()
cleanup() {
	local n c
	for ((n = ${#NSS[@]} - 1; n >= 0; n--)); do ip netns del "${NSS[$n]}" 2>/dev/null || true; done
	# The node claim of this run's stateDir (docs/state.md).
	for c in /run/lock/flowsteer-net*.claim; do
		[ -e "$c" ] && [[ $(cat "$c") == "$W"/* ]] && rm -f "$c"
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

addns() { ip netns add "$1"; NSS+=("$1"); }

# Node netns: lo, underlay veth ul0 with the default route (@underlay).
addns "$NODE"
addns "${P}u"
ip -n "$NODE" link set lo up
ip -n "$NODE" link add ul0 type veth peer name ul0 netns "${P}u"
ip -n "$NODE" addr add 198.51.100.1/30 dev ul0
ip -n "$NODE" link set ul0 up
ip -n "${P}u" link set ul0 up
ip -n "$NODE" route add default via 198.51.100.2 dev ul0

# mkpod NAME HOSTVETH: pod netns NAME with eth0, peer HOSTVETH in the node.
mkpod() {
	addns "$1"
	ip -n "$NODE" link add "$2" type veth peer name eth0 netns "$1"
	ip -n "$NODE" link set "$2" up
	ip -n "$1" link set eth0 up
}
mkpod "${P}p" calibench0
mkpod "${P}h" calibenchh

# fsconf HOSTVETH NETNS STATEDIR [JQ]: flowsteer config with Calico's prevResult.
fsconf() {
	jq -c --arg host "$1" --arg netns "$2" --arg state "$3" --arg log "$W/flowsteer.log" \
		--arg annot "$W/annotations.json" '
		{cniVersion: "1.0.0", name: "k8s-pod-network", type: "flowsteer",
		 stateDir: $state, logFile: $log, annotationsFile: $annot, logLevel: "info",
		 prevResult: (.cniVersion = "1.0.0"
			| .interfaces |= map(if .sandbox then .sandbox = $netns else .name = $host end))}' \
		"$PREV" | jq -c "${4:-.}"
}
ST=$W/state
fsconf calibench0 "/run/netns/${P}p" "$ST" >"$W/fs.json"
fsconf calibenchh "/run/netns/${P}h" "$ST" >"$W/holder.json"
fsconf calibench0 "/run/netns/${P}p" "$W/state-base" >"$W/base.json"
fsconf calibench0 "/run/netns/${P}p" "$W/state-base-first" >"$W/base-first.json"
jq -c '{cniVersion: "1.0.0", name: "k8s-pod-network", type: "tuning",
	sysctl: {"net.core.somaxconn": "1024"}, prevResult: .prevResult}' "$W/fs.json" >"$W/tuning.json"
# Ablation variants (same pod, steady state unless said).
fsconf calibench0 "/run/netns/${P}p" "$ST" '.hostDevices = ["ul0"]' >"$W/abl-ul0.json"
fsconf calibench0 "/run/netns/${P}p" "$ST" '.scope = "container"' >"$W/abl-container.json"
fsconf calibench0 "/run/netns/${P}p" "$ST" '.scope = "host"' >"$W/abl-host.json"
fsconf calibench0 "/run/netns/${P}p" "$ST" '.mode = "rps"' >"$W/abl-rps.json"
fsconf calibench0 "/run/netns/${P}p" "$ST" '.mode = "off"' >"$W/abl-off.json"

cc -O2 -static -Wall -Wextra -o "$W/floor" "$ROOT/test/bench/floor.c" ||
	die "building floor.c (static glibc: Debian package libc6-dev)"

# Every hex in one place: what flowsteer writes for "all online CPUs".
HEX=$(ip netns exec "$NODE" env CNI_COMMAND=ADD CNI_CONTAINERID=probe CNI_NETNS="/run/netns/${P}p" \
	CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin "$BIN" <"$W/fs.json" | jq -r '.flowsteer.devices[0].rpsCpus')
ip netns exec "$NODE" env CNI_COMMAND=DEL CNI_CONTAINERID=probe CNI_IFNAME=eth0 "$BIN" <"$W/fs.json" >/dev/null
[ -n "$HEX" ] && [ "$HEX" != null ] || die "flowsteer ADD did not report a mask (see $W/flowsteer.log)"

cat >"$W/drive.py" <<'PYEOF'
import json, os, subprocess, sys, time, statistics
from concurrent.futures import ThreadPoolExecutor

W = os.environ["W"]
ENV = dict(os.environ)

def run(cmd, env, stdin):
    with open(stdin, "rb") as f:
        t = time.perf_counter_ns()
        p = subprocess.Popen(cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, st, ru = os.wait4(p.pid, 0)
        dt = (time.perf_counter_ns() - t) / 1e6
    global LAST_RUSAGE
    LAST_RUSAGE = ru
    rc = os.waitstatus_to_exitcode(st)
    if rc != 0:
        sys.exit(f"bench: {' '.join(cmd)} < {stdin} exited {rc}")
    return dt

def cni(binary, verb, conf, cid="bench", netns=None, extra=None):
    env = dict(ENV, CNI_COMMAND=verb, CNI_CONTAINERID=cid, CNI_IFNAME="eth0",
               CNI_NETNS=netns or os.environ["POD_NETNS"], CNI_PATH="/opt/cni/bin",
               CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=" + cid)
    env.update(extra or {})
    return ([binary], env, conf)

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]

def summary(res):
    return {k: {"median": statistics.median(v), "p99": pct(v, 0.99), "min": min(v), "n": len(v)}
            for k, v in res.items()}

def floor_cmd(netns, hostdev, hexmask, flow):
    return ([W + "/floor", netns, "eth0", hexmask, flow, hostdev], ENV, W + "/fs.json")

# Untimed: the pod's eth0 and host veth back to untuned, as on a new pod.
RESET = ("_reset", floor_cmd(os.environ["POD_NETNS"], "calibench0", "0", "0"))

def loop(runs, steps):
    res = {name: [] for name, _ in steps if not name.startswith("_")}
    for _ in range(runs):
        for name, spec in steps:
            dt = run(*spec)
            if not name.startswith("_"):
                res[name].append(dt)
    return summary(res)

mode = sys.argv[1]
out = {}
if mode == "main":
    runs = int(sys.argv[2])
    fs, tun = os.environ["BIN"], os.environ["TUNING"]
    base = os.environ.get("BASE_BIN", "")
    floor = floor_cmd(os.environ["POD_NETNS"], "calibench0", os.environ["HEX"], "32768")
    steps = [RESET, ("flowsteer ADD", cni(fs, "ADD", W + "/fs.json")),
             ("tuning ADD", cni(tun, "ADD", W + "/tuning.json")),
             RESET, ("floor", floor),
             ("static exec", ([W + "/floor", "--noop"], ENV, W + "/fs.json")),
             ("flowsteer DEL", cni(fs, "DEL", W + "/fs.json")),
             ("tuning DEL", cni(tun, "DEL", W + "/tuning.json"))]
    if base:
        steps += [RESET, ("baseline ADD", cni(base, "ADD", W + "/base.json")),
                  ("baseline DEL", cni(base, "DEL", W + "/base.json"))]
    out["steady"] = loop(runs, steps)
    # First pod on the node: the holder leaves first, so the node's
    # originals are saved (node.json) on ADD and restored on DEL. Same
    # stateDir: one stateDir per node tunes the node devices.
    holder = os.environ["HOLDER_NETNS"]
    run(*cni(fs, "DEL", W + "/holder.json", cid="holder", netns=holder))
    steps = [RESET, ("flowsteer ADD first pod", cni(fs, "ADD", W + "/fs.json")),
             ("flowsteer DEL last pod", cni(fs, "DEL", W + "/fs.json"))]
    if base:
        steps += [RESET, ("baseline ADD first pod", cni(base, "ADD", W + "/base-first.json")),
                  ("baseline DEL last pod", cni(base, "DEL", W + "/base-first.json"))]
    out["first"] = loop(max(20, runs // 2), steps)
    run(*cni(fs, "ADD", W + "/holder.json", cid="holder", netns=holder))
elif mode == "ablation":
    runs = int(sys.argv[2])
    fs = os.environ["BIN"]
    names = [("as configured (rfs, both, @calico+@underlay)", "fs.json"),
             ("hostDevices [ul0] (no route dump)", "abl-ul0.json"),
             ("scope container (no host side)", "abl-container.json"),
             ("scope host (no netns entry)", "abl-host.json"),
             ("mode rps", "abl-rps.json"),
             ("mode off (parse + decide only)", "abl-off.json")]
    steps = []
    for label, conf in names:
        steps.append(RESET)
        steps.append((label, cni(fs, "ADD", W + "/" + conf)))
        steps.append(("_del", cni(fs, "DEL", W + "/" + conf)))
    steps.append(("VERSION (process start, libs, caps)", cni(fs, "VERSION", W + "/fs.json")))
    out["ablation"] = loop(runs, steps)
elif mode == "profile":
    # ADDs only, each on untuned queues, under the command in argv[3:] ("{i}"
    # there becomes the iteration); the DEL runs from a copy named fs-del so
    # that a profiler can tell the two apart by command name. CPU time: the
    # ADD's rusage (its reaped netns child included).
    runs, wrap = int(sys.argv[2]), sys.argv[3:]
    wall, cpu = [], []
    for i in range(runs):
        run(*RESET[1])
        cmd, env, conf = cni(os.environ["BIN"], "ADD", W + "/fs.json")
        wall.append(run([a.replace("{i}", str(i)) for a in wrap] + cmd, env, conf))
        cpu.append(LAST_RUSAGE.ru_utime * 1000 + LAST_RUSAGE.ru_stime * 1000)
        run(*cni(W + "/fs-del", "DEL", W + "/fs.json"))
    out["profile"] = {"wall": statistics.median(wall), "cpu": statistics.median(cpu)}
elif mode == "storm":
    n, par, rounds = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    fs, P, hexmask = os.environ["BIN"], os.environ["P"], os.environ["HEX"]
    netns = lambda i: f"/run/netns/{P}s{i}"
    phases = {
        "floor": lambda i: run(*floor_cmd(netns(i), f"calistorm{i}", hexmask, "32768")),
        "ADD": lambda i: run(*cni(fs, "ADD", f"{W}/storm/{i}.json", cid=f"storm{i}", netns=netns(i))),
        "DEL": lambda i: run(*cni(fs, "DEL", f"{W}/storm/{i}.json", cid=f"storm{i}", netns=netns(i))),
    }
    def refs():
        st = json.loads(subprocess.run([fs, "status", "--json", "--state-dir", W + "/state"],
                                       check=True, capture_output=True).stdout)
        return st["node"]["refcount"], len(st["attachments"])
    def storm(name):
        t = time.perf_counter()
        with ThreadPoolExecutor(par) as ex:
            lat = list(ex.map(phases[name], range(n)))
        return (time.perf_counter() - t) * 1000, lat
    def reset():
        for i in range(n):
            run(*floor_cmd(netns(i), f"calistorm{i}", "0", "0"))
    res = {k: {"totals": [], "lat": []} for k in phases}
    for r in range(rounds):
        for name in phases:
            if name != "DEL":
                reset()
            total, lat = storm(name)
            res[name]["totals"].append(total)
            res[name]["lat"] += lat
            # The holder pod is there throughout: one more of each.
            want = {"floor": None, "ADD": (n + 1, n + 1), "DEL": (1, 1)}[name]
            if want and refs() != want:
                sys.exit(f"bench: storm round {r}: after the {name}s, status reports "
                         f"(refcount, attachments) = {refs()}, not {want}")
    for name, v in res.items():
        out[name] = {"total_ms": statistics.median(v["totals"]), "totals": v["totals"],
                     "median": statistics.median(v["lat"]), "p99": pct(v["lat"], 0.99),
                     "max": max(v["lat"])}
json.dump(out, sys.stdout)
PYEOF

export W BIN BASE_BIN TUNING HEX P POD_NETNS="/run/netns/${P}p" HOLDER_NETNS="/run/netns/${P}h"
inode() { ip netns exec "$NODE" "$@"; }

# The holder pod keeps the node tuned during the steady-state loop.
inode env CNI_COMMAND=ADD CNI_CONTAINERID=holder CNI_NETNS="/run/netns/${P}h" CNI_IFNAME=eth0 \
	CNI_PATH=/opt/cni/bin "$BIN" <"$W/holder.json" >/dev/null
if [ -n "$BASE_BIN" ]; then
	jq -c --arg s "$W/state-base" '.stateDir = $s' "$W/holder.json" >"$W/base-holder.json"
	inode env CNI_COMMAND=ADD CNI_CONTAINERID=holder CNI_NETNS="/run/netns/${P}h" CNI_IFNAME=eth0 \
		CNI_PATH=/opt/cni/bin "$BASE_BIN" <"$W/base-holder.json" >/dev/null
fi

linkage() { if readelf -lW "$1" | grep -q INTERP; then echo dynamic; else echo static; fi; }

if [ "$PROFILE" = 1 ]; then
	cp "$BIN" "$W/fs-del"
	echo "== where a steady-state ADD spends its time: $BIN ($(linkage "$BIN")), $RUNS ADDs, $(nproc) CPUs"
	echo "   command: PROFILE=1 $0 $RUNS"
	inode "$PY" "$W/drive.py" profile "$RUNS" >"$W/prof-wall.json"
	WALL=$(jq .profile.wall "$W/prof-wall.json")
	CPU=$(jq .profile.cpu "$W/prof-wall.json")
	printf '   per ADD, no profiler: wall median %.3f ms, CPU (rusage, user+sys) median %.3f ms\n' "$WALL" "$CPU"
	if command -v strace >/dev/null; then
		echo
		echo "-- strace -f -c -w per ADD, summed (wall time inside each syscall, netns child included;"
		echo "   strace slows every call, compare the shares)"
		inode "$PY" "$W/drive.py" profile "$RUNS" strace -f -c -w -o "$W/strace.{i}" >/dev/null
		"$PY" - "$W" "$RUNS" <<'SUMEOF'
import glob, sys
tot = {}
for f in glob.glob(sys.argv[1] + "/strace.*"):
    for line in open(f):
        p = line.split()
        if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
            s, calls = float(p[1]), int(p[3])
            t = tot.setdefault(p[-1], [0.0, 0])
            t[0] += s; t[1] += calls
n, allsec = int(sys.argv[2]), sum(v[0] for v in tot.values())
print("  %6s %10s %8s  %s" % ("share", "ms/ADD", "calls", "syscall"))
for name, (sec, calls) in sorted(tot.items(), key=lambda kv: -kv[1][0])[:15]:
    print("  %5.1f%% %10.3f %8.1f  %s" % (100 * sec / allsec, 1000 * sec / n, calls / n, name))
print("  total in syscalls: %.3f ms per ADD (under strace)" % (1000 * allsec / n))
SUMEOF
	fi
	if command -v perf >/dev/null; then
		echo
		echo "-- perf record -e cpu-clock -F 20000 -g, ADDs only (comm flowsteer, netns child included): on-CPU"
		inode perf record -q -e cpu-clock -F 20000 -g -o "$W/perf.data" -- \
			"$PY" "$W/drive.py" profile "$RUNS" >/dev/null 2>&1
		perf report -i "$W/perf.data" --comms flowsteer --percentage relative --no-children \
			--sort sym --stdio -g none 2>/dev/null >"$W/perf.txt"
		awk '/^ +[0-9.]+%/ { v = $1 + 0; if ($2 == "[k]") k += v; else u += v; if (shown++ < 25) top = top "\n" $0 }
			END { printf "  samples: kernel %.0f%%, user %.0f%%; top symbols:", k, u; print top }' "$W/perf.txt"
	fi
	if command -v valgrind >/dev/null; then
		echo
		echo "-- valgrind --tool=callgrind, one ADD: user-space instructions by function (valgrind answers"
		echo "   ENOSYS to fsopen, so the pod side runs in the forked child, not traced here)"
		inode "$PY" "$W/drive.py" profile 1 valgrind -q --tool=callgrind \
			--callgrind-out-file="$W/callgrind.out" >/dev/null
		# (head closes the pipe early: || true, or pipefail would end the script)
		callgrind_annotate "$W/callgrind.out" 2>/dev/null | grep -E '^ *[0-9,]+ \(|PROGRAM TOTALS' |
			head -n 16 || true
		echo "   inclusive:"
		callgrind_annotate --inclusive=yes "$W/callgrind.out" 2>/dev/null | grep -E '^ *[0-9,]+ \(' |
			head -n 25 || true
	fi
	exit 0
fi

echo "== flowsteer bench: $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   flowsteer: $BIN ($(linkage "$BIN"))${BASE_BIN:+ (baseline: $BASE_BIN, $(linkage "$BASE_BIN"))}"
echo "   tuning:    $TUNING ($(linkage "$TUNING")); floor: $W/floor ($(linkage "$W/floor"))"
echo "   temp dir:  $W ($(df -T "$W" | awk 'NR==2 {print $2}')): stateDir, logFile, annotationsFile"
echo "   command:   $0 $RUNS  (RUNS=$RUNS STORM_PODS=$STORM_PODS STORM_PAR=$STORM_PAR STORM_ROUNDS=$STORM_ROUNDS)"
echo
inode "$PY" "$W/drive.py" main "$RUNS" >"$W/main.json"

fmt() { # fmt JSON SECTION: one line per measurement
	jq -r --arg s "$2" '.[$s] | to_entries[] |
		"  \(.key | . + " " * (44 - length)) median \(.value.median * 1000 | round / 1000) ms   p99 \(.value.p99 * 1000 | round / 1000) ms   (n=\(.value.n))"' "$1"
}
echo "-- interleaved loop, steady state (another pod holds the node devices), $RUNS iterations"
fmt "$W/main.json" steady
echo "-- first pod on the node (node.json written on ADD, node restored on DEL)"
fmt "$W/main.json" first
echo
m() { jq -r --arg s "$2" --arg k "$3" '.[$s][$k].median' "$1"; }
FS=$(m "$W/main.json" steady "flowsteer ADD")
TU=$(m "$W/main.json" steady "tuning ADD")
FL=$(m "$W/main.json" steady "floor")
EX=$(m "$W/main.json" steady "static exec")
FS1=$(m "$W/main.json" first "flowsteer ADD first pod")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "-- ratios (medians, same run)"
echo "  flowsteer ADD / tuning ADD            $(ratio "$FS" "$TU")"
echo "  flowsteer ADD / floor                 $(ratio "$FS" "$FL")"
echo "  flowsteer ADD first pod / tuning ADD  $(ratio "$FS1" "$TU")"
echo "  flowsteer ADD first pod / floor       $(ratio "$FS1" "$FL")"
awk -v f="$FS" -v t="$TU" -v l="$FL" -v e="$EX" 'BEGIN {
	printf "  net of process start (minus static exec %.3f ms): flowsteer %.3f, tuning %.3f, floor %.3f ms\n",
		e, f - e, t - e, l - e }'
if [ -n "$BASE_BIN" ]; then
	B=$(m "$W/main.json" steady "baseline ADD")
	B1=$(m "$W/main.json" first "baseline ADD first pod")
	echo "  flowsteer ADD / baseline ADD          $(ratio "$FS" "$B")   first pod: $(ratio "$FS1" "$B1")"
fi

echo
echo "-- peak RSS (/usr/bin/time -f %M, max of 5 runs, KiB)"
rss() { # rss LABEL CMD...: stdin from $RSS_IN
	local label=$1 i v max=0
	shift
	for i in 1 2 3 4 5; do
		v=$(inode /usr/bin/time -f %M "$@" <"$RSS_IN" 2>&1 >/dev/null | tail -n1)
		[ "$v" -gt "$max" ] && max=$v
	done
	printf '  %-44s %6s KiB\n' "$label" "$max"
	RSS_MAX=$max
}
cenv=(env CNI_CONTAINERID=bench CNI_NETNS="$POD_NETNS" CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin)
RSS_IN=$W/fs.json
rss_fs() { rss "flowsteer $1" "${cenv[@]}" CNI_COMMAND="$1" "$BIN"; }
rss_fs ADD
RSS_ADD=$RSS_MAX
rss_fs DEL
RSS_DEL=$RSS_MAX
RSS_IN=$W/tuning.json
rss "tuning ADD" "${cenv[@]}" CNI_COMMAND=ADD "$TUNING"
rss "tuning DEL" "${cenv[@]}" CNI_COMMAND=DEL "$TUNING"
RSS_IN=$W/fs.json
rss "floor" "$W/floor" "$POD_NETNS" eth0 "$HEX" 32768 calibench0
rss "floor --noop (what time itself shows)" "$W/floor" --noop

if [ "$ABLATION" = 1 ]; then
	echo
	echo "-- where the time goes: the same steady-state ADD with one cost removed ($((RUNS / 2)) iterations)"
	inode "$PY" "$W/drive.py" ablation "$((RUNS / 2))" >"$W/abl.json"
	fmt "$W/abl.json" ablation
fi

if [ "$STORM_PODS" -gt 0 ]; then
	echo
	echo "-- pod-start storm: $STORM_PODS ADDs, $STORM_PAR at a time, then the DELs the same way"
	mkdir -p "$W/storm"
	: >"$W/storm.batch"
	for ((i = 0; i < STORM_PODS; i++)); do
		addns "${P}s$i"
		printf 'link add calistorm%d type veth peer name eth0 netns %s\nlink set calistorm%d up\n' \
			"$i" "${P}s$i" "$i" >>"$W/storm.batch"
		fsconf "calistorm$i" "/run/netns/${P}s$i" "$ST" >"$W/storm/$i.json"
	done
	ip -n "$NODE" -batch "$W/storm.batch"
	for ((i = 0; i < STORM_PODS; i++)); do ip -n "${P}s$i" link set eth0 up; done
	inode "$PY" "$W/drive.py" storm "$STORM_PODS" "$STORM_PAR" "$STORM_ROUNDS" >"$W/storm.json"
	echo "   ($STORM_ROUNDS rounds, interleaved: floor storm, flowsteer ADDs, flowsteer DELs; total = median over rounds)"
	jq -r 'to_entries[] | "  \(.key | . + " " * (6 - length)) total \(.value.total_ms | round) ms (rounds: \(.value.totals | map(round) | join(", "))), per call median \(.value.median * 1000 | round / 1000) ms, p99 \(.value.p99 * 1000 | round / 1000) ms, max \(.value.max * 1000 | round / 1000) ms"' "$W/storm.json"
fi

# target NAME MEASURED RATIO LIMIT: one line of the table; counts the misses.
UNMET=0
target() {
	local verdict
	verdict=$(awk -v r="$3" -v l="$4" 'BEGIN { print (r + 0 <= l + 0) ? "met" : "NOT MET" }')
	[ "$verdict" = met ] || UNMET=$((UNMET + 1))
	printf '  %-30s %-40s %-9s %s\n' "$1" "$2" "<= $4" "$verdict"
}
ms() { awk -v v="$1" 'BEGIN { printf "%.3f", v }'; }
quot() { awk -v a="$1" -v b="$2" 'BEGIN { print a / b }'; }
P99=$(jq -r '.steady["flowsteer ADD"].p99' "$W/main.json")
echo
echo "-- targets (steady-state ADD, this run; STRICT=1 makes a miss exit 3)"
printf '  %-30s %-40s %-9s %s\n' target measured limit verdict
target "ADD median / tuning ADD" "$(ms "$FS") / $(ms "$TU") ms = $(ratio "$FS" "$TU")x" "$(quot "$FS" "$TU")" 0.5
target "ADD median / floor" "$(ms "$FS") / $(ms "$FL") ms = $(ratio "$FS" "$FL")x" "$(quot "$FS" "$FL")" 1.25
target "ADD p99 / ADD median" "$(ms "$P99") / $(ms "$FS") ms = $(ratio "$P99" "$FS")x" "$(quot "$P99" "$FS")" 2
target "peak RSS, ADD (MiB)" "$RSS_ADD KiB = $(awk -v k="$RSS_ADD" 'BEGIN { printf "%.2f", k / 1024 }') MiB (DEL: $RSS_DEL KiB)" \
	"$(quot "$RSS_ADD" 1024)" 3
if [ "$STORM_PODS" -gt 0 ]; then
	ST=$(jq -r .ADD.total_ms "$W/storm.json")
	SF=$(jq -r .floor.total_ms "$W/storm.json")
	SP=$(jq -r .ADD.p99 "$W/storm.json")
	target "storm total / floor storm" "$(ms "$ST") / $(ms "$SF") ms = $(ratio "$ST" "$SF")x (ADD p99 $(ms "$SP") ms)" \
		"$(quot "$ST" "$SF")" 1.5
else
	echo "  storm total / floor storm      not measured (STORM_PODS=0)"
fi
echo "   (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); other work on the machine shows in the p99s)"
[ "$STRICT" != 1 ] || [ "$UNMET" -eq 0 ] || exit 3

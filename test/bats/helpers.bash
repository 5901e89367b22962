# The bats suite's one helpers file (netavark style). Each test gets its own
# "node" network namespace (the plugin's host side, entered with `ip netns
# exec`), pods as namespaces joined to it by cali* veths, and its own
# stateDir, logFile, annotationsFile and cpuManagerStateFile under
# $BATS_TEST_TMPDIR; teardown_node removes all of it, whatever happened.
#
#   run_helper [STATUS|?] CMD...      runs CMD; fails unless it exits STATUS
#   assert_eq, assert_match, assert_json, assert_log   generic checks
#   conf, cni, plugin_env, fs_status  the plugin as a runtime runs it; its CLI
#   ro_sys, no_sys, ro_bind, caps_dropped   ... behind a changed host
#   in_state, deny_syscalls           ... behind an odd process state
#   wait_for, plugin_pids             bounded waits on an event
#   expect_*                          what the kernel, the result and the
#                                     stateDir hold afterwards
#   all_cpus_mask, kmask, mask_list   the one CPU-mask oracle (cpumask.py)
#
# A helper that checks several things returns at the first that fails, so
# it fails in `run`, `if` and `||` too, where errexit does not hold
# (000-helpers.bats checks that each one can fail).

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
FLOWSTEER_BIN=${FLOWSTEER_BIN:-$REPO/build/flowsteer}
FIXTURES=${FIXTURES:-$REPO/test/fixtures}
CNI_TIMEOUT=${CNI_TIMEOUT:-20}
SOCK_SYSCTL=/proc/sys/net/core/rps_sock_flow_entries
CPUMASK_PY=$REPO/test/helpers/cpumask.py
PLUGIN_WRAP=()
declare -gA ORIG=()

# ------------------------------------------------------------- vocabulary ---

# run_helper [STATUS|?] CMD...: runs CMD (bats `run`, stderr apart) under a
# timeout (the helpers below that run the plugin carry their own) and
# fails the test unless it exits STATUS (default 0; "?" takes any). The
# output is printed, so a failing test shows it.
run_helper() {
	local want=0
	case ${1:-} in
	'?') want=; shift ;;
	[0-9] | [0-9][0-9] | [0-9][0-9][0-9]) want=$1; shift ;;
	esac
	if declare -F "$1" >/dev/null; then
		run --separate-stderr "$@"
	else
		run --separate-stderr timeout --kill-after=5 "$CNI_TIMEOUT" "$@"
	fi
	echo "\$ $* -> exit $status"
	[ -n "$output" ] && echo "$output"
	[ -n "$stderr" ] && echo "stderr: $stderr"
	if [ -n "$want" ] && [ "$status" -ne "$want" ]; then
		echo "exit status $status, expected $want" >&2
		return 1
	fi
}

# assert_eq GOT WANT [WHAT]
assert_eq() {
	[ "$1" = "$2" ] && return 0
	echo "${3:-value}: got '$1', want '$2'" >&2
	return 1
}

# assert_match TEXT ERE [WHAT] / assert_no_match TEXT ERE [WHAT]
assert_match() {
	[[ $1 =~ $2 ]] && return 0
	echo "${3:-text}: '$1' does not match /$2/" >&2
	return 1
}
assert_no_match() {
	[[ $1 =~ $2 ]] || return 0
	echo "${3:-text}: '$1' matches /$2/" >&2
	return 1
}

# assert_json JSON FILTER WANT [WHAT]: jq -r FILTER of JSON is WANT.
assert_json() {
	local got
	got=$(jq -r "$2" <<<"$1") || { echo "assert_json: jq $2 failed on: $1" >&2; return 1; }
	[ "$got" = "$3" ] && return 0
	echo "${4:-$2}: got '$got', want '$3'" >&2
	return 1
}

# log_count ERE: lines of the plugin's log matching ERE.
log_count() { local n; n=$(grep -Ec -- "$1" "$LOG_FILE" 2>/dev/null); echo "${n:-0}"; }
# assert_log ERE [N]: N lines of the log match ERE (default: at least one).
assert_log() {
	local n
	n=$(log_count "$1")
	if [ -z "${2:-}" ] && [ "$n" -ge 1 ] || [ "$n" = "${2:-}" ]; then return 0; fi
	echo "log lines matching /$1/: $n, want ${2:-one or more}; the log:" >&2
	cat "$LOG_FILE" >&2 2>/dev/null
	return 1
}

# ---------------------------------------------------- node and pod netns ---

# Unique per test and per run so parallel or leftover runs never collide.
fs_prefix() { echo "fst$$${BATS_TEST_NUMBER}"; }

# setup_node: the node netns $NODE with an underlay veth (ul0, default
# route) to a peer namespace, like a node's NIC. Tests named "sysctl: ..."
# run the plugin in the initial netns instead (NODE empty), the only one
# with net.core.rps_sock_flow_entries, saved here and put back by
# teardown_node whatever happens.
setup_node() {
	FS_NS=()
	FS_PIDS=()
	FS_HOST_LINKS=()
	STATE_DIR=$BATS_TEST_TMPDIR/state
	LOG_FILE=$BATS_TEST_TMPDIR/flowsteer.log
	if [ "${BATS_TEST_DESCRIPTION#sysctl:}" != "$BATS_TEST_DESCRIPTION" ]; then
		SOCK_ORIG=$(cat "$SOCK_SYSCTL")
		NODE=""
		NODE_EXEC=()
		return 0
	fi
	NODE=$(fs_prefix)n
	ip netns add "$NODE"
	FS_NS+=("$NODE")
	ip netns add "${NODE}u"
	FS_NS+=("${NODE}u")
	ip -n "$NODE" link set lo up
	ip -n "$NODE" link add ul0 type veth peer name ul0 netns "${NODE}u"
	ip -n "$NODE" addr add 198.51.100.1/30 dev ul0
	ip -n "${NODE}u" addr add 198.51.100.2/30 dev ul0
	ip -n "$NODE" link set ul0 up
	ip -n "${NODE}u" link set ul0 up
	ip -n "$NODE" route add default via 198.51.100.2 dev ul0
	NODE_EXEC=(ip netns exec "$NODE")
}

# setup_pod: setup_node and pod p1; the originals of its devices and ul0
# saved, MASK every online CPU, IN a file for an ADD's input.
setup_pod() {
	setup_node
	MASK=$(all_cpus_mask)
	make_pod p1
	save_orig pod "$HOST_VETH" ul0
	IN=$BATS_TEST_TMPDIR/in.json
}

teardown_node() {
	local l n c p
	for p in "${FS_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	FS_PIDS=()
	[ -z "${SOCK_ORIG:-}" ] || echo "$SOCK_ORIG" >"$SOCK_SYSCTL" || true
	# A node claim left by a test that ended holding node devices (its
	# stateDirs are all below the test's temp dir).
	for c in /run/lock/flowsteer-net*.claim; do
		[ -e "$c" ] && [[ $(cat "$c") == "$BATS_TEST_TMPDIR"/* ]] && rm -f "$c"
	done
	for l in "${FS_HOST_LINKS[@]}"; do ip link del "$l" 2>/dev/null || true; done
	FS_HOST_LINKS=()
	for ((n = ${#FS_NS[@]} - 1; n >= 0; n--)); do
		ip netns del "${FS_NS[$n]}" 2>/dev/null || true
	done
	FS_NS=()
}

# Runs a command in the node netns (or here, in a sysctl test).
node_run() { "${NODE_EXEC[@]}" "$@"; }

# cali + 11 hex of SHA-1("namespace.pod"): Calico's host veth name. In the
# initial netns, shared with the host and other runs, the run's prefix is
# hashed too.
cali_name() {
	local key=$1.$2
	[ -n "$NODE" ] || key+=@$(fs_prefix)
	printf 'cali%s' "$(printf '%s' "$key" | sha1sum | cut -c1-11)"
}

# make_pod NAME [NAMESPACE] [QUEUES]: pod netns + veth (host side in the
# node). Sets POD_NS (netns name), POD_NETNS (path), HOST_VETH, POD_NAME,
# POD_NAMESPACE.
make_pod() {
	local pod=$1 ns=${2:-default} queues=${3:-1} host
	host=$(cali_name "$ns" "$pod")
	POD_NS=$(fs_prefix)p${#FS_NS[@]}
	ip netns add "$POD_NS"
	FS_NS+=("$POD_NS")
	[ -n "$NODE" ] || FS_HOST_LINKS+=("$host")
	ip ${NODE:+-n "$NODE"} link add "$host" numrxqueues "$queues" numtxqueues "$queues" type veth \
		peer name eth0 netns "$POD_NS" numrxqueues "$queues" numtxqueues "$queues"
	node_run ip link set "$host" up
	ip -n "$POD_NS" link set eth0 up
	POD_NETNS=/run/netns/$POD_NS
	HOST_VETH=$host
	POD_NAME=$pod
	POD_NAMESPACE=$ns
}

# Calico's VXLAN device in the node netns (goes away with it).
add_vxlan() {
	node_run ip link add vxlan.calico type vxlan id 4096 dstport 4789 dev ul0
}

# A 4-queue underlay NIC (ulq) that carries the default route instead of ul0.
add_mq_underlay() {
	ip -n "$NODE" link add ulq numrxqueues 4 numtxqueues 4 type veth \
		peer name ulq netns "${NODE}u" numrxqueues 4 numtxqueues 4
	ip -n "$NODE" addr add 198.51.100.5/30 dev ulq
	ip -n "${NODE}u" addr add 198.51.100.6/30 dev ulq
	ip -n "$NODE" link set ulq up
	ip -n "${NODE}u" link set ulq up
	ip -n "$NODE" route replace default via 198.51.100.6 dev ulq
}

# ------------------------------------------------------------ the plugin ---

# conf_from FIXTURE VERSION [JQ_FILTER]: a flowsteer network config on
# stdout, prevResult = that Calico result at VERSION, names and netns path
# substituted for the current pod; every path the plugin may touch is the
# test's own.
conf_from() {
	jq -c --arg v "$2" --arg host "${HOST_VETH:-cali0}" --arg netns "${POD_NETNS:-}" \
		--arg state "$STATE_DIR" --arg log "$LOG_FILE" --arg tmp "$BATS_TEST_TMPDIR" '
		{cniVersion: $v, name: "k8s-pod-network", type: "flowsteer",
		 stateDir: $state, logFile: $log, logLevel: "debug",
		 annotationsFile: ($tmp + "/annotations.json"),
		 cpuManagerStateFile: ($tmp + "/cpu_manager_state"),
		 prevResult: (.cniVersion = $v
			| .interfaces |= map(if .sandbox then .sandbox = $netns else .name = $host end))}' \
		"$FIXTURES/$1" | jq -c "${3:-.}"
}

# conf VERSION [JQ_FILTER]: conf_from with Calico v3.31's result (1.0.0 /
# 0.4.0) or v3.30's (0.3.x).
conf() {
	local ver=${1:-1.0.0}
	case $ver in
	0.3.*) conf_from calico-v3.30-prevresult-0.3.1.json "$ver" "${2:-.}" ;;
	*) conf_from calico-v3.31-prevresult-1.0.0.json "$ver" "${2:-.}" ;;
	esac
}

# plugin [VAR=VALUE | -VAR]...: the plugin exactly as a runtime runs it
# (env + stdin) in the node netns, behind PLUGIN_WRAP; the CNI_* variables
# are the current pod's, changed (VAR=VALUE) or removed (-VAR).
plugin() {
	local a k args=()
	local -A env=(
		[CNI_COMMAND]=ADD [CNI_CONTAINERID]=${CID:-ctr-$POD_NAME}
		[CNI_NETNS]=${CNI_NETNS_OVERRIDE-$POD_NETNS} [CNI_IFNAME]=${CNI_IFNAME_OVERRIDE:-eth0}
		[CNI_PATH]=/opt/cni/bin
		[CNI_ARGS]="IgnoreUnknown=1;K8S_POD_NAMESPACE=${POD_NAMESPACE:-default};K8S_POD_NAME=${POD_NAME:-pod}"
	)
	for a; do
		case $a in
		-*) unset "env[${a#-}]" ;;
		*=*) env[${a%%=*}]=${a#*=} ;;
		esac
	done
	for k in "${!env[@]}"; do args+=("$k=${env[$k]}"); done
	timeout "$CNI_TIMEOUT" "${NODE_EXEC[@]}" "${PLUGIN_WRAP[@]}" env -u CNI_COMMAND -u CNI_CONTAINERID \
		-u CNI_NETNS -u CNI_IFNAME -u CNI_PATH -u CNI_ARGS "${args[@]}" "$FLOWSTEER_BIN"
}

# cni VERB CONFIG [CONTAINER_ID]: one CNI call with CONFIG on stdin; the
# container ID defaults to $CID, then ctr-$POD_NAME.
cni() {
	local cid=${3:-${CID:-ctr-$POD_NAME}}
	printf '%s' "$2" | plugin CNI_COMMAND="$1" CNI_CONTAINERID="$cid" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=${POD_NAMESPACE:-default};K8S_POD_NAME=${POD_NAME:-pod};K8S_POD_INFRA_CONTAINER_ID=$cid${CNI_ARGS_EXTRA:+;$CNI_ARGS_EXTRA}"
}

# plugin_env STDIN_FILE [VAR=VALUE | -VAR]...: the plugin on a file.
plugin_env() {
	local in=$1
	shift
	plugin "$@" <"$in"
}

# cni_del CONFIG [CONTAINER_ID]: a DEL that succeeds, nothing on stdout.
cni_del() {
	run_helper cni DEL "$@" || return
	assert_eq "$output" "" "DEL's stdout"
}

# add_pods NAME...: for each, a pod and its ADD (conf 1.0.0 | $ADD_FILTER);
# CONF[NAME] is that config.
declare -gA CONF=()
add_pods() {
	local p
	for p; do
		make_pod "$p"
		CONF[$p]=$(conf 1.0.0 "${ADD_FILTER:-.}")
		run_helper cni ADD "${CONF[$p]}" || return
	done
}

# debug_bin: DEBUG_BIN, a build with the debug hooks compiled in (make
# DEBUG_HOOKS=1: FLOWSTEER_DEBUG_KILL_AT, _STOP_AT, _FAIL_AT); skips without.
debug_bin() {
	DEBUG_BIN=${FLOWSTEER_DEBUG_BIN:-$REPO/build-debug/flowsteer}
	if [ -z "${FLOWSTEER_DEBUG_BIN:-}" ]; then
		# Not inheriting a `make test SANITIZE=1`'s flags: one plain build.
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$REPO" SANITIZE= DEBUG_HOOKS=1 \
			BUILD=build-debug >/dev/null 2>&1 ||
			skip "could not build build-debug/flowsteer (make DEBUG_HOOKS=1 BUILD=build-debug)"
	fi
	[ -x "$DEBUG_BIN" ] || skip "no debug build at $DEBUG_BIN"
}

# fs_status [ARGS...]: `flowsteer status` of $STATE_DIR in the node netns.
fs_status() {
	timeout "$CNI_TIMEOUT" "${NODE_EXEC[@]}" "${PLUGIN_WRAP[@]}" "$FLOWSTEER_BIN" status \
		--state-dir "$STATE_DIR" "$@"
}

# Behind these, every plugin run of CMD (cni, plugin_env, fs_status) sees a
# changed host, in a mount namespace of its own: /sys read-only, /sys
# empty (a kernel without RPS), DIR read-only, or capabilities CAPS
# dropped from the bounding set (setpriv syntax: -net_admin,-sys_admin).
ro_sys() {
	local -a PLUGIN_WRAP=(unshare -m sh -c 'mount -o remount,bind,ro /sys && exec "$0" "$@"')
	"$@"
}
no_sys() {
	local -a PLUGIN_WRAP=(unshare -m sh -c 'mount -t tmpfs none /sys && exec "$0" "$@"')
	"$@"
}
ro_bind() { # DIR CMD...
	local -a PLUGIN_WRAP=(unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" &&
		shift && exec "$@"' sh "$1")
	shift
	"$@"
}
caps_dropped() { # CAPS CMD...
	local -a PLUGIN_WRAP=(setpriv --bounding-set "$1")
	shift
	"$@"
}

# no_fsopen CMD...: as on a kernel before 5.2 (fsopen fails with ENOSYS,
# test/helpers/deny-syscalls.py), so the pod's sysfs comes from netns.c's
# forked child; in a mount namespace of its own with every mount shared, so
# that a sysfs mount the child let propagate (or an unmount) would show
# there: MOUNTS_KEPT_SH fails (99, the difference on stderr) when its sysfs
# mounts changed. Only those: another test's `ip netns del` takes its
# /run/netns mount out of every namespace.
DENY_SYSCALLS=$REPO/test/helpers/deny-syscalls.py
MOUNTS_KEPT_SH='sysfs_mounts() { grep " - sysfs " /proc/self/mountinfo; }
	mount --make-rshared / && m=$(sysfs_mounts) && "$@"
	rc=$?; [ "$m" = "$(sysfs_mounts)" ] || { printf "sysfs mounts were:\n%s\nare:\n%s\n" "$m" "$(sysfs_mounts)" >&2; exit 99; }
	exit $rc'
no_fsopen() {
	local -a PLUGIN_WRAP=(unshare -m --propagation private
		sh -c "$MOUNTS_KEPT_SH" sh python3 "$DENY_SYSCALLS" fsopen=ENOSYS --)
	"$@"
}

# pod_container ENTER...: a stand-in for a running runc container of the
# pod: ENTER (nsenter into the pod's netns, and its user namespace for a
# hostUsers: false pod) runs a process in a mount namespace of its own
# that mounted the netns's sysfs read-only, as runc mounts /sys, and
# sleeps; its pid in CTR_PID (teardown_node kills it). As with runc, that
# netns's sysfs superblock is read-only for every later mount of it.
pod_container() {
	local i
	"$@" unshare -m --propagation private sh -c \
		'mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys && exec sleep 300' >/dev/null 2>&1 3>&- &
	CTR_PID=$!
	FS_PIDS+=("$CTR_PID")
	for ((i = 0; i < 100; i++)); do [[ $(ctr_sys) =~ ^ro,.*\ ro(,|$) ]] && return 0; sleep 0.05; done
	echo "pod_container: $* did not mount sysfs read-only: $(ctr_sys)" >&2
	return 1
}
# ctr_sys: the options of the container's /sys: the mount's, then its
# superblock's (mountinfo; the last /sys line is the one on top).
ctr_sys() { awk '$5 == "/sys" {v = $6 " " $NF} END {print v}' "/proc/$CTR_PID/mountinfo" 2>/dev/null; }
# ctr_sys_ro: the stand-in container's /sys refuses a write (its mount is
# read-only itself) and the netns's sysfs superblock is read-only, as it
# was found.
ctr_sys_ro() {
	local out
	if out=$(nsenter -t "$CTR_PID" -m -n sh -c 'echo 1 > /sys/class/net/eth0/queues/rx-0/rps_flow_cnt' 2>&1); then
		echo "the container's /sys took a write" >&2
		return 1
	fi
	assert_match "$out" "Read-only file system" "the container's write" &&
		assert_match "$(ctr_sys)" "^ro,.* ro(,|$)" "the container's /sys"
}

# Behind these, the plugin inherits the process state a runtime, a shim or
# a wrapper may hand over; both nest with the wrappers above. in_state SH:
# shell code run first (`exec 1>&-`, `ulimit -n 5`, `umask 777`,
# `trap "" PIPE`, `cd DIR`). deny_syscalls ARG... --: a seccomp filter
# failing some system calls, or every signal blocked
# (test/helpers/deny-syscalls.py).
in_state() { # SH CMD...
	local -a PLUGIN_WRAP=("${PLUGIN_WRAP[@]}" sh -c "set -e; $1"'
		exec "$0" "$@"')
	shift
	"$@"
}
deny_syscalls() { # ARG... -- CMD...
	local -a PLUGIN_WRAP=("${PLUGIN_WRAP[@]}" python3 "$REPO/test/helpers/deny-syscalls.py")
	while [ "$1" != -- ]; do PLUGIN_WRAP+=("$1"); shift; done
	PLUGIN_WRAP+=(--)
	shift
	"$@"
}

# wait_for WHAT CMD...: until CMD succeeds, at most CNI_TIMEOUT seconds.
wait_for() {
	local what=$1 i
	shift
	for ((i = 0; i < CNI_TIMEOUT * 20; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	echo "timed out waiting for $what" >&2
	return 1
}

# plugin_pids FILE: the plugin processes ($FLOWSTEER_BIN) holding FILE open.
plugin_pids() {
	local p bin
	bin=$(readlink -f "$FLOWSTEER_BIN")
	for p in $(find /proc/[0-9]*/fd -maxdepth 1 -lname "$1" 2>/dev/null | cut -d/ -f3 | sort -u); do
		[ "$(readlink "/proc/$p/exe" 2>/dev/null)" != "$bin" ] || echo "$p"
	done
}

# -------------------------------------------------------- kernel values ---

# FILE... of every rx queue of a device, rx-0 first: the queues' values
# space-separated, the files' "/"-separated. The shell runs in the netns
# through `ip netns exec`, which mounts that netns's sysfs.
_rx_sh='cd "/sys/class/net/$0/queues" || exit 1
qs=$(ls -d rx-* | sort -t- -k2 -n)
for f; do for q in $qs; do cat "$q/$f"; done | paste -sd" "; done | paste -sd/'

# pod_rx FILE [DEV] [NETNS]: FILE of every rx queue of the pod's eth0.
pod_rx() { ip netns exec "${3:-$POD_NS}" sh -c "$_rx_sh" "${2:-eth0}" "$1"; }
# node_rx DEV FILE: FILE of every rx queue of a device on the node.
node_rx() { node_run sh -c "$_rx_sh" "$1" "$2"; }
# sock_flow: net.core.rps_sock_flow_entries (the initial netns's).
sock_flow() { cat "$SOCK_SYSCTL"; }

# pod_write FILE VALUE [QUEUE] [DEV] / node_write DEV FILE VALUE [QUEUE]:
# test-fixture values (an original to restore, or a drift).
pod_write() {
	ip netns exec "$POD_NS" sh -c 'echo "$2" > "/sys/class/net/$3/queues/$1/$0"' \
		"$1" "${3:-rx-0}" "$2" "${4:-eth0}"
}
node_write() {
	node_run sh -c 'echo "$2" > "/sys/class/net/$3/queues/$1/$0"' "$2" "${4:-rx-0}" "$3" "$1"
}

# dev_values WHERE...: "WHERE=RPS_CPUS/RPS_FLOW_CNT" of every rx queue
# of each node device WHERE, or of the pod's eth0 for WHERE "pod"; one line.
dev_values() {
	local w out=()
	for w; do
		if [ "$w" = pod ]; then
			out+=("pod=$(ip netns exec "$POD_NS" sh -c "$_rx_sh" eth0 rps_cpus rps_flow_cnt)")
		else
			out+=("$w=$(node_run sh -c "$_rx_sh" "$w" rps_cpus rps_flow_cnt)")
		fi
	done
	echo "${out[*]}"
}

# rep VALUE N: "VALUE VALUE ..." N times (what *_rx prints).
rep() { local i out=(); for ((i = 0; i < $2; i++)); do out+=("$1"); done; echo "${out[*]}"; }

# expect_tuned MASK FLOW WHERE[:QUEUES]...: every rx queue (QUEUES of
# them, default 1) of each node device WHERE, or of the pod's eth0 for
# WHERE "pod", holds MASK and FLOW.
expect_tuned() {
	local mask=$1 flow=$2 w n
	shift 2
	for w; do
		n=1
		[[ $w != *:* ]] || { n=${w##*:}; w=${w%:*}; }
		assert_eq "$(dev_values "$w")" "$w=$(rep "$mask" "$n")/$(rep "$flow" "$n")" "$w rps_cpus/rps_flow_cnt" || return
	done
}

# expect_untouched WHERE...: a zero mask and flow count on every rx queue
# (what a new device has).
ZERO_MASKS='^[0,]+( [0,]+)*$'
expect_untouched() {
	local w v
	for w; do
		v=$(dev_values "$w")
		[[ $v =~ ^[^=]+=[0,]+( [0,]+)*/0( 0)*$ ]] || { echo "$w changed: $v" >&2; return 1; }
	done
}

# save_orig WHERE... / expect_orig WHERE...: dev_values as found, and
# again later (WHERE "pod" is the pod current at each call).
save_orig() { local w; for w; do ORIG[$w]=$(dev_values "$w"); done; }
expect_orig() {
	local w
	for w; do assert_eq "$(dev_values "$w")" "${ORIG[$w]}" "$w, against its original" || return; done
}

# Every rx queue's rps_cpus and rps_flow_cnt of every device in the node
# netns and of every device in each pod made so far, one "where dev queue
# file value" line each: what "nothing changed on the node" is compared with.
_values_sh='cd /sys/class/net && for q in */queues/rx-*; do
	for f in rps_cpus rps_flow_cnt; do [ -r "$q/$f" ] && echo "$0 $q/$f $(cat "$q/$f")"; done
done'
node_values() {
	local ns
	node_run sh -c "$_values_sh" node 2>/dev/null
	for ns in "${FS_NS[@]}"; do
		case $ns in *p[0-9]*) ip netns exec "$ns" sh -c "$_values_sh" "$ns" 2>/dev/null ;; esac
	done
}

# ------------------------------------------------------------- results ---

# expect_prev_passed CONFIG: the ADD result is CONFIG's prevResult, unchanged
# (but for its cniVersion, CONFIG's), plus .flowsteer.
expect_prev_passed() {
	local want got
	want=$(jq -S '.cniVersion as $v | .prevResult | .cniVersion = $v' <<<"$1")
	got=$(jq -S 'del(.flowsteer)' <<<"$output")
	[ "$want" = "$got" ] && return 0
	echo "result is not prevResult + flowsteer:" >&2
	diff <(echo "$want") <(echo "$got") >&2
	return 1
}

# expect_cni_error CODE [MSG_ERE]: the last run_helper gave a CNI error:
# exit 1, nothing on stderr, one JSON object on stdout with a string
# cniVersion, CODE and a msg (matching MSG_ERE).
expect_cni_error() {
	assert_eq "$status" 1 "exit status" &&
		assert_eq "$stderr" "" "stderr" &&
		assert_eq "$(jq -s length <<<"$output")" 1 "JSON values on stdout" &&
		assert_json "$output" '.cniVersion | type' string &&
		assert_json "$output" 'keys | join(",")' cniVersion,code,msg &&
		assert_json "$output" .code "$1" &&
		assert_match "$(jq -r .msg <<<"$output")" "${2:-.}" "msg"
}

# expect_result KEY=WANT...: .flowsteer.KEY of the result (a jq path:
# "source", "warnings | length") is WANT.
expect_result() {
	local kv
	for kv; do assert_json "$output" ".flowsteer.${kv%%=*}" "${kv#*=}" || return; done
}

# dev_json NAME JQ: JQ of the result's device NAME; assert_dev NAME JQ WANT:
# it is WANT.
dev_json() { jq -r --arg n "$1" ".flowsteer.devices[] | select(.name == \$n) | $2" <<<"$output"; }
assert_dev() { assert_eq "$(dev_json "$1" "$2")" "$3" "device $1 $2"; }

# expect_warning TEXT...: one of the result's warnings holds every TEXT.
expect_warning() {
	jq -e '.flowsteer.warnings | any(. as $w | $ARGS.positional | all(. as $t | $w | contains($t)))' \
		--args "$@" <<<"$output" >/dev/null && return 0
	echo "no warning holds all of: $*; warnings: $(jq -c .flowsteer.warnings <<<"$output")" >&2
	return 1
}

# -------------------------------------------------------------- stateDir ---

# Attachment records (*.json), those that hold the node devices (*.n.json:
# the reference count), everything in attachments/, atomic writes' temp
# files (a process that finished never leaves one).
records() { find "$STATE_DIR/attachments" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
refs() { find "$STATE_DIR/attachments" -maxdepth 1 -name '*.n.json' 2>/dev/null | wc -l; }
record_names() { ls -A "$STATE_DIR/attachments" 2>/dev/null | LC_ALL=C sort | paste -sd' '; }
tmp_files() { find "$STATE_DIR" -name '*.tmp.*' 2>/dev/null; }

# record_json [CONTAINER_ID]: the attachment record of CONTAINER_ID
# (default ctr-$POD_NAME) and eth0.
record_json() { cat "$STATE_DIR/attachments/${1:-ctr-$POD_NAME}@eth0".*json; }

# node_orig DEV [FIELD]: what node.json keeps as DEV's rx-0 original:
# "cpus" (a cpulist) or "flowCnt".
node_orig() {
	jq -r --arg d "$1" '.devices[] | select(.name == $d) | .queues[0].orig.'"${2:-cpus}" "$STATE_DIR/node.json"
}

# expect_node_orig DEV: node.json keeps, as DEV's rx-0 original, what
# save_orig found.
expect_node_orig() {
	local v=${ORIG[$1]#*=}
	assert_eq "$(node_orig "$1" cpus)/$(node_orig "$1" flowCnt)" "$(mask_list "${v%/*}")/${v#*/}" \
		"node.json's original of $1"
}

# lock_free: the stateDir's lock is absent or nobody holds it.
lock_free() { [ ! -e "$STATE_DIR/lock" ] || flock -n "$STATE_DIR/lock" true; }

# expect_no_state: no record, no node.json, no temp file, the lock free.
expect_no_state() {
	assert_eq "$(record_names)" "" "attachments left" || return
	[ ! -e "$STATE_DIR/node.json" ] || { echo "node.json left: $(cat "$STATE_DIR/node.json")" >&2; return 1; }
	assert_eq "$(tmp_files)" "" "temp files left" || return
	lock_free || { echo "the lock is held" >&2; return 1; }
}

# The stateDir as names, sizes and content hashes (the lock file's content
# never changes; its presence is listed like any file).
state_listing() {
	[ -d "$STATE_DIR" ] || { echo "(no stateDir)"; return 0; }
	(cd "$STATE_DIR" && find . -mindepth 1 -printf '%y %p\n' | sort &&
		find . -type f ! -name lock -exec sha1sum {} + | sort -k2)
}

# snapshot NAME: node values + stateDir listing into $BATS_TEST_TMPDIR/NAME.
snapshot() { { node_values; echo "--"; state_listing; } >"$BATS_TEST_TMPDIR/$1"; }

# assert_unchanged BEFORE AFTER: the two snapshots are identical.
assert_unchanged() {
	diff -u "$BATS_TEST_TMPDIR/$1" "$BATS_TEST_TMPDIR/$2" >&2 && return 0
	echo "the node or the stateDir changed (above: - $1, + $2)" >&2
	return 1
}

# ------------------------------------------------------------ CPU masks ---

# The one CPU-mask oracle (test/helpers/cpumask.py, independent of the
# plugin's cpumask.c): every online CPU, a cpulist, the online CPUs but a
# cpulist, as sysfs prints them; a hex mask back to a cpulist.
all_cpus_mask() { python3 "$CPUMASK_PY" online; }
kmask() { python3 "$CPUMASK_PY" hex "$1"; }
mask_except() { python3 "$CPUMASK_PY" except "$1"; }
mask_list() { python3 "$CPUMASK_PY" list "$1"; }
online_cpus() { cat /sys/devices/system/cpu/online; }
last_cpu() { mask_list "$(all_cpus_mask)" | tr ',-' '\n\n' | tail -n1; }
# need_cpu1: skips unless CPU 1 is online beside another (a mask of CPU 1
# alone then differs from every online CPU's).
need_cpu1() {
	[ "$(kmask 1)" != "$(kmask '')" ] && [ "$(kmask 1)" != "$(all_cpus_mask)" ] ||
		skip "needs CPU 1 online and one more"
}

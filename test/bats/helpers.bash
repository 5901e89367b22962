# Shared bats helpers: each test gets its own "node" network namespace (the
# plugin's host side, entered with `ip netns exec`), pods as namespaces joined
# to it by cali* veths, and its own stateDir/logFile. Everything is removed in
# teardown, whatever happened.

FLOWSTEER_BIN=${FLOWSTEER_BIN:-$BATS_TEST_DIRNAME/../../build/flowsteer}
FIXTURES=${FIXTURES:-$BATS_TEST_DIRNAME/../fixtures}
CNI_TIMEOUT=${CNI_TIMEOUT:-20}

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

# assert_json JSON FILTER WANT [WHAT]: jq -r FILTER of JSON is WANT.
assert_json() {
	local got
	got=$(jq -r "$2" <<<"$1") || { echo "assert_json: jq $2 failed on: $1" >&2; return 1; }
	[ "$got" = "$3" ] && return 0
	echo "${4:-$2}: got '$got', want '$3'" >&2
	return 1
}

# Unique per test and per run so parallel or leftover runs never collide.
fs_prefix() { echo "fst$$${BATS_TEST_NUMBER}"; }

# Creates the node netns $NODE with an underlay veth (ul0, default route) to
# a peer namespace, like a node's NIC. With --init the plugin runs in the
# initial netns instead (NODE_EXEC empty): only for tests of the sysctl.
setup_node() {
	FS_NS=()
	STATE_DIR=$BATS_TEST_TMPDIR/state
	LOG_FILE=$BATS_TEST_TMPDIR/flowsteer.log
	if [ "${1:-}" = --init ]; then
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

# Runs a command in the node netns (or here with --init).
node_run() { "${NODE_EXEC[@]}" "$@"; }

# cali + 11 hex of SHA-1("namespace.pod"): Calico's host veth name.
cali_name() { printf 'cali%s' "$(printf '%s' "$1.$2" | sha1sum | cut -c1-11)"; }

# make_pod NAME [NAMESPACE] [QUEUES]: pod netns + veth (host side in the
# node). Sets POD_NS (netns name), POD_NETNS (path), HOST_VETH.
make_pod() {
	local pod=$1 ns=${2:-default} queues=${3:-1} host
	host=$(cali_name "$ns" "$pod")
	POD_NS=$(fs_prefix)p${#FS_NS[@]}
	ip netns add "$POD_NS"
	FS_NS+=("$POD_NS")
	if [ -n "$NODE" ]; then
		ip -n "$NODE" link add "$host" numrxqueues "$queues" numtxqueues "$queues" type veth \
			peer name eth0 netns "$POD_NS" numrxqueues "$queues" numtxqueues "$queues"
	else
		ip link add "$host" numrxqueues "$queues" numtxqueues "$queues" type veth \
			peer name eth0 netns "$POD_NS" numrxqueues "$queues" numtxqueues "$queues"
		FS_HOST_LINKS+=("$host")
	fi
	node_run ip link set "$host" up
	ip -n "$POD_NS" link set eth0 up
	POD_NETNS=/run/netns/$POD_NS
	HOST_VETH=$host
	POD_NAME=$pod
	POD_NAMESPACE=$ns
}

teardown_node() {
	local l n c
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

# conf VERSION [JQ_FILTER]: a flowsteer network config on stdout, with
# prevResult = Calico v3.31 shape (1.0.0 / 0.4.0) or v3.30 shape (0.3.x),
# names and netns path substituted for the current pod.
conf() {
	local ver=${1:-1.0.0} filter=${2:-.} prev
	case $ver in
	0.3.*) prev=$FIXTURES/calico-v3.30-prevresult-0.3.1.json ;;
	*) prev=$FIXTURES/calico-v3.31-prevresult-1.0.0.json ;;
	esac
	jq -c --arg v "$ver" --arg host "${HOST_VETH:-cali0}" --arg netns "${POD_NETNS:-}" \
		--arg state "$STATE_DIR" --arg log "$LOG_FILE" '
		{cniVersion: $v, name: "k8s-pod-network", type: "flowsteer",
		 stateDir: $state, logFile: $log, logLevel: "debug",
		 prevResult: (. | .cniVersion = $v
			| .interfaces |= map(if .sandbox then .sandbox = $netns else .name = $host end))}' \
		"$prev" | jq -c "$filter"
}

# cni VERB CONFIG [CONTAINER_ID]: invokes the plugin exactly as a runtime
# does (env + stdin) in the node netns; bats `run` captures status/output.
cni() {
	local verb=$1 config=$2 cid=${3:-${CID:-ctr-$POD_NAME}}
	printf '%s' "$config" | timeout "$CNI_TIMEOUT" "${NODE_EXEC[@]}" env \
		CNI_COMMAND="$verb" CNI_CONTAINERID="$cid" CNI_NETNS="${CNI_NETNS_OVERRIDE-$POD_NETNS}" \
		CNI_IFNAME="${CNI_IFNAME_OVERRIDE:-eth0}" CNI_PATH=/opt/cni/bin \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=${POD_NAMESPACE:-default};K8S_POD_NAME=${POD_NAME:-pod};K8S_POD_INFRA_CONTAINER_ID=$cid${CNI_ARGS_EXTRA:+;$CNI_ARGS_EXTRA}" \
		"$FLOWSTEER_BIN"
}

# Reads a queue file of a pod's interface from inside its netns.
pod_sysfs() { ip netns exec "$1" cat "/sys/class/net/${3:-eth0}/queues/${4:-rx-0}/$2"; }
# Reads a queue file of a node device.
node_sysfs() { node_run cat "/sys/class/net/$1/queues/${3:-rx-0}/$2"; }

# The one CPU-mask oracle (test/helpers/cpumask.py, independent of the
# plugin's cpumask.c): every online CPU, a cpulist, or a hex mask back to a
# cpulist, as sysfs prints them.
CPUMASK_PY=$BATS_TEST_DIRNAME/../helpers/cpumask.py
all_cpus_mask() { python3 "$CPUMASK_PY" online; }
kmask() { python3 "$CPUMASK_PY" hex "$1"; }
mask_list() { python3 "$CPUMASK_PY" list "$1"; }

# node_orig DEV [FIELD]: what node.json keeps as DEV's rx-0 original:
# "cpus" (a cpulist) or "flowCnt".
node_orig() {
	jq -r --arg d "$1" '.devices[] | select(.name == $d) | .queues[0].orig.'"${2:-cpus}" "$STATE_DIR/node.json"
}

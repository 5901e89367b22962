# shellcheck shell=bash
# The e2e testbed: two Kubernetes "nodes" as network namespaces, joined by an
# underlay veth pair (their NICs), each with Calico's VXLAN device, and pods
# created by a real CNI chain (Calico stand-in -> flowsteer) executed by
# libcni. Sourced by run.sh, bench.sh and demo.sh. See e2e/README.md.
#
# Rules kept here:
# - every namespace is named "$TB_PREFIX..." (fse2e-<pid>-) and only those
#   are ever deleted; traffic stays between them;
# - no RPS/RFS sysfs file is written by the testbed, with two documented
#   exceptions: net.core.rps_sock_flow_entries in the initial netns
#   (tb_sockflow_set, restored on exit) and the emulated NIC interrupt
#   (tb_nic_emulate, the underlay veth of a node, gone with the node);
# - everything is removed on exit, Ctrl-C and failure (tb_cleanup).

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/.." && pwd)
FLOWSTEER_BIN=${FLOWSTEER_BIN:-$REPO/build/flowsteer}
FIXTURES=${FIXTURES:-$REPO/test/fixtures}
DRIVER=$E2E_DIR/bin/fse2e-cni
E2E_GOPATH=${E2E_GOPATH:-/usr/share/gocode}
E2E_TIMEOUT=${E2E_TIMEOUT:-60}

# Node addressing (only ever inside the namespaces made here): underlay
# 198.51.100.0/24 (TEST-NET-2), pod blocks 10.244.<n>.0/26 (Calico's block
# size), vxlan.calico on address 0 of the block.
TB_UNDERLAY_NET=198.51.100
TB_POD_NET=10.244

e2e_log() { printf '%s\n' "$*" >&2; }
e2e_die() { printf 'e2e: %s\n' "$*" >&2; exit 1; }

# e2e_cgroup_rm DIR...: each cgroup DIR that exists and its children, the
# deepest first, retried for up to 5 s while its last tasks exit. Fails if
# one is still there.
e2e_cgroup_rm() {
	local d i ret=0
	for d in "$@"; do
		[ -d "$d" ] || continue
		for i in $(seq 50); do
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$d" ] || break
			sleep 0.1
		done
		[ ! -d "$d" ] || ret=1
	done
	return "$ret"
}

e2e_need_root() {
	[ "$(id -u)" = 0 ] || e2e_die "needs root (network namespaces); run with sudo"
}

e2e_need_tools() {
	local t missing=()
	for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
	[ ${#missing[@]} = 0 ] || e2e_die "missing tools: ${missing[*]} (see e2e/README.md, or run make demo which installs them)"
}

# Builds the libcni driver (GOPATH mode: no module proxy needed) when it is
# missing or older than its sources. GC/STATUS are compiled in only when the
# installed libcni has them (>= 1.2; Debian 12 ships 1.1.2).
e2e_build_driver() {
	local src=$E2E_DIR/cnidriver f stale=0 tags=()
	[ -x "$DRIVER" ] || stale=1
	for f in "$src"/*.go; do [ "$f" -nt "$DRIVER" ] && stale=1; done
	[ $stale = 1 ] || return 0
	command -v go >/dev/null || e2e_die "go is missing: apt-get install golang-go golang-github-appc-cni-dev"
	[ -d "$E2E_GOPATH/src/github.com/containernetworking/cni/libcni" ] ||
		e2e_die "libcni source not found under $E2E_GOPATH: apt-get install golang-github-appc-cni-dev"
	if grep -q 'func (c \*CNIConfig) GCNetworkList' "$E2E_GOPATH"/src/github.com/containernetworking/cni/libcni/api.go; then
		tags=(-tags libcni_gc)
	fi
	mkdir -p "$E2E_DIR/bin"
	e2e_log "e2e: building $DRIVER against libcni in $E2E_GOPATH ${tags[*]}"
	(cd "$REPO" && GO111MODULE=off GOPATH=$E2E_GOPATH GOFLAGS='' GOCACHE=$E2E_DIR/bin/.gocache \
		go build "${tags[@]}" -o "$DRIVER" ./e2e/cnidriver) || e2e_die "building the libcni driver failed"
}

# The driver says whether this libcni can run GC/STATUS.
e2e_driver_has_gc() { [ "$("$DRIVER" features | jq -r .gc)" = true ]; }

# FLOWSTEER_BIN unset: the repo's build/flowsteer, built if absent.
e2e_build_flowsteer() {
	if [ ! -x "$FLOWSTEER_BIN" ] && [ "$FLOWSTEER_BIN" = "$REPO/build/flowsteer" ]; then
		e2e_log "e2e: building flowsteer (make)"
		make -C "$REPO" >&2 || e2e_die "make failed"
	fi
	[ -x "$FLOWSTEER_BIN" ] || e2e_die "flowsteer binary $FLOWSTEER_BIN is missing (set FLOWSTEER_BIN or run make)"
	FLOWSTEER_BIN=$(readlink -f "$FLOWSTEER_BIN")
}

# ---------------------------------------------------------------- CPU masks

# Expands a cpulist ("0-3,8") to one CPU number per line.
cpulist_expand() {
	local part a b
	IFS=',' read -ra parts <<<"$1"
	for part in "${parts[@]}"; do
		[ -n "$part" ] || continue
		a=${part%-*}
		b=${part#*-}
		seq "$a" "$b"
	done
}

# Compacts CPU numbers (args) into a cpulist.
cpulist_compact() {
	local c start=-1 prev=-1 out=""
	for c in $(printf '%s\n' "$@" | sort -n -u); do
		if [ "$start" -lt 0 ]; then
			start=$c
		elif [ "$c" -ne $((prev + 1)) ]; then
			out+="${out:+,}$start$([ "$prev" -ne "$start" ] && echo "-$prev")"
			start=$c
		fi
		prev=$c
	done
	[ "$start" -ge 0 ] && out+="${out:+,}$start$([ "$prev" -ne "$start" ] && echo "-$prev")"
	echo "$out"
}

# cpulist A minus cpulist B.
cpulist_minus() {
	local keep=() c
	for c in $(cpulist_expand "$1"); do
		cpulist_expand "$2" | grep -qx "$c" || keep+=("$c")
	done
	cpulist_compact "${keep[@]}"
}

cpulist_count() { cpulist_expand "$1" | grep -c .; }
cpus_online() { cat /sys/devices/system/cpu/online; }

# A cpulist as the kernel prints rps_cpus: 32-bit hex groups, comma
# separated, the first one as wide as nr_cpu_ids needs ("3" for 2 CPUs,
# "ffff" for 16, "ffffffff,ffffffff" for 64).
cpulist_to_mask() {
	local possible nr groups width i c out=""
	possible=$(cat /sys/devices/system/cpu/possible)
	nr=$((${possible##*-} + 1))
	groups=$(((nr + 31) / 32))
	width=$((((nr - 1) % 32) / 4 + 1))
	local -a g
	for ((i = 0; i < groups; i++)); do g[i]=0; done
	for c in $(cpulist_expand "$1"); do
		g[c / 32]=$((g[c / 32] | (1 << (c % 32))))
	done
	for ((i = groups - 1; i >= 0; i--)); do
		if [ $i = $((groups - 1)) ]; then
			out+=$(printf '%0*x' "$width" "${g[i]}")
		else
			out+=,$(printf '%08x' "${g[i]}")
		fi
	done
	echo "$out"
}

# ------------------------------------------------------------------ testbed

tb_init() {
	TB_PREFIX=fse2e-$$-
	TB_TMP=$(mktemp -d /tmp/fse2e.XXXXXX)
	TB_NS=()
	TB_PIDS=()
	TB_SOCKFLOW_ORIG=""
	TB_POD_SEQ=0
	# shellcheck disable=SC2034 # used by the scripts that source this file
	declare -gA NODE_NS=() NODE_IDX=() NODE_DIR=() NODE_CPUS=()
	declare -gA POD_NS=() POD_NODE=() POD_CONF=() POD_CID=() POD_K8SNS=() POD_ANN=() POD_IP=()
	trap tb_cleanup EXIT
	trap 'e2e_log "e2e: interrupted"; exit 130' INT
	trap 'e2e_log "e2e: terminated"; exit 143' TERM
	# The plugin directory the runtime searches (CNI_PATH): the chain's two
	# plugins, by their conflist types.
	mkdir -p "$TB_TMP/cni-bin"
	ln -s "$E2E_DIR/cni/calico" "$TB_TMP/cni-bin/calico"
	ln -s "$FLOWSTEER_BIN" "$TB_TMP/cni-bin/flowsteer"
}

# Removes everything this run made: its processes (by PID), its pods'
# namespaces, its nodes' namespaces (which takes their devices), the temp
# dir (kept with E2E_KEEP=1), and the initial-netns sysctl it changed.
# claims_drop DIR: the node claims (docs/state.md) of stateDirs below DIR,
# left when a run ends with pods still holding its nodes' devices.
claims_drop() {
	local c
	for c in /run/lock/flowsteer-net*.claim; do
		[ -e "$c" ] && [[ $(cat "$c") == "$1"/* ]] && rm -f "$c"
	done
	return 0
}

tb_cleanup() {
	local rc=$? pid ns n
	trap - EXIT INT TERM
	set +e
	for pid in "${TB_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for ((n = ${#TB_NS[@]} - 1; n >= 0; n--)); do
		ns=${TB_NS[$n]}
		case $ns in "$TB_PREFIX"*) ;; *) continue ;; esac
		# Anything still running inside a namespace this run created was
		# started by this run.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
	done
	for pid in "${TB_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	for ((n = ${#TB_NS[@]} - 1; n >= 0; n--)); do
		ns=${TB_NS[$n]}
		case $ns in "$TB_PREFIX"*) ip netns del "$ns" 2>/dev/null ;; esac
	done
	if [ -n "$TB_SOCKFLOW_ORIG" ]; then
		echo "$TB_SOCKFLOW_ORIG" >/proc/sys/net/core/rps_sock_flow_entries
	fi
	claims_drop "${TB_TMP:-/nonexistent}"
	if [ -n "${TB_TMP:-}" ] && [ -d "$TB_TMP" ]; then
		if [ "${E2E_KEEP:-0}" = 1 ]; then
			e2e_log "e2e: kept $TB_TMP (E2E_KEEP=1)"
		else
			rm -rf "$TB_TMP"
		fi
	fi
	exit "$rc"
}

# Exception 1 (documented in e2e/README.md): net.core.rps_sock_flow_entries
# exists only in the initial netns, which no emulated node is; on a real
# node flowsteer runs there and sets it. Raised only, restored on exit.
tb_sockflow_set() {
	local want=$1 cur
	cur=$(cat /proc/sys/net/core/rps_sock_flow_entries)
	[ -n "$TB_SOCKFLOW_ORIG" ] || TB_SOCKFLOW_ORIG=$cur
	[ "$cur" -ge "$want" ] || echo "$want" >/proc/sys/net/core/rps_sock_flow_entries
}

tb_sockflow_reset() {
	[ -n "$TB_SOCKFLOW_ORIG" ] && echo "$TB_SOCKFLOW_ORIG" >/proc/sys/net/core/rps_sock_flow_entries
	return 0
}

# tb_node_add NAME IDX: a node namespace with forwarding on (as a node has).
tb_node_add() {
	local name=$1 idx=$2 ns=${TB_PREFIX}$1
	ip netns add "$ns" || e2e_die "ip netns add $ns failed"
	TB_NS+=("$ns")
	NODE_NS[$name]=$ns
	NODE_IDX[$name]=$idx
	NODE_DIR[$name]=$TB_TMP/$name
	mkdir -p "$TB_TMP/$name"/{state,cache,ipam,conf,raw}
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward' || e2e_die "ip_forward in $ns failed"
}

node_exec() { local n=$1; shift; ip netns exec "${NODE_NS[$n]}" "$@"; }

# tb_underlay N1 N2: the NICs: one veth pair "eth0"<->"eth0", MTU 1500, and
# each node's default route via the other (so "@underlay" finds eth0).
tb_underlay() {
	local a=$1 b=$2
	ip -n "${NODE_NS[$a]}" link add eth0 mtu 1500 type veth peer name eth0 mtu 1500 netns "${NODE_NS[$b]}" ||
		e2e_die "underlay veth $a<->$b failed"
	for n in "$a" "$b"; do
		ip -n "${NODE_NS[$n]}" addr add "$TB_UNDERLAY_NET.${NODE_IDX[$n]}/24" dev eth0
		ip -n "${NODE_NS[$n]}" link set eth0 up
	done
	ip -n "${NODE_NS[$a]}" route add default via "$TB_UNDERLAY_NET.${NODE_IDX[$b]}" dev eth0
	ip -n "${NODE_NS[$b]}" route add default via "$TB_UNDERLAY_NET.${NODE_IDX[$a]}" dev eth0
}

node_vtep_mac() { printf '66:0e:00:00:00:%02x' "${NODE_IDX[$1]}"; }
node_block() { echo "$TB_POD_NET.${NODE_IDX[$1]}.0/26"; }

# tb_vxlan NODE PEER...: vxlan.calico as Calico's Felix programs it: VNI
# 4096, port 4789, no learning, MTU 1450, the block's address 0, static
# FDB + neighbour entries for every peer VTEP, a route per peer block
# "via <peer vtep> onlink", and a blackhole for the node's own block.
tb_vxlan() {
	local n=$1 p ns=${NODE_NS[$1]}
	shift
	ip -n "$ns" link add vxlan.calico address "$(node_vtep_mac "$n")" mtu 1450 type vxlan id 4096 \
		local "$TB_UNDERLAY_NET.${NODE_IDX[$n]}" dev eth0 dstport 4789 nolearning ||
		e2e_die "vxlan.calico on $n failed"
	ip -n "$ns" addr add "$TB_POD_NET.${NODE_IDX[$n]}.0/32" dev vxlan.calico
	ip -n "$ns" link set vxlan.calico up
	ip -n "$ns" route add blackhole "$(node_block "$n")" proto 80
	for p in "$@"; do
		ip -n "$ns" neigh add "$TB_POD_NET.${NODE_IDX[$p]}.0" lladdr "$(node_vtep_mac "$p")" dev vxlan.calico nud permanent
		ip netns exec "$ns" bridge fdb add "$(node_vtep_mac "$p")" dev vxlan.calico dst "$TB_UNDERLAY_NET.${NODE_IDX[$p]}"
		ip -n "$ns" route add "$(node_block "$p")" via "$TB_POD_NET.${NODE_IDX[$p]}.0" dev vxlan.calico onlink proto 80
	done
}

# tb_up NODE1 NODE2: the two-node cluster.
tb_up() {
	tb_node_add "$1" 1
	tb_node_add "$2" 2
	tb_underlay "$1" "$2"
	tb_vxlan "$1" "$2"
	tb_vxlan "$2" "$1"
}

# Exception 2 (documented in e2e/README.md): the NIC's interrupt. A veth
# has no IRQ: its receive work runs on whichever CPU sent the packet. The
# testbed pins the node's underlay rx to CPUS with the underlay veth's own
# rps_cpus, the way a NIC's single rx queue IRQ is pinned to one core.
# This is hardware emulation, not tuning: e2e configurations keep
# flowsteer's hostDevices off the underlay so the two never meet.
tb_nic_emulate() {
	local n=$1 cpus=$2 f
	for f in $(node_exec "$n" sh -c 'ls -d /sys/class/net/eth0/queues/rx-*'); do
		cpulist_to_mask "$cpus" | node_exec "$n" tee "$f/rps_cpus" >/dev/null ||
			e2e_die "NIC emulation on $n ($cpus) failed"
	done
}

# The rest of the wire emulation (part of exception 2; netlink and tc, no
# sysfs): what a veth pair does that a wire between two machines does not.
# - A wire carries frames of at most the MTU; a veth hands GSO super-packets
#   (up to 64 KB) across, which would make the emulated NIC CPU's per-packet
#   work some 40 times smaller than a real NIC's: gso_max_segs 1 on the
#   underlay makes the sending node segment before the wire.
# - No skb metadata crosses a wire, but a veth keeps the skb hash, which TCP
#   sets to its socket's random sk_txhash. With one kernel under both nodes
#   and one global RFS table, the server's receive path then looks up the
#   client socket's hash and RFS steers packets across the emulated nodes
#   (measured: half the client node's softirq moved to the server's CPU).
#   A tc egress program (e2e/wire/clear_hash.bpf.c) forgets the hash, so the
#   receiver computes it from the headers, as a NIC's RSS does.
E2E_WIRE_BPF=$E2E_DIR/bin/wire_clear_hash.o

e2e_build_wire() {
	local src=$E2E_DIR/wire/clear_hash.bpf.c
	[ -f "$E2E_WIRE_BPF" ] && [ ! "$src" -nt "$E2E_WIRE_BPF" ] && return 0
	command -v clang >/dev/null || return 1
	mkdir -p "$E2E_DIR/bin"
	# <linux/bpf.h> needs <asm/types.h>, which Debian keeps per architecture.
	clang -O2 -target bpf -I"/usr/include/$(gcc -dumpmachine 2>/dev/null || echo "$(uname -m)-linux-gnu")" \
		-c "$src" -o "$E2E_WIRE_BPF" || return 1
}

tb_wire_emulate() {
	local n
	for n in "$@"; do
		ip -n "${NODE_NS[$n]}" link set dev eth0 gso_max_segs 1 || e2e_die "gso_max_segs on $n's underlay failed"
		node_exec "$n" tc qdisc add dev eth0 clsact &&
			node_exec "$n" tc filter add dev eth0 egress bpf direct-action obj "$E2E_WIRE_BPF" sec tc ||
			e2e_die "loading $E2E_WIRE_BPF on $n's underlay failed (needs cls_bpf and clsact)"
	done
}

# tb_conflist NODE FILE CNIVERSION SHAPE FLOWSTEER_JSON [QUEUES]: a Calico
# conflist with flowsteer chained after the Calico stand-in. FLOWSTEER_JSON
# is merged over the entry's testbed keys (per-node stateDir/logFile).
tb_conflist() {
	local n=$1 file=$2 ver=$3 shape=$4 fs=${5:-"{}"} queues=${6:-1} dir=${NODE_DIR[$1]}
	jq -n --arg ver "$ver" --arg shape "$shape" --arg node "$n" --argjson q "$queues" \
		--arg block "$(node_block "$n")" --arg ipam "$dir/ipam" \
		--arg state "$dir/state" --arg log "$dir/flowsteer.log" --argjson fs "$fs" '
	{name: "k8s-pod-network", cniVersion: $ver,
	 plugins: [
	  {type: "calico", log_level: "info", datastore_type: "kubernetes", nodename: $node,
	   mtu: 0, ipam: {type: "calico-ipam"}, policy: {type: "k8s"},
	   resultShape: $shape, num_queues: $q,
	   e2eIpam: {block: $block, dir: $ipam}},
	  ({type: "flowsteer", stateDir: $state, logFile: $log, logLevel: "debug",
	    capabilities: {"io.kubernetes.cri.pod-annotations": true}} + $fs)
	 ]}' >"$file" || e2e_die "writing conflist $file failed"
}

# tb_pod_add NODE POD CONFLIST [ANNOTATIONS_JSON] [K8S_NAMESPACE]: a pod
# sandbox (netns, lo up, as the runtime does) whose network is set up by
# the chain, run by libcni in the node's namespace. Result on stdout of
# tb_cni; raw plugin I/O under $NODE_DIR/raw/POD.
tb_pod_add() {
	local n=$1 pod=$2 conf=$3 ann=${4:-"{}"} k8sns=${5:-default} ns
	TB_POD_SEQ=$((TB_POD_SEQ + 1))
	ns=${TB_PREFIX}p$TB_POD_SEQ
	ip netns add "$ns" || e2e_die "ip netns add $ns failed"
	TB_NS+=("$ns")
	ip -n "$ns" link set lo up
	POD_NS[$pod]=$ns
	POD_NODE[$pod]=$n
	POD_CONF[$pod]=$conf
	POD_K8SNS[$pod]=$k8sns
	POD_ANN[$pod]=$ann
	POD_CID[$pod]=$(printf '%s' "$TB_PREFIX$pod" | sha256sum | cut -c1-64)
	tb_cni add "$pod" >"${NODE_DIR[$n]}/raw/$pod.result.json" || return 1
	# shellcheck disable=SC2034 # used by the scripts that source this file
	POD_IP[$pod]=$(jq -r '.ips[0].address | sub("/.*"; "")' "${NODE_DIR[$n]}/raw/$pod.result.json")
}

# tb_cni VERB POD [NETNS_PATH]: libcni ADD/CHECK/DEL for the pod, as the
# runtime calls it (DEL with an empty netns once the sandbox is gone).
tb_cni() {
	local verb=$1 pod=$2 n=${POD_NODE[$2]} netns
	netns=${3-/run/netns/${POD_NS[$pod]}}
	timeout "$E2E_TIMEOUT" ip netns exec "${NODE_NS[$n]}" "$DRIVER" \
		-conflist "${POD_CONF[$pod]}" -netns "$netns" -id "${POD_CID[$pod]}" -ifname eth0 \
		-pod-namespace "${POD_K8SNS[$pod]}" -pod-name "$pod" -annotations "${POD_ANN[$pod]}" \
		-cache-dir "${NODE_DIR[$n]}/cache" -path "$TB_TMP/cni-bin" \
		-raw-dir "${NODE_DIR[$n]}/raw/$pod" "$verb"
}

# tb_pod_del POD: DEL through the chain, then the sandbox goes.
tb_pod_del() {
	local pod=$1 rc=0 i
	tb_cni del "$pod" || rc=$?
	ip netns del "${POD_NS[$pod]}" 2>/dev/null
	for i in "${!TB_NS[@]}"; do [ "${TB_NS[$i]}" = "${POD_NS[$pod]}" ] && unset 'TB_NS[i]'; done
	TB_NS=("${TB_NS[@]}")
	return $rc
}

# The raw output flowsteer printed for the pod's last VERB (before libcni
# dropped its "flowsteer" report).
pod_raw() { cat "${NODE_DIR[${POD_NODE[$2]}]}/raw/$2/$1-flowsteer.out" 2>/dev/null; }

cali_name() { printf 'cali%s' "$(printf '%s' "$1.$2" | sha1sum | cut -c1-11)"; }
pod_cali() { cali_name "${POD_K8SNS[$1]}" "$1"; }

# pod_sysfs POD FILE [QUEUE]: a queue file of the pod's eth0, read inside
# the pod netns (ip netns exec mounts that netns's sysfs).
pod_sysfs() { ip netns exec "${POD_NS[$1]}" cat "/sys/class/net/eth0/queues/${3:-rx-0}/$2" 2>/dev/null || echo "(missing)"; }
# node_sysfs NODE DEV FILE [QUEUE]
node_sysfs() { node_exec "$1" cat "/sys/class/net/$2/queues/${4:-rx-0}/$3" 2>/dev/null || echo "(missing)"; }
node_stat() { node_exec "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || echo 0; }

# tb_bg CMD...: a background process this run owns; its PID is in
# TB_LAST_PID and stays in TB_PIDS (killed in cleanup) until tb_reap.
tb_bg() {
	"$@" &
	TB_LAST_PID=$!
	TB_PIDS+=("$TB_LAST_PID")
}

# tb_reap PID...: stops (if still running) and waits for our background
# processes, and forgets them, so that cleanup never signals a PID the
# system may since have given to someone else.
tb_reap() {
	local p i
	for p in "$@"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		for i in "${!TB_PIDS[@]}"; do [ "${TB_PIDS[$i]}" = "$p" ] && unset 'TB_PIDS[i]'; done
	done
	TB_PIDS=("${TB_PIDS[@]}")
}

# tb_wait PID: waits for our background process to end by itself, then
# forgets it; returns its exit status.
tb_wait() {
	local rc=0
	wait "$1" || rc=$?
	tb_reap "$1"
	return $rc
}

# Waits until a TCP listener on PORT exists in pod POD.
pod_wait_listen() {
	local pod=$1 port=$2 i
	for ((i = 0; i < 100; i++)); do
		ip netns exec "${POD_NS[$pod]}" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# ------------------------------------------------------------- test output

# TAP lines and the counts behind run.sh's "N passed, N failed" line; shared
# by run.sh and steering.sh (alone or sourced by run.sh).
PASS=0 FAIL=0 SKIP=0 NUM=0
ok() { NUM=$((NUM + 1)); PASS=$((PASS + 1)); echo "ok $NUM - $1"; }
not_ok() { NUM=$((NUM + 1)); FAIL=$((FAIL + 1)); echo "not ok $NUM - $1${2:+: $2}"; }
skip() { SKIP=$((SKIP + 1)); echo "skip - $1${2:+: $2}"; }
# t_eq NAME WANT GOT
t_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "want \"$2\", got \"$3\""; fi; }
# t_run NAME CMD...: passes when CMD exits 0; its output is shown on failure.
t_run() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "exit $?: $(tr '\n' ' ' <<<"$out" | cut -c1-400)"; fi
}

# ------------------------------------------------------- kernel counters

# cpu_net_counters: one line per CPU, "CPU PROCESSED RECEIVED_RPS NET_RX":
# /proc/net/softnet_stat column 1 (packets taken off a backlog or NAPI
# poll, once per device each packet is received on) and column 10 (RPS
# IPI wake-ups, one per batch that another CPU queued), both hex, and
# /proc/softirqs NET_RX. softnet_stat has one row per online CPU; kernels
# since 5.10 print the row's CPU in column 13, older ones only the order.
cpu_net_counters() {
	local -a f online hdr vals p=() r=() s=()
	local i=0 cpu
	mapfile -t online < <(cpulist_expand "$(cpus_online)")
	while read -ra f; do
		cpu=${online[i]:-$i}
		[ ${#f[@]} -ge 13 ] && cpu=$((16#${f[12]}))
		p[cpu]=$((16#${f[0]})) r[cpu]=$((16#${f[9]}))
		i=$((i + 1))
	done </proc/net/softnet_stat
	# /proc/softirqs: a "CPU<n>" header per possible CPU, then one row each.
	read -ra hdr </proc/softirqs
	read -ra vals < <(grep '^ *NET_RX:' /proc/softirqs)
	for ((i = 0; i < ${#hdr[@]}; i++)); do s[${hdr[i]#CPU}]=${vals[i + 1]:-0}; done
	for cpu in "${!p[@]}"; do echo "$cpu ${p[cpu]} ${r[cpu]} ${s[cpu]:-0}"; done
}

# e2e_traffic_lock / e2e_traffic_unlock: e2e runs on one machine (other
# checkouts, other developers) take turns for the time they send traffic,
# so that one's flows do not land in another's per-CPU counters. The lock
# is an flock on the sysctl file they all share: nothing is created or
# written. Waits at most 60 s, then goes on without it.
e2e_traffic_lock() {
	exec {E2E_LOCK_FD}</proc/sys/net/core/rps_sock_flow_entries || { E2E_LOCK_FD=""; return 0; }
	flock -w 60 "$E2E_LOCK_FD" || e2e_log "e2e: another e2e run kept the traffic lock for 60 s; going on"
	return 0
}
# Unlocked explicitly: a process started meanwhile shares the open file.
e2e_traffic_unlock() {
	[ -z "${E2E_LOCK_FD:-}" ] || { flock -u "$E2E_LOCK_FD"; exec {E2E_LOCK_FD}<&-; }
	E2E_LOCK_FD=""
}

# netns_rx_packets NETNS...: packets received by every device of these
# namespaces (/proc/net/dev is per netns): what the testbed itself handed
# to the kernel's receive path, whatever else runs on the machine.
netns_rx_packets() {
	local ns sum=0 n
	for ns in "$@"; do
		n=$(ip netns exec "$ns" cat /proc/net/dev | awk 'NR > 2 { sub(/:/, " "); s += $3 } END { print s + 0 }')
		sum=$((sum + n))
	done
	echo "$sum"
}

# Helpers for core.bats, on top of helpers.bash: node devices (Calico's
# vxlan.calico, a multi-queue underlay), per-queue sysfs reads and writes,
# kernel masks for a cpulist, result assertions, and the initial netns's
# net.core.rps_sock_flow_entries saved and put back whatever happens.

SOCK_SYSCTL=/proc/sys/net/core/rps_sock_flow_entries

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

# rx queue files, rx-0 first, space-separated. The shell runs in the netns
# through `ip netns exec`, which mounts that netns's sysfs.
_queues_sh='cd "/sys/class/net/$0/queues" || exit 1
for q in $(ls -d rx-* | sort -t- -k2 -n); do cat "$q/$1"; done | paste -sd" "'

# pod_queues FILE [DEV] [NETNS]: every rx queue of the pod's interface.
pod_queues() { ip netns exec "${3:-$POD_NS}" sh -c "$_queues_sh" "${2:-eth0}" "$1"; }
# node_queues DEV FILE: every rx queue of a device on the node.
node_queues() { node_run sh -c "$_queues_sh" "$1" "$2"; }

# pod_write FILE VALUE [QUEUE] [DEV] / node_write DEV FILE VALUE [QUEUE]:
# test-fixture values (an original to restore, or a drift).
pod_write() {
	ip netns exec "$POD_NS" sh -c 'echo "$2" > "/sys/class/net/$3/queues/$1/$0"' \
		"$1" "${3:-rx-0}" "$2" "${4:-eth0}"
}
node_write() {
	node_run sh -c 'echo "$2" > "/sys/class/net/$3/queues/$1/$0"' "$2" "${4:-rx-0}" "$3" "$1"
}

# rep VALUE N: "VALUE VALUE ..." N times (what *_queues prints).
rep() { local i out=(); for ((i = 0; i < $2; i++)); do out+=("$1"); done; echo "${out[*]}"; }

is_zero_mask() { [[ $1 =~ ^[0,]+( [0,]+)*$ ]]; }

# expect_eq ACTUAL WANT WHAT: bats shows the message when the test fails.
expect_eq() {
	[ "$1" = "$2" ] && return 0
	echo "$3: got '$1', want '$2'" >&2
	return 1
}

# The result's flowsteer object, and one device's field.
fsj() { jq -r ".flowsteer$1" <<<"$output"; }
devj() { jq -r --arg n "$1" ".flowsteer.devices[] | select(.name == \$n) | $2" <<<"$output"; }

# The ADD result must be CONFIG's prevResult unchanged, plus .flowsteer.
expect_prev_passed() {
	local want got
	want=$(jq -S '.prevResult' <<<"$1")
	got=$(jq -S 'del(.flowsteer)' <<<"$output")
	if [ "$want" != "$got" ]; then
		echo "result is not prevResult + flowsteer:" >&2
		diff <(echo "$want") <(echo "$got") >&2
		return 1
	fi
}

# A CNI error on stdout: exit non-zero, one JSON object with this code.
expect_cni_error() {
	[ "$status" -ne 0 ] || { echo "exit 0, want an error ($output)" >&2; return 1; }
	expect_eq "$(jq -r .code <<<"$output")" "$1" "error code ($output)"
	[ "$(jq -s length <<<"$output")" = 1 ]
	[ -n "$(jq -r .msg <<<"$output")" ]
}

# Every queue of the pod's eth0 / a host device holds MASK and FLOW.
expect_pod_tuned() { # MASK FLOW QUEUES
	expect_eq "$(pod_queues rps_cpus)" "$(rep "$1" "$3")" "pod eth0 rps_cpus"
	expect_eq "$(pod_queues rps_flow_cnt)" "$(rep "$2" "$3")" "pod eth0 rps_flow_cnt"
}
expect_node_tuned() { # DEV MASK FLOW QUEUES
	expect_eq "$(node_queues "$1" rps_cpus)" "$(rep "$2" "$4")" "$1 rps_cpus"
	expect_eq "$(node_queues "$1" rps_flow_cnt)" "$(rep "$3" "$4")" "$1 rps_flow_cnt"
}
expect_pod_untouched() {
	is_zero_mask "$(pod_queues rps_cpus)" || { echo "pod eth0 rps_cpus changed: $(pod_queues rps_cpus)" >&2; return 1; }
	[[ $(pod_queues rps_flow_cnt) =~ ^0( 0)*$ ]] || { echo "pod eth0 rps_flow_cnt changed" >&2; return 1; }
}
expect_node_untouched() { # DEV
	is_zero_mask "$(node_queues "$1" rps_cpus)" || { echo "$1 rps_cpus changed: $(node_queues "$1" rps_cpus)" >&2; return 1; }
	[[ $(node_queues "$1" rps_flow_cnt) =~ ^0( 0)*$ ]] || { echo "$1 rps_flow_cnt changed" >&2; return 1; }
}

# node.json and attachment records left in the state dir.
state_records() { ls "$STATE_DIR/attachments" 2>/dev/null | wc -l; }

# The sysctl exists only in the initial netns: save it before a test
# changes it; core_teardown writes it back whatever happened.
sock_save() { SOCK_ORIG=$(cat "$SOCK_SYSCTL"); }

# core_setup: tests named "sysctl: ..." run the plugin in the initial netns
# (the only one with net.core.rps_sock_flow_entries, saved first); every
# other test gets a node netns.
core_setup() {
	if [ "${BATS_TEST_DESCRIPTION#sysctl:}" != "$BATS_TEST_DESCRIPTION" ]; then
		sock_save
		setup_node --init
	else
		setup_node
	fi
}

core_teardown() {
	if [ -n "${SOCK_ORIG:-}" ]; then
		echo "$SOCK_ORIG" >"$SOCK_SYSCTL" || true
	fi
	teardown_node
}

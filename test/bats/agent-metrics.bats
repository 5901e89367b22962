#!/usr/bin/env bats
# flowsteer-agent's /metrics, /healthz, /readyz (libmicrohttpd, on the
# 127.0.0.1 of a netns the test makes): the exposition format (HELP and
# TYPE for every family, counters end in _total), one softnet row per
# online CPU, counters that rise under traffic in test namespaces (and
# received_rps once RPS steers it), and exact values from a fixture proc
# root (CPU from column 13, hex).

bats_require_minimum_version 1.5.0

load helpers
load agent_helpers

setup() {
	agent_netns
	T_NS=()
}

teardown() {
	local n
	for n in "${T_NS[@]}"; do ip netns del "$n" 2>/dev/null; done
	agent_teardown
}

# metrics_agent [args...]: the agent without API server or install duty.
metrics_agent() {
	KUBE_PORT=0 SA_DIR=/nonexistent agent_start --no-kube "$@"
	[ -n "${METRICS#http://127.0.0.1:}" ]
}

# Sum of a per-CPU family.
family_sum() { get /metrics | awk -v f="$1" 'index($1, f "{") == 1 {s += $2} END {printf "%.0f\n", s}'; }

@test "metrics: every family has HELP and TYPE, counters end in _total; /healthz and /readyz" {
	metrics_agent
	run metrics_format_ok
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(code /healthz)" = 200 ]
	[ "$(code /readyz)" = 200 ]
	[ "$(code /nope)" = 404 ]
	[ "$("${A_EXEC[@]}" curl -s -o /dev/null -w '%{http_code}' -X POST "$METRICS/metrics")" = 405 ]
}

@test "metrics: one softnet row per online CPU, NET_RX per CPU; both rise under traffic in test namespaces" {
	metrics_agent
	ncpu=$(grep -c . /proc/net/softnet_stat)
	[ "$(get /metrics | grep -c '^flowsteer_softnet_processed_total{cpu="[0-9]*"}')" -eq "$ncpu" ]
	[ "$(get /metrics | grep -c '^flowsteer_softirqs_net_rx_total{cpu="[0-9]*"}')" -ge "$ncpu" ]
	a=fsm$$a b=fsm$$b
	ip netns add "$a" && T_NS+=("$a")
	ip netns add "$b" && T_NS+=("$b")
	ip -n "$a" link add va type veth peer name vb netns "$b"
	ip -n "$a" addr add 192.0.2.1/30 dev va
	ip -n "$b" addr add 192.0.2.2/30 dev vb
	ip -n "$a" link set va up
	ip -n "$b" link set vb up
	# RPS on the receiving side steers to CPU 1 while the sender runs on
	# CPU 0: every steered packet is an IPI that raises received_rps{cpu="1"}.
	[ "$ncpu" -lt 2 ] || ip netns exec "$b" sh -c 'echo 2 > /sys/class/net/vb/queues/rx-0/rps_cpus'
	p0=$(family_sum flowsteer_softnet_processed_total)
	r0=$(family_sum flowsteer_softirqs_net_rx_total)
	s0=$(metric 'flowsteer_softnet_received_rps_total{cpu="1"}')
	timeout 30 taskset -c 0 ip netns exec "$a" ping -f -q -c 20000 192.0.2.2 >/dev/null
	p1=$(family_sum flowsteer_softnet_processed_total)
	r1=$(family_sum flowsteer_softirqs_net_rx_total)
	s1=$(metric 'flowsteer_softnet_received_rps_total{cpu="1"}')
	echo "processed +$((p1 - p0)), NET_RX +$((r1 - r0)), received_rps{cpu=1} +$((${s1:-0} - ${s0:-0}))"
	[ $((p1 - p0)) -ge 20000 ]
	[ $((r1 - r0)) -gt 0 ]
	[ "$ncpu" -lt 2 ] || [ $((s1 - s0)) -gt 0 ]
}

@test "metrics: --proc-dir fixture: CPU ids from column 13 (offline CPU skipped), hex values, NET_RX row" {
	P=$BATS_TEST_TMPDIR/proc
	mkdir -p "$P/net"
	cp "$BATS_TEST_DIRNAME/../agent/fixtures/softnet_stat.offline-cpu1" "$P/net/softnet_stat"
	cp "$BATS_TEST_DIRNAME/../agent/fixtures/softirqs" "$P/softirqs"
	metrics_agent --proc-dir "$P"
	[ "$(metric 'flowsteer_softnet_processed_total{cpu="0"}')" = 312958 ]
	[ "$(metric 'flowsteer_softnet_processed_total{cpu="2"}')" = 4294967295 ]
	[ "$(metric 'flowsteer_softnet_processed_total{cpu="3"}')" = 1 ]
	[ -z "$(metric 'flowsteer_softnet_processed_total{cpu="1"}')" ]
	[ "$(metric 'flowsteer_softnet_dropped_total{cpu="0"}')" = 2 ]
	[ "$(metric 'flowsteer_softnet_times_squeezed_total{cpu="0"}')" = 10 ]
	[ "$(metric 'flowsteer_softnet_received_rps_total{cpu="2"}')" = 16 ]
	[ "$(metric 'flowsteer_softirqs_net_rx_total{cpu="3"}')" = 4294967300 ]
	# A file that goes bad: its families vanish, the rest is served.
	echo garbage >"$P/net/softnet_stat"
	[ -z "$(metric 'flowsteer_softnet_processed_total{cpu="0"}')" ]
	[ "$(metric 'flowsteer_softirqs_net_rx_total{cpu="0"}')" = 138625 ]
	[ "$(code /healthz)" = 200 ]
}

@test "metrics: bad --metrics-addr, bad options and a missing node name are clear errors" {
	run --separate-stderr timeout "$AT" "$AGENT_BIN" --no-kube --no-install --metrics-addr nonsense
	[ "$status" -eq 1 ]
	[[ $stderr == *'--metrics-addr "nonsense" is not HOST:PORT'* ]]
	run --separate-stderr timeout "$AT" "$AGENT_BIN" --no-kube --no-install --metrics-addr 10.0.0.300:1
	[ "$status" -eq 1 ]
	[[ $stderr == *'"10.0.0.300" is not an IP address'* ]]
	run --separate-stderr timeout "$AT" "$AGENT_BIN" --bogus
	[ "$status" -eq 2 ]
	run --separate-stderr env -u NODE_NAME timeout "$AT" "$AGENT_BIN" --no-install
	[ "$status" -eq 2 ]
	[[ $stderr == *"--node-name or \$NODE_NAME is required"* ]]
}

# allowed_cpus: the CPUs flowsteer_cpu_allowed shows as 1, one line.
allowed_cpus() { get /metrics | sed -n 's/^flowsteer_cpu_allowed{cpu="\([0-9]*\)"} 1$/\1/p' | paste -sd, -; }

@test "metrics: flowsteer_cpu_allowed is --entry's cpus less excludeCpus and the kubelet's exclusive CPUs, read at each scrape" {
	[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
	last=$(($(nproc) - 1))
	CPU_STATE=$BATS_TEST_TMPDIR/kubelet/cpu_manager_state
	mkdir -p "${CPU_STATE%/*}"
	metrics_agent --entry '{"type":"flowsteer","excludeCpus":"0"}'
	# One sample per online CPU, 0 included.
	[ "$(get /metrics | grep -c '^flowsteer_cpu_allowed{cpu="[0-9]*"} [01]$')" -eq "$(nproc)" ]
	[ "$(metric 'flowsteer_cpu_allowed{cpu="0"}')" = 0 ]
	[ "$(allowed_cpus)" = "$(seq -s, 1 "$last")" ]
	# The kubelet gives CPU 1 to a container: out at the next scrape.
	shared=0$([ "$last" -lt 2 ] || echo ",2-$last")
	printf '{"policyName":"static","defaultCpuSet":"%s","entries":{"u":{"c":"1"}},"checksum":1}' "$shared" \
		>"$CPU_STATE"
	[ "$(metric 'flowsteer_cpu_allowed{cpu="1"}')" = 0 ]
	[ "$(allowed_cpus)" = "$(seq -s, 2 "$last")" ]
	agent_stop
	# --cpu-manager-state off: no CPU is anyone's; cpus narrows.
	metrics_agent --entry '{"type":"flowsteer","cpus":"1"}' --cpu-manager-state off
	[ "$(allowed_cpus)" = 1 ]
	[ "$(metric 'flowsteer_cpu_allowed{cpu="0"}')" = 0 ]
}

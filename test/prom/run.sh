#!/usr/bin/env bash
# make test-prom: flowsteer's alerting rules and Grafana dashboard, checked
# statically (promtool, the generated PrometheusRule, the dashboard's JSON)
# and then evaluated by a real Prometheus (Debian's) that scrapes a running
# flowsteer-agent and node_exporter while UDP flows between pods of the e2e
# testbed (e2e/lib.sh: two emulated Calico VXLAN nodes, pods made by libcni
# through the chain calico -> flowsteer).
#
# Everything runs inside the namespaces the testbed makes: the test API
# server, the agent, node_exporter and Prometheus listen on 127.0.0.1 of
# node1's netns; their files are under the testbed's temp dir. All of it
# is removed on exit, failure and Ctrl-C (tb_cleanup).
#
# Two phases, the same traffic: two UDP flows, both clients pinned to CPU 0
# on node2, their servers on node1 pinned to CPU 0 and CPU 1.
#   steering off: every pod flowsteer.io mode off: all the receive work of
#                 both flows runs on CPU 0, where the sender runs;
#   steering on:  flowsteer's defaults (RFS, scope both, all CPUs): each
#                 flow's receive work follows its server, half on CPU 1.
# The imbalance alert's expression must be true at the end of the first
# and false at the end of the second. The shipped rules use production
# windows ([5m], [10m]); a run of seconds cannot fill them, so the test
# evaluates each rule with every range replaced by PROM_WINDOW (and, in the
# copy Prometheus evaluates itself, every `for` by PROM_FOR): that
# substitution, and only it, is what differs from the shipped file.
#
# Ends with "N passed, N failed"; exit 1 on any failure.

set -uo pipefail
TEST_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/lib.sh
. "$TEST_DIR/../../e2e/lib.sh"
# shellcheck source=test/agent/lib.sh
. "$REPO/test/agent/lib.sh"

AGENT=${FLOWSTEER_AGENT_BIN:-$(dirname "$FLOWSTEER_BIN")/flowsteer-agent}
RULES=$REPO/conf/prometheus/flowsteer.rules.yml
PROMRULE=$REPO/conf/prometheus/flowsteer-prometheusrule.yaml
DASHBOARD=$REPO/conf/grafana/flowsteer.json
PROM_WINDOW=${PROM_WINDOW:-15s}
PROM_FOR=${PROM_FOR:-3s}
PROM_PHASE_S=${PROM_PHASE_S:-24}
PROM_RATE=${PROM_RATE:-40M}
# PROM_ONLY=static (no root: make check-prom) or live: one part
PROM_ADDR=127.0.0.1:9090
NODEX_ADDR=127.0.0.1:9100

# ------------------------------------------------------------ static checks

static_checks() {
	local f
	t_run "PrometheusRule generated from $(basename "$RULES") is up to date" \
		python3 "$REPO/build-aux/gen-prometheusrule.py" --check
	t_run "promtool check rules $(basename "$RULES")" promtool check rules "$RULES"
	python3 -c 'import sys, yaml; yaml.safe_dump(yaml.safe_load(open(sys.argv[1]))["spec"], open(sys.argv[2], "w"))' \
		"$PROMRULE" "$TB_TMP/promrule-spec.yml"
	t_run "promtool check rules: the PrometheusRule's spec" promtool check rules "$TB_TMP/promrule-spec.yml"
	for f in "$REPO"/conf/prometheus/tests/*.yml; do
		t_run "promtool test rules $(basename "$f")" promtool test rules "$f"
	done
	t_run "every alert has for, severity and a runbook_url to a section of docs/alerts.md; every alert is unit-tested" \
		python3 "$TEST_DIR/lint.py" rules "$RULES" "$REPO/docs/alerts.md" "$REPO"/conf/prometheus/tests/*.yml
	t_run "dashboard: Grafana JSON (schemaVersion, datasource variable, every panel's targets with expr)" \
		python3 "$TEST_DIR/lint.py" dashboard "$DASHBOARD"
}

# -------------------------------------------------------------- the stack

# prom_api PATH [curl args...]: GET on the test's Prometheus's HTTP API.
prom_api() {
	local path=$1
	shift
	node_exec node1 curl -sS -m 10 -G "http://$PROM_ADDR$path" "$@"
}
# prom_query EXPR [TIME]: the API's JSON answer to an instant query.
prom_query() {
	prom_api /api/v1/query --data-urlencode "query=$1" ${2:+--data-urlencode "time=$2"}
}
# prom_count EXPR [TIME]: series in the answer, or "error: ..." .
prom_count() {
	prom_query "$@" | jq -r 'if .status == "success" then (.data.result | length) else "error: \(.error)" end' 2>/dev/null ||
		echo "error: no answer"
}

# test_rules: the shipped rules with every range replaced by PROM_WINDOW
# and every for by PROM_FOR, in a group of its own whose alerts carry
# window="test" (Prometheus evaluates both files side by side).
test_rules() {
	python3 "$TEST_DIR/lint.py" test-rules "$RULES" "$PROM_WINDOW" "$PROM_FOR" >"$TB_TMP/prom/test.rules.yml"
}

stack_up() {
	local ns=${NODE_NS[node1]} dir=${NODE_DIR[node1]} i
	mkdir -p "$dir/run" "$dir/kubelet" "$TB_TMP/prom/data"
	kube_files "$dir" fs-prom-token
	start_apiserver "$ns" "$dir" fs-prom-token >/dev/null || e2e_die "the test API server did not start"
	TB_PIDS+=("$SRV")
	start_agent "$ns" "$dir" "$dir/run/annotations.json" || e2e_die "the agent did not sync (log: above)"
	TB_PIDS+=("$AG")
	[ -n "$MPORT" ] || e2e_die "no metrics port in $dir/agent.log"
	tb_bg ip netns exec "$ns" prometheus-node-exporter --web.listen-address="$NODEX_ADDR" \
		--collector.disable-defaults --collector.cpu --collector.softnet >"$TB_TMP/prom/node_exporter.log" 2>&1
	test_rules
	cat >"$TB_TMP/prom/prometheus.yml" <<-EOF
		global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
		rule_files: ["$RULES", "$TB_TMP/prom/test.rules.yml"]
		scrape_configs:
		  - job_name: flowsteer-agent
		    static_configs: [{targets: ["127.0.0.1:$MPORT"]}]
		  - job_name: node
		    static_configs: [{targets: ["$NODEX_ADDR"]}]
	EOF
	tb_bg ip netns exec "$ns" prometheus --config.file="$TB_TMP/prom/prometheus.yml" \
		--storage.tsdb.path="$TB_TMP/prom/data" --web.listen-address="$PROM_ADDR" \
		--storage.tsdb.retention.time=1h --log.level=warn >"$TB_TMP/prom/prometheus.log" 2>&1
	for ((i = 0; i < 300; i++)); do
		[ "$(prom_count 'up == 1' 2>/dev/null)" = 2 ] && return 0
		sleep 0.1
	done
	tail -n 20 "$TB_TMP/prom/prometheus.log" "$TB_TMP/prom/node_exporter.log" >&2
	e2e_die "Prometheus did not scrape both targets within 30 s"
}

stack_checks() {
	t_eq "Prometheus scrapes the agent (up)" 1 "$(prom_count 'up{job="flowsteer-agent"} == 1')"
	t_eq "Prometheus scrapes node_exporter (up)" 1 "$(prom_count 'up{job="node"} == 1')"
	t_eq "Prometheus loaded every rule of both groups, none with an error" \
		"$(($(grep -c '^ *- alert:' "$RULES") * 2)) 0" \
		"$(prom_api /api/v1/rules | jq -r '[.data.groups[].rules[]] | "\(length) \(map(select(.health == "err")) | length)"')"
}

# ------------------------------------------------------------- the traffic

# phase NAME FLOWSTEER_JSON: pods on both nodes through the chain with that
# entry, two servers on node1 (CPU 0, CPU 1), two clients on node2 pinned
# to CPU 0, PROM_PHASE_S seconds of UDP (again, once, if another run
# changed the RFS sysctl meanwhile); sets PHASE_T (a Unix time near the end
# of the traffic) and keeps the pods (deleted by phase_end).
phase() {
	local name=$1 fs=$2 c1 c2 i
	c1=${NODE_DIR[node1]}/conf/$name.conflist c2=${NODE_DIR[node2]}/conf/$name.conflist
	tb_conflist node1 "$c1" 1.0.0 v3.31 "$(jq -c --arg f "${NODE_DIR[node1]}/run/annotations.json" \
		'. + {annotationsFile: $f}' <<<"$fs")"
	tb_conflist node2 "$c2" 1.0.0 v3.31 "$fs"
	PHASE_PODS=()
	PHASE_SRV=()
	for i in 0 1; do
		tb_pod_add node1 "$name-srv$i" "$c1" >/dev/null || e2e_die "ADD $name-srv$i failed"
		tb_pod_add node2 "$name-cli$i" "$c2" >/dev/null || e2e_die "ADD $name-cli$i failed"
		PHASE_PODS+=("$name-srv$i" "$name-cli$i")
		tb_bg taskset -c "$i" ip netns exec "${POD_NS[$name-srv$i]}" iperf3 -s -p 5201 >/dev/null 2>&1
		PHASE_SRV+=("$TB_LAST_PID")
		pod_wait_listen "$name-srv$i" 5201 || e2e_die "iperf3 server in $name-srv$i is not listening"
	done
	phase_traffic "$name" || phase_traffic "$name"
}

# phase_traffic NAME: the flows of the phase; 1 when the RFS sysctl
# changed under them.
phase_traffic() {
	local name=$1 i rc=0 sf0 sf1
	local -a cpids=()
	# RFS needs the initial netns's flow table (e2e/README.md, exception 1).
	tb_sockflow_set 32768
	e2e_traffic_lock
	sf0=$(cat /proc/sys/net/core/rps_sock_flow_entries)
	for i in 0 1; do
		tb_bg timeout $((PROM_PHASE_S + 20)) taskset -c 0 ip netns exec "${POD_NS[$name-cli$i]}" \
			iperf3 -c "${POD_IP[$name-srv$i]}" -p 5201 -u -b "$PROM_RATE" -l 1400 -t "$PROM_PHASE_S" \
			-J >"$TB_TMP/prom/$name-flow$i.json" 2>"$TB_TMP/prom/$name-flow$i.err"
		cpids+=("$TB_LAST_PID")
	done
	PHASE_T=$(($(date +%s) + PROM_PHASE_S - 2))
	for i in "${cpids[@]}"; do tb_wait "$i" || rc=$?; done
	sf1=$(cat /proc/sys/net/core/rps_sock_flow_entries)
	e2e_traffic_unlock
	for i in 0 1; do
		echo "# $name: flow $i: $(jq -r '"\(.end.sum.packets // 0) datagrams sent, \(.end.sum.lost_percent // 0 | floor)% lost" +
			(if .error then ", error: \(.error)" else "" end)' "$TB_TMP/prom/$name-flow$i.json" 2>/dev/null)"
	done
	t_eq "$name: both UDP flows ran for ${PROM_PHASE_S} s" 0 "$rc"
	[ "$sf0" = "$sf1" ] && return 0
	echo "# $name: net.core.rps_sock_flow_entries changed during the flows ($sf0 -> $sf1: another run)"
	return 1
}

phase_end() {
	local p
	tb_reap "${PHASE_SRV[@]}"
	for p in "${PHASE_PODS[@]}"; do tb_pod_del "$p" >/dev/null 2>&1 || not_ok "DEL $p" "exit $?"; done
}

# ------------------------------------------------------------- evaluation

# rule_expr ALERT [WINDOW]: the rule's expression, ranges set to WINDOW.
rule_expr() { python3 "$TEST_DIR/lint.py" rule-exprs "$RULES" ${2:+"$2"} | awk -F'\t' -v a="$1" '$1 == a {print $2}'; }

# share_at TIME: "CPU n xx%" of the busiest CPU's share of processed (and
# of NET_RX softirqs, for comparison) over PROM_WINDOW.
share_at() {
	local m q w=$PROM_WINDOW out=""
	for m in flowsteer_softnet_processed_total flowsteer_softirqs_net_rx_total; do
		q="topk without (cpu) (1, rate(${m}[$w])) / ignoring (cpu) group_left sum without (cpu) (rate(${m}[$w]))"
		out+="${out:+; }${m#flowsteer_}: $(prom_query "$q" "$1" |
			jq -r '.data.result[0] | "CPU \(.metric.cpu) \(.value[1] | tonumber * 100 | floor)%"' 2>/dev/null)"
	done
	echo "$out"
}

# busiest_cpu EXPR TIME: the cpu label of the expression's result, or
# "none" (empty: false), or the error.
busiest_cpu() {
	prom_query "$1" "$2" | jq -r 'if .status != "success" then "error: \(.error)"
		elif (.data.result | length) == 0 then "none" else .data.result[0].metric.cpu end' 2>/dev/null
}

imbalance_checks() {
	local e alerts='ALERTS{alertname="FlowsteerSoftirqImbalance",alertstate="firing",window="test"}'
	e=$(rule_expr FlowsteerSoftirqImbalance "$PROM_WINDOW")
	echo "# FlowsteerSoftirqImbalance with [$PROM_WINDOW] windows: $e"
	t_eq "steering off: the imbalance expression is true, for CPU 0 (the sender's)" 0 "$(busiest_cpu "$e" "$T_OFF")"
	t_eq "steering on: the imbalance expression is false" none "$(busiest_cpu "$e" "$T_ON")"
	t_eq "steering off: Prometheus fired FlowsteerSoftirqImbalance (test copy, for: $PROM_FOR)" 1 \
		"$(prom_count "$alerts" "$T_OFF")"
	t_eq "steering on: FlowsteerSoftirqImbalance not firing" 0 "$(prom_count "$alerts" "$T_ON")"
	# The data behind it: no record for mode off, two RFS pods on node1.
	t_eq "steering off: flowsteer_attachments all 0" 0 "$(prom_count 'flowsteer_attachments > 0' "$T_OFF")"
	t_eq "steering on: flowsteer_attachments{mode=\"rfs\",scope=\"both\"} is 2" 1 \
		"$(prom_count 'flowsteer_attachments{mode="rfs",scope="both"} == 2' "$T_ON")"
}

# The drift gauges come from a thread's last pass, started by a scrape
# that finds it older than --drift-interval-seconds (10): with 1 s scrapes
# a pass ends every ~10 s, so the timestamp is set, young, and moved on
# between the phases. The record-derived counters are exported at 0.
drift_checks() {
	local ts='flowsteer_drift_last_pass_timestamp_seconds' off on
	t_eq "steering on: the drift pass timestamp is set and under 30 s old (scrape-started passes)" 1 \
		"$(prom_count "$ts > 0 and time() - $ts < 30" "$T_ON")"
	off=$(prom_query "$ts" "$T_OFF" | jq -r '.data.result[0].value[1] // 0' 2>/dev/null)
	on=$(prom_query "$ts" "$T_ON" | jq -r '.data.result[0].value[1] // 0' 2>/dev/null)
	t_eq "the drift pass timestamp moved on between the phases ($off -> $on)" 1 "$((on > off && off > 0))"
	t_eq "flowsteer_agent_bounds_hit_total: every bound exported, all 0" "6 0" \
		"$(prom_count flowsteer_agent_bounds_hit_total "$T_ON") $(prom_count 'flowsteer_agent_bounds_hit_total > 0' "$T_ON")"
	t_eq "flowsteer_remask_device_failures_total exported, 0" 1 \
		"$(prom_count 'flowsteer_remask_device_failures_total == 0' "$T_ON")"
}

# Alerts that a healthy agent on an untouched node must not raise; the
# others (drops, squeeze) depend on the machine and are only evaluated.
QUIET_ALERTS=" FlowsteerAgentDown FlowsteerAgentAbsent FlowsteerAgentNotReady FlowsteerAnnotationsFileStale "
QUIET_ALERTS+="FlowsteerDriftedDevices FlowsteerDriftPassStale FlowsteerRemaskErrors FlowsteerRemaskDeviceFailures "
QUIET_ALERTS+="FlowsteerAgentBoundsHit "

rule_checks() {
	local name e n w
	for w in "" "$PROM_WINDOW"; do
		while IFS=$'\t' read -r name e; do
			n=$(prom_count "$e" "$T_ON")
			if [[ $n == error* ]]; then
				not_ok "rule $name${w:+ ([$w])}: evaluates" "$n: $e"
			elif [[ $QUIET_ALERTS == *" $name "* ]]; then
				t_eq "rule $name${w:+ ([$w])}: evaluates, false for a healthy agent" 0 "$n"
			else
				ok "rule $name${w:+ ([$w])}: evaluates ($n series)"
			fi
		done < <(python3 "$TEST_DIR/lint.py" rule-exprs "$RULES" ${w:+"$w"})
	done
}

dashboard_checks() {
	local title e n name metric label regex vals
	while IFS=$'\t' read -r title e; do
		n=$(prom_count "$e" "$T_ON")
		if [[ $n =~ ^[1-9][0-9]*$ ]]; then
			ok "dashboard: $title returns data ($n series)"
		else
			not_ok "dashboard: $title returns data" "${n/#0/no series}: $e"
		fi
	done < <(python3 "$TEST_DIR/lint.py" dashboard-exprs "$DASHBOARD" 127.0.0.1 "$PROM_WINDOW")
	while IFS=$'\t' read -r name metric label regex; do
		vals=$(prom_api "/api/v1/label/$label/values" --data-urlencode "match[]=$metric" | jq -r '.data[]' 2>/dev/null)
		regex=${regex#/} regex=${regex%/}
		[ -z "$regex" ] || vals=$(sed -nE "s/$regex/\\1/p" <<<"$vals")
		t_eq "dashboard: variable \$$name offers this node" 127.0.0.1 "$(sort -u <<<"$vals" | paste -sd' ' -)"
	done < <(python3 "$TEST_DIR/lint.py" dashboard-vars "$DASHBOARD")
}

main() {
	local only=${PROM_ONLY:-}
	e2e_need_tools promtool python3
	python3 -c 'import yaml' 2>/dev/null || e2e_die "python3-yaml is missing"
	if [ "$only" != static ]; then
		e2e_need_root
		e2e_need_tools prometheus prometheus-node-exporter curl jq iperf3 ss taskset flock timeout
		e2e_build_flowsteer
		[ -x "$AGENT" ] || e2e_die "flowsteer-agent $AGENT is missing (make)"
		e2e_build_driver
	fi
	if [ "$only" = static ]; then
		TB_TMP=$(mktemp -d /tmp/fsprom.XXXXXX)
		trap 'rm -rf "$TB_TMP"' EXIT
	else
		tb_init
	fi
	[ "$only" = live ] || static_checks
	if [ "$only" = static ]; then
		:
	elif ! grep -qx 1 <(cpulist_expand "$(cpus_online)") || ! grep -qx 0 <(cpulist_expand "$(cpus_online)"); then
		skip "live checks" "need CPUs 0 and 1 online (online: $(cpus_online))"
	else
		tb_up node1 node2
		stack_up
		stack_checks
		live_checks
	fi
	echo "$PASS passed, $FAIL failed$([ "$SKIP" = 0 ] || echo ", $SKIP skipped")"
	[ "$FAIL" = 0 ]
}

live_checks() {
	phase off '{"mode":"off"}'
	T_OFF=$PHASE_T
	phase_end
	phase on '{}'
	T_ON=$PHASE_T
	echo "# imbalance (busiest CPU's share of processed, over $PROM_WINDOW):" \
		"off $(share_at "$T_OFF"), on $(share_at "$T_ON")"
	imbalance_checks
	drift_checks
	rule_checks
	dashboard_checks
	phase_end
}

main "$@"

# Helpers of the agent-*.bats files: a network namespace per test (the
# test API server, the agent and the metrics endpoint all live on its
# 127.0.0.1), certificates and a fake ServiceAccount dir, the agent started
# and stopped by its id, and comparisons of annotations.json with the
# server's state. Everything is under $BATS_TEST_TMPDIR or in the netns,
# removed in teardown whatever happened.
# shellcheck disable=SC2034 # variables read by the .bats files

load install_helpers
load ../agent/lib.sh

AGENT_BIN=${FLOWSTEER_AGENT_BIN:-$(dirname "$FLOWSTEER_BIN")/flowsteer-agent}
KPATCH_BIN=${KPATCH_BIN:-$(dirname "$FLOWSTEER_BIN")/test/agent/kpatch}
AGENT_NODE=node-1
# Bound on every command here: nothing may hang a test.
AT=${AT:-20}

# agent_netns: the test's namespace; A_EXEC runs a command in it.
agent_netns() {
	A_NS=fsa$$${BATS_TEST_NUMBER}
	ip netns add "$A_NS"
	ip -n "$A_NS" link set lo up
	A_EXEC=(ip netns exec "$A_NS")
	AF=$BATS_TEST_TMPDIR/run/annotations.json
	AGENT_PID=
	KUBE_PID=
	A_LOG=$BATS_TEST_TMPDIR/agent.log
}

# agent_sa_dir [TOKEN]: the in-cluster files the agent reads.
agent_sa_dir() {
	SA_DIR=$KT/sa
	mkdir -p "$SA_DIR"
	cp "$KT/ca.crt" "$SA_DIR/ca.crt"
	printf '%s' "${1:-$KUBE_TOKEN}" >"$SA_DIR/token"
}

# kube_certs: the test API server's CA and certificate (make_certs), a
# second CA that signed nothing of it, a fresh token, and the server's
# request and patch logs; all under $KT.
kube_certs() {
	KT=$BATS_TEST_TMPDIR/kube
	mkdir -p "$KT"
	make_certs "$KT"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$KT/wrong-ca.key" \
		-out "$KT/wrong-ca.crt" -days 1 -subj /CN=some-other-ca 2>/dev/null
	KUBE_TOKEN="fs-secret-token-$RANDOM$RANDOM$RANDOM"
	KUBE_PATCHES=$KT/patches.jsonl
	KUBE_REQUESTS=$KT/requests.jsonl
}

# kube_kubeconfig [CA_FILE] [TOKEN]: Calico's calico-kubeconfig fixture, as
# is, with its placeholders filled in; path in KUBECONFIG_FILE.
kube_kubeconfig() {
	local ca=${1:-$KT/ca.crt} token=${2:-$KUBE_TOKEN}
	KUBECONFIG_FILE=$KT/calico-kubeconfig
	sed -e "s|https://127.0.0.1:6443|$KUBE_URL|" \
		-e "s|REPLACE_WITH_BASE64_CA|$(base64 -w0 "$ca")|" \
		-e "s|REPLACE_WITH_TOKEN|$token|" \
		"$FIXTURES/calico-kubeconfig" >"$KUBECONFIG_FILE"
	chmod 600 "$KUBECONFIG_FILE"
}

# api_start [apiserver.py args...]: the test API server in the netns
# (start_apiserver), logging requests and patches; sets KUBE_PID,
# KUBE_PORT, KUBE_URL, CTL_URL.
api_start() {
	: >"$KUBE_REQUESTS"
	start_apiserver "$A_NS" "$KT" "$KUBE_TOKEN" --request-log "$KUBE_REQUESTS" \
		--patch-log "$KUBE_PATCHES" --max-seconds 600 "$@" || return 1
	KUBE_PID=$SRV
	KUBE_PORT=$PORT
	KUBE_URL=https://127.0.0.1:$PORT
	CTL_URL=$CTL
}

api_stop() {
	if [ -n "${KUBE_PID:-}" ]; then
		kill "$KUBE_PID" 2>/dev/null || true
		wait "$KUBE_PID" 2>/dev/null || true
	fi
	KUBE_PID=
}

# ctl OP_JSON...: applies control ops on the server (see apiserver.py).
ctl() {
	local ops
	ops=$(printf '%s\n' "$@" | jq -cs '{ops: .}')
	"${A_EXEC[@]}" curl -sS -m 10 --fail-with-body -X POST --data-binary "$ops" "$CTL_URL/ctl" >/dev/null
}
ctl_get() { "${A_EXEC[@]}" curl -sS -m 10 --fail "$CTL_URL/$1"; }
# stat NAME: a counter of the server ("list:pods", "watch:namespaces", ...).
srv_stat() { ctl_get stats | jq -r --arg k "$1" '.[$k] // 0'; }
# srv_stat_gt NAME N: the counter is above N now (for wait_until, which
# runs it again each time).
srv_stat_gt() { [ "$(srv_stat "$1")" -gt "$2" ]; }

# reap PID: ends the `timeout` PID and the agent it runs. `timeout` passes
# TERM on to its child but not KILL, so the child is killed by name too,
# whatever happened.
reap() {
	local i
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	for ((i = 0; i < 40; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	pkill -KILL -P "$1" 2>/dev/null || true
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# agent_start [args...]: the agent in the netns, in-cluster credentials,
# fast backoff, the install duty off (agent-install.bats has its own; with
# AGENT_INSTALL=1 on, with start_watch's paths and the plugin under test), the
# stateDir and CPU manager state of the test (never the host's). With
# AGENT_RO_SYS=1 its /sys is read-only, as in a container; AGENT_DROP=CAPS
# (capsh's --drop list) runs it without those capabilities. Waits for its
# metrics port (METRICS).
agent_start() {
	local i ro=() inst=(--no-install)
	[ "${AGENT_INSTALL:-}" = 1 ] && inst=(--plugin-src "$FLOWSTEER_BIN" --cni-bin-dir "$BIN_DIR" --cni-conf-dir "$NET_DIR")
	: >"$A_LOG"
	[ "${AGENT_RO_SYS:-}" = 1 ] && ro=(unshare -m sh -c 'mount -o remount,bind,ro /sys && exec "$0" "$@"')
	[ -n "${AGENT_DROP:-}" ] && ro+=(capsh --drop="$AGENT_DROP" -- -c 'exec "$0" "$@"')
	"${A_EXEC[@]}" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$KUBE_PORT" \
		timeout -s KILL 300 "${ro[@]}" "$AGENT_BIN" "${inst[@]}" --node-name "$AGENT_NODE" --sa-dir "$SA_DIR" \
		--annotations-file "$AF" --metrics-addr 127.0.0.1:0 --backoff-base-ms 100 --backoff-max-ms 1000 \
		--state-dir "${STATE_DIR:-$BATS_TEST_TMPDIR/state}" \
		--cpu-manager-state "${CPU_STATE:-$BATS_TEST_TMPDIR/kubelet/cpu_manager_state}" \
		"$@" >"$A_LOG" 2>&1 3>&- &
	AGENT_PID=$!
	for ((i = 0; i < 200; i++)); do
		grep -q 'metrics on .*(port [0-9]*)' "$A_LOG" && break
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.05
	done
	METRICS=http://127.0.0.1:$(sed -n 's/.*metrics on .*(port \([0-9]*\)).*/\1/p' "$A_LOG" | head -n1)
}

# agent_stop [SIGNAL]: AGENT_STATUS = its exit status.
agent_stop() {
	kill "-${1:-TERM}" "$AGENT_PID"
	AGENT_STATUS=0
	wait "$AGENT_PID" || AGENT_STATUS=$?
	AGENT_PID=
}

agent_teardown() {
	reap "${AGENT_PID:-}"
	api_stop
	[ -n "${A_NS:-}" ] && ip netns del "$A_NS" 2>/dev/null
	if [ -f "${A_LOG:-}" ]; then
		echo "--- agent log (last 60 lines):"
		tail -n 60 "$A_LOG"
	fi
	[ -f "${KT:-}/server.out" ] && { echo "--- server:"; tail -n 20 "$KT/server.out"; }
	# Under SANITIZE=1 a report fails the test even when the agent went on.
	! grep -qE 'runtime error:|ERROR: (Address|Leak)Sanitizer' "${A_LOG:-/dev/null}" 2>/dev/null
}

# metrics_format_ok: /metrics is text exposition with HELP and TYPE for
# every family, counters (only) named *_total; prints the counts.
metrics_format_ok() {
	get /metrics >"$BATS_TEST_TMPDIR/m.txt" || return 1
	python3 - "$BATS_TEST_TMPDIR/m.txt" <<'EOF'
import re, sys
help, typ, samples = {}, {}, []
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# HELP "):
        help[line.split()[2]] = True
    elif line.startswith("# TYPE "):
        _, _, name, t = line.split()
        typ[name] = t
    elif line:
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9.e+]+)$', line)
        assert m, "bad sample line: " + line
        samples.append(m.group(1))
for s in samples:
    assert s in help and s in typ, "no HELP/TYPE for " + s
for name, t in typ.items():
    assert (t == "counter") == name.endswith("_total"), name + " " + t
print(len(samples), "samples,", len(typ), "families")
EOF
}

# get PATH: GET on the agent's metrics server; prints the body.
get() { "${A_EXEC[@]}" curl -sS -m 5 "$METRICS$1"; }
# code PATH: the HTTP status of PATH.
code() { "${A_EXEC[@]}" curl -s -o /dev/null -m 5 -w '%{http_code}' "$METRICS$1"; }
# metric NAME{LABELS}: its value (empty if absent).
metric() { get /metrics | awk -v m="$1" '$1 == m {print $2}'; }

# What annotations.json must hold for the server's state: the keys the
# plugin reads (flowsteer.io/mode, scope, cpus), objects without any left
# out, this node's pods only.
expected_file() {
	ctl_get state | jq -S --arg node "$AGENT_NODE" '
	  def fs: with_entries(select(.key | IN("flowsteer.io/mode", "flowsteer.io/scope", "flowsteer.io/cpus")));
	  {namespaces: (.namespaces | map_values(fs) | with_entries(select(.value != {}))),
	   pods: (.pods | with_entries(select(.value.node == $node)) | map_values({uid, annotations: (.annotations | fs)})
	          | with_entries(select(.value.annotations != {})))}'
}
actual_file() { jq -S 'del(.syncedAt, .version)' "$AF"; }
file_matches() { [ -f "$AF" ] && diff <(expected_file) <(actual_file) >/dev/null; }
file_has() { [ -f "$AF" ] && jq -e "$1" "$AF" >/dev/null 2>&1; }
log_has() { grep -q -- "$1" "$A_LOG"; }

# ---- the duties driven by the plugin's records (agent-status, agent-records, agent-remask)

# p2_setup: helpers.bash's node netns (ul0 underlay with the default route:
# the @underlay node device) is the agent's and the API server's too, as on
# a node with hostNetwork; stateDir, annotations file, CPU manager state
# and the kube files are the test's.
p2_setup() {
	setup_node
	A_NS=$NODE
	A_EXEC=(ip netns exec "$NODE")
	AF=$BATS_TEST_TMPDIR/run/annotations.json
	A_LOG=$BATS_TEST_TMPDIR/agent.log
	AGENT_PID=
	KUBE_PID=
	CPU_STATE=$BATS_TEST_TMPDIR/kubelet/cpu_manager_state
	mkdir -p "$(dirname "$CPU_STATE")"
	kube_certs
	agent_sa_dir
}

p2_teardown() {
	local rc=0
	agent_teardown || rc=1
	teardown_node
	return "$rc"
}

# p2_conf [JQ]: the plugin's config for the current pod, every path in
# the test's dirs.
p2_conf() {
	conf 1.0.0 ".annotationsFile = \"$AF\" | .cpuManagerStateFile = \"$CPU_STATE\"${1:+ | $1}"
}

# p2_add POD UID: a pod netns of namespace team-a and the plugin's ADD for
# it, K8S_POD_UID=UID ("" for none); the result in $output.
p2_add() {
	make_pod "$1" team-a
	declare -gA P2_NS
	P2_NS[$1]=$POD_NS
	CNI_ARGS_EXTRA=${2:+K8S_POD_UID=$2} run_helper cni ADD "$(p2_conf)"
}

# p2_del POD UID: the plugin's DEL of a pod p2_add made.
p2_del() {
	POD_NAME=$1 POD_NETNS=/run/netns/${P2_NS[$1]} CNI_ARGS_EXTRA=${2:+K8S_POD_UID=$2} run_helper cni DEL "$(p2_conf)"
}

# status_line RESULT: the line model_status_line() makes, from the ADD
# result's flowsteer object (docs/cni.md, "The ADD result's flowsteer object"): the expected annotation.
status_line() { jq -r -f "$BATS_TEST_DIRNAME/../helpers/status-line.jq" <<<"$1"; }

# pod_status_is NS/NAME LINE: the server's pod has that status annotation.
pod_status_is() {
	[ "$(ctl_get state | jq -r --arg k "$1" '.pods[$k].annotations["flowsteer.io/status"] // ""')" = "$2" ]
}
# patches_to NAME: PATCH requests the server got for pods named NAME.
patches_to() { grep -c "\"PATCH\", \"path\": \"/api/v1/namespaces/[^/]*/pods/$1\"" "$KUBE_REQUESTS" || true; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }
metric_gt() { [ "$(metric "$1")" -gt "$2" ] 2>/dev/null; }

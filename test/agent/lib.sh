# Shared by the agent's scripts (valgrind-churn.sh, bench.sh, bench-remask.sh),
# the image test and the agent's bats tests: bounded waits, certificates,
# and the test API server in a netns.
# shellcheck shell=bash

# until_ok SECONDS CMD...: polls CMD every 100 ms.
until_ok() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@" 2>/dev/null; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# make_certs DIR: DIR/ca.crt, DIR/ca.key, DIR/srv.crt, DIR/srv.key: a CA and
# a serving certificate for 127.0.0.1, shaped like an API server's.
make_certs() {
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -keyout "$1/ca.key" -out "$1/ca.crt" -days 1 -subj /CN=flowsteer-test-ca 2>/dev/null
	openssl req "${ec[@]}" -keyout "$1/srv.key" -out "$1/srv.csr" -subj /CN=kube-apiserver 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$1/srv.ext"
	openssl x509 -req -in "$1/srv.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial \
		-out "$1/srv.crt" -days 1 -extfile "$1/srv.ext" 2>/dev/null
}

# kube_files DIR TOKEN: make_certs DIR, and DIR/sa as a pod's ServiceAccount
# mount holds them (ca.crt, token): what the agent reads in-cluster.
kube_files() {
	mkdir -p "$1/sa"
	make_certs "$1"
	cp "$1/ca.crt" "$1/sa/ca.crt"
	printf '%s' "$2" >"$1/sa/token"
}

# cpu_ns PID: CPU time of all its threads in ns (schedstat: finer than the
# 10 ms ticks of /proc/PID/stat).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%.0f\n", s}'; }

# start_apiserver NS DIR TOKEN [args...]: test/kube/apiserver.py in netns NS
# with DIR's certificates (its output in DIR/server.out); sets SRV (the
# server's own pid: ip netns exec execs it), PORT, CTL (control URL). Waits
# for both port files (the control port's is written first), and gives up
# at once if the server died.
start_apiserver() {
	local ns=$1 dir=$2 token=$3 repo i
	shift 3
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	rm -f "$dir/port" "$dir/ctlport"
	# 3>&-: bats waits for whatever still holds its fd 3.
	ip netns exec "$ns" python3 "$repo/test/kube/apiserver.py" --cert "$dir/srv.crt" --key "$dir/srv.key" \
		--token "$token" --port-file "$dir/port" --ctl-port-file "$dir/ctlport" --max-seconds 1800 "$@" \
		>"$dir/server.out" 2>&1 3>&- &
	SRV=$!
	for ((i = 0; i < 200; i++)); do
		[ -s "$dir/port" ] && [ -s "$dir/ctlport" ] && break
		kill -0 "$SRV" 2>/dev/null || break
		sleep 0.05
	done
	[ -s "$dir/port" ] && [ -s "$dir/ctlport" ] || { cat "$dir/server.out" >&2; return 1; }
	PORT=$(cat "$dir/port")
	CTL=http://127.0.0.1:$(cat "$dir/ctlport")
}

# start_agent NS DIR ANNOTATIONS_FILE: $AGENT in netns NS against the test
# API server (PORT), with DIR's sa/, state/ and kubelet/ (its log in
# DIR/agent.log); sets AG (the agent's own pid: ip netns exec and env exec
# it, so a kill reaches it) and MPORT (its metrics port).
start_agent() {
	ip netns exec "$1" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$PORT" "$AGENT" --no-install \
		--node-name node-1 --sa-dir "$2/sa" --annotations-file "$3" --metrics-addr 127.0.0.1:0 \
		--state-dir "$2/state" --cpu-manager-state "$2/kubelet/cpu_manager_state" >"$2/agent.log" 2>&1 &
	AG=$!
	until_ok 10 test -s "$3" || { cat "$2/agent.log" >&2; return 1; }
	MPORT=$(sed -n 's/.*metrics on .*(port \([0-9]*\)).*/\1/p' "$2/agent.log")
}

# plugin_cni VERB NODE_NS POD POD_NETNS HOST_VETH UID DIR: the plugin
# ($PLUGIN) run as a runtime runs it, in netns NODE_NS, for pod team-a/POD
# (uid UID, container ctr-POD, eth0 in POD_NETNS); Calico v3.31's
# prevResult; stateDir, log, annotations file and CPU manager state in DIR
# (DIR/state, DIR/flowsteer.log, DIR/run/annotations.json,
# DIR/kubelet/cpu_manager_state). The result on stdout.
plugin_cni() {
	local repo
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	jq -c --arg host "$5" --arg netns "$4" --arg t "$7" '. as $p |
		{cniVersion: "1.0.0", name: "k8s-pod-network", type: "flowsteer", stateDir: ($t + "/state"),
		 logFile: ($t + "/flowsteer.log"), annotationsFile: ($t + "/run/annotations.json"),
		 cpuManagerStateFile: ($t + "/kubelet/cpu_manager_state"),
		 prevResult: ($p | .interfaces |= map(if .sandbox then .sandbox = $netns else .name = $host end))}' \
		"$repo/test/fixtures/calico-v3.31-prevresult-1.0.0.json" |
		ip netns exec "$2" env CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$3" CNI_NETNS="$4" CNI_IFNAME=eth0 \
		CNI_PATH=/opt/cni/bin CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=$3;K8S_POD_UID=$6" \
		timeout 20 "$PLUGIN"
}

# bench_cleanup: what a bench made, as it leaves (its trap): the background
# PIDs in BG, the agent AG and server SRV, the node netns NS (and NSu) with
# PODS pod netns NS-1..NS-PODS, the node claims of its stateDirs below T,
# then T.
bench_cleanup() {
	local c i p
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "${AG:-}" ] && kill "$AG" 2>/dev/null
	[ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null
	wait 2>/dev/null
	for ((i = 1; i <= PODS; i++)); do ip netns del "$NS-$i" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	ip netns del "${NS}u" 2>/dev/null
	for c in /run/lock/flowsteer-net*.claim; do
		[ -e "$c" ] && [[ $(cat "$c") == "$T"/* ]] && rm -f "$c"
	done
	rm -rf "$T"
}

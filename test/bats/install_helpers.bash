# Helpers of conflist.bats and install.bats: the Calico fixture, a fake node
# root, tree snapshots, bounded waits and the agent's install duty.
# Everything lives in $BATS_TEST_TMPDIR; nothing outside it is touched.
# shellcheck disable=SC2034 # REPO_ROOT, WAITED_MS, WATCH_STATUS, ROOT...: read by the .bats files

CALICO_FIXTURE=$BATS_TEST_DIRNAME/../fixtures/10-calico.conflist
REPO_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
# Bound on every command: nothing may hang a test.
FS_TIMEOUT=${FS_TIMEOUT:-20}

# root_setup: a fake node root (BIN_DIR, NET_DIR, the Calico conflist F)
# and no install-duty agent yet (teardown_watch ends one a test started).
root_setup() {
	ROOT=$BATS_TEST_TMPDIR/root
	BIN_DIR=$ROOT/opt/cni/bin
	NET_DIR=$ROOT/etc/cni/net.d
	F=$NET_DIR/10-calico.conflist
	WATCH_PID=
	WATCH_LOG=
}

# fs ARGS...: the flowsteer CLI, bounded.
fs() { timeout "$FS_TIMEOUT" "$FLOWSTEER_BIN" "$@"; }

# Plugin types of a conflist, in order: "calico,flowsteer,portmap".
types() { jq -r '[.plugins[].type] | join(",")' "$1"; }

# True when FILE parses and holds exactly one flowsteer entry.
has_entry() { [ "$(jq '[.plugins[] | select(.type == "flowsteer")] | length' "$1" 2>/dev/null)" = 1 ]; }
no_entry() { [ "$(jq '[.plugins[] | select(.type == "flowsteer")] | length' "$1" 2>/dev/null)" = 0 ]; }

# A copy of the Calico fixture at FILE with MODE (default 0644).
calico_conflist() {
	mkdir -p "$(dirname "$1")"
	cp "$CALICO_FIXTURE" "$1"
	chmod "${2:-0644}" "$1"
}

# make_root DIR: a node's CNI directories under DIR, as Calico leaves them:
# calico binaries, the conflist, its kubeconfig and a lower-priority config.
make_root() {
	local root=$1
	mkdir -p "$root/opt/cni/bin" "$root/etc/cni/net.d"
	printf '#!/bin/sh\nexit 0\n' >"$root/opt/cni/bin/calico"
	printf '#!/bin/sh\nexit 0\n' >"$root/opt/cni/bin/calico-ipam"
	chmod 0755 "$root/opt/cni/bin/calico" "$root/opt/cni/bin/calico-ipam"
	calico_conflist "$root/etc/cni/net.d/10-calico.conflist" 0644
	printf 'apiVersion: v1\nkind: Config\n' >"$root/etc/cni/net.d/calico-kubeconfig"
	chmod 0600 "$root/etc/cni/net.d/calico-kubeconfig"
	printf '{"cniVersion":"0.3.1","name":"lo","type":"loopback"}\n' >"$root/etc/cni/net.d/99-loopback.conf"
}

# snapshot_tree DIR: every entry with type, mode, owner, size and link
# target, then the checksum of every file: equal snapshots = same tree.
snapshot_tree() {
	(
		cd "$1" || exit 1
		find . -printf '%y %m %U:%G %s %p %l\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
	)
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_until SECONDS CMD...: polls CMD every 20 ms; WAITED_MS = time taken.
wait_until() {
	local start deadline
	start=$(now_ms)
	deadline=$((start + $1 * 1000))
	shift
	until "$@"; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			WAITED_MS=$(($(now_ms) - start))
			return 1
		fi
		sleep 0.02
	done
	WAITED_MS=$(($(now_ms) - start))
}

log_has() { grep -q -- "$1" "$WATCH_LOG"; }

# The agent's install duty (flowsteer-agent --no-kube), found next to the
# plugin under test.
AGENT_BIN=${FLOWSTEER_AGENT_BIN:-$(dirname "$FLOWSTEER_BIN")/flowsteer-agent}

# start_watch [ARGS...]: the agent's install duty on $BIN_DIR/$NET_DIR in
# the background (fd 3 closed so bats does not wait for it), installing
# the plugin under test. With WATCH_NS set: in that netns, with the
# in-cluster credentials of the test API server there (WATCH_PORT, the
# ServiceAccount dir WATCH_SA) instead of --no-kube.
start_watch() {
	local pre=() kube=(--no-kube)
	WATCH_LOG=$BATS_TEST_TMPDIR/watch.log
	if [ -n "${WATCH_NS:-}" ]; then
		pre=(ip netns exec "$WATCH_NS" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$WATCH_PORT")
		kube=(--node-name node-1 --sa-dir "$WATCH_SA" --annotations-file "$BATS_TEST_TMPDIR/annotations.json"
			--backoff-base-ms 100 --backoff-max-ms 1000)
	fi
	"${pre[@]}" timeout -s KILL 120 "$AGENT_BIN" "${kube[@]}" --metrics-addr off --plugin-src "$FLOWSTEER_BIN" \
		--cni-bin-dir "$BIN_DIR" --cni-conf-dir "$NET_DIR" --state-dir "$BATS_TEST_TMPDIR/agent-state" \
		--cpu-manager-state off "$@" >"$WATCH_LOG" 2>&1 3>&- &
	WATCH_PID=$!
	# Started (it logs "watching" once its inotify watch is in place).
	wait_until 10 log_has "watching $NET_DIR"
}

# stop_watch SIGNAL: sends it and waits; WATCH_STATUS = the exit status.
stop_watch() {
	kill "-$1" "$WATCH_PID"
	WATCH_STATUS=0
	wait "$WATCH_PID" || WATCH_STATUS=$?
	WATCH_PID=
}

teardown_watch() {
	if [ -n "${WATCH_PID:-}" ]; then
		# timeout(1) passes TERM on to the agent, not KILL.
		kill -TERM "$WATCH_PID" 2>/dev/null || true
		sleep 0.2
		pkill -KILL -P "$WATCH_PID" 2>/dev/null || true
		kill -KILL "$WATCH_PID" 2>/dev/null || true
		wait "$WATCH_PID" 2>/dev/null || true
		WATCH_PID=
	fi
	if [ -n "${WATCH_LOG:-}" ] && [ -f "$WATCH_LOG" ]; then
		echo "--- agent (install duty) log:"
		cat "$WATCH_LOG"
		# Under SANITIZE=1 a report fails the test even when the agent went on.
		! grep -qE 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$WATCH_LOG"
	fi
}

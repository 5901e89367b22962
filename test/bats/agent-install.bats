#!/usr/bin/env bats
# flowsteer-agent's install duty (run with --no-kube: no API server):
# copies the plugin by rename, keeps the entry chained while Calico
# rewrites its conflist (rename-over and truncate+write, re-chained within
# a second), picks up a conflist that appears later, never rewrites its own
# output, throttles a writer fight, and takes the entry out on
# SIGTERM/SIGINT with exit 0. With an API server (the test one, in a netns),
# SIGTERM takes it out only when the agent's DaemonSet is gone or being
# deleted; a rolling update, an unreachable server or a failed start keep
# it. Everything in $BATS_TEST_TMPDIR.

bats_require_minimum_version 1.5.0

load helpers
load install_helpers
load ../agent/lib.sh

setup() {
	root_setup
	WATCH_NS=
	SRV=
}

teardown() {
	teardown_watch
	[ -z "$SRV" ] || kill "$SRV" 2>/dev/null || true
	[ -z "$WATCH_NS" ] || ip netns del "$WATCH_NS" 2>/dev/null || true
}

# kube_setup: the test API server in a netns of the test, the agent's
# credentials for it; start_watch runs the agent there from now on.
kube_setup() {
	WATCH_NS=fsi$$${BATS_TEST_NUMBER}
	ip netns add "$WATCH_NS"
	ip -n "$WATCH_NS" link set lo up
	local token=fs-token-$RANDOM$RANDOM
	kube_files "$BATS_TEST_TMPDIR" "$token"
	WATCH_SA=$BATS_TEST_TMPDIR/sa
	start_apiserver "$WATCH_NS" "$BATS_TEST_TMPDIR" "$token" --max-seconds 300
	WATCH_PORT=$PORT
}
# ds OP_JSON: a control op on the test API server ("ds", "delds").
ds() { ip netns exec "$WATCH_NS" curl -sS -m 5 --fail -X POST --data-binary "{\"ops\":[$1]}" "$CTL/ctl" >/dev/null; }
DS='"ns":"kube-system","name":"flowsteer-agent"'

@test "agent install: installs, chains, re-chains after rename-over and truncate+write, unchains on SIGTERM" {
	make_root "$ROOT"
	start_watch
	wait_until 5 has_entry "$F"
	cmp "$BIN_DIR/flowsteer" "$FLOWSTEER_BIN"
	[ "$(stat -c %a "$BIN_DIR/flowsteer")" = 755 ]

	# Calico's installer: a new file renamed over the old one.
	cp "$CALICO_FIXTURE" "$NET_DIR/.calico.tmp"
	mv -f "$NET_DIR/.calico.tmp" "$F"
	wait_until 3 has_entry "$F"
	echo "re-chained after rename in ${WAITED_MS} ms"

	# The same, written in place (truncate + write).
	cat "$CALICO_FIXTURE" >"$F"
	wait_until 3 has_entry "$F"
	echo "re-chained after truncate+write in ${WAITED_MS} ms"
	[ "$(types "$F")" = calico,flowsteer,portmap ]

	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
	cmp "$F" "$CALICO_FIXTURE"
	# The binary stays: pods deleted later still need their DEL.
	cmp "$BIN_DIR/flowsteer" "$FLOWSTEER_BIN"
	grep -q "SIGTERM: stopping" "$WATCH_LOG"
	grep -q "$F: flowsteer entry removed" "$WATCH_LOG"
}

@test "agent install: never rewrites its own output (no write loop)" {
	make_root "$ROOT"
	start_watch
	wait_until 5 has_entry "$F"
	sleep 0.3
	before=$(stat -c '%i %Y %s' "$F")
	sleep 1.5
	[ "$(stat -c '%i %Y %s' "$F")" = "$before" ]
	[ "$(grep -c 'flowsteer chained' "$WATCH_LOG")" -eq 1 ]
	# Touching another file in the directory does not make it write either.
	echo x >"$NET_DIR/notes.txt"
	sleep 0.5
	[ "$(stat -c '%i %Y %s' "$F")" = "$before" ]
	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
}

@test "agent install: a hand edit of the flowsteer entry is reverted to --entry's (docs/agent.md)" {
	make_root "$ROOT"
	start_watch
	wait_until 5 has_entry "$F"
	jq -S . "$F" >"$BATS_TEST_TMPDIR/chained"
	same() { jq -S . "$F" | cmp -s - "$BATS_TEST_TMPDIR/chained"; }
	jq '(.plugins[] | select(.type == "flowsteer")).mode = "rps"' "$F" >"$NET_DIR/.e.tmp"
	mv -f "$NET_DIR/.e.tmp" "$F"
	! same
	wait_until 3 same
	[ "$(grep -c 'flowsteer chained' "$WATCH_LOG")" -eq 2 ]
	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
}

@test "agent install: empty conf dir at start, the conflist appears later; SIGINT unchains" {
	mkdir -p "$NET_DIR"
	start_watch
	wait_until 5 log_has "waiting for one"
	# Written the way installers do: temp file, then rename.
	cp "$CALICO_FIXTURE" "$NET_DIR/10-calico.conflist.tmp"
	mv "$NET_DIR/10-calico.conflist.tmp" "$F"
	wait_until 3 has_entry "$F"
	echo "chained ${WAITED_MS} ms after the conflist appeared"
	stop_watch INT
	[ "$WATCH_STATUS" -eq 0 ]
	cmp "$F" "$CALICO_FIXTURE"
}

@test "agent install: a broken conflist is left alone (logged once) and chained once fixed" {
	make_root "$ROOT"
	start_watch
	wait_until 5 has_entry "$F"
	head -c 100 "$CALICO_FIXTURE" >"$F"
	cp "$F" "$BATS_TEST_TMPDIR/broken"
	wait_until 3 log_has "not valid JSON"
	cat "$BATS_TEST_TMPDIR/broken" >"$F"
	echo more >>"$NET_DIR/notes.txt"
	sleep 0.5
	cmp "$F" "$BATS_TEST_TMPDIR/broken"
	[ "$(grep -c 'not valid JSON' "$WATCH_LOG")" -eq 1 ]
	cat "$CALICO_FIXTURE" >"$F"
	wait_until 3 has_entry "$F"
	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
	no_entry "$F"
}

@test "agent install: the conf dir removed and made again is watched again" {
	make_root "$ROOT"
	start_watch
	wait_until 5 has_entry "$F"
	rm -rf "$NET_DIR"
	wait_until 5 log_has "watching $NET_DIR again"
	mkdir -p "$NET_DIR"
	calico_conflist "$F"
	wait_until 3 has_entry "$F"
	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
	no_entry "$F"
}

@test "agent install: the plugin is replaced by rename (a new inode), only when it differs; --entry is used" {
	make_root "$ROOT"
	printf 'old\n' >"$BIN_DIR/flowsteer"
	ino=$(stat -c %i "$BIN_DIR/flowsteer")
	start_watch --entry '{"type":"flowsteer","mode":"rps"}'
	wait_until 5 has_entry "$F"
	cmp "$BIN_DIR/flowsteer" "$FLOWSTEER_BIN"
	[ "$(stat -c %i "$BIN_DIR/flowsteer")" != "$ino" ]
	jq -e '.plugins[1].mode == "rps"' "$F"
	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
	ino=$(stat -c %i "$BIN_DIR/flowsteer")
	start_watch
	wait_until 5 log_has "already up to date"
	[ "$(stat -c %i "$BIN_DIR/flowsteer")" = "$ino" ]
}

@test "agent install: a writer that keeps dropping the entry is throttled (5 rewrites per 10 s), logged once" {
	make_root "$ROOT"
	start_watch
	wait_until 5 has_entry "$F"
	for i in 1 2 3 4 5 6 7 8; do
		cp "$CALICO_FIXTURE" "$NET_DIR/.c.tmp" && mv -f "$NET_DIR/.c.tmp" "$F"
		sleep 0.3
	done
	wait_until 5 log_has "re-chaining at most 5 times per 10 s"
	[ "$(grep -c 'flowsteer chained' "$WATCH_LOG")" -le 6 ]
	[ "$(grep -c 're-chaining at most' "$WATCH_LOG")" -eq 1 ]
	# Once the window has passed, it is chained again.
	wait_until 12 has_entry "$F"
	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
	no_entry "$F"
}

@test "agent install: a missing plugin or a bad --entry is an error naming it, exit 1, conflist untouched" {
	make_root "$ROOT"
	run --separate-stderr timeout "$FS_TIMEOUT" "$AGENT_BIN" --no-kube --metrics-addr off --plugin-src /nonexistent/flowsteer \
		--cni-bin-dir "$BIN_DIR" --cni-conf-dir "$NET_DIR"
	[ "$status" -eq 1 ]
	[[ $stderr == *"reading plugin /nonexistent/flowsteer: No such file or directory"* ]]
	cmp "$F" "$CALICO_FIXTURE"
	run --separate-stderr timeout "$FS_TIMEOUT" "$AGENT_BIN" --no-kube --metrics-addr off --plugin-src "$FLOWSTEER_BIN" \
		--cni-bin-dir "$BIN_DIR" --cni-conf-dir "$NET_DIR" --entry '{"type":"calico"}'
	[ "$status" -eq 1 ]
	[[ $stderr == *"--entry"* ]]
	cmp "$F" "$CALICO_FIXTURE"
}

@test "agent install: SIGTERM with its DaemonSet there (rolling update) keeps the entry; the next agent finds one" {
	kube_setup
	ds "{\"op\":\"ds\",$DS}"
	make_root "$ROOT"
	start_watch
	wait_until 5 has_entry "$F"
	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
	has_entry "$F"
	log_has "DaemonSet kube-system/flowsteer-agent is there (rolling update, restart, node shutdown): keeping the entry"
	start_watch
	wait_until 5 log_has "flowsteer already chained"
	has_entry "$F"
	[ "$(types "$F")" = calico,flowsteer,portmap ]
}

@test "agent install: SIGTERM with its DaemonSet being deleted (foreground) or gone (background) takes the entry out" {
	kube_setup
	make_root "$ROOT"
	ds "{\"op\":\"ds\",$DS,\"deleting\":true}"
	start_watch
	wait_until 5 has_entry "$F"
	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
	cmp "$F" "$CALICO_FIXTURE"
	log_has "is gone or being deleted: uninstall, taking the entry out"
	ds "{\"op\":\"delds\",$DS}"
	start_watch
	wait_until 5 has_entry "$F"
	stop_watch TERM
	cmp "$F" "$CALICO_FIXTURE"
	cmp "$BIN_DIR/flowsteer" "$FLOWSTEER_BIN"
}

@test "agent install: SIGTERM with the API server unreachable keeps the entry (logged)" {
	kube_setup
	ds "{\"op\":\"ds\",$DS}"
	make_root "$ROOT"
	start_watch
	wait_until 5 has_entry "$F"
	kill "$SRV"
	wait "$SRV" 2>/dev/null || true
	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
	has_entry "$F"
	log_has "DaemonSet kube-system/flowsteer-agent: GET https://127.0.0.1:$WATCH_PORT/apis/apps/v1/namespaces/kube-system/daemonsets/flowsteer-agent: .*; keeping the entry"
}

@test "agent install: an agent that fails after chaining (exit 1, a crash loop) leaves the entry" {
	kube_setup
	make_root "$ROOT"
	WATCH_SA=$BATS_TEST_TMPDIR/no-such-sa
	start_watch
	WATCH_STATUS=0
	wait "$WATCH_PID" || WATCH_STATUS=$?
	WATCH_PID=
	[ "$WATCH_STATUS" -eq 1 ]
	grep -q "API server credentials" "$WATCH_LOG"
	has_entry "$F"
}

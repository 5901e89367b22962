#!/usr/bin/env bats
# Installing on a node: install.sh into a fake root (DESTDIR) and back out,
# leaving the root exactly as it was; --dry-run changing nothing; the
# DaemonSet's `flowsteer install --watch` keeping the entry chained while
# Calico rewrites its conflist (rename-over and truncate+write), picking up
# a conflist that appears later, never rewriting its own output, and
# taking the entry out on SIGTERM/SIGINT with exit 0; the manifests in
# conf/ parse and say what they must. Everything in $BATS_TEST_TMPDIR.

bats_require_minimum_version 1.5.0

load helpers
load install_helpers

setup() {
	ROOT=$BATS_TEST_TMPDIR/root
	BIN_DIR=$ROOT/opt/cni/bin
	NET_DIR=$ROOT/etc/cni/net.d
	F=$NET_DIR/10-calico.conflist
	WATCH_PID=
	WATCH_LOG=
}

teardown() { teardown_watch; }

# install.sh on $ROOT with the binary under test, bounded.
install_sh() { DESTDIR=$ROOT FLOWSTEER_BIN=$FLOWSTEER_BIN timeout "$FS_TIMEOUT" "$REPO_ROOT/install.sh" "$@"; }

@test "install.sh --no-build: binary in CNI_BIN_DIR, chained after calico; --uninstall restores the root exactly" {
	make_root "$ROOT"
	snapshot_tree "$ROOT" >"$BATS_TEST_TMPDIR/before"
	run install_sh --no-build
	echo "$output"
	[ "$status" -eq 0 ]
	cmp "$BIN_DIR/flowsteer" "$FLOWSTEER_BIN"
	[ "$(stat -c %a "$BIN_DIR/flowsteer")" = 755 ]
	[ "$(types "$F")" = calico,flowsteer,portmap ]
	jq -e '.plugins[1].capabilities["io.kubernetes.cri.pod-annotations"] == true' "$F"
	# Only the chosen file and the binary changed.
	cmp "$NET_DIR/99-loopback.conf" <(printf '{"cniVersion":"0.3.1","name":"lo","type":"loopback"}\n')
	diff <(snapshot_tree "$ROOT" | grep -v -e flowsteer -e 10-calico) \
		<(grep -v -e flowsteer -e 10-calico "$BATS_TEST_TMPDIR/before")

	# Idempotent: a second run changes nothing at all.
	snapshot_tree "$ROOT" >"$BATS_TEST_TMPDIR/installed"
	run install_sh --no-build
	[ "$status" -eq 0 ]
	[[ $output == *"up to date"* ]]
	[[ $output == *"unchanged"* ]]
	diff "$BATS_TEST_TMPDIR/installed" <(snapshot_tree "$ROOT")

	run install_sh --uninstall
	echo "$output"
	[ "$status" -eq 0 ]
	diff "$BATS_TEST_TMPDIR/before" <(snapshot_tree "$ROOT")
	# And again: nothing left to do, still exit 0.
	run install_sh --uninstall
	[ "$status" -eq 0 ]
	[[ $output == *"not installed"* ]]
	diff "$BATS_TEST_TMPDIR/before" <(snapshot_tree "$ROOT")
}

@test "install.sh --dry-run changes nothing and shows the change" {
	make_root "$ROOT"
	snapshot_tree "$ROOT" >"$BATS_TEST_TMPDIR/before"
	run install_sh --no-build --dry-run
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"would install $FLOWSTEER_BIN as $BIN_DIR/flowsteer"* ]]
	[[ $output == *"would change $F"* ]]
	[[ $output == *'+    {"type":"flowsteer"'* ]]
	diff "$BATS_TEST_TMPDIR/before" <(snapshot_tree "$ROOT")

	install_sh --no-build
	snapshot_tree "$ROOT" >"$BATS_TEST_TMPDIR/installed"
	run install_sh --uninstall --dry-run
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"would remove $BIN_DIR/flowsteer"* ]]
	[[ $output == *'-    {"type":"flowsteer"'* ]]
	diff "$BATS_TEST_TMPDIR/installed" <(snapshot_tree "$ROOT")
}

@test "install.sh: chains into the runtime's file (first in byte order), a .conf becomes a .conflist" {
	make_root "$ROOT"
	rm "$F"
	jq -c '{cniVersion, name} + .plugins[0]' "$CALICO_FIXTURE" >"$NET_DIR/10-calico.conf"
	calico_conflist "$NET_DIR/20-other.conflist"
	cp "$NET_DIR/20-other.conflist" "$BATS_TEST_TMPDIR/other"
	run install_sh --no-build
	echo "$output"
	[ "$status" -eq 0 ]
	[ ! -e "$NET_DIR/10-calico.conf" ]
	[ "$(types "$F")" = calico,flowsteer ]
	cmp "$NET_DIR/20-other.conflist" "$BATS_TEST_TMPDIR/other"
	run install_sh --uninstall
	[ "$status" -eq 0 ]
	[ "$(types "$F")" = calico ]
	[ ! -e "$BIN_DIR/flowsteer" ]
}

@test "install.sh: no CNI config to chain into is an error naming the directory; bad options exit 2" {
	mkdir -p "$BIN_DIR" "$NET_DIR"
	run --separate-stderr install_sh --no-build
	[ "$status" -eq 1 ]
	[[ $stderr == *"no CNI config"*"$NET_DIR"* ]]
	run --separate-stderr install_sh --frobnicate
	[ "$status" -eq 2 ]
	[[ $stderr == *'unknown argument "--frobnicate"'* ]]
	run --separate-stderr install_sh --entry
	[ "$status" -eq 2 ]
	# A bad entry is refused before the file is touched.
	calico_conflist "$F"
	run --separate-stderr install_sh --no-build --entry '{"type":"bridge"}'
	[ "$status" -eq 1 ]
	cmp "$F" "$CALICO_FIXTURE"
}

@test "install.sh --deps --dry-run: lists what apt would install, installs nothing" {
	command -v dpkg-query >/dev/null || skip "not a dpkg system"
	run timeout "$FS_TIMEOUT" "$REPO_ROOT/install.sh" --deps --dry-run
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"build dependencies: "* ]]
	[[ $output == *"test dependencies: "* ]]
	[[ $output == *"nothing was changed"* ]]
}

@test "install (one shot): copies the binary (by rename) and chains, then exits" {
	make_root "$ROOT"
	printf 'old\n' >"$BIN_DIR/flowsteer"
	ino=$(stat -c %i "$BIN_DIR/flowsteer")
	run --separate-stderr fs install --bin-dir "$BIN_DIR" --conf-dir "$NET_DIR"
	echo "$stderr"
	[ "$status" -eq 0 ]
	cmp "$BIN_DIR/flowsteer" "$FLOWSTEER_BIN"
	[ "$(stat -c %a "$BIN_DIR/flowsteer")" = 755 ]
	[ "$(stat -c %i "$BIN_DIR/flowsteer")" != "$ino" ]
	has_entry "$F"
	# --src: that file is what gets installed.
	printf '#!/bin/sh\n' >"$BATS_TEST_TMPDIR/src"
	run --separate-stderr fs install --bin-dir "$BIN_DIR" --conf-dir "$NET_DIR" --src "$BATS_TEST_TMPDIR/src"
	[ "$status" -eq 0 ]
	cmp "$BIN_DIR/flowsteer" "$BATS_TEST_TMPDIR/src"
	run --separate-stderr fs install --bogus
	[ "$status" -eq 2 ]
	run --separate-stderr fs install --entry '{"type":"calico"}'
	[ "$status" -eq 1 ]
	[[ $stderr == *"--entry"* ]]
}

@test "install --watch: installs, chains, re-chains after rename-over and truncate+write, unchains on SIGTERM" {
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
	[ "$WAITED_MS" -lt 2000 ]

	# The same, written in place (truncate + write).
	cat "$CALICO_FIXTURE" >"$F"
	wait_until 3 has_entry "$F"
	echo "re-chained after truncate+write in ${WAITED_MS} ms"
	[ "$WAITED_MS" -lt 2000 ]
	[ "$(types "$F")" = calico,flowsteer,portmap ]

	stop_watch TERM
	[ "$WATCH_STATUS" -eq 0 ]
	cmp "$F" "$CALICO_FIXTURE"
	# The binary stays: pods deleted later still need their DEL.
	cmp "$BIN_DIR/flowsteer" "$FLOWSTEER_BIN"
	grep -q "SIGTERM" "$WATCH_LOG"
	grep -q "$F: flowsteer entry removed" "$WATCH_LOG"
}

@test "install --watch: never rewrites its own output (no write loop)" {
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

@test "install --watch: empty conf dir at start, the conflist appears later; SIGINT unchains" {
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

@test "install --watch: a broken conflist is left alone (logged once) and chained once fixed" {
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

@test "install --watch: the conf dir removed and made again is watched again" {
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

# --- conf/ -------------------------------------------------------------------

@test "conf/10-calico.conflist: flowsteer right after calico, an entry flowsteer accepts" {
	EX=$REPO_ROOT/conf/10-calico.conflist
	[ "$(types "$EX")" = calico,flowsteer,portmap ]
	jq -e '.plugins[1].capabilities["io.kubernetes.cri.pod-annotations"] == true' "$EX"
	jq -e '.plugins[1].kubernetes.kubeconfig == "/etc/cni/net.d/calico-kubeconfig"' "$EX"
	# The Calico fixture plus this entry gives the example (same content).
	calico_conflist "$F"
	fs conflist insert "$F" --entry "$(jq -c '.plugins[1]' "$EX")"
	diff <(jq -S 'del(.plugins[0].nodename)' "$F") <(jq -S 'del(.plugins[0].nodename)' "$EX")
	# Already chained: inserting its own entry changes nothing.
	cp "$EX" "$BATS_TEST_TMPDIR/ex.conflist"
	run --separate-stderr fs conflist insert "$BATS_TEST_TMPDIR/ex.conflist" --entry "$(jq -c '.plugins[1]' "$EX")"
	[ "$status" -eq 0 ]
	cmp "$BATS_TEST_TMPDIR/ex.conflist" "$EX"
}

@test "conf/*.yaml parse; the DaemonSet runs install --watch unprivileged on every node" {
	python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml missing"
	run timeout "$FS_TIMEOUT" python3 - "$REPO_ROOT/conf" <<'EOF'
import sys, yaml
d = sys.argv[1]
ds_docs = list(yaml.safe_load_all(open(d + "/flowsteer-daemonset.yaml")))
rbac = list(yaml.safe_load_all(open(d + "/rbac.yaml")))
kinds = {x["kind"]: x for x in ds_docs}
ds = kinds["DaemonSet"]
assert ds["metadata"]["namespace"] == "kube-system"
sa = kinds["ServiceAccount"]
assert sa["metadata"]["namespace"] == "kube-system"
pod = ds["spec"]["template"]["spec"]
assert pod["serviceAccountName"] == sa["metadata"]["name"], pod["serviceAccountName"]
assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
assert {"operator": "Exists"} in pod["tolerations"]
assert not pod.get("hostNetwork") and not pod.get("hostPID")
c, = pod["containers"]
sc = c["securityContext"]
assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
assert sc["runAsUser"] == 0 and sc["readOnlyRootFilesystem"] is True
assert sc["allowPrivilegeEscalation"] is False and not sc.get("privileged")
assert sc["seccompProfile"]["type"] == "RuntimeDefault"
for k in ("requests", "limits"):
    assert c["resources"][k]["cpu"] and c["resources"][k]["memory"]
paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
assert sorted(paths.values()) == ["/etc/cni/net.d", "/opt/cni/bin", "/var/lib/cni", "/var/log"], paths
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
args = c.get("args", [])
def arg(name):
    for a in args:
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
assert arg("--bin-dir") == mounts[[n for n, p in paths.items() if p == "/opt/cni/bin"][0]]
assert arg("--conf-dir") == mounts[[n for n, p in paths.items() if p == "/etc/cni/net.d"][0]]
print(arg("--entry") or "")
rk = {x["kind"]: x for x in rbac}
assert rk["ServiceAccount"]["metadata"] == {**rk["ServiceAccount"]["metadata"], "name": "flowsteer", "namespace": "kube-system"}
rules = {(r["resources"][0], tuple(sorted(r["verbs"]))) for r in rk["ClusterRole"]["rules"]}
assert rules == {("pods", ("get", "patch")), ("namespaces", ("get",))}, rules
b = rk["ClusterRoleBinding"]
assert b["roleRef"]["name"] == rk["ClusterRole"]["metadata"]["name"]
assert b["subjects"] == [{"kind": "ServiceAccount", "name": "flowsteer", "namespace": "kube-system"}]
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	# The DaemonSet's --entry is one flowsteer accepts.
	entry=${lines[-1]}
	[ -n "$entry" ]
	calico_conflist "$F"
	fs conflist insert "$F" --entry "$entry"
	has_entry "$F"
}

@test "conf/*.yaml: kubectl create --dry-run=client accepts them (needs kubectl and a cluster)" {
	command -v kubectl >/dev/null || skip "kubectl not installed"
	timeout 15 kubectl get --raw /version --request-timeout=5s >/dev/null 2>&1 ||
		skip "kubectl has no reachable API server (client dry run needs its discovery)"
	for f in "$REPO_ROOT"/conf/*.yaml; do
		run timeout 60 kubectl create --dry-run=client -o yaml -f "$f"
		echo "$f: $output"
		[ "$status" -eq 0 ]
	done
}

@test "conf/Containerfile: builds the static binary, runtime stage adds no library; entrypoint is install --watch" {
	CF=$REPO_ROOT/conf/Containerfile
	grep -Eq '^ENTRYPOINT \["/usr/local/bin/flowsteer", "install", "--watch"\]' "$CF"
	grep -Eq '^FROM debian:12-slim' "$CF"
	grep -Eq 'make distclean && make WERROR=1' "$CF"
	# make fetches cJSON's source: a deb-src entry and dpkg-dev in the build stage.
	build=$(sed -n '/^FROM debian:12 AS build/,/^FROM debian:12-slim/p' "$CF")
	grep -q 'apt-deb-src.sh' <<<"$build"
	grep -qw dpkg-dev <<<"$build"
	runtime=$(sed -n '/^FROM debian:12-slim/,$p' "$CF")
	run grep -c 'apt-get' <<<"$runtime"
	[ "$output" = 0 ]
	# What it copies, build/flowsteer, has no interpreter and no NEEDED library.
	bin=${FLOWSTEER_STATIC_BIN:-$REPO_ROOT/build/flowsteer}
	[ -x "$bin" ] || skip "no static build at $bin"
	run readelf -lW -d "$bin"
	[[ $output != *INTERP* ]]
	[[ $output != *NEEDED* ]]
}

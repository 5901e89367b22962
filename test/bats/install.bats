#!/usr/bin/env bats
# Installing on a node: install.sh into a fake root (DESTDIR) and back out,
# leaving the root exactly as it was; --dry-run changing nothing; the
# manifests and the image recipe in conf/ parse and say what they must
# (the agent's install duty: agent-install.bats). Everything in
# $BATS_TEST_TMPDIR.

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

@test "conf/Containerfile: runtime stage has every library the binary links; entrypoint is install --watch" {
	command -v dpkg >/dev/null || skip "not a dpkg system"
	CF=$REPO_ROOT/conf/Containerfile
	grep -Eq '^ENTRYPOINT \["/usr/local/bin/flowsteer", "install", "--watch"\]' "$CF"
	grep -Eq '^FROM debian:12-slim' "$CF"
	grep -Eq 'make WERROR=1' "$CF"
	runtime=$(sed -n '/^FROM debian:12-slim/,$p' "$CF")
	# Every NEEDED library of the binary (libc and sanitizer runtimes aside) comes from a package
	# the runtime stage installs; so do the dlopen()ed libcurl and libyaml.
	libs=$(readelf -d "$FLOWSTEER_BIN" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' |
		grep -Ev '^(libc\.so|lib[almt]san\.so|libubsan\.so|libm\.so|libgcc_s\.so|libstdc\+\+\.so)')
	[ -n "$libs" ]
	for lib in $libs libcurl.so.4 libyaml-0.so.2; do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64|AArch64|aarch64/ {print $NF; exit}')
		[ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
		pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n1 | cut -d: -f1) ||
			pkg=$(dpkg -S "$path" | head -n1 | cut -d: -f1)
		echo "$lib -> $pkg"
		grep -qw -- "$pkg" <<<"$runtime"
	done
}

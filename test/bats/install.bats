#!/usr/bin/env bats
# Installing on a node: install.sh into a fake root (DESTDIR) and back out,
# leaving the root exactly as it was; --dry-run changing nothing; the
# manifests and the image recipe in conf/ parse and say what they must
# (the agent's install duty: agent-install.bats). Everything in
# $BATS_TEST_TMPDIR.

bats_require_minimum_version 1.5.0

load helpers
load install_helpers

setup() { root_setup; }

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
	# jq is installed (the suite uses it): counted as missing, it is listed
	# from make's own lists and stays installed.
	run timeout "$FS_TIMEOUT" env DEPS_PRETEND_MISSING="jq iputils-ping" "$REPO_ROOT/install.sh" --deps --dry-run
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"deps: would install jq iputils-ping (build-aux/packages/test.txt)"* ]]
	[[ $output == *"nothing was changed"* ]]
	dpkg-query -W -f='${db:Status-Abbrev}' jq | grep -q '^ii'
}

@test "build-aux/deps.sh: silent when nothing is missing; not root: one line naming what is missing" {
	command -v dpkg-query >/dev/null || skip "not a dpkg system"
	run --separate-stderr timeout "$FS_TIMEOUT" "$REPO_ROOT/build-aux/deps.sh" build test
	[ "$status" -eq 0 ]
	[ -z "$output$stderr" ]
	run --separate-stderr timeout "$FS_TIMEOUT" setpriv --reuid=65534 --regid=65534 --clear-groups \
		env HOME=/ DEPS_PRETEND_MISSING="podman mmdebstrap uidmap" "$REPO_ROOT/build-aux/deps.sh" image
	echo "$stderr"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	# Every package of the list counts as missing (installed or not: a
	# fresh machine has none of them), in the list's order.
	[[ $stderr == "deps: missing podman mmdebstrap uidmap (build-aux/packages/image.txt): run as root"*"apt-get install podman mmdebstrap uidmap" ]]
	run --separate-stderr "$REPO_ROOT/build-aux/deps.sh" no-such-group
	[ "$status" -eq 1 ]
	[[ $stderr == *"no package list for group \"no-such-group\""* ]]
}

# yq_image: the agent container's image in the DaemonSet manifest.
yq_image() {
	python3 -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "DaemonSet":
        print(d["spec"]["template"]["spec"]["containers"][0]["image"])' "$REPO_ROOT/conf/flowsteer-daemonset.yaml"
}

# --- .ci/ --------------------------------------------------------------------

@test ".ci/summary: a skipped test is no pass; skips are named before 'N passed, N failed, N skipped'" {
	L=$BATS_TEST_TMPDIR/log
	mkdir -p "$L"
	printf 'ok 1 a\nok 2 needs ipv6 # skip no ipv6\n[  PASSED  ] 4 test(s).\n' >"$L/test.log"
	printf 'ok 1 - x\nskip - STATUS / GC: old libcni\n1 passed, 0 failed, 1 skipped\n' >"$L/e2e.log"
	run "$REPO_ROOT/.ci/summary" "$L" 0
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "skipped: needs ipv6 # skip no ipv6" ]
	[ "${lines[1]}" = "skipped: STATUS / GC: old libcni" ]
	[ "${lines[2]}" = "6 passed, 0 failed, 2 skipped" ]
	printf 'not ok 3 c\n' >>"$L/test.log"
	run "$REPO_ROOT/.ci/summary" "$L" 0
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "6 passed, 1 failed, 2 skipped" ]
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

@test "conf/*.yaml parse; the agent DaemonSet: own ServiceAccount, least-privilege RBAC, exactly its capabilities and mounts" {
	python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml missing"
	run timeout "$FS_TIMEOUT" python3 - "$REPO_ROOT/conf" <<'EOF'
import sys, yaml
d = sys.argv[1]
ds, = [x for x in yaml.safe_load_all(open(d + "/flowsteer-daemonset.yaml")) if x]
rk = {x["kind"]: x for x in yaml.safe_load_all(open(d + "/rbac.yaml")) if x}
assert ds["kind"] == "DaemonSet" and ds["metadata"]["namespace"] == "kube-system"
tpl = ds["spec"]["template"]
pod = tpl["spec"]
sa = rk["ServiceAccount"]["metadata"]
assert sa["namespace"] == "kube-system" and pod["serviceAccountName"] == sa["name"] == "flowsteer-agent"
assert ds["spec"]["selector"]["matchLabels"].items() <= tpl["metadata"]["labels"].items()
assert {"operator": "Exists"} in pod["tolerations"]
# Host network (no dependency on pod networking), no host PID or IPC.
assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
assert not pod.get("hostPID") and not pod.get("hostIPC")
c, = pod["containers"]
sc = c["securityContext"]
# Every capability dropped but the three of docs/agent.md (rps_cpus writes,
# pod netns and sysfs, pods in a user namespace).
assert sc["capabilities"]["drop"] == ["ALL"]
assert sorted(sc["capabilities"]["add"]) == ["DAC_OVERRIDE", "NET_ADMIN", "SYS_ADMIN"], sc["capabilities"]
assert sc["runAsUser"] == 0 and sc["readOnlyRootFilesystem"] is True
assert sc["allowPrivilegeEscalation"] is False and not sc.get("privileged")
assert sc["seccompProfile"]["type"] == "RuntimeDefault"
for k in ("requests", "limits"):
    assert c["resources"][k]["cpu"] and c["resources"][k]["memory"]
# Exactly these host directories; neither /proc nor /sys from the host.
paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
assert sorted(paths.values()) == ["/etc/cni/net.d", "/opt/cni/bin", "/run/flowsteer", "/run/netns",
                                  "/var/lib/kubelet"], paths
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
vm = {paths[m["name"]]: m for m in c["volumeMounts"]}
# Pod netns made after the agent started must show; the kubelet's dir is only read.
assert vm["/run/netns"]["mountPropagation"] == "HostToContainer" and vm["/run/netns"]["readOnly"] is True
assert vm["/var/lib/kubelet"]["readOnly"] is True and "mountPropagation" not in vm["/var/lib/kubelet"]
def arg(name):
    for a in c.get("args", []):
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
by_host = {p: mounts[n] for n, p in paths.items()}
assert arg("--cni-bin-dir") == by_host["/opt/cni/bin"]
assert arg("--cni-conf-dir") == by_host["/etc/cni/net.d"]
assert arg("--annotations-file").startswith(by_host["/run/flowsteer"] + "/")
assert arg("--metrics-addr") == "$(HOST_IP):9967"
assert arg("--state-dir") == by_host["/run/flowsteer"]
assert arg("--cpu-manager-state") == by_host["/var/lib/kubelet"] + "/cpu_manager_state"
assert arg("--daemonset") == "%s/%s" % (ds["metadata"]["namespace"], ds["metadata"]["name"])
env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
assert env == {"NODE_NAME": "spec.nodeName", "HOST_IP": "status.hostIP"}, env
ann = tpl["metadata"]["annotations"]
assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "9967"
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
# Least privilege: read namespaces and pods, patch pods; nothing else.
rules = {(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(sorted(r["verbs"]))) for r in rk["ClusterRole"]["rules"]}
assert rules == {(("",), ("namespaces",), ("list", "watch")),
                 (("",), ("pods",), ("list", "patch", "watch"))}, rules
assert "Secret" not in rk
# On SIGTERM: get of its own DaemonSet, that name in its namespace only.
role = rk["Role"]
assert role["metadata"]["namespace"] == ds["metadata"]["namespace"]
assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["daemonsets"],
                          "resourceNames": [ds["metadata"]["name"]], "verbs": ["get"]}], role["rules"]
for b, r in ((rk["ClusterRoleBinding"], rk["ClusterRole"]), (rk["RoleBinding"], role)):
    assert b["roleRef"]["name"] == r["metadata"]["name"] and b["roleRef"]["kind"] == r["kind"]
    assert b["subjects"] == [{"kind": "ServiceAccount", "name": "flowsteer-agent", "namespace": "kube-system"}]
EOF
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "conf/flowsteer-daemonset.yaml names the image make image tags (the release in VERSION)" {
	[ "$(yq_image)" = "localhost/flowsteer-agent:$(cat "$REPO_ROOT/VERSION")" ]
	[ "$(make -s -C "$REPO_ROOT" -n DEPS=0 image | sed -n 's/^IMAGE=\([^ ]*\) .*/\1/p')" = "$(yq_image)" ]
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

@test "conf/Containerfile: bases are build args; the runtime base has every library the agent links; entrypoint is the agent" {
	command -v dpkg >/dev/null || skip "not a dpkg system"
	CF=$REPO_ROOT/conf/Containerfile
	AGENT=$(dirname "$FLOWSTEER_BIN")/flowsteer-agent
	grep -Eq '^ENTRYPOINT \["/usr/bin/flowsteer-agent"\]' "$CF"
	# The builder runs on the build machine's platform (arm64 is
	# cross-compiled there, never emulated); the runtime is the target's.
	grep -Eq '^FROM --platform=\$BUILDPLATFORM \$\{BUILDER_BASE\} AS build' "$CF"
	grep -Eq '^FROM --platform=\$TARGETPLATFORM \$\{RUNTIME_BASE\}$' "$CF"
	grep -Eq '^COPY --from=build /out/flowsteer /usr/lib/flowsteer/flowsteer' "$CF"
	grep -Eq 'cp "build-\$TARGETARCH/flowsteer-agent" "build-\$TARGETARCH/flowsteer"' "$CF"
	# What it copies, build/flowsteer, has no interpreter and no NEEDED library.
	bin=${FLOWSTEER_STATIC_BIN:-$REPO_ROOT/build/flowsteer}
	if [ -x "$bin" ]; then
		run readelf -lW -d "$bin"
		[[ $output != *INTERP* ]]
		[[ $output != *NEEDED* ]]
	fi
	grep -Eq 'make .*WERROR=1 .*flowsteer-agent' "$CF"
	# Every NEEDED library of the agent (libc and sanitizer runtimes
	# aside) comes from a package of the runtime base (test/image/lib.sh).
	runtime=$(sed -n 's/^RUNTIME_PACKAGES=//p' "$REPO_ROOT/test/image/lib.sh")
	[ -n "$runtime" ]
	libs=$(readelf -d "$AGENT" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' |
		grep -Ev '^(libc\.so|lib[almt]san\.so|libubsan\.so|libm\.so|libgcc_s\.so|libstdc\+\+\.so)')
	[ -n "$libs" ]
	for lib in $libs; do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64|AArch64|aarch64/ {print $NF; exit}')
		[ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
		# Merged /usr: dpkg knows a file by the path its package ships.
		pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n1 | cut -d: -f1)
		[ -n "$pkg" ] || pkg=$(dpkg -S "$path" | head -n1 | cut -d: -f1)
		echo "$lib -> $pkg"
		grep -qw -- "$pkg" <<<"$runtime"
	done
}

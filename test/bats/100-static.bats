#!/usr/bin/env bats
# The binary the DaemonSet copies onto nodes needs nothing there but a Linux
# kernel: it is statically linked, holds no libcurl, libyaml or glibc NSS
# code (static glibc's way to dlopen() the node's libraries), and runs ADD,
# CHECK and DEL of a chained pod chrooted into an otherwise EMPTY root: the
# binary, binds of /proc, /sys and /run/netns, and a stateDir. The binds
# live in a mount namespace of the plugin's own (unshare -m, inside the test's
# node netns) and vanish with it; teardown checks that none is left.
#
# Checks the plain static build (FLOWSTEER_STATIC_BIN, default build/flowsteer)
# and its objects next to it (cmd/*.o, libflowsteer.a), whatever
# FLOWSTEER_BIN is (`make SANITIZE=1 bats` runs an ASan build). The case
# tuning the host veth is tagged needs:rtm_getnsid: left out under
# qemu-user (test/arm64/run.sh). Without fsopen (qemu-user, kernels before
# 5.2, or denied here by test/helpers/deny-syscalls.py) the chrooted plugin
# gets the pod's sysfs from a forked child, whose private mount namespace
# must leave the caller's as it was.

load helpers

STATIC_BIN=${FLOWSTEER_STATIC_BIN:-$BATS_TEST_DIRNAME/../../build/flowsteer}
STATIC_DIR=$(dirname "$STATIC_BIN")

setup() {
	[ -x "$STATIC_BIN" ] || skip "no static build at $STATIC_BIN (run make)"
	ROOT=
	ROOT_WRAP=()
}

teardown() {
	local m
	if [ -n "$ROOT" ]; then
		# Mount points under the root seen from here, deepest first: none
		# should exist (they belong to the plugin's mount namespace).
		for m in $(awk -v r="$ROOT/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
			umount -l "$m" || true
		done
	fi
	teardown_node
}

# The symbols a file defines (nm: T/W/D/B... but not U), one name a line.
defined_symbols() { nm "$1" | awk 'NF == 3 && $2 != "U" && $2 != "w" {print $3}'; }

@test "static: file, ldd and readelf say statically linked, no interpreter" {
	run_helper file -L "$STATIC_BIN"
	assert_match "$output" "statically linked"
	run_helper 1 ldd "$STATIC_BIN"
	assert_match "$stderr" "not a dynamic executable"
	run_helper readelf -lW "$STATIC_BIN"
	assert_no_match "$output" "INTERP|DYNAMIC" "program headers"
}

# FLOWSTEER_ARCH: the Debian architecture the binary is for (make test-arm64
# sets arm64), this machine's by default.
@test "static: an ELF executable for the architecture it was built for" {
	local arch=${FLOWSTEER_ARCH:-$(dpkg --print-architecture)} want
	case $arch in
	amd64) want=x86-64 ;;
	arm64) want="ARM aarch64" ;;
	*) want=$arch ;;
	esac
	run_helper file -L "$STATIC_BIN"
	assert_match "$output" "ELF 64-bit LSB executable, $want, .*statically linked" "file -L ($arch)"
}

@test "static: the plugin's own objects reference no dlopen, libcurl or libyaml" {
	local objs=("$STATIC_DIR"/cmd/*.o "$STATIC_DIR/libflowsteer.a")
	[ -e "${objs[0]}" ] && [ -e "${objs[-1]}" ] || { echo "no objects in $STATIC_DIR" >&2; false; }
	run_helper nm -u "${objs[@]}"
	# The objects do reference their real libraries (the listing is not empty).
	assert_match "$output" " U cJSON_Parse" "undefined symbols"
	assert_match "$output" " U rtnl_link_" "undefined symbols"
	assert_no_match "$output" ' U (dlopen|dlmopen|dlsym|dlvsym|curl_|yaml_)' "undefined symbols"
}

# Static glibc itself always carries dlopen (rtld_static_init links it even
# into an empty main), so what matters is whether anything reaches it: the
# NSS lookups would (getaddrinfo & co. load the node's libnss_*.so), gconv
# only through iconv or a non-C locale, which flowsteer never sets.
@test "static: no libcurl, libyaml or NSS code in the binary" {
	defined_symbols "$STATIC_BIN" >"$BATS_TEST_TMPDIR/syms"
	assert_eq "$(grep -cx -e cJSON_Parse -e rtnl_link_alloc_cache "$BATS_TEST_TMPDIR/syms")" 2 "cJSON_Parse, rtnl_link_alloc_cache defined"
	run_helper 1 grep -E '^(curl_|Curl_|yaml_|__nss_|_nss_|getaddrinfo$|getnameinfo$|gethostby|getprotoby|getservby|getspnam|initgroups$|(getpw|getgr)(nam|uid|gid|ent)(_r)?$)' \
		"$BATS_TEST_TMPDIR/syms"
}

# root_cni VERB CONFIG: the static plugin chrooted into $ROOT with nothing
# in its environment but the CNI variables, in the node netns and a private
# mount namespace holding the binds, behind ROOT_WRAP (outside the root);
# that namespace's mounts are shared and must be the same after the plugin
# (MOUNTS_KEPT_SH).
root_cni() {
	printf '%s' "$2" | timeout "$CNI_TIMEOUT" ip netns exec "$NODE" unshare -m --propagation private \
		sh -c 'mount --bind /proc "$0/proc" && mount --bind /sys "$0/sys" &&
			mount --rbind /run/netns "$0/run/netns" && '"$MOUNTS_KEPT_SH" "$ROOT" \
		env -i CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$POD_NAME" CNI_NETNS="$POD_NETNS" \
		CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$POD_NAMESPACE;K8S_POD_NAME=$POD_NAME" \
		"${ROOT_WRAP[@]}" "$(command -v chroot)" "$ROOT" /flowsteer
}

# static_node: a node, pod web, and an otherwise empty root holding the
# static plugin; CONF names paths inside it only, and a flowCnt ul0 does
# not have yet (so that its restore shows).
static_node() {
	setup_node
	make_pod web
	ROOT=$BATS_TEST_TMPDIR/root
	mkdir -p "$ROOT/proc" "$ROOT/sys" "$ROOT/run/netns" "$ROOT/state"
	cp "$STATIC_BIN" "$ROOT/flowsteer"
	ALL=$(all_cpus_mask)
	save_orig ul0
	[ "${ORIG[ul0]}" != "ul0=$ALL/4096" ]
	CONF=$(conf 1.0.0 '.stateDir = "/state" | .logFile = "/state/flowsteer.log"
		| .annotationsFile = "/state/annotations.json" | .cpuManagerStateFile = "/state/cpu_manager_state"
		| .mode = "rfs" | .scope = "both" | .flowCnt = 4096')
}

# root_status: `flowsteer status --json` of the root's stateDir.
root_status() { FLOWSTEER_BIN=$STATIC_BIN STATE_DIR=$ROOT/state run_helper fs_status --json; }

# bats test_tags=needs:rtm_getnsid
@test "static: ADD chrooted into an empty root tunes the pod, its veth and the node; status lists it; it logs" {
	static_node
	run_helper root_cni ADD "$CONF"
	assert_json "$output" .cniVersion 1.0.0
	expect_tuned "$ALL" 4096 pod "$HOST_VETH" ul0
	root_status
	assert_json "$output" '.attachments[].containerId' ctr-web
	LOG_FILE=$ROOT/state/flowsteer.log assert_log .
}

@test "static: CHECK and DEL chrooted into an empty root; DEL restores the node" {
	static_node
	run_helper root_cni ADD "$CONF"
	run_helper root_cni CHECK "$CONF"
	assert_eq "$output" "" "CHECK's stdout"
	run_helper root_cni DEL "$CONF"
	expect_orig ul0
	root_status
	assert_json "$output" '.attachments | length' 0
}

@test "static: the root holds nothing the plugin did not need, no bind outlives its mount namespace" {
	static_node
	run_helper root_cni ADD "$CONF"
	run_helper root_cni DEL "$CONF"
	assert_eq "$(cd "$ROOT" && ls -A | paste -sd' ')" "flowsteer proc run state sys" "the root"
	assert_eq "$(ls -A "$ROOT/run")" netns "the root's /run"
	assert_eq "$(awk -v r="$ROOT/" 'index($5, r) == 1' /proc/self/mountinfo)" "" "mounts below the root"
}

# Kernels before 5.2 (and qemu-user) have no fsopen: the pod's sysfs comes
# from netns.c's forked child, whose private mount namespace cannot make
# the root, a plain directory, a slave. Scope container (the pod side
# only), so that it runs under qemu-user too.
@test "static: without fsopen, chrooted into a root that is no mount point: ADD, CHECK, DEL of eth0" {
	static_node
	ROOT_WRAP=("$(command -v python3)" "$DENY_SYSCALLS" fsopen=ENOSYS --)
	CONF=$(jq -c '.scope = "container"' <<<"$CONF")
	assert_no_match "$(stat -c %m "$ROOT")" "^$ROOT\$" "the root's mount point"
	run_helper root_cni ADD "$CONF"
	assert_dev eth0 .status applied
	expect_tuned "$ALL" 4096 pod
	run_helper root_cni CHECK "$CONF"
	assert_eq "$output" "" "CHECK's stdout"
	run_helper root_cni DEL "$CONF"
	root_status
	assert_json "$output" '.attachments | length' 0
}

# A nested mount namespace of slaves (its changes stay in it): the root's
# /sys a plain directory, but for the CPU lists the plugin reads first.
@test "static: without fsopen, chrooted, neither / nor /sys a mount point: ADD fails under fail, untuned under ignore; the log names /sys and EINVAL" {
	static_node
	ROOT_WRAP=("$(command -v unshare)" -m --propagation slave "$(command -v sh)" -c 'c=$0/sys/devices/system/cpu
		umount "$0/sys" && mkdir -p "$c" && mount --bind /sys/devices/system/cpu "$c" && exec "$@"'
		"$ROOT" "$(command -v python3)" "$DENY_SYSCALLS" fsopen=ENOSYS --)
	CONF=$(jq -c '.scope = "container"' <<<"$CONF")
	run_helper 0 root_cni ADD "$CONF"
	assert_json "$output" '.flowsteer.warnings[0]' "tuning abandoned, nothing changed: netns $POD_NETNS: a sysfs of it: Invalid argument"
	assert_json "$output" '.flowsteer.devices | length' 0
	run_helper 1 root_cni ADD "$(jq -c '.failurePolicy = "fail"' <<<"$CONF")"
	expect_cni_error 5 "^netns $POD_NETNS: a sysfs of it: Invalid argument\$"
	LOG_FILE=$ROOT/state/flowsteer.log assert_log "making /sys a slave mount \\(/ is no mount point\\) in a private mount namespace: Invalid argument"
}

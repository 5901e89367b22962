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
# FLOWSTEER_BIN is (`make SANITIZE=1 bats` runs an ASan build).

bats_require_minimum_version 1.5.0
load helpers

STATIC_BIN=${FLOWSTEER_STATIC_BIN:-$BATS_TEST_DIRNAME/../../build/flowsteer}
STATIC_DIR=$(dirname "$STATIC_BIN")

setup() {
	[ -x "$STATIC_BIN" ] || skip "no static build at $STATIC_BIN (run make)"
	ROOT=
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
	run file -L "$STATIC_BIN"
	[[ $output == *"statically linked"* ]]
	run ldd "$STATIC_BIN"
	[[ $output == *"not a dynamic executable"* ]]
	run readelf -lW "$STATIC_BIN"
	[[ $output != *INTERP* ]]
	[[ $output != *"DYNAMIC"* ]]
}

@test "static: the plugin's own objects reference no dlopen, libcurl or libyaml" {
	local objs=("$STATIC_DIR"/cmd/*.o "$STATIC_DIR/libflowsteer.a")
	[ -e "${objs[0]}" ]
	[ -e "${objs[-1]}" ]
	run nm -u "${objs[@]}"
	[ "$status" -eq 0 ]
	# The objects do reference their real libraries (the listing is not empty).
	[[ $output == *" U cJSON_Parse"* ]]
	[[ $output == *" U rtnl_link_"* ]]
	run grep -E ' U (dlopen|dlmopen|dlsym|dlvsym|curl_|yaml_)' <<<"$output"
	echo "$output"
	[ "$status" -eq 1 ]
}

# Static glibc itself always carries dlopen (rtld_static_init links it even
# into an empty main), so what matters is whether anything reaches it: the
# NSS lookups would (getaddrinfo & co. load the node's libnss_*.so), gconv
# only through iconv or a non-C locale, which flowsteer never sets.
@test "static: no libcurl, libyaml or NSS code in the binary" {
	defined_symbols "$STATIC_BIN" >"$BATS_TEST_TMPDIR/syms"
	grep -qx cJSON_Parse "$BATS_TEST_TMPDIR/syms"
	grep -qx rtnl_link_alloc_cache "$BATS_TEST_TMPDIR/syms"
	run grep -E '^(curl_|Curl_|yaml_|__nss_|_nss_|getaddrinfo$|getnameinfo$|gethostby|getprotoby|getservby|getspnam|initgroups$|(getpw|getgr)(nam|uid|gid|ent)(_r)?$)' \
		"$BATS_TEST_TMPDIR/syms"
	echo "$output"
	[ "$status" -eq 1 ]
}

# root_cni VERB CONFIG: the static plugin chrooted into $ROOT with nothing
# in its environment but the CNI variables, in the node netns and a private
# mount namespace holding the binds.
root_cni() {
	printf '%s' "$2" | timeout "$CNI_TIMEOUT" ip netns exec "$NODE" unshare -m --propagation private \
		sh -c 'mount --bind /proc "$0/proc" && mount --bind /sys "$0/sys" &&
			mount --rbind /run/netns "$0/run/netns" && exec "$@"' "$ROOT" \
		env -i CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$POD_NAME" CNI_NETNS="$POD_NETNS" \
		CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$POD_NAMESPACE;K8S_POD_NAME=$POD_NAME" \
		"$(command -v chroot)" "$ROOT" /flowsteer
}

# rps FILE: that rx-0 file of the pod's eth0, the host veth and the node's
# underlay ul0 (a node device: restored on the last DEL).
rps() { echo "$(pod_sysfs "$POD_NS" "$1") $(node_sysfs "$HOST_VETH" "$1") $(node_sysfs ul0 "$1")"; }

@test "static: ADD, CHECK, DEL chrooted into an empty root" {
	setup_node
	make_pod web
	ROOT=$BATS_TEST_TMPDIR/root
	mkdir -p "$ROOT/proc" "$ROOT/sys" "$ROOT/run/netns" "$ROOT/state"
	cp "$STATIC_BIN" "$ROOT/flowsteer"
	local all c ul0_cpus ul0_flow
	all=$(all_cpus_mask)
	ul0_cpus=$(node_sysfs ul0 rps_cpus)
	ul0_flow=$(node_sysfs ul0 rps_flow_cnt)
	[ "$ul0_cpus $ul0_flow" != "$all 4096" ]
	c=$(conf 1.0.0 '.stateDir = "/state" | .logFile = "/state/flowsteer.log"
		| .annotationsFile = "/state/annotations.json" | .mode = "rfs" | .scope = "both" | .flowCnt = 4096')

	run root_cni ADD "$c"
	echo "ADD: $status $output"
	[ "$status" -eq 0 ]
	[ "$(jq -r .cniVersion <<<"$output")" = 1.0.0 ]
	[ "$(rps rps_cpus)" = "$all $all $all" ]
	[ "$(rps rps_flow_cnt)" = "4096 4096 4096" ]
	[ "$("$STATIC_BIN" status --json --state-dir "$ROOT/state" | jq -r '.attachments[].containerId')" = ctr-web ]
	grep -q . "$ROOT/state/flowsteer.log"

	run root_cni CHECK "$c"
	echo "CHECK: $status $output"
	[ "$status" -eq 0 ]

	run root_cni DEL "$c"
	echo "DEL: $status $output"
	[ "$status" -eq 0 ]
	[ "$(node_sysfs ul0 rps_cpus) $(node_sysfs ul0 rps_flow_cnt)" = "$ul0_cpus $ul0_flow" ]
	[ "$("$STATIC_BIN" status --json --state-dir "$ROOT/state" | jq '.attachments | length')" -eq 0 ]

	# The root holds nothing the test did not put there, and no bind
	# outlived the plugin's mount namespace.
	[ "$(cd "$ROOT" && ls -A | paste -sd' ')" = "flowsteer proc run state sys" ]
	[ "$(ls -A "$ROOT/run")" = netns ]
	run awk -v r="$ROOT/" 'index($5, r) == 1' /proc/self/mountinfo
	[ -z "$output" ]
}

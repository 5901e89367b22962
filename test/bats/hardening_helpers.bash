# Helpers for the hardening tests (concurrency, crash, bad input, failure
# policy, STATUS/GC, valgrind). Load after helpers.bash.

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
PLUGIN_WRAP=()

# Every rx queue's rps_cpus and rps_flow_cnt of every device in the node
# netns and of eth0 in each pod made so far, one "where dev queue file value"
# line each: what "nothing changed on the node" is compared with.
node_values() {
	local q f ns
	node_run sh -c 'cd /sys/class/net && for q in */queues/rx-*; do
		for f in rps_cpus rps_flow_cnt; do [ -r "$q/$f" ] && echo "node $q/$f $(cat "$q/$f")"; done
	done' 2>/dev/null
	for ns in "${FS_NS[@]}"; do
		case $ns in *p[0-9]*) ;; *) continue ;; esac
		ip netns exec "$ns" sh -c 'cd /sys/class/net && for q in */queues/rx-*; do
			for f in rps_cpus rps_flow_cnt; do [ -r "$q/$f" ] && echo "'"$ns"' $q/$f $(cat "$q/$f")"; done
		done' 2>/dev/null
	done
}

# The stateDir as names, sizes and content hashes (the lock file's content
# never changes; its presence is listed like any file).
state_listing() {
	[ -d "$STATE_DIR" ] || { echo "(no stateDir)"; return 0; }
	(cd "$STATE_DIR" && find . -mindepth 1 -printf '%y %p\n' | sort &&
		find . -type f ! -name lock -exec sha1sum {} + | sort -k2)
}

# snapshot NAME: node values + stateDir listing into $BATS_TEST_TMPDIR/NAME.
snapshot() { { node_values; echo "--"; state_listing; } >"$BATS_TEST_TMPDIR/$1"; }

# assert_unchanged BEFORE AFTER: the two snapshots are identical.
assert_unchanged() {
	if ! diff -u "$BATS_TEST_TMPDIR/$1" "$BATS_TEST_TMPDIR/$2"; then
		echo "the node or the stateDir changed (above: - $1, + $2)"
		return 1
	fi
}

# Number of attachments holding the node devices (SPEC: the reference count
# is the listing of *.n.json).
refs() {
	local n=0 f
	for f in "$STATE_DIR"/attachments/*.n.json; do [ -e "$f" ] && n=$((n + 1)); done
	echo "$n"
}

# Records of any kind.
records() {
	local n=0 f
	for f in "$STATE_DIR"/attachments/*.json; do [ -e "$f" ] && n=$((n + 1)); done
	echo "$n"
}

# Leftover temp files of the atomic writes (none may ever be left behind by
# a process that finished).
tmp_files() { find "$STATE_DIR" -name '*.tmp.*' 2>/dev/null; }

# plugin_env STDIN_FILE [VAR=VALUE | -VAR]...: runs the plugin like cni(),
# with the CNI_* variables changed (-VAR removes one), behind the command
# in PLUGIN_WRAP (e.g. setpriv ...) when set.
plugin_env() {
	local in=$1 a k
	shift
	local -A env=(
		[CNI_COMMAND]=ADD [CNI_CONTAINERID]=${CID:-ctr-$POD_NAME} [CNI_NETNS]=$POD_NETNS
		[CNI_IFNAME]=eth0 [CNI_PATH]=/opt/cni/bin
		[CNI_ARGS]="IgnoreUnknown=1;K8S_POD_NAMESPACE=${POD_NAMESPACE:-default};K8S_POD_NAME=${POD_NAME:-pod}"
	)
	for a; do
		case $a in
		-*) unset "env[${a#-}]" ;;
		*=*) env[${a%%=*}]=${a#*=} ;;
		esac
	done
	local args=()
	for k in "${!env[@]}"; do args+=("$k=${env[$k]}"); done
	timeout "$CNI_TIMEOUT" "${NODE_EXEC[@]}" "${PLUGIN_WRAP[@]}" env -u CNI_COMMAND -u CNI_CONTAINERID -u CNI_NETNS \
		-u CNI_IFNAME -u CNI_PATH -u CNI_ARGS "${args[@]}" "$FLOWSTEER_BIN" <"$in"
}

# The node's original ul0 values, read once in setup.
save_ul0() { UL0_CPUS=$(node_sysfs ul0 rps_cpus); UL0_FLOW=$(node_sysfs ul0 rps_flow_cnt); }
assert_ul0_original() {
	local c f
	c=$(node_sysfs ul0 rps_cpus)
	f=$(node_sysfs ul0 rps_flow_cnt)
	[ "$c" = "$UL0_CPUS" ] && [ "$f" = "$UL0_FLOW" ] ||
		{ echo "ul0 is rps_cpus=$c rps_flow_cnt=$f, expected the originals $UL0_CPUS/$UL0_FLOW"; return 1; }
}

# A build with the crash hooks compiled in (make DEBUG_HOOKS=1).
debug_bin() {
	DEBUG_BIN=${FLOWSTEER_DEBUG_BIN:-$REPO/build-debug/flowsteer}
	if [ -z "${FLOWSTEER_DEBUG_BIN:-}" ]; then
		# Not inheriting a `make test SANITIZE=1`'s flags: one plain build.
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$REPO" SANITIZE= DEBUG_HOOKS=1 \
			BUILD=build-debug >/dev/null 2>&1 ||
			skip "could not build build-debug/flowsteer (make DEBUG_HOOKS=1 BUILD=build-debug)"
	fi
	[ -x "$DEBUG_BIN" ] || skip "no debug build at $DEBUG_BIN"
}

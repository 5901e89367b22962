# shellcheck shell=bash
# containerd as the node's runtime, for e2e/cri/run.sh. Sourced after
# e2e/lib.sh's tb_init. See e2e/README.md ("Through containerd").
#
# containerd runs in the node's network namespace, so the CNI plugins it
# starts take that namespace as "the host": the cali* veths, vxlan.calico
# and the underlay all stay in namespaces the testbed made. It also gets a
# mount namespace of its own (unshare --propagation slave), in which:
# - /sys is a sysfs of the node netns, so flowsteer's /sys/class/net shows
#   the node's devices (what `ip netns exec` does), but /sys/fs/cgroup is
#   carried over: `ip netns exec` drops it, and runc needs it;
# - /run is $CRI_ROOT/run: containerd 1.6 puts shim sockets under
#   /run/containerd/s whatever its config says;
# - every mount containerd makes (netns files, overlay rootfs, /dev/shm)
#   stays in that namespace and goes with its last process.

CRI_LOOPBACK=${CRI_LOOPBACK:-/usr/lib/cni/loopback}

# cri ARGS...: the CRI client (kubelet's part).
cri() {
	timeout "$E2E_CRI_TIMEOUT" "$PY" "$CRI_SRC/cri.py" --endpoint "$CRI_SOCK" --gen "$CRI_ROOT/gen" \
		--timeout $((E2E_CRI_TIMEOUT - 5)) "$@"
}

# cri_setup NODE: CNI dirs, pause image, containerd config; containerd
# started in NODE's netns; the image imported.
cri_setup() {
	local n=$1 dir=${NODE_DIR[$1]} fs i
	CRI_ROOT=$TB_TMP/cri
	CRI_SOCK=$CRI_ROOT/containerd.sock
	CRI_RAW=$CRI_ROOT/raw
	CRI_CG=/${TB_PREFIX}cri
	CRI_IMAGE=localhost/flowsteer-e2e/pause:1
	CRI_NODE=$n
	declare -gA CRI_ID=() CRI_PID=() CRI_IP=() CRI_RC=()
	mkdir -p "$CRI_ROOT"/{run,cgroup,bin,net.d,net.d-031,raw,gen,tmp} || return 1
	# CNI bin dir: the Calico stand-in, and flowsteer behind a spy that keeps
	# each call's input and output (containerd shows neither).
	ln -s "$E2E_DIR/cni/calico" "$CRI_ROOT/bin/calico"
	# containerd's CRI brings lo up itself, through the reference plugin.
	[ -x "$CRI_LOOPBACK" ] || { e2e_log "cri: $CRI_LOOPBACK missing: apt-get install containernetworking-plugins"; return 1; }
	ln -s "$CRI_LOOPBACK" "$CRI_ROOT/bin/loopback"
	sed -e "s|@REAL@|$FLOWSTEER_BIN|" -e "s|@RAW@|$CRI_RAW|" "$CRI_SRC/cni-spy.in" >"$CRI_ROOT/bin/flowsteer" &&
		chmod 755 "$CRI_ROOT/bin/flowsteer" || return 1
	fs=$(jq -cn --arg a "$dir/annotations.json" '{annotationsFile: $a}')
	tb_conflist "$n" "$CRI_ROOT/net.d/10-calico.conflist" 1.0.0 v3.31 "$fs"
	tb_conflist "$n" "$CRI_ROOT/net.d-031/10-calico.conflist" 0.3.1 v3.30 "$fs"
	cc -static -O2 -s -o "$CRI_ROOT/pause" "$CRI_SRC/pause.c" ||
		{ e2e_log "cri: building the static pause failed (needs libc6-dev's libc.a)"; return 1; }
	"$PY" "$CRI_SRC/mkimage.py" "$CRI_ROOT/pause" "$CRI_ROOT/pause.tar" "$CRI_IMAGE" || return 1
	sed -e "s|@ROOT@|$CRI_ROOT|g" -e "s|@SOCKET@|$CRI_SOCK|g" -e "s|@SANDBOX_IMAGE@|$CRI_IMAGE|g" \
		-e "s|@CNI_BIN@|$CRI_ROOT/bin|g" -e "s|@CNI_CONF@|$CRI_ROOT/net.d|g" \
		-e "s|@CNI_CONF_031@|$CRI_ROOT/net.d-031|g" "$CRI_SRC/containerd.toml.in" >"$CRI_ROOT/config.toml" || return 1
	tb_bg nsenter --net="/run/netns/${NODE_NS[$n]}" -- unshare --mount --propagation slave -- \
		/bin/bash -ec 'mount --rbind /sys/fs/cgroup "$1/cgroup"
			mount -t sysfs sysfs /sys
			mount --move "$1/cgroup" /sys/fs/cgroup
			mount --bind "$1/run" /run
			exec "$2" "$3" containerd --config "$1/config.toml"' _ "$CRI_ROOT" "$PY" "$CRI_SRC/reaper.py" \
		>"$CRI_ROOT/containerd.log" 2>&1
	# The reaper: containerd's parent, in its namespaces, and the parent the
	# shims are reparented to (e2e/cri/reaper.py).
	CRI_REAPER_PID=$TB_LAST_PID
	for ((i = 0; i < 150; i++)); do
		kill -0 "$CRI_REAPER_PID" 2>/dev/null || break
		cri version >/dev/null 2>&1 && break
		sleep 0.2
	done
	cri version >/dev/null || { e2e_log "cri: containerd did not come up:"; tail -n 20 "$CRI_ROOT/containerd.log" >&2; return 1; }
	timeout "$E2E_CRI_TIMEOUT" ctr --address "$CRI_SOCK" -n k8s.io images import --snapshotter overlayfs \
		"$CRI_ROOT/pause.tar" >"$CRI_ROOT/import.log" 2>&1 ||
		{ e2e_log "cri: ctr images import failed: $(cat "$CRI_ROOT/import.log")"; return 1; }
}

# cri_pod_run POD ANNOTATIONS_JSON [HANDLER]: RunPodSandbox, then the
# sandbox's ID, pause PID and IP from PodSandboxStatus.
cri_pod_run() {
	local pod=$1 ann=$2 h=${3:-} id
	id=$(cri run --name "$pod" --namespace default --uid "uid-$pod" --annotations "$ann" \
		--cgroup-parent "$CRI_CG" --handler "$h") || return 1
	CRI_ID[$pod]=$id
	cri_pod_status "$pod"
}

cri_pod_status() {
	local pod=$1 st
	st=$(cri status "${CRI_ID[$pod]}") || return 1
	CRI_PID[$pod]=$(jq -r .pid <<<"$st")
	CRI_IP[$pod]=$(jq -r .ip <<<"$st")
	[ "$(jq -r .state <<<"$st")" = SANDBOX_READY ] || { e2e_log "cri: $pod is $(jq -r .state <<<"$st")"; return 1; }
}

# t_run_pod NAME POD ANNOTATIONS_JSON HANDLER
t_run_pod() {
	local name=$1 err=$CRI_ROOT/run.err
	shift
	if cri_pod_run "$@" 2>"$err"; then
		ok "$name: ${CRI_ID[$1]:0:12}, IP ${CRI_IP[$1]}, pause PID ${CRI_PID[$1]}"
	else
		not_ok "$name" "$(tr '\n' ' ' <"$err" | cut -c1-600)"
	fi
}

# cri_pod_sysfs POD FILE [QUEUE]: a queue file of the pod's eth0, read in
# the pod's netns (entered through its pause process; a sysfs mounted in a
# private mount namespace shows that netns).
cri_pod_sysfs() {
	local pid=${CRI_PID[$1]:-}
	[ -n "$pid" ] || { echo "(no pod)"; return; }
	nsenter -t "$pid" -n -- unshare -m --propagation private \
		sh -c 'mount -t sysfs sysfs /sys && cat "$1"' _ "/sys/class/net/eth0/queues/${3:-rx-0}/$2" 2>/dev/null ||
		echo "(missing)"
}

# cri_fs_status: `flowsteer status --json` as an operator on the node runs
# it: in containerd's network and mount namespaces, where the netns paths
# flowsteer recorded (under containerd's state dir) are mounted.
cri_fs_status() {
	nsenter -t "$CRI_REAPER_PID" -n -m -- "$FLOWSTEER_BIN" status --json \
		--state-dir "${NODE_DIR[$CRI_NODE]}/state" 2>/dev/null
}

# cri_log_has CONTAINER_ID TEXT: "yes" when a line of flowsteer's log
# names both.
cri_log_has() {
	grep -F -- "$1" "${NODE_DIR[$CRI_NODE]}/flowsteer.log" 2>/dev/null | grep -qF -- "$2" && echo yes
}

# cri_spy_calls CMD POD: the spy's records (path without extension) of
# flowsteer calls CMD for the pod's sandbox, oldest first.
cri_spy_calls() {
	local id=${CRI_ID[$2]:-none} f
	grep -lx "CNI_CONTAINERID=$id" "$CRI_RAW"/*.env 2>/dev/null | sort | while read -r f; do
		grep -qx "CNI_COMMAND=$1" "$f" && echo "${f%.env}"
	done
}

# cri_spy_rcs CMD POD: the exit status of each such call, one per line.
cri_spy_rcs() { local c; for c in $(cri_spy_calls "$1" "$2"); do cat "$c.rc"; done; }

# cri_spy_in / cri_spy_out CMD POD: stdin / stdout of the pod's last CMD.
cri_spy_in() { local c; c=$(cri_spy_calls "$1" "$2" | tail -n1); [ -n "$c" ] && cat "$c.in"; }
cri_spy_out() { local c; c=$(cri_spy_calls "$1" "$2" | tail -n1); [ -n "$c" ] && cat "$c.out"; }

# cri_spy_summary CALL: "<netns set|empty> <prevResult yes|no> <exit status>"
cri_spy_summary() {
	local c=$1 ns
	ns=$(sed -n 's/^CNI_NETNS=//p' "$c.env")
	printf '%s %s %s\n' "$([ -n "$ns" ] && echo netns || echo empty)" \
		"$(jq -r 'if has("prevResult") then "prevResult" else "noPrevResult" end' "$c.in" 2>/dev/null)" "$(cat "$c.rc")"
}

# cri_stop_remove_checks POD: StopPodSandbox, then RemovePodSandbox, as
# kubelet does, and what flowsteer saw and left after each.
cri_stop_remove_checks() {
	local pod=$1 id=${CRI_ID[$1]} first calls out
	# libcni passes the cached result on DEL from CNI 0.4.0 on only.
	first=prevResult
	[ "$(cri status "$id" | jq -r .runtimeHandler)" = cni031 ] && first=noPrevResult
	if out=$(cri stop "$id" 2>&1); then ok "StopPodSandbox $pod"; else not_ok "StopPodSandbox $pod" "$out"; fi
	calls=$(cri_spy_calls DEL "$pod")
	t_eq "$pod: stop ran one DEL: netns set, $first (libcni's cache), exit 0" "1 netns $first 0" \
		"$(wc -l <<<"$calls" | tr -d ' ') $([ -n "$calls" ] && cri_spy_summary "$(head -n1 <<<"$calls")")"
	t_eq "$pod: $(cali_name default "$pod") gone" "" \
		"$(node_exec "$CRI_NODE" ip -br link show "$(cali_name default "$pod")" 2>/dev/null)"
	t_eq "$pod: flowsteer status: record gone after the stop" 0 \
		"$(cri_fs_status | jq --arg id "$id" '[.attachments[] | select(.containerId == $id)] | length')"
	if out=$(cri remove "$id" 2>&1); then ok "RemovePodSandbox $pod"; else not_ok "RemovePodSandbox $pod" "$out"; fi
	calls=$(cri_spy_calls DEL "$pod")
	t_eq "$pod: remove ran a second DEL: CNI_NETNS empty, no prevResult, exit 0" "2 empty noPrevResult 0" \
		"$(wc -l <<<"$calls" | tr -d ' ') $([ -n "$calls" ] && cri_spy_summary "$(tail -n1 <<<"$calls")")"
	t_eq "$pod: flowsteer status: no record after the remove" 0 \
		"$(cri_fs_status | jq --arg id "$id" '[.attachments[] | select(.containerId == $id)] | length')"
	t_eq "$pod: ListPodSandbox no longer has it" 0 "$(cri list | jq --arg id "$id" '[.[] | select(.id == $id)] | length')"
}

# cri_parallel run|stop|remove POD...: one CRI client per pod, all at once,
# as kubelet's pod workers do; exit statuses in CRI_RC. "run" alternates
# the two conflist versions (default handler, cni031) and gives odd pods an
# unrelated annotation.
cri_parallel() {
	local verb=$1 pod i=0 pids=() args
	shift
	for pod in "$@"; do
		case $verb in
		run)
			args=(run --name "$pod" --namespace default --uid "uid-$pod" --cgroup-parent "$CRI_CG")
			((i % 2)) && args+=(--handler cni031 --annotations '{"example.com/team":"e2e"}')
			;;
		*) args=("$verb" "${CRI_ID[$pod]:-none}") ;;
		esac
		tb_bg cri "${args[@]}" >"$CRI_ROOT/par-$verb-$pod.out" 2>"$CRI_ROOT/par-$verb-$pod.err"
		pids+=("$TB_LAST_PID")
		i=$((i + 1))
	done
	i=0
	for pod in "$@"; do
		CRI_RC[$pod]=0
		tb_wait "${pids[$i]}" || CRI_RC[$pod]=$?
		if [ "$verb" = run ] && [ "${CRI_RC[$pod]}" = 0 ]; then
			CRI_ID[$pod]=$(cat "$CRI_ROOT/par-run-$pod.out")
			cri_pod_status "$pod" || CRI_RC[$pod]=1
		fi
		[ "${CRI_RC[$pod]}" = 0 ] || e2e_log "cri: $verb $pod: $(head -c 400 "$CRI_ROOT/par-$verb-$pod.err")"
		i=$((i + 1))
	done
}

# PIDs of what containerd left behind, should the reaper not have got it
# all: the reaper's children, the shims (their -address is this run's
# socket, unique to the temp dir), their children (pause), anything in this
# run's cgroups and in the node's netns.
cri_leftover_pids() {
	local p shims=() d
	[ -n "${CRI_REAPER_PID:-}" ] && ps -o pid= --ppid "$CRI_REAPER_PID" 2>/dev/null
	for p in /proc/[0-9]*; do
		{ tr '\0' '\n' <"$p/cmdline"; } 2>/dev/null | grep -qxF -- "$CRI_SOCK" && shims+=("${p#/proc/}")
	done
	printf '%s\n' "${shims[@]}"
	for p in "${shims[@]}"; do ps -o pid= --ppid "$p" 2>/dev/null; done
	for d in /sys/fs/cgroup/*"$CRI_CG"; do
		[ -d "$d" ] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
	done
	ip netns pids "${NODE_NS[$CRI_NODE]}" 2>/dev/null
}

# cri_kill_wait SIGNAL SECONDS PID...: signals and waits until each PID has
# exited (or is a zombie).
cri_kill_wait() {
	local sig=$1 secs=$2 p i left
	shift 2
	[ $# -gt 0 ] || return 0
	kill -s "$sig" "$@" 2>/dev/null
	for ((i = 0; i < secs * 10; i++)); do
		left=0
		for p in "$@"; do
			[ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && left=1
		done
		[ $left = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# Stops containerd and everything it started, removes this run's cgroups
# and any mount under the temp dir, then hands over to tb_cleanup
# (namespaces, temp dir, sysctl).
cri_cleanup() {
	local rc=$? d i pids
	trap - EXIT INT TERM
	set +e
	if [ -n "${CRI_ROOT:-}" ]; then
		# SIGTERM to the reaper stops containerd; the reaper then kills and
		# reaps what containerd left (shims, pause) and exits.
		[ -n "${CRI_REAPER_PID:-}" ] && { cri_kill_wait TERM 20 "$CRI_REAPER_PID" || cri_kill_wait KILL 5 "$CRI_REAPER_PID"; }
		for i in 1 2 3; do
			pids=$(cri_leftover_pids | sort -u | grep -vx "$$")
			[ -n "$pids" ] || break
			# shellcheck disable=SC2086 # one PID per word
			cri_kill_wait KILL 5 $pids
		done
		for d in /sys/fs/cgroup/*"$CRI_CG"; do
			e2e_cgroup_rm "$d" || e2e_log "cri: cgroup $d could not be removed"
		done
		awk -v t="$TB_TMP" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
			while read -r d; do umount -l "$d"; done
	fi
	(exit "$rc")
	tb_cleanup
}

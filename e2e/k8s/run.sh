#!/bin/bash
# make e2e-k8s: flowsteer on a single-node cluster of real components, as
# an operator installs it: etcd, kube-apiserver (RBAC, a real ServiceAccount
# issuer), kube-controller-manager, kube-scheduler, kube-proxy (iptables),
# kubelet (static CPU manager) and containerd with runc; the shipped
# conf/rbac.yaml and conf/flowsteer-daemonset.yaml applied with kubectl,
# only the image reference changed; every duty of the agent and the
# plugin then proven through kubectl and the kernel. Prints a story of TAP
# lines and "N passed, N failed"; exits non-zero on failure.
#
# Isolation: this script (outer half) makes a node network namespace
# (fsk8s-<pid>-node, 198.51.100.1/24, a veth to fsk8s-<pid>-peer so that
# the node IP is not loopback; no default route), a cgroup parent
# fsk8s-<pid> in every v1 hierarchy, and re-runs itself (inner half) in
# that netns and a private mount namespace, where the host paths the
# manifests name are bind mounts of temp dirs (e2e/k8s/lib.sh). On exit,
# Ctrl-C or failure the outer half kills what is left, removes the
# cgroups and namespaces and says what, if anything, it could not remove.
#
# Env: K8S_QUIET_SECONDS (default 600: the quiet-watch phase), E2E_KEEP=1
# keeps the temp dir (component logs under log/), FLOWSTEER_K8S_CACHE
# (e2e/k8s/build-kube.sh), AGENT_TAR (default build/flowsteer-agent-image.tar).
set -uo pipefail
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/../lib.sh"
K8S_DIR=$E2E_DIR/k8s
AGENT_TAR=${AGENT_TAR:-$REPO/build/flowsteer-agent-image.tar}
QUIET=${K8S_QUIET_SECONDS:-600}

# ------------------------------------------------------------ outer half

outer_cgroups() {
	local d c
	for d in /sys/fs/cgroup/*/; do
		c=${d%/}
		[ -e "$c/cgroup.procs" ] || continue
		mkdir -p "$c/$K8S_CG" || return 1
		if [ -e "$c/cpuset.cpus" ]; then
			cat "$c/cpuset.cpus" >"$c/$K8S_CG/cpuset.cpus" && cat "$c/cpuset.mems" >"$c/$K8S_CG/cpuset.mems" || return 1
		fi
	done
}

# PIDs this run left: in the node netns, in its cgroups, or with its temp
# dir on their command line.
outer_leftover_pids() {
	local p
	ip netns pids "$K8S_NODE_NS" 2>/dev/null
	ip netns pids "$K8S_PEER_NS" 2>/dev/null
	find /sys/fs/cgroup/*/"$K8S_CG" -name cgroup.procs -exec cat {} + 2>/dev/null
	for p in /proc/[0-9]*; do
		{ tr '\0' '\n' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$KT" && echo "${p#/proc/}"
	done
}

outer_cleanup() {
	local rc=$? i pids d left=()
	trap - EXIT INT TERM
	set +e
	if [ -n "${INNER_PID:-}" ] && kill -0 "$INNER_PID" 2>/dev/null; then
		kill -TERM "$INNER_PID" 2>/dev/null
		for ((i = 0; i < 1200; i++)); do kill -0 "$INNER_PID" 2>/dev/null || break; sleep 0.1; done
	fi
	for i in 1 2 3 4 5; do
		pids=$(outer_leftover_pids | sort -u | grep -vx -e "$$" -e "$BASHPID")
		[ -n "$pids" ] || break
		# shellcheck disable=SC2086 # one PID per word
		kill -KILL $pids 2>/dev/null
		sleep 0.5
	done
	e2e_cgroup_rm /sys/fs/cgroup/*/"$K8S_CG"
	ip netns del "$K8S_NODE_NS" 2>/dev/null
	ip netns del "$K8S_PEER_NS" 2>/dev/null
	# What is left, if anything.
	pids=$(outer_leftover_pids | sort -u | grep -vx -e "$$" -e "$BASHPID" | xargs)
	[ -z "$pids" ] || left+=("processes: $pids")
	for d in /sys/fs/cgroup/*/"$K8S_CG"; do [ -d "$d" ] && left+=("cgroup $d"); done
	ip netns list 2>/dev/null | grep -q "^fsk8s-$$-" && left+=("netns: $(ip netns list | grep "^fsk8s-$$-" | xargs)")
	grep -qF -- "$KT" /proc/self/mountinfo && left+=("mounts: $(grep -cF -- "$KT" /proc/self/mountinfo)")
	if [ -d "$KT" ]; then
		if [ "${E2E_KEEP:-0}" = 1 ]; then
			e2e_log "e2e-k8s: kept $KT (E2E_KEEP=1)"
		else
			rm -rf "$KT" 2>/dev/null || left+=("temp dir $KT")
		fi
	fi
	read -r PASS FAIL 2>/dev/null <"$KT.counts" || { PASS=0 FAIL=1; }
	rm -f "$KT.counts"
	NUM=$((PASS + FAIL))
	[ "$rc" = 0 ] || [ "$FAIL" != 0 ] || not_ok "the run ended early" "exit status $rc"
	if [ ${#left[@]} = 0 ]; then
		ok "cleanup: no process, mount, namespace or cgroup of the run is left (the iptables rules went with the node netns)"
	else
		not_ok "cleanup: left behind" "${left[*]}"
	fi
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" = 0 ] && [ "$rc" = 0 ] && exit 0
	exit 1
}

outer_main() {
	e2e_need_root
	e2e_need_tools ip jq nsenter unshare mount umount openssl etcd iptables iptables-save conntrack \
		containerd containerd-shim-runc-v2 ctr runc cc curl ping
	[ -s "$AGENT_TAR" ] || e2e_die "$AGENT_TAR missing: make image"
	e2e_build_flowsteer
	KBIN=$("$K8S_DIR/build-kube.sh") || e2e_die "building Kubernetes failed (e2e/k8s/build-kube.sh)"
	export KBIN AGENT_TAR FLOWSTEER_BIN QUIET
	KT=$(mktemp -d /tmp/fsk8s.XXXXXX)
	K8S_CG=fsk8s-$$
	K8S_NODE_NS=fsk8s-$$-node K8S_PEER_NS=fsk8s-$$-peer
	export KT K8S_CG
	trap outer_cleanup EXIT
	trap 'e2e_log "e2e-k8s: interrupted"; exit 130' INT
	trap 'e2e_log "e2e-k8s: terminated"; exit 143' TERM
	echo "0 1" >"$KT.counts"
	ip netns add "$K8S_NODE_NS" && ip netns add "$K8S_PEER_NS" || e2e_die "ip netns add failed"
	ip -n "$K8S_NODE_NS" link set lo up && ip -n "$K8S_PEER_NS" link set lo up &&
		ip -n "$K8S_NODE_NS" link add eth0 type veth peer name eth0 netns "$K8S_PEER_NS" &&
		ip -n "$K8S_NODE_NS" addr add 198.51.100.1/24 dev eth0 && ip -n "$K8S_PEER_NS" addr add 198.51.100.2/24 dev eth0 &&
		ip -n "$K8S_NODE_NS" link set eth0 up && ip -n "$K8S_PEER_NS" link set eth0 up &&
		ip -n "$K8S_NODE_NS" route add 198.18.0.0/24 dev eth0 || e2e_die "node network setup failed"
	outer_cgroups || e2e_die "cgroup parent $K8S_CG failed"
	echo "# flowsteer on a real Kubernetes node: kubernetes $("$KBIN/kubelet" --version | awk '{print $2}'), containerd $(containerd --version | awk '{print $3}'), CPUs $(cpus_online), temp $KT"
	nsenter --net="/run/netns/$K8S_NODE_NS" -- unshare --mount --propagation private -- "$0" --inner &
	INNER_PID=$!
	wait "$INNER_PID"
	local rc=$?
	INNER_PID=""
	exit "$rc"
}

if [ "${1:-}" != --inner ]; then
	outer_main
fi

# ------------------------------------------------------------ inner half

# shellcheck source=e2e/k8s/lib.sh
. "$K8S_DIR/lib.sh"
# shellcheck source=e2e/k8s/checks.sh
. "$K8S_DIR/checks.sh"
inner_main

#!/bin/bash
# flowsteer through a real container runtime (make e2e-cri): Debian's
# containerd 1.6 with its CRI plugin, its own config, root, state and socket
# under a temp dir, run inside the testbed's node network namespace; a
# small Python CRI client plays kubelet (RunPodSandbox, PodSandboxStatus,
# StopPodSandbox, RemovePodSandbox); containerd's libcni runs the chain
# Calico stand-in -> flowsteer from a temp CNI bin/conf dir, handing pod
# annotations through runtimeConfig. The pods' sandbox image is a static
# pause built and imported here. Prints "N passed, N failed" and exits
# non-zero on failure. See e2e/README.md ("Through containerd").
#
# Env: FLOWSTEER_BIN (default build/flowsteer, built if absent),
# E2E_KEEP=1 keeps the temp dir (containerd log, flowsteer log, each
# flowsteer call's stdin/stdout under cri/raw), E2E_PYTHON (default
# /usr/bin/python3: Debian's python3-grpcio and python3-protobuf).
set -uo pipefail
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/../lib.sh"
CRI_SRC=$E2E_DIR/cri
PY=${E2E_PYTHON:-/usr/bin/python3}
E2E_CRI_TIMEOUT=${E2E_CRI_TIMEOUT:-60}

e2e_need_root
e2e_need_tools ip jq nsenter unshare mount umount flock sha1sum timeout containerd containerd-shim-runc-v2 ctr runc protoc cc
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null ||
	e2e_die "$PY lacks grpc/protobuf: apt-get install python3-grpcio python3-protobuf"
e2e_build_flowsteer
tb_init
# shellcheck source=e2e/cri/lib.sh
. "$CRI_SRC/lib.sh"
trap cri_cleanup EXIT

PASS=0 FAIL=0 SKIP=0 NUM=0
skip() { SKIP=$((SKIP + 1)); echo "skip - $1${2:+: $2}"; }
ok() { NUM=$((NUM + 1)); PASS=$((PASS + 1)); echo "ok $NUM - $1"; }
not_ok() { NUM=$((NUM + 1)); FAIL=$((FAIL + 1)); echo "not ok $NUM - $1${2:+: $2}"; }
t_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "want \"$2\", got \"$3\""; fi; }
# t_in NAME "WANT1 WANT2" GOT: GOT is one of the accepted values.
t_in() { if [[ " $2 " == *" $3 "* ]]; then ok "$1 ($3)"; else not_ok "$1" "want one of \"$2\", got \"$3\""; fi; }

N1=node1 N2=node2
ALL=$(cpulist_to_mask "$(cpus_online)")
NONE=$(cpulist_to_mask "")
CPU0=$(cpulist_to_mask 0)
FLOWS=32768
# containerd 1.6 passes "io.kubernetes.cri.pod-annotations": null for a pod
# without annotations: the runtime speaks for the pod (the agent's cached
# entry is not consulted), and with no flowsteer.io/ key of its own the
# configuration decides, so the report's source is "config".
SOURCE_FOR_NULL="config"

echo "# flowsteer e2e through containerd: $FLOWSTEER_BIN ($("$FLOWSTEER_BIN" version 2>/dev/null | head -1))"
tb_up $N1 $N2
tb_sockflow_set $FLOWS
declare -A ORIG
for d in vxlan.calico eth0; do
	for f in rps_cpus rps_flow_cnt; do ORIG[$d/$f]=$(node_sysfs $N1 $d $f); done
done

cri_setup $N1 || e2e_die "containerd setup failed"
echo "# containerd $(containerd --version | awk '{print $3}') in ${NODE_NS[$N1]}, socket $CRI_SOCK, CPUs $(cpus_online) (mask $ALL)"
t_eq "CRI Version: containerd serves runtime.v1" "containerd v1" \
	"$(cri version | jq -r '[.runtimeName, .runtimeApiVersion] | join(" ")')"

# tuned_checks POD: the pod's eth0 (inside its netns), its host veth and
# flowsteer's record, for a pod tuned with the defaults (mode rfs, scope
# both, all CPUs).
tuned_checks() {
	local pod=$1 cali
	cali=$(cali_name default "$pod")
	t_eq "$pod: eth0 rps_cpus (all CPUs, read in the pod netns)" "$ALL" "$(cri_pod_sysfs "$pod" rps_cpus)"
	t_eq "$pod: eth0 rps_flow_cnt" $FLOWS "$(cri_pod_sysfs "$pod" rps_flow_cnt)"
	t_eq "$pod: $cali rps_cpus" "$ALL" "$(node_sysfs $N1 "$cali" rps_cpus)"
	t_eq "$pod: $cali rps_flow_cnt" $FLOWS "$(node_sysfs $N1 "$cali" rps_flow_cnt)"
	t_eq "$pod: flowsteer status: rfs/both, devices eth0 + $cali ok" "rfs both eth0:container:ok $cali:host:ok" \
		"$(cri_fs_status | jq -r --arg id "${CRI_ID[$pod]:-none}" '.attachments[] | select(.containerId == $id) |
			[.mode, .scope, (.devices | map(select(.scope != "node")) | sort_by(.scope) |
			map("\(.name):\(.scope):\(.state)") | .[])] | join(" ")' 2>/dev/null)"
}

TUNED=() # pods flowsteer tunes, in creation order
# One pass per conflist version: containerd's default handler reads the
# 1.0.0 conflist, the "cni031" handler (a RuntimeClass) the 0.3.1 one.
for h in "" cni031; do
	v=1.0.0 sfx=v100
	[ "$h" = cni031 ] && v=0.3.1 sfx=v031
	echo "# CNI $v (runtime handler ${h:-default}): RunPodSandbox, annotations through runtimeConfig"

	pod=plain-$sfx
	TUNED+=("$pod")
	t_run_pod "RunPodSandbox $pod (no annotations, CNI $v)" "$pod" '{}' "$h"
	t_eq "$pod: containerd passed the capability as null" null \
		"$(cri_spy_in ADD "$pod" | jq -c '.runtimeConfig["io.kubernetes.cri.pod-annotations"]')"
	t_eq "$pod: flowsteer got prevResult at $v and answered $v" "$v $v" \
		"$(cri_spy_in ADD "$pod" | jq -r '[.cniVersion, .prevResult.cniVersion] | join(" ")')"
	t_eq "$pod: sandbox IP from the chain's result" "${CRI_IP[$pod]:-}" \
		"$(cri_spy_out ADD "$pod" | jq -r '.ips[0].address | sub("/.*"; "")')"
	tuned_checks "$pod"
	t_in "$pod: report source (null annotations: the runtime speaks, the config decides)" "$SOURCE_FOR_NULL" \
		"$(cri_spy_out ADD "$pod" | jq -r .flowsteer.source)"
	t_eq "$pod: flowsteer log has a line for the ADD" yes "$(cri_log_has "${CRI_ID[$pod]:-none}" "default/$pod")"

	pod=optout-$sfx
	t_run_pod "RunPodSandbox $pod (flowsteer.io/mode=off, CNI $v)" "$pod" '{"flowsteer.io/mode":"off"}' "$h"
	t_eq "$pod: annotations arrived in runtimeConfig" off \
		"$(cri_spy_in ADD "$pod" | jq -r '.runtimeConfig["io.kubernetes.cri.pod-annotations"]["flowsteer.io/mode"]')"
	t_eq "$pod: report mode off, source runtime" "off runtime" \
		"$(cri_spy_out ADD "$pod" | jq -r '[.flowsteer.mode, .flowsteer.source] | join(" ")')"
	t_eq "$pod: eth0 rps_cpus untouched" "$NONE" "$(cri_pod_sysfs "$pod" rps_cpus)"
	t_eq "$pod: eth0 rps_flow_cnt untouched" 0 "$(cri_pod_sysfs "$pod" rps_flow_cnt)"
	t_eq "$pod: $(cali_name default "$pod") rps_cpus untouched" "$NONE" \
		"$(node_sysfs $N1 "$(cali_name default "$pod")" rps_cpus)"
	t_eq "$pod: flowsteer status has no tuned record" 0 \
		"$(cri_fs_status | jq --arg id "${CRI_ID[$pod]:-none}" '[.attachments[] | select(.containerId == $id and .mode != "off")] | length')"

	pod=narrow-$sfx
	if [ "$ALL" = "$CPU0" ]; then
		skip "$pod" "one online CPU: a narrowed mask equals the full one"
		continue
	fi
	TUNED+=("$pod")
	t_run_pod "RunPodSandbox $pod (flowsteer.io/cpus=0, CNI $v)" "$pod" '{"flowsteer.io/cpus":"0"}' "$h"
	t_eq "$pod: report cpus 0 from the runtime" "0 runtime" \
		"$(cri_spy_out ADD "$pod" | jq -r '[.flowsteer.cpus, .flowsteer.source] | join(" ")')"
	t_eq "$pod: eth0 rps_cpus narrowed to CPU 0" "$CPU0" "$(cri_pod_sysfs "$pod" rps_cpus)"
	t_eq "$pod: eth0 rps_flow_cnt" $FLOWS "$(cri_pod_sysfs "$pod" rps_flow_cnt)"
	t_eq "$pod: $(cali_name default "$pod") rps_cpus narrowed to CPU 0" "$CPU0" \
		"$(node_sysfs $N1 "$(cali_name default "$pod")" rps_cpus)"
done

echo "# node devices while pods run (hostDevices @calico + @underlay)"
for d in vxlan.calico eth0; do
	t_eq "$N1: $d rps_cpus" "$ALL" "$(node_sysfs $N1 $d rps_cpus)"
	t_eq "$N1: $d rps_flow_cnt" $FLOWS "$(node_sysfs $N1 $d rps_flow_cnt)"
done
t_eq "flowsteer status: the tuned pods, node refcount, no drift" \
	"$(printf '%s\n' "${TUNED[@]}" | sort | xargs) refcount=${#TUNED[@]} drift=0" \
	"$(cri_fs_status | jq -r '([.attachments[] | select(.mode != "off") | .podName] | sort) + ["refcount=\(.node.refcount)", "drift=\(.drift)"] | join(" ")')"

echo "# StopPodSandbox (DEL with the netns) then RemovePodSandbox (DEL again, netns gone)"
left=${#TUNED[@]} last=""
for pod in optout-v100 plain-v100 narrow-v100 optout-v031 plain-v031 narrow-v031; do
	[ -n "${CRI_ID[$pod]:-}" ] || continue
	last=$pod
	cri_stop_remove_checks "$pod"
	[[ $pod == optout-* ]] || left=$((left - 1))
	if [ $left -gt 0 ]; then
		t_eq "$N1: vxlan.calico still tuned while $left tuned pod(s) left" "$ALL" "$(node_sysfs $N1 vxlan.calico rps_cpus)"
	fi
done
for d in vxlan.calico eth0; do
	for f in rps_cpus rps_flow_cnt; do
		t_eq "$N1: $d $f restored after the last pod ($last)" "${ORIG[$d/$f]}" "$(node_sysfs $N1 $d $f)"
	done
done

echo "# 8 pods at once (parallel RunPodSandbox, both conflist versions), then all stopped and removed"
BULK=()
for i in 0 1 2 3 4 5 6 7; do BULK+=("bulk-$i"); done
cri_parallel run "${BULK[@]}"
for pod in "${BULK[@]}"; do
	t_eq "RunPodSandbox $pod (parallel)" 0 "${CRI_RC[$pod]}"
done
for pod in "${BULK[@]}"; do
	[ -n "${CRI_ID[$pod]:-}" ] || continue
	t_eq "$pod: eth0 rps_cpus / rps_flow_cnt" "$ALL $FLOWS" \
		"$(cri_pod_sysfs "$pod" rps_cpus) $(cri_pod_sysfs "$pod" rps_flow_cnt)"
	t_eq "$pod: $(cali_name default "$pod") rps_cpus / rps_flow_cnt" "$ALL $FLOWS" \
		"$(node_sysfs $N1 "$(cali_name default "$pod")" rps_cpus) $(node_sysfs $N1 "$(cali_name default "$pod")" rps_flow_cnt)"
done
t_eq "8 distinct pod IPs" 8 "$(for p in "${BULK[@]}"; do echo "${CRI_IP[$p]:-}"; done | grep . | sort -u | wc -l)"
t_eq "flowsteer status: 8 attachments, node refcount 8, no drift" "8 8 0" \
	"$(cri_fs_status | jq -r '[(.attachments | length), .node.refcount, .drift] | join(" ")')"
t_eq "$N1: vxlan.calico tuned with 8 pods" "$ALL" "$(node_sysfs $N1 vxlan.calico rps_cpus)"
cri_parallel stop "${BULK[@]}"
for pod in "${BULK[@]}"; do t_eq "StopPodSandbox $pod (parallel)" 0 "${CRI_RC[$pod]}"; done
t_eq "flowsteer status: no attachment after the parallel stops" 0 "$(cri_fs_status | jq '.attachments | length')"
cri_parallel remove "${BULK[@]}"
for pod in "${BULK[@]}"; do t_eq "RemovePodSandbox $pod (parallel)" 0 "${CRI_RC[$pod]}"; done
for pod in "${BULK[@]}"; do
	t_eq "$pod: two DELs (stop, remove), both exit 0" "0 0" "$(cri_spy_rcs DEL "$pod" | xargs)"
done

echo "# the node afterwards"
for d in vxlan.calico eth0; do
	for f in rps_cpus rps_flow_cnt; do
		t_eq "$N1: $d $f back to its value before the first pod" "${ORIG[$d/$f]}" "$(node_sysfs $N1 $d $f)"
	done
done
t_eq "ListPodSandbox: no sandbox left" 0 "$(cri list | jq length)"
t_eq "flowsteer status: no attachment, refcount 0" "0 0" \
	"$(cri_fs_status | jq -r '[(.attachments | length), (.node.refcount // 0)] | join(" ")')"
t_eq "$N1: no cali* veth left" "" "$(node_exec $N1 ip -br link show | awk '$1 ~ /^cali/ {print $1}')"
t_eq "$N1: no pod address left allocated" "" "$(ls "${NODE_DIR[$N1]}/ipam")"
t_eq "containerd called flowsteer only with ADD and DEL (never CHECK, GC, STATUS)" "ADD DEL" \
	"$(cat "$CRI_RAW"/*.env | sed -n 's/^CNI_COMMAND=//p' | sort -u | xargs)"
t_eq "every flowsteer call exited 0" "" "$(grep -lv '^0$' "$CRI_RAW"/*.rc 2>/dev/null)"
t_eq "flowsteer log: no error line" 0 "$(awk '$2 == "error"' "${NODE_DIR[$N1]}/flowsteer.log" | wc -l)"

echo "$PASS passed, $FAIL failed$([ $SKIP = 0 ] || echo ", $SKIP skipped")"
if [ $FAIL -gt 0 ]; then
	echo "# last lines of the flowsteer log:"
	tail -n 20 "${NODE_DIR[$N1]}/flowsteer.log" 2>/dev/null | sed 's/^/#   /'
	echo "# last lines of the containerd log:"
	grep -E 'level=(error|warning)' "$CRI_ROOT/containerd.log" 2>/dev/null | tail -n 10 | cut -c1-400 | sed 's/^/#   /'
	exit 1
fi
exit 0

# shellcheck shell=bash
# The checks of e2e/k8s/run.sh (inner half: in the node netns and the
# private mount namespace, after e2e/k8s/lib.sh). Each duty of issue 15,
# proven through kubectl and the kernel. See e2e/README.md.

AGENT_IMAGE_A=localhost/flowsteer-agent:e2e-a
AGENT_IMAGE_B=localhost/flowsteer-agent:e2e-b
FS_RUN=$KT/host_run_flowsteer
REMASK_BOUND=${K8S_REMASK_BOUND:-10}

# ---------------------------------------------------------------- pods

# k8s_pod NAME [NAMESPACE] [ANNOTATIONS_JSON] [CPU]: a pod whose container
# (the static pause) keeps running, read-only /sys as runc gives every
# unprivileged container; CPU set: Guaranteed (requests = limits).
k8s_pod() {
	jq -n --arg name "$1" --arg ns "${2:-default}" --argjson ann "${3:-"{}"}" --arg cpu "${4:-}" \
		--arg img "$K8S_PAUSE" '
	{apiVersion: "v1", kind: "Pod", metadata: {name: $name, namespace: $ns, annotations: $ann},
	 spec: {terminationGracePeriodSeconds: 2, automountServiceAccountToken: false, enableServiceLinks: false,
	  containers: [{name: "main", image: $img, imagePullPolicy: "Never"} +
	   (if $cpu == "" then {} else
	    {resources: {requests: {cpu: $cpu, memory: "16Mi"}, limits: {cpu: $cpu, memory: "16Mi"}}} end)]}}' |
		kubectl apply -f - >/dev/null
}

pod_ready() { kubectl -n "$2" wait --for=condition=Ready "pod/$1" --timeout="${3:-90}s" >/dev/null 2>&1; }

# t_pod NAME NS ANN CPU: creates the pod and checks that it runs.
t_pod() {
	local t0=$SECONDS
	if k8s_pod "$1" "$2" "${3:-"{}"}" "${4:-}" && pod_ready "$1" "$2"; then
		ok "pod $2/$1 Running in $((SECONDS - t0)) s (IP $(kubectl -n "$2" get pod "$1" -o jsonpath='{.status.podIP}'))"
	else
		not_ok "pod $2/$1 Running" "$(kubectl -n "$2" describe pod "$1" 2>&1 | tail -n 5 | tr '\n' ' ' | cut -c1-400)"
	fi
}

pod_uid() { kubectl -n "$2" get pod "$1" -o jsonpath='{.metadata.uid}' 2>/dev/null; }

# pod_pids NAME NS: the processes of the pod (sandbox and containers),
# from its cgroups under this run's parent.
pod_pids() {
	local uid
	uid=$(pod_uid "$1" "$2")
	[ -n "$uid" ] || return 0
	find /sys/fs/cgroup/pids/"$K8S_CG" -path "*pod$uid/*" -name cgroup.procs -exec cat {} + 2>/dev/null
}

# pod_containers_running NAME NS: "yes" when every container of the pod
# runs (kubelet's view) and it has a process besides the sandbox.
pod_containers_running() {
	local st n
	st=$(kubectl -n "$2" get pod "$1" -o json 2>/dev/null | jq -r '[.status.containerStatuses[]? | .state | has("running")] | all')
	n=$(pod_pids "$1" "$2" | wc -l)
	[ "$st" = true ] && [ "$n" -ge 2 ] && echo yes || echo "no (running=$st, processes=$n)"
}

# pod_sysfs NAME NS FILE: the pod's eth0 queue file, read inside its netns
# (a sysfs mounted in a throwaway mount namespace: the containers' own
# /sys stays as it is).
pod_sysfs() {
	local pid
	pid=$(pod_pids "$1" "$2" | head -n1)
	[ -n "$pid" ] || { echo "(no pod)"; return; }
	# shellcheck disable=SC2016 # $1 is the inner shell's
	nsenter -t "$pid" -n -- unshare -m --propagation private \
		sh -c 'mount -t sysfs sysfs /sys && cat "$1"' _ "/sys/class/net/eth0/queues/rx-0/$3" 2>/dev/null ||
		echo "(missing)"
}

dev_sysfs() { cat "/sys/class/net/$1/queues/rx-0/$2" 2>/dev/null || echo "(missing)"; }

# record NAME NS: the plugin's attachment record of the pod (jq -c), or
# nothing.
record() {
	cat "$FS_RUN"/attachments/*.json 2>/dev/null |
		jq -c --arg n "$1" --arg ns "$2" 'select(.podName == $n and .podNamespace == $ns)' 2>/dev/null | tail -n1
}

status_annotation() {
	kubectl -n "$2" get pod "$1" -o jsonpath='{.metadata.annotations.flowsteer\.io/status}' 2>/dev/null
}

# plugin_source NAME NS: the source the plugin logged at the pod's ADD.
plugin_source() {
	grep -F " pod $2/$1 netns " /var/log/flowsteer/flowsteer.log 2>/dev/null | tail -n1 |
		sed -n 's/.* source \([a-z]*\): .*/\1/p'
}

# t_tuned NAME NS MASK: eth0 (in the pod netns, containers running), its
# cali* veth and vxlan.calico steer onto MASK with a flow table; record
# and status annotation agree.
t_tuned() {
	local pod=$1 ns=$2 mask=$3 cali rec flows
	cali=$(cali_name "$ns" "$pod")
	rec=$(record "$pod" "$ns")
	flows=$(jq -r '.devices[]? | select(.name == "eth0") | .flowCnt' <<<"$rec")
	t_eq "$ns/$pod: containers running while eth0 is read" yes "$(pod_containers_running "$pod" "$ns")"
	t_eq "$ns/$pod: eth0 rps_cpus (read inside its netns)" "$mask" "$(pod_sysfs "$pod" "$ns" rps_cpus)"
	if [ -n "$flows" ] && [ "$flows" != null ] && [ "$flows" -gt 0 ]; then
		t_eq "$ns/$pod: eth0 rps_flow_cnt = the record's $flows" "$flows" "$(pod_sysfs "$pod" "$ns" rps_flow_cnt)"
	else
		not_ok "$ns/$pod: eth0 rps_flow_cnt" "record has no flow table for eth0: ${rec:0:300}"
	fi
	t_eq "$ns/$pod: $cali rps_cpus" "$mask" "$(dev_sysfs "$cali" rps_cpus)"
	t_eq "$ns/$pod: $cali rps_flow_cnt" "$flows" "$(dev_sysfs "$cali" rps_flow_cnt)"
	t_eq "$ns/$pod: vxlan.calico rps_cpus" "$mask" "$(dev_sysfs vxlan.calico rps_cpus)"
}

# t_untouched NAME NS: nothing tuned, no record.
t_untouched() {
	local pod=$1 ns=$2 cali
	cali=$(cali_name "$ns" "$pod")
	t_eq "$ns/$pod: eth0 rps_cpus / rps_flow_cnt untouched" "$NONE 0" \
		"$(pod_sysfs "$pod" "$ns" rps_cpus) $(pod_sysfs "$pod" "$ns" rps_flow_cnt)"
	t_eq "$ns/$pod: $cali rps_cpus / rps_flow_cnt untouched" "$NONE 0" \
		"$(dev_sysfs "$cali" rps_cpus) $(dev_sysfs "$cali" rps_flow_cnt)"
	t_eq "$ns/$pod: no tuned record" "" "$(record "$pod" "$ns" | jq -r 'select(.mode != "off") | .podName')"
}

# status_line NAME NS: the pod's status line as `flowsteer status --json`
# derives it from its record (records store none).
status_line() {
	"$FLOWSTEER_BIN" status --json --state-dir "$FS_RUN" 2>/dev/null |
		jq -r --arg n "$1" --arg ns "$2" '.attachments[]? | select(.podName == $n and .podNamespace == $ns) | .status' |
		tail -n1
}

# t_status NAME NS: the annotation is the record's status line.
t_status() {
	local want got i
	for ((i = 0; i < 40; i++)); do
		want=$(status_line "$1" "$2")
		got=$(status_annotation "$1" "$2")
		[ -n "$want" ] && [ "$want" = "$got" ] && break
		sleep 0.25
	done
	t_eq "$2/$1: flowsteer.io/status (kubectl get -o jsonpath) = the record's status line (flowsteer status --json)" \
		"${want:-(no record)}" "$got"
}

# ---------------------------------------------------------------- agent

conflist() { cat /etc/cni/net.d/10-calico.conflist 2>/dev/null; }
flowsteer_entries() { conflist | jq '[.plugins[] | select(.type == "flowsteer")] | length' 2>/dev/null || echo "?"; }
agent_pod() {
	kubectl -n kube-system get pods -l app.kubernetes.io/name=flowsteer \
		-o jsonpath='{range .items[?(@.status.phase=="Running")]}{.metadata.name}{"\n"}{end}' 2>/dev/null | head -n1
}
agent_log() { kubectl -n kube-system logs "$(agent_pod)" 2>/dev/null; }
metrics() { curl -s --max-time 5 "http://$K8S_NODE_IP:9967/metrics"; }
metric_sum() { metrics | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%d\n", s}'; }

# The shipped manifests, only the image reference changed.
k8s_manifests() {
	sed "s|^\(\s*image:\s*\).*flowsteer-agent.*$|\1$AGENT_IMAGE_A|" "$REPO/conf/flowsteer-daemonset.yaml" >"$KT/daemonset.yaml"
	t_eq "the DaemonSet copy differs from conf/flowsteer-daemonset.yaml in the image line only" \
		"image: $AGENT_IMAGE_A" "$(diff "$REPO/conf/flowsteer-daemonset.yaml" "$KT/daemonset.yaml" | sed -n 's/^> *//p')"
}

# ---------------------------------------------------------------- story

inner_cleanup() {
	local rc=$? n i
	trap - EXIT INT TERM
	set +e
	echo "$PASS $FAIL" >"$KT.counts"
	if [ -n "${K8S_PID[kubelet]:-}" ] && kill -0 "${K8S_PID[kubelet]}" 2>/dev/null && kill -0 "${K8S_PID[apiserver]:-0}" 2>/dev/null; then
		# Pods go through the kubelet, so that their DELs run.
		for n in $(kubectl get ns -o jsonpath='{.items[*].metadata.name}' 2>/dev/null); do
			kubectl -n "$n" delete pods --all --wait=false --grace-period=1 >/dev/null 2>&1
		done
		kubectl delete -f "$KT/daemonset.yaml" --wait=false >/dev/null 2>&1
		for ((i = 0; i < 480; i++)); do
			[ -z "$(ls /run/netns 2>/dev/null)" ] && break
			sleep 0.25
		done
	fi
	for n in kubelet kube-proxy scheduler controller-manager apiserver containerd etcd; do
		[ -n "${K8S_PID[$n]:-}" ] || continue
		kill -TERM "${K8S_PID[$n]}" 2>/dev/null
		for ((i = 0; i < 100; i++)); do kill -0 "${K8S_PID[$n]}" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "${K8S_PID[$n]}" 2>/dev/null
		wait "${K8S_PID[$n]}" 2>/dev/null
	done
	if [ "$FAIL" != 0 ] || [ "$rc" != 0 ]; then
		for n in kubelet containerd apiserver; do
			echo "# last errors of $n:"
			grep -iE '(^E[0-9]{4}|level=error|error)' "$KT/log/$n.log" 2>/dev/null | tail -n 6 | cut -c1-300 | sed 's/^/#   /'
		done
		echo "# plugin log (last lines):"
		tail -n 8 /var/log/flowsteer/flowsteer.log 2>/dev/null | cut -c1-300 | sed 's/^/#   /'
	fi
	# The kubelet bind-mounts its root dir onto itself; pods' volumes and
	# containerd's netns pins are below the bound dirs.
	awk '{print $5}' /proc/self/mountinfo | grep -E "^(/var/lib/kubelet|/run/netns|/run/containerd|$KT)" | sort -r |
		while read -r n; do umount -l "$n" 2>/dev/null; done
	exit "$rc"
}

inner_main() {
	trap inner_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ALL=$(cpulist_to_mask "$(cpus_online)")
	NONE=$(cpulist_to_mask "")
	k8s_mounts || { not_ok "host paths bound over temp dirs in the private mount namespace"; exit 1; }
	ok "host paths bound over temp dirs (${K8S_HOST_PATHS[*]}), /run/netns shared"
	echo "# the node: etcd, kube-apiserver, controller-manager, scheduler, containerd, kube-proxy, kubelet"
	local t0=$SECONDS
	if k8s_up; then
		ok "node $K8S_NODE Ready ($K8S_NODE_IP), kube-proxy serving $K8S_SVC_IP, in $((SECONDS - t0)) s"
	else
		not_ok "cluster up" "see the logs under $KT/log (E2E_KEEP=1 keeps them)"
		exit 1
	fi
	check_all
}

check_all() {
	echo "# a pod before flowsteer is installed"
	t_pod early default
	declare -gA ORIG=()
	ORIG[rps_cpus]=$(dev_sysfs vxlan.calico rps_cpus) ORIG[rps_flow_cnt]=$(dev_sysfs vxlan.calico rps_flow_cnt)

	echo "# the operator's path: kubectl apply -f conf/rbac.yaml -f conf/flowsteer-daemonset.yaml"
	k8s_manifests
	t_run "kubectl apply -f conf/rbac.yaml -f daemonset.yaml" kubectl apply -f "$REPO/conf/rbac.yaml" -f "$KT/daemonset.yaml"
	t_run "kubectl rollout status ds/flowsteer-agent" kubectl -n kube-system rollout status ds/flowsteer-agent --timeout=120s
	check_install
	check_credentials
	check_tuning
	check_optouts
	check_exclusive
	check_quiet
	check_metrics
	check_rolling
	check_uninstall
}

check_install() {
	local ap pid
	ap=$(agent_pod)
	echo "# the agent pod $ap"
	t_eq "the agent's container: the manifest's securityContext" \
		'{"allowPrivilegeEscalation":false,"capabilities":{"add":["NET_ADMIN","SYS_ADMIN","DAC_OVERRIDE"],"drop":["ALL"]},"privileged":false,"readOnlyRootFilesystem":true,"runAsGroup":0,"runAsNonRoot":false,"runAsUser":0,"seccompProfile":{"type":"RuntimeDefault"}}' \
		"$(kubectl -n kube-system get pod "$ap" -o json | jq -cS '.spec.containers[0].securityContext')"
	pid=$(pod_pids "$ap" kube-system | while read -r p; do
		grep -q flowsteer-agent "/proc/$p/cmdline" 2>/dev/null && echo "$p"; done | head -n1)
	t_eq "the agent process: effective capabilities exactly NET_ADMIN, SYS_ADMIN, DAC_OVERRIDE; no_new_privs" \
		"0000000000201002 1" "$(awk '/^CapEff/ {c=$2} /^NoNewPrivs/ {n=$2} END {print c, n}' "/proc/$pid/status" 2>/dev/null)"
	t_eq "/opt/cni/bin/flowsteer installed, the same bytes as the image's plugin (build/flowsteer)" \
		"$(sha256sum <"$FLOWSTEER_BIN")" "$(sha256sum </opt/cni/bin/flowsteer 2>/dev/null)"
	t_eq "the Calico-only conflist: flowsteer chained after calico" "calico flowsteer" \
		"$(conflist | jq -r '[.plugins[].type] | join(" ")')"
	t_eq "the agent reached the API server through the Service IP $K8S_SVC_IP (kube-proxy)" yes \
		"$(agent_log | grep -q 'listed at resourceVersion' && echo yes)"
}

check_credentials() {
	local v sa=system:serviceaccount:kube-system:flowsteer-agent
	echo "# credentials: what the agent's ServiceAccount may do"
	for v in "delete pods" "create pods" "get secrets" "list configmaps" "update nodes" "patch namespaces" "create pods/exec" "delete daemonsets.apps"; do
		# shellcheck disable=SC2086 # verb and resource
		t_eq "kubectl auth can-i --as=$sa $v: denied" no "$(kubectl auth can-i --as=$sa $v -A 2>/dev/null)"
	done
	for v in "patch pods" "watch namespaces"; do
		# shellcheck disable=SC2086
		t_eq "kubectl auth can-i --as=$sa $v: allowed (conf/rbac.yaml)" yes "$(kubectl auth can-i --as=$sa $v -A 2>/dev/null)"
	done
}

check_tuning() {
	echo "# tuning: a pod created after the rollout, and the one from before"
	t_pod tuned-a default
	t_tuned tuned-a default "$ALL"
	t_status tuned-a default
	t_eq "default/tuned-a: the plugin's source" config "$(plugin_source tuned-a default)"
	t_untouched early default
}

check_optouts() {
	echo "# opt-outs"
	t_pod optout default '{"flowsteer.io/mode":"off"}'
	t_untouched optout default
	t_eq "default/optout: decided by the pod annotation (source runtime)" runtime "$(plugin_source optout default)"
	t_run "kubectl create namespace quiet-ns" kubectl create namespace quiet-ns
	t_run "kubectl annotate namespace quiet-ns flowsteer.io/mode=off" kubectl annotate namespace quiet-ns flowsteer.io/mode=off
	t_pod next quiet-ns
	t_untouched next quiet-ns
	t_eq "quiet-ns/next: decided by the namespace annotation (source namespace)" namespace "$(plugin_source next quiet-ns)"
	echo "# sources: early (no plugin), tuned-a $(plugin_source tuned-a default), optout $(plugin_source optout default), quiet-ns/next $(plugin_source next quiet-ns)"
}

# mask_targets POD...: the tuned devices to watch (each pod's eth0 through
# one of its processes, its cali*), looked up once so that a poll reads
# sysfs only.
mask_targets() {
	local p
	MASK_PIDS=() MASK_CALIS=() MASK_PODS=("$@")
	for p in "$@"; do
		MASK_PIDS+=("$(pod_pids "$p" default | head -n1)")
		MASK_CALIS+=("$(cali_name default "$p")")
	done
}

netns_rps_cpus() {
	nsenter -t "$1" -n -- unshare -m --propagation private \
		sh -c 'mount -t sysfs sysfs /sys && cat /sys/class/net/eth0/queues/rx-0/rps_cpus' 2>/dev/null || echo "(missing)"
}

# masks_now: "device=mask" of every target and vxlan.calico.
masks_now() {
	local i
	for i in "${!MASK_PODS[@]}"; do
		printf '%s/eth0=%s %s=%s ' "${MASK_PODS[$i]}" "$(netns_rps_cpus "${MASK_PIDS[$i]}")" \
			"${MASK_CALIS[$i]}" "$(dev_sysfs "${MASK_CALIS[$i]}" rps_cpus)"
	done
	printf 'vxlan.calico=%s\n' "$(dev_sysfs vxlan.calico rps_cpus)"
}

# all_masks_are MASK: every tuned device (each tuned pod's eth0 inside its
# netns, its cali*, vxlan.calico) steers onto MASK.
all_masks_are() { ! masks_now | tr " " "\n" | grep -qv "=$1\$"; }

# t_truthful POD: what the record says of the pod's eth0 is what the
# kernel has: "applied" with its cpus means that mask, read inside the
# netns; anything else must not claim the CPUs.
t_truthful() {
	local rec st cpus kern
	rec=$(record "$1" default)
	st=$(jq -r '.devices[]? | select(.name == "eth0") | .status' <<<"$rec")
	cpus=$(jq -r '.cpus' <<<"$rec")
	kern=$(pod_sysfs "$1" default rps_cpus)
	if [ "$st" = applied ]; then
		t_eq "default/$1: the record says eth0 applied with cpus $cpus: the kernel's eth0 (inside its netns) agrees" \
			"$(cpulist_to_mask "$cpus")" "$kern"
	else
		t_eq "default/$1: the record says eth0 $st: not applied, and the status line does not say applied" no \
			"$(status_annotation "$1" default | grep -q 'eth0:applied' && echo yes || echo no)"
	fi
}

exclusive_cpu() {
	jq -r --arg uid "$1" '.entries[$uid].main // empty' /var/lib/kubelet/cpu_manager_state 2>/dev/null
}

# wait_masks MASK T0: milliseconds from T0 (date +%s%N) until
# all_masks_are MASK, or "timeout" after REMASK_BOUND s.
wait_masks() {
	local now
	while :; do
		all_masks_are "$1" && { echo "$((($(date +%s%N) - $2) / 1000000))"; return 0; }
		now=$(date +%s%N)
		[ $(((now - $2) / 1000000000)) -lt "$REMASK_BOUND" ] || break
		sleep 0.05
	done
	echo timeout
	return 1
}

check_exclusive() {
	local uid cpu ms p keep rest t0
	echo "# exclusive CPUs: a Guaranteed pod gets one from the kubelet's static CPU manager"
	if [ "$(cpulist_count "$(cpus_online)")" -lt 2 ]; then
		skip "exclusive CPUs" "one online CPU"
		return
	fi
	t_pod tuned-b default
	t_tuned tuned-b default "$ALL"
	t0=$(date +%s%N)
	t_pod gpod default '{}' 1
	mask_targets tuned-a tuned-b gpod
	uid=$(pod_uid gpod default)
	cpu=$(exclusive_cpu "$uid")
	t_eq "cpu_manager_state: gpod's container has CPU 1 exclusive, default set 0" "1 0" \
		"$cpu $(jq -r .defaultCpuSet /var/lib/kubelet/cpu_manager_state 2>/dev/null)"
	rest=$(cpulist_minus "$(cpus_online)" "${cpu:-none}")
	keep=$(cpulist_to_mask "$rest")
	# The kubelet pins the CPU at container start, after the sandbox's ADD:
	# only the agent's re-mask can take it out.
	ms=$(wait_masks "$keep" "$t0")
	echo "# re-mask: every tuned device left CPU $cpu out ${ms} ms after kubectl apply of gpod (bound ${REMASK_BOUND} s): $(masks_now)"
	t_eq "within ${REMASK_BOUND} s every tuned device's mask is $keep (CPU $cpu out), each pod's eth0 read inside its netns" \
		yes "$([ "$ms" != timeout ] && echo yes || echo "no: $(masks_now)")"
	for p in tuned-a tuned-b gpod; do
		t_eq "default/$p: containers running" yes "$(pod_containers_running "$p" default)"
		t_eq "default/$p: record cpus = $rest and every device applied" "$rest yes" \
			"$(record "$p" default | jq -r '[.cpus, (if ([.devices[] | select(.scope != "node") | .status] | all(. == "applied")) then "yes" else "no" end)] | join(" ")')"
		t_truthful "$p"
		t_status "$p" default
		t_eq "default/$p: status says cpus=$rest" yes "$(status_annotation "$p" default | grep -q "cpus=$rest " && echo yes)"
	done
	t_eq "metrics: flowsteer_drift_devices 0" 0 "$(metric_sum flowsteer_drift_devices)"
	mask_targets tuned-a tuned-b
	t0=$SECONDS
	t_run "kubectl delete pod gpod" kubectl -n default delete pod gpod --grace-period=1 --wait=true --timeout=60s
	ms=$(wait_masks "$ALL" "$(date +%s%N)")
	echo "# CPU $cpu back ${ms} ms after gpod's object was gone ($((SECONDS - t0)) s after the delete began): $(masks_now)"
	t_eq "within ${REMASK_BOUND} s of the delete, CPU $cpu is back in every tuned device's mask ($ALL)" yes \
		"$([ "$ms" != timeout ] && echo yes || echo "no: $(masks_now)")"
	for p in tuned-a tuned-b; do t_status "$p" default; done
}

check_quiet() {
	local before after new
	echo "# quiet watches: no change for $QUIET s (K8S_QUIET_SECONDS)"
	before=$(agent_log | wc -l)
	t_eq "the agent's log reads through kubectl logs ($before lines so far)" yes "$([ "$before" -gt 0 ] && echo yes)"
	sleep "$QUIET"
	new=$(agent_log | tail -n +"$((before + 1))")
	after=$(agent_log | wc -l)
	echo "# agent log: $((after - before)) new line(s) in $QUIET s"
	t_eq "no warning or error logged in $QUIET s of quiet" "" "$(grep -E ' (warn|error) flowsteer-agent:' <<<"$new" | head -n 3)"
	t_eq "no relist in $QUIET s of quiet" "" "$(grep -E 'listed at|relisting|listing the current' <<<"$new" | head -n 3)"
}

check_metrics() {
	local ipb pida before after n=300
	echo "# metrics on the node address $K8S_NODE_IP:9967, softnet counters under pod-to-pod traffic"
	t_eq "GET http://$K8S_NODE_IP:9967/metrics serves flowsteer_softnet_processed_total" yes \
		"$(metrics | grep -q '^flowsteer_softnet_processed_total' && echo yes)"
	t_eq "nothing listens on 127.0.0.1:9967 (the node address only)" "" "$(curl -s --max-time 2 http://127.0.0.1:9967/metrics | head -c 40)"
	ipb=$(kubectl -n default get pod tuned-b -o jsonpath='{.status.podIP}')
	pida=$(pod_pids tuned-a default | head -n1)
	before=$(metric_sum flowsteer_softnet_processed_total)
	nsenter -t "$pida" -n ping -n -q -c $n -i 0.002 -w 20 -s 1000 "$ipb" >"$KT/ping.out" 2>&1
	after=$(metric_sum flowsteer_softnet_processed_total)
	t_eq "ping tuned-a -> tuned-b: $n replies" "$n" "$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$KT/ping.out")"
	t_eq "flowsteer_softnet_processed_total rose by at least 4 x $n (each packet received on a cali* and an eth0)" yes \
		"$([ $((after - before)) -ge $((4 * n)) ] && echo yes || echo "no: +$((after - before))")"
	echo "# softnet processed: +$((after - before)) over all CPUs"
}

# Every 0.1 s while the rollout runs, into FILE: the number of flowsteer
# entries in the conflist and the size of the plugin binary on the node.
entry_sampler() {
	while [ -e "$KT/sampling" ]; do
		echo "$(flowsteer_entries) $(stat -c %s /opt/cni/bin/flowsteer 2>/dev/null || echo none)"
		sleep 0.1
	done >"$1"
}

check_rolling() {
	local i pods=() p sampler bad=0 img
	echo "# rolling update: kubectl set image to $AGENT_IMAGE_B while pods come and go"
	for i in 0 1 2 3; do k8s_pod "old-$i" default; done
	for i in 0 1 2 3; do pod_ready "old-$i" default || not_ok "pod default/old-$i Running"; done
	: >"$KT/sampling"
	entry_sampler "$KT/entry-samples" &
	sampler=$!
	t_run "kubectl set image ds/flowsteer-agent agent=$AGENT_IMAGE_B" \
		kubectl -n kube-system set image ds/flowsteer-agent "agent=$AGENT_IMAGE_B"
	for i in 0 1 2 3 4 5 6 7; do
		k8s_pod "roll-$i" default && pods+=("roll-$i")
		[ $i -lt 4 ] && kubectl -n default delete pod "old-$i" --wait=false --grace-period=1 >/dev/null 2>&1
		sleep 0.7
	done
	t_run "kubectl rollout status ds/flowsteer-agent (new image)" kubectl -n kube-system rollout status ds/flowsteer-agent --timeout=120s
	for p in "${pods[@]}"; do pod_ready "$p" default || bad=1; done
	rm -f "$KT/sampling"
	wait "$sampler"
	img=$(kubectl -n kube-system get pod "$(agent_pod)" -o jsonpath='{.spec.containers[0].image}')
	t_eq "the agent runs the new tag" "$AGENT_IMAGE_B" "$img"
	t_eq "all 8 pods created during the rollout are Running" 0 "$bad"
	for p in "${pods[@]}"; do
		t_eq "default/$p (created during the rollout): eth0 (inside its netns) and its cali* tuned" "$ALL $ALL" \
			"$(pod_sysfs "$p" default rps_cpus) $(dev_sysfs "$(cali_name default "$p")" rps_cpus)"
	done
	for i in 0 1 2 3; do
		kubectl -n default wait --for=delete pod/"old-$i" --timeout=60s >/dev/null 2>&1
	done
	t_eq "no failed sandbox ADD or DEL (events FailedCreatePodSandBox, FailedKillPod)" "" \
		"$(kubectl get events -A -o json | jq -r '.items[] | select(.reason == "FailedCreatePodSandBox" or .reason == "FailedKillPod") | .message' | head -n 2)"
	t_eq "no error in the plugin's log" "" "$(grep ' error ' /var/log/flowsteer/flowsteer.log | head -n 2)"
	t_eq "the flowsteer entry was in the conflist at every sample (every 0.1 s) of the rollout" \
		"1" "$(awk '{print $1}' "$KT/entry-samples" | sort -u | xargs)"
	t_eq "the plugin binary had its full size ($(stat -c %s "$FLOWSTEER_BIN") bytes) at every sample of the rollout" \
		"$(stat -c %s "$FLOWSTEER_BIN")" "$(awk '{print $2}' "$KT/entry-samples" | sort -u | xargs)"
	echo "# $(wc -l <"$KT/entry-samples") samples during the rollout"
	t_eq "the conflist has exactly one flowsteer entry" 1 "$(flowsteer_entries)"
	t_eq "/opt/cni/bin/flowsteer complete (the image's plugin, byte for byte)" \
		"$(sha256sum <"$FLOWSTEER_BIN")" "$(sha256sum </opt/cni/bin/flowsteer 2>/dev/null)"
}

# The tuned pods still running at the uninstall.
TUNED_PODS=(tuned-a tuned-b roll-0 roll-1 roll-2 roll-3 roll-4 roll-5 roll-6 roll-7)

# t_put_back NAME NS: the pod's eth0 (in its netns, containers running)
# and its cali* hold their original values again, no record.
t_put_back() {
	local pod=$1 ns=$2 cali
	cali=$(cali_name "$ns" "$pod")
	t_eq "$ns/$pod: eth0 put back by the agent at uninstall (pod running)" "$NONE 0" \
		"$(pod_sysfs "$pod" "$ns" rps_cpus) $(pod_sysfs "$pod" "$ns" rps_flow_cnt)"
	t_eq "$ns/$pod: $cali put back by the agent at uninstall" "$NONE 0" \
		"$(dev_sysfs "$cali" rps_cpus) $(dev_sysfs "$cali" rps_flow_cnt)"
}

# containerd runs a pod's DEL with the conflist as it is then: without
# the entry, no flowsteer DEL. The uninstalling agent undoes the node
# itself (docs/agent.md, "Uninstall"); the pods' later DELs find nothing.
check_uninstall() {
	local i t0 logs p nrec
	nrec=$(find "$FS_RUN/attachments" -name '*.json' 2>/dev/null | wc -l)
	echo "# uninstall: kubectl delete -f conf/flowsteer-daemonset.yaml ($nrec records on the node)"
	# Its log to the end: the pod object (and its log) go with it.
	kubectl -n kube-system logs -f "$(agent_pod)" >"$KT/agent-uninstall.log" 2>&1 &
	logs=$!
	k8s_until 10 "the agent's log followed" test -s "$KT/agent-uninstall.log"
	t0=$SECONDS
	t_run "kubectl delete -f daemonset.yaml" kubectl delete -f "$KT/daemonset.yaml" --wait=true --timeout=60s
	for ((i = 0; i < 240; i++)); do
		[ -z "$(kubectl -n kube-system get pods -l app.kubernetes.io/name=flowsteer -o name 2>/dev/null)" ] && break
		sleep 0.25
	done
	echo "# the agent pod gone $((SECONDS - t0)) s after kubectl delete"
	kill "$logs" 2>/dev/null
	wait "$logs" 2>/dev/null
	t_eq "the flowsteer entry is out of the conflist" "calico" "$(conflist | jq -r '[.plugins[].type] | join(" ")')"
	t_eq "the agent at uninstall: all $nrec records undone and removed, nothing left (its log's summary)" "1" \
		"$(grep -cE "uninstall: $nrec record\(s\) undone, [0-9]+ pod device\(s\) put back, 0 left holding flowsteer's value, 0 record\(s\) kept; node devices restored" "$KT/agent-uninstall.log")"
	grep 'uninstall: pod ' "$KT/agent-uninstall.log" | head -n 2 | sed 's/^/# /'
	t_eq "the agent at uninstall: no record left" 0 "$(find "$FS_RUN/attachments" -name '*.json' 2>/dev/null | wc -l)"
	t_eq "the agent at uninstall: vxlan.calico rps_cpus / rps_flow_cnt back to the original values" \
		"${ORIG[rps_cpus]} ${ORIG[rps_flow_cnt]}" "$(dev_sysfs vxlan.calico rps_cpus) $(dev_sysfs vxlan.calico rps_flow_cnt)"
	for p in tuned-a roll-0; do t_put_back "$p" default; done
	t_pod after default
	t_untouched after default
	t_run "kubectl delete the pods tuned before the uninstall: their DELs succeed" kubectl -n default delete pod \
		"${TUNED_PODS[@]}" --grace-period=1 --wait=true --timeout=90s
	t_eq "no failed sandbox DEL (event FailedKillPod)" "" \
		"$(kubectl get events -A -o json | jq -r '.items[] | select(.reason == "FailedKillPod") | .message' | head -n 2)"
	t_eq "after their DELs: still no record, nothing left to undo" 0 "$(find "$FS_RUN/attachments" -name '*.json' 2>/dev/null | wc -l)"
	t_eq "after their DELs: vxlan.calico still at its original values" \
		"${ORIG[rps_cpus]} ${ORIG[rps_flow_cnt]}" "$(dev_sysfs vxlan.calico rps_cpus) $(dev_sysfs vxlan.calico rps_flow_cnt)"
	t_eq "no error in the plugin's log" "" "$(grep ' error ' /var/log/flowsteer/flowsteer.log | head -n 2)"
}

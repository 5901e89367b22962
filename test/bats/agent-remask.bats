#!/usr/bin/env bats
# flowsteer-agent's re-mask duty: the test rewrites a kubelet CPU manager
# state file (static policy, by rename as the kubelet does) and every
# device the plugin tuned follows the shared pool: pod interface, host
# veth and node device (read in sysfs), records updated (`flowsteer
# status --json`), never an empty mask, a device someone else changed
# left alone. The agent's /sys is read-only, as in its container: host
# devices are written through a sysfs of its own netns.

bats_require_minimum_version 1.5.0

load helpers
load agent_helpers

setup() {
	[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
	p2_setup
	LAST=$(($(nproc) - 1))
	ALL=$(all_cpus_mask)
	AGENT_RO_SYS=1
}
teardown() {
	[ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null
	p2_teardown
}

# cpu_state DEFAULT_CPUSET ENTRIES_JSON: the kubelet's checkpoint (v2
# entries), written to a temp file and renamed over the old one.
cpu_state() {
	printf '{"policyName":"static","defaultCpuSet":"%s","entries":%s,"checksum":1}' "$1" "$2" >"$CPU_STATE.tmp"
	mv "$CPU_STATE.tmp" "$CPU_STATE"
}
# masks: rps_cpus of the pod's eth0, its host veth and ul0, as cpulists.
masks() {
	echo "$(mask_list "$(pod_rx rps_cpus)") $(mask_list "$(node_rx "$HOST_VETH" rps_cpus)") $(mask_list "$(node_rx ul0 rps_cpus)")"
}
masks_are() { [ "$(masks)" = "$1" ]; }
is_cpus0() { [ "$(userns_cpus)" = 0 ]; }
no_erofs() { ! log_has 'Read-only file system'; }
status_cpus() { node_run "$FLOWSTEER_BIN" status --json --state-dir "$STATE_DIR" --cpu-manager-state "$CPU_STATE" | jq -r '.attachments[0].cpus'; }

@test "remask: the shared pool shrinks then grows: every tuned device follows, records too, never an empty mask" {
	all=$(mask_list "$ALL")
	p2_add web u-web
	masks_are "$all $all $all"
	agent_start --no-kube
	wait_until 5 log_has 're-mask: watching'
	cpu_state 0 "{\"u-guaranteed\":{\"app\":\"1-$LAST\"}}"
	wait_until 5 masks_are "0 0 0"
	echo "# re-masked ${WAITED_MS} ms after the rename"
	[ "$(status_cpus)" = 0 ]
	wait_until 5 metric_is flowsteer_remask_devices_total 3
	cpu_state "0-$LAST" '{}'
	wait_until 5 masks_are "$all $all $all"
	[ "$(status_cpus)" = "$all" ]
	# Every CPU exclusive: nothing left to steer onto; masks stay.
	cpu_state "" "{\"a\":{\"c\":\"0-$LAST\"}}"
	wait_until 5 log_has 'no CPU left to steer onto; masks left as they are'
	masks_are "$all $all $all"
	[ "$(metric flowsteer_remask_total)" -ge 3 ]
	metric_is flowsteer_remask_errors_total 0
}

@test "remask: a device someone else changed is left alone (and shows as drift); the others follow" {
	p2_add web u-web
	agent_start --no-kube --drift-interval-seconds 1
	node_write "$HOST_VETH" rps_cpus "$(kmask "$LAST")"
	cpu_state 0 "{\"u-guaranteed\":{\"app\":\"1-$LAST\"}}"
	wait_until 5 masks_are "0 $LAST 0"
	wait_until 5 log_has "re-mask: host device $HOST_VETH left as it is (changed by someone else)"
	wait_until 5 metric_is flowsteer_drift_devices 1
}

@test "remask: once at start: the pool changed while no agent ran" {
	p2_add web u-web
	cpu_state 0 "{\"u-g\":{\"app\":\"1-$LAST\"}}"
	agent_start --no-kube
	wait_until 5 masks_are "0 0 0"
	metric_is flowsteer_remask_total 1
}

@test "remask: a pod's flowsteer.io/cpus narrowing is kept; node devices take the whole pool" {
	all=$(mask_list "$ALL")
	make_pod web team-a
	CNI_ARGS_EXTRA=K8S_POD_UID=u-web run_helper cni ADD \
		"$(p2_conf ".runtimeConfig = {\"io.kubernetes.cri.pod-annotations\": {\"flowsteer.io/cpus\": \"$LAST\"}}")"
	masks_are "$LAST $LAST $all"
	agent_start --no-kube
	cpu_state "1-$LAST" '{"u-g":{"app":"0"}}'
	wait_until 5 masks_are "$LAST $LAST $(mask_list "$(kmask "1-$LAST")")"
	cpu_state "0-$LAST" '{}'
	wait_until 5 masks_are "$LAST $LAST $all"
}

@test "remask: the status line follows the new mask (the record changed)" {
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-web"}'
	p2_add web u-web
	agent_start
	wait_until 5 pod_status_is team-a/web "$(status_line "$output")"
	cpu_state 0 "{\"u-guaranteed\":{\"app\":\"1-$LAST\"}}"
	wait_until 5 pod_status_is team-a/web "$(status_line "$output" | sed 's/cpus=[^ ]*/cpus=0/')"
	metric_is 'flowsteer_status_patches_total{result="ok"}' 2
}

@test "remask: a pod in a user namespace is re-masked with CAP_DAC_OVERRIDE; without it, eth0 keeps what the kernel holds and says failed (EACCES) in the record, status, annotation and metrics" {
	command -v capsh >/dev/null || skip "capsh not installed"
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"u0","node":"node-1","uid":"u-u0"}'
	HOLDER=$(python3 "$BATS_TEST_DIRNAME/../helpers/userns-netns.py" --seconds 120)
	node_run ip link add caliu0 index 100 type veth peer name eth0 netns "$HOLDER"
	node_run ip link set caliu0 up
	POD_NETNS=/proc/$HOLDER/ns/net POD_NAME=u0 POD_NAMESPACE=team-a CNI_ARGS_EXTRA=K8S_POD_UID=u-u0 \
		run_helper cni ADD "$(p2_conf '.scope = "container"')"
	line=$(status_line "$output")
	userns_cpus() { mask_list "$(nsenter -t "$HOLDER" -n unshare -m sh -c 'mount -t sysfs none /sys && cat /sys/class/net/eth0/queues/rx-0/rps_cpus')"; }
	all=$(userns_cpus)
	cpu_state 0 "{\"u-g\":{\"app\":\"1-$LAST\"}}"
	AGENT_DROP=cap_dac_override agent_start --drift-interval-seconds 1
	wait_until 5 log_has 're-mask: .*writing eth0.*: Permission denied'
	[ "$(userns_cpus)" = "$all" ]
	# The record wants CPU 0, keeps what the kernel holds, and says so.
	run_helper 3 node_run "$FLOWSTEER_BIN" status --json --state-dir "$STATE_DIR" --cpu-manager-state "$CPU_STATE"
	assert_json "$output" '.attachments[0] | "\(.cpus) \(.devices[] | select(.name == "eth0") | "\(.status) \(.queuesSet)/\(.queuesTotal) \(.errno) \(.state)")"' \
		"0 failed 0/1 EACCES drift"
	wait_until 5 pod_status_is team-a/u0 "$(sed -e 's/cpus=[^ ]*/cpus=0/' -e 's|eth0:applied|eth0:failed(0/1,EACCES)|' \
		-e 's/(1 applied, 0 failed)/(0 applied, 1 failed)/' <<<"$line")"
	wait_until 5 metric_is flowsteer_drift_devices 1
	metric_is flowsteer_remask_device_failures_total 1
	log_has 're-mask: container device eth0: failed: 0 of 1 queues: re-mask to CPUs 0: writing eth0 rx-0: Permission denied'
	reap "$AGENT_PID"
	agent_start --no-kube
	wait_until 5 is_cpus0
	run_helper node_run "$FLOWSTEER_BIN" status --json --state-dir "$STATE_DIR" --cpu-manager-state "$CPU_STATE"
	assert_json "$output" '.attachments[0].devices[] | select(.name == "eth0") | "\(.status) \(.queuesSet)/\(.queuesTotal) \(.errno) \(.state)"' \
		"applied 1/1 null ok"
}

@test "remask: a pod whose container holds a read-only sysfs: the record, status, annotation and drift say what the kernel holds" {
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-web"}'
	p2_add web u-web
	line=$(status_line "$output")
	# As runc does for every container: the pod netns's sysfs, read-only.
	nsenter --net="/run/netns/$POD_NS" unshare -m --propagation private \
		sh -c 'mount -t sysfs -o ro sysfs /sys && exec sleep 120' &
	HOLDER=$!
	cpu_state 0 "{\"u-guaranteed\":{\"app\":\"1-$LAST\"}}"
	agent_start --drift-interval-seconds 1
	rec_cpus0() { [ "$(record_json | jq -r .cpus)" = 0 ]; }
	wait_until 5 rec_cpus0
	rec=$(record_json | jq -r '.devices[] | select(.name == "eth0") | "\(.status) \(.queuesSet)/\(.queuesTotal) \(.errno)"')
	if [ "$(mask_list "$(pod_rx rps_cpus)")" = 0 ]; then
		# The write landed (a sysfs made writable for it): applied.
		assert_eq "$rec" "applied 1/1 null" "eth0 in the record"
		wait_until 5 pod_status_is team-a/web "$(sed 's/cpus=[^ ]*/cpus=0/' <<<"$line")"
		wait_until 5 metric_is flowsteer_drift_devices 0
	else
		# eth0 still steers onto the CPUs the kubelet just made exclusive.
		assert_eq "$rec" "failed 0/1 EROFS" "eth0 in the record"
		n=$(grep -o '([0-9]* applied' <<<"$line" | tr -dc 0-9)
		wait_until 5 pod_status_is team-a/web "$(sed -e 's/cpus=[^ ]*/cpus=0/' -e 's|eth0:applied|eth0:failed(0/1,EROFS)|' \
			-e "s/($n applied, 0 failed)/($((n - 1)) applied, 1 failed)/" <<<"$line")"
		wait_until 5 metric_is flowsteer_drift_devices 1
	fi
}

# As on a node: the kubelet's CPU manager hands a CPU over once the pod's
# containers run, and each of them has the netns's sysfs read-only.
@test "remask: a pod whose containers run (their /sys read-only): eth0 follows; their /sys stays read-only" {
	p2_add web u-web
	pod_container nsenter --net="/run/netns/$POD_NS"
	agent_start --no-kube
	wait_until 5 log_has 're-mask: watching'
	cpu_state 0 "{\"u-guaranteed\":{\"app\":\"1-$LAST\"}}"
	wait_until 5 masks_are "0 0 0"
	no_erofs
	ctr_sys_ro
	[ "$(status_cpus)" = 0 ]
}

@test "remask: a pod in a user namespace whose container runs (its /sys read-only): eth0 follows" {
	HOLDER=$(python3 "$BATS_TEST_DIRNAME/../helpers/userns-netns.py" --seconds 120)
	node_run ip link add caliu0 index 100 type veth peer name eth0 netns "$HOLDER"
	node_run ip link set caliu0 up
	POD_NETNS=/proc/$HOLDER/ns/net POD_NAME=u0 POD_NAMESPACE=team-a CNI_ARGS_EXTRA=K8S_POD_UID=u-u0 \
		run_helper cni ADD "$(p2_conf '.scope = "container"')"
	pod_container nsenter -t "$HOLDER" -U -n
	userns_cpus() { mask_list "$(nsenter -t "$HOLDER" -n unshare -m sh -c 'mount -t sysfs none /sys && cat /sys/class/net/eth0/queues/rx-0/rps_cpus')"; }
	cpu_state 0 "{\"u-g\":{\"app\":\"1-$LAST\"}}"
	agent_start --no-kube
	wait_until 5 is_cpus0
	no_erofs
	ctr_sys_ro
}

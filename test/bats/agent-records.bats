#!/usr/bin/env bats
# flowsteer-agent's metrics from the plugin's records (the plugin binary
# ADDs and DELs pods for real in a node netns that is the agent's too):
# attachments by mode and scope, node devices with their holders, drift
# when a recorded device's live value changes (host devices, and pod
# interfaces read inside their netns; unreadable without CAP_SYS_ADMIN).

bats_require_minimum_version 1.5.0

load helpers
load agent_helpers

setup() { p2_setup; }
teardown() { p2_teardown; }

RFS_BOTH='flowsteer_attachments{mode="rfs",scope="both"}'

@test "records: flowsteer_attachments{mode,scope} and node device holders follow ADD and DEL" {
	agent_start --no-kube
	metric_is "$RFS_BOTH" 0
	p2_add web u-web
	wait_until 5 metric_is "$RFS_BOTH" 1
	metric_is 'flowsteer_node_device_holders{device="ul0"}' 1
	metric_is 'flowsteer_attachments{mode="rps",scope="both"}' 0
	p2_add db u-db
	wait_until 5 metric_is 'flowsteer_node_device_holders{device="ul0"}' 2
	metric_is "$RFS_BOTH" 2
	p2_del db u-db
	wait_until 5 metric_is "$RFS_BOTH" 1
	metric_is 'flowsteer_node_device_holders{device="ul0"}' 1
	p2_del web u-web
	wait_until 5 metric_is "$RFS_BOTH" 0
	[ -z "$(metric 'flowsteer_node_device_holders{device="ul0"}')" ]
}

@test "records: mode and scope labels come from the records (rps, container)" {
	agent_start --no-kube
	make_pod web team-a
	CNI_ARGS_EXTRA=K8S_POD_UID=u-web run_helper cni ADD "$(p2_conf '.mode = "rps" | .scope = "container"')"
	wait_until 5 metric_is 'flowsteer_attachments{mode="rps",scope="container"}' 1
	metric_is "$RFS_BOTH" 0
}

@test "records: drift counts a host device and a pod interface changed behind flowsteer's back, node devices once" {
	[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
	agent_start --no-kube --drift-interval-seconds 1
	p2_add web u-web
	p2_add db u-db
	wait_until 5 metric_is "$RFS_BOTH" 2
	metric_is flowsteer_drift_devices 0
	node_write "$HOST_VETH" rps_cpus 1
	wait_until 5 metric_is flowsteer_drift_devices 1
	pod_write rps_cpus 2
	wait_until 5 metric_is flowsteer_drift_devices 2
	node_write ul0 rps_cpus 2
	wait_until 5 metric_is flowsteer_drift_devices 3
	metric_is flowsteer_drift_unreadable_devices 0
}

@test "records: without CAP_SYS_ADMIN pod interfaces are unreadable, host devices still checked" {
	command -v capsh >/dev/null || skip "capsh not installed"
	p2_add web u-web
	AGENT_DROP=cap_sys_admin agent_start --no-kube --drift-interval-seconds 1
	wait_until 5 metric_is flowsteer_drift_unreadable_devices 1
	metric_is flowsteer_drift_devices 0
	node_write "$HOST_VETH" rps_cpus 1
	wait_until 5 metric_is flowsteer_drift_devices 1
}

#!/usr/bin/env bats
# Pod annotations passed by the runtime (runtimeConfig
# "io.kubernetes.cri.pod-annotations", SPEC §5): opt in/out, mode, scope,
# cpus narrowing; bad values are warnings and never fail the pod. Asserts the
# sysfs values inside the pod netns and on the host veth, and the result.

bats_require_minimum_version 1.5.0
load helpers
load annot_helpers

setup() {
	setup_node
	make_pod web team-a
	ALL=$(all_cpus_mask)
}

teardown() {
	teardown_node
}

# rconf ANNOTATIONS_JSON [JQ_FILTER]: conf 1.0.0 as containerd sends it to a
# plugin that declared the capability.
rconf() {
	conf 1.0.0 | jq -c --argjson a "$1" \
		'.capabilities = {"io.kubernetes.cri.pod-annotations": true}
		 | .runtimeConfig = {"io.kubernetes.cri.pod-annotations": $a} | '"${2:-.}"
}

is_zero_mask() { [[ $1 =~ ^[0,]+$ ]]; }

online_list() { cat /sys/devices/system/cpu/online; }
last_cpu() { mask_list "$ALL" | tr ',-' '\n\n' | tail -1; }

fs() { echo "$output" | jq -r ".flowsteer$1"; }

assert_pod_tuned() { # MASK FLOW_CNT
	[ "$(pod_sysfs "$POD_NS" rps_cpus)" = "$1" ]
	[ "$(pod_sysfs "$POD_NS" rps_flow_cnt)" = "$2" ]
}
assert_host_tuned() { # MASK FLOW_CNT
	[ "$(node_sysfs "$HOST_VETH" rps_cpus)" = "$1" ]
	[ "$(node_sysfs "$HOST_VETH" rps_flow_cnt)" = "$2" ]
}
assert_pod_untouched() {
	is_zero_mask "$(pod_sysfs "$POD_NS" rps_cpus)"
	[ "$(pod_sysfs "$POD_NS" rps_flow_cnt)" = 0 ]
}
assert_host_untouched() {
	is_zero_mask "$(node_sysfs "$HOST_VETH" rps_cpus)"
	[ "$(node_sysfs "$HOST_VETH" rps_flow_cnt)" = 0 ]
}

@test "runtime annotations without ours: configuration decides (opt-out, rfs, both)" {
	run cni ADD "$(rconf '{"app":"web","io.kubernetes.pod.namespace":"team-a"}')"
	[ "$status" -eq 0 ]
	[ "$(fs .source)" = config ]
	[ "$(fs .mode)" = rfs ]
	[ "$(fs .scope)" = both ]
	[ "$(fs '.warnings|length')" = 0 ]
	assert_pod_tuned "$ALL" 32768
	assert_host_tuned "$ALL" 32768
}

@test "runtime annotations null: configuration decides" {
	run cni ADD "$(rconf null)"
	[ "$status" -eq 0 ]
	[ "$(fs .source)" = config ]
	[ "$(fs .mode)" = rfs ]
	assert_pod_tuned "$ALL" 32768
}

@test "flowsteer.io/mode off: the pod is left alone, source runtime" {
	run cni ADD "$(rconf '{"flowsteer.io/mode":"off"}')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = off ]
	[ "$(fs .source)" = runtime ]
	[ "$(echo "$output" | jq '[.flowsteer.devices[]? | select(.status == "applied")] | length')" = 0 ]
	# prevResult still passed on unchanged
	[ "$(echo "$output" | jq -r '.interfaces[1].name')" = eth0 ]
	assert_pod_untouched
	assert_host_untouched
	is_zero_mask "$(node_sysfs ul0 rps_cpus)"

	run cni DEL "$(rconf '{"flowsteer.io/mode":"off"}')"
	[ "$status" -eq 0 ]
}

@test "flowsteer.io/mode rps: rps_cpus set, no flow table" {
	run cni ADD "$(rconf '{"flowsteer.io/mode":"rps"}')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = rps ]
	[ "$(fs .source)" = runtime ]
	assert_pod_tuned "$ALL" 0
	assert_host_tuned "$ALL" 0
}

@test "flowsteer.io/mode rfs overrides a configured mode rps" {
	run cni ADD "$(rconf '{"flowsteer.io/mode":"rfs"}' '.mode = "rps"')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = rfs ]
	[ "$(fs .source)" = runtime ]
	assert_pod_tuned "$ALL" 32768
	assert_host_tuned "$ALL" 32768
}

@test "flowsteer.io/scope container: only the pod side is tuned" {
	run cni ADD "$(rconf '{"flowsteer.io/scope":"container"}')"
	[ "$status" -eq 0 ]
	[ "$(fs .scope)" = container ]
	[ "$(fs .source)" = runtime ]
	assert_pod_tuned "$ALL" 32768
	assert_host_untouched
}

@test "flowsteer.io/scope host: only the host side is tuned" {
	run cni ADD "$(rconf '{"flowsteer.io/scope":"host","flowsteer.io/mode":"rps"}')"
	[ "$status" -eq 0 ]
	[ "$(fs .scope)" = host ]
	[ "$(fs .mode)" = rps ]
	assert_pod_untouched
	assert_host_tuned "$ALL" 0
	[ "$(node_sysfs ul0 rps_cpus)" = "$ALL" ]
}

@test "flowsteer.io/cpus narrows the pod's mask" {
	local last want
	last=$(last_cpu)
	[ "$last" -ge 1 ] || skip "needs two online CPUs"
	run cni ADD "$(rconf "{\"flowsteer.io/cpus\":\"$last\"}")"
	[ "$status" -eq 0 ]
	[ "$(fs .cpus)" = "$last" ]
	[ "$(fs .source)" = runtime ]
	[ "$(fs '.warnings|length')" = 0 ]
	[ "$(mask_list "$(pod_sysfs "$POD_NS" rps_cpus)")" = "$last" ]
	[ "$(mask_list "$(node_sysfs "$HOST_VETH" rps_cpus)")" = "$last" ]
}

@test "flowsteer.io/cpus naming a CPU the config excludes is refused" {
	local last want
	last=$(last_cpu)
	[ "$last" -ge 1 ] || skip "needs two online CPUs"
	# config leaves out CPU 0; asking for 0 would widen: refused
	run cni ADD "$(rconf '{"flowsteer.io/cpus":"0"}' '.excludeCpus = "0"')"
	[ "$status" -eq 0 ]
	[ "$(fs .source)" = config ]
	if [ "$last" = 1 ]; then want=1; else want=1-$last; fi
	[ "$(fs .cpus)" = "$want" ]
	echo "$output" | jq -e '.flowsteer.warnings | any(contains("flowsteer.io/cpus") and contains("\"0\""))'
	[ "$(mask_list "$(pod_sysfs "$POD_NS" rps_cpus)")" = "$(fs .cpus)" ]
}

@test "flowsteer.io/cpus that would widen the set is refused with a warning" {
	run cni ADD "$(rconf '{"flowsteer.io/cpus":"0-8191"}')"
	[ "$status" -eq 0 ]
	[ "$(fs .source)" = config ]
	[ "$(fs .cpus)" = "$(online_list)" ]
	echo "$output" | jq -e '.flowsteer.warnings | any(contains("flowsteer.io/cpus") and contains("0-8191") and contains("ignored"))'
	assert_pod_tuned "$ALL" 32768
	grep -q 'warn.*flowsteer.io/cpus.*0-8191' "$LOG_FILE"
}

@test "flowsteer.io/cpus that leaves nothing is refused with a warning" {
	run cni ADD "$(rconf '{"flowsteer.io/cpus":""}')"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.flowsteer.warnings | any(contains("flowsteer.io/cpus") and contains("leaves no CPU"))'
	assert_pod_tuned "$ALL" 32768
}

@test "garbage values are warnings naming annotation and value; the pod is tuned per config" {
	run cni ADD "$(rconf '{"flowsteer.io/mode":"turbo","flowsteer.io/scope":"sideways","flowsteer.io/cpus":"lots"}')"
	[ "$status" -eq 0 ]
	[ "$(fs .source)" = config ]
	[ "$(fs .mode)" = rfs ]
	[ "$(fs .scope)" = both ]
	[ "$(fs '.warnings|length')" = 3 ]
	echo "$output" | jq -e '.flowsteer.warnings | any(contains("flowsteer.io/mode") and contains("turbo"))'
	echo "$output" | jq -e '.flowsteer.warnings | any(contains("flowsteer.io/scope") and contains("sideways"))'
	echo "$output" | jq -e '.flowsteer.warnings | any(contains("flowsteer.io/cpus") and contains("lots"))'
	assert_pod_tuned "$ALL" 32768
	assert_host_tuned "$ALL" 32768
}

@test "a non-string annotation value is a warning, not a failure" {
	run cni ADD "$(rconf '{"flowsteer.io/mode":{"nested":true},"flowsteer.io/scope":"container"}')"
	[ "$status" -eq 0 ]
	[ "$(fs .scope)" = container ]
	[ "$(fs .source)" = runtime ]
	echo "$output" | jq -e '.flowsteer.warnings | any(contains("flowsteer.io/mode") and contains("not a string"))'
	assert_pod_tuned "$ALL" 32768
	assert_host_untouched
}

@test "a line break in a value does not split the log line" {
	run cni ADD "$(rconf '{"flowsteer.io/mode":"rfs\nFAKE-LOG-LINE"}')"
	[ "$status" -eq 0 ]
	run ! grep -q '^FAKE-LOG-LINE' "$LOG_FILE"
	grep -q 'flowsteer.io/mode.*rfs?FAKE-LOG-LINE' "$LOG_FILE"
}

@test "policy opt-in: a pod without annotation is not tuned" {
	run cni ADD "$(rconf '{"app":"web"}' '.policy = "opt-in"')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = off ]
	[ "$(fs .source)" = config ]
	assert_pod_untouched
	assert_host_untouched
}

@test "policy opt-in: scope or cpus alone do not opt in" {
	run cni ADD "$(rconf '{"flowsteer.io/scope":"both"}' '.policy = "opt-in"')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = off ]
	assert_pod_untouched
}

@test "policy opt-in: flowsteer.io/mode rps opts in" {
	run cni ADD "$(rconf '{"flowsteer.io/mode":"rps"}' '.policy = "opt-in"')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = rps ]
	[ "$(fs .source)" = runtime ]
	assert_pod_tuned "$ALL" 0
	assert_host_tuned "$ALL" 0
}

@test "policy opt-in: a garbage mode does not opt in" {
	run cni ADD "$(rconf '{"flowsteer.io/mode":"on"}' '.policy = "opt-in"')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = off ]
	echo "$output" | jq -e '.flowsteer.warnings | any(contains("flowsteer.io/mode") and contains("\"on\""))'
	assert_pod_untouched
}

@test "config mode off is off by default; an annotation opts in" {
	run cni ADD "$(rconf '{}' '.mode = "off"')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = off ]
	assert_pod_untouched

	make_pod api team-a
	run cni ADD "$(rconf '{"flowsteer.io/mode":"rfs"}' '.mode = "off"')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = rfs ]
	[ "$(fs .source)" = runtime ]
	assert_pod_tuned "$ALL" 32768
}

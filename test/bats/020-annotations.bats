#!/usr/bin/env bats
# Pod annotations passed by the runtime (runtimeConfig
# "io.kubernetes.cri.pod-annotations", SPEC §5): opt in/out, mode, scope,
# cpus narrowing; bad values are warnings and never fail the pod. Asserts the
# sysfs values inside the pod netns and on the host veth, and the result.

load helpers

setup() {
	setup_node
	make_pod web team-a
	ALL=$(all_cpus_mask)
}

teardown() { teardown_node; }

# rconf ANNOTATIONS_JSON [JQ_FILTER]: conf 1.0.0 as containerd sends it to a
# plugin that declared the capability.
rconf() {
	conf 1.0.0 | jq -c --argjson a "$1" \
		'.capabilities = {"io.kubernetes.cri.pod-annotations": true}
		 | .runtimeConfig = {"io.kubernetes.cri.pod-annotations": $a} | '"${2:-.}"
}

@test "runtime annotations without ours: configuration decides (opt-out, rfs, both)" {
	run_helper cni ADD "$(rconf '{"app":"web","io.kubernetes.pod.namespace":"team-a"}')"
	expect_result source=config mode=rfs scope=both 'warnings | length=0'
	expect_tuned "$ALL" 32768 pod "$HOST_VETH"
}

@test "runtime annotations null: configuration decides" {
	run_helper cni ADD "$(rconf null)"
	expect_result source=config mode=rfs
	expect_tuned "$ALL" 32768 pod
}

@test "flowsteer.io/mode off: the pod is left alone, source runtime" {
	c=$(rconf '{"flowsteer.io/mode":"off"}')
	run_helper cni ADD "$c"
	expect_result mode=off source=runtime
	assert_json "$output" '[.flowsteer.devices[]? | select(.status == "applied")] | length' 0
	expect_prev_passed "$c"
	expect_untouched pod "$HOST_VETH" ul0
	cni_del "$c"
}

@test "flowsteer.io/mode rps: rps_cpus set, no flow table" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/mode":"rps"}')"
	expect_result mode=rps source=runtime
	expect_tuned "$ALL" 0 pod "$HOST_VETH"
}

@test "flowsteer.io/mode rfs overrides a configured mode rps" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/mode":"rfs"}' '.mode = "rps"')"
	expect_result mode=rfs source=runtime
	expect_tuned "$ALL" 32768 pod "$HOST_VETH"
}

@test "flowsteer.io/scope container: only the pod side is tuned" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/scope":"container"}')"
	expect_result scope=container source=runtime
	expect_tuned "$ALL" 32768 pod
	expect_untouched "$HOST_VETH"
}

@test "flowsteer.io/scope host: only the host side is tuned" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/scope":"host","flowsteer.io/mode":"rps"}')"
	expect_result scope=host mode=rps
	expect_untouched pod
	expect_tuned "$ALL" 0 "$HOST_VETH" ul0
}

@test "flowsteer.io/cpus narrows the pod's mask" {
	local last
	last=$(last_cpu)
	[ "$last" -ge 1 ] || skip "needs two online CPUs"
	run_helper cni ADD "$(rconf "{\"flowsteer.io/cpus\":\"$last\"}")"
	expect_result cpus="$last" source=runtime 'warnings | length=0'
	expect_tuned "$(kmask "$last")" 32768 pod "$HOST_VETH"
}

@test "flowsteer.io/cpus naming a CPU the config excludes is refused" {
	[ "$(last_cpu)" -ge 1 ] || skip "needs two online CPUs"
	# config leaves out CPU 0; asking for 0 would widen: refused
	run_helper cni ADD "$(rconf '{"flowsteer.io/cpus":"0"}' '.excludeCpus = "0"')"
	expect_result source=config cpus="$(mask_list "$(mask_except 0)")"
	expect_warning flowsteer.io/cpus '"0"'
	expect_tuned "$(mask_except 0)" 32768 pod
}

@test "flowsteer.io/cpus that would widen the set is refused with a warning" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/cpus":"0-8191"}')"
	expect_result source=config cpus="$(online_cpus)"
	expect_warning flowsteer.io/cpus 0-8191 ignored
	expect_tuned "$ALL" 32768 pod
	assert_log 'warn.*flowsteer\.io/cpus.*0-8191'
}

@test "flowsteer.io/cpus that leaves nothing is refused with a warning" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/cpus":""}')"
	expect_warning flowsteer.io/cpus "leaves no CPU"
	expect_tuned "$ALL" 32768 pod
}

@test "garbage values are warnings naming annotation and value; the pod is tuned per config" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/mode":"turbo","flowsteer.io/scope":"sideways","flowsteer.io/cpus":"lots"}')"
	expect_result source=config mode=rfs scope=both 'warnings | length=3'
	expect_warning flowsteer.io/mode turbo
	expect_warning flowsteer.io/scope sideways
	expect_warning flowsteer.io/cpus lots
	expect_tuned "$ALL" 32768 pod "$HOST_VETH"
}

@test "a non-string annotation value is a warning, not a failure" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/mode":{"nested":true},"flowsteer.io/scope":"container"}')"
	expect_result scope=container source=runtime
	expect_warning flowsteer.io/mode "not a string"
	expect_tuned "$ALL" 32768 pod
	expect_untouched "$HOST_VETH"
}

@test "a line break in a value does not split the log line" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/mode":"rfs\nFAKE-LOG-LINE"}')"
	assert_log '^FAKE-LOG-LINE' 0
	assert_log 'flowsteer\.io/mode.*rfs\?FAKE-LOG-LINE'
}

@test "policy opt-in: a pod without annotation is not tuned" {
	run_helper cni ADD "$(rconf '{"app":"web"}' '.policy = "opt-in"')"
	expect_result mode=off source=config
	expect_untouched pod "$HOST_VETH"
}

@test "policy opt-in: scope or cpus alone do not opt in" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/scope":"both"}' '.policy = "opt-in"')"
	expect_result mode=off
	expect_untouched pod
}

@test "policy opt-in: flowsteer.io/mode rps opts in" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/mode":"rps"}' '.policy = "opt-in"')"
	expect_result mode=rps source=runtime
	expect_tuned "$ALL" 0 pod "$HOST_VETH"
}

@test "policy opt-in: a garbage mode does not opt in" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/mode":"on"}' '.policy = "opt-in"')"
	expect_result mode=off
	expect_warning flowsteer.io/mode '"on"'
	expect_untouched pod
}

@test "config mode off is off by default" {
	run_helper cni ADD "$(rconf '{}' '.mode = "off"')"
	expect_result mode=off
	expect_untouched pod
}

@test "config mode off: an annotation opts in" {
	run_helper cni ADD "$(rconf '{"flowsteer.io/mode":"rfs"}' '.mode = "off"')"
	expect_result mode=rfs source=runtime
	expect_tuned "$ALL" 32768 pod
}

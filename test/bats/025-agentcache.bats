#!/usr/bin/env bats
# The node agent's cache (annotationsFile): the plugin reads pod and
# namespace annotations there when the runtime passes none, and never
# calls the API server. Precedence, key by key: runtime (present, even
# null), the cache's entry for this pod (uid must match), the cache's
# namespace entry, the configuration. A missing, stale or broken file is a
# warning and the configuration decides.

bats_require_minimum_version 1.5.0

load helpers
load core_helpers

setup() {
	setup_node
	make_pod web team-a
	ALL=$(all_cpus_mask)
	CACHE=$BATS_TEST_TMPDIR/annotations.json
}

teardown() { teardown_node; }

# cache NAMESPACES PODS [SYNCED_AT]: the agent's file, root's and 0644.
cache() {
	jq -n --argjson n "$1" --argjson p "$2" --arg t "${3:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}" \
		'{version: 1, syncedAt: $t, namespaces: $n, pods: $p}' >"$CACHE"
}

# aconf [JQ]: the pod's config reading $CACHE; CNI_ARGS carry its uid.
aconf() { conf 1.0.0 ".annotationsFile = \"$CACHE\" | ${1:-.}"; }
add() { CNI_ARGS_EXTRA="K8S_POD_UID=${UID_ARG:-u-web}" run_helper cni ADD "$1"; }

@test "the cache's pod entry decides (source agent-pod)" {
	cache '{}' '{"team-a/web": {"uid": "u-web", "annotations": {"flowsteer.io/mode": "off"}}}'
	add "$(aconf)"
	assert_json "$output" .flowsteer.source agent-pod
	expect_pod_untouched
}

@test "the cache's namespace entry decides what the pod does not say (source namespace)" {
	cache '{"team-a": {"flowsteer.io/mode": "rps", "flowsteer.io/cpus": "0"}}' '{}'
	add "$(aconf)"
	assert_json "$output" .flowsteer.source namespace
	assert_json "$output" .flowsteer.mode rps
	expect_pod_tuned "$(kmask 0)" 0 1
}

@test "a cached pod entry of another uid (a recreated pod) is not used" {
	cache '{}' '{"team-a/web": {"uid": "u-old", "annotations": {"flowsteer.io/mode": "off"}}}'
	add "$(aconf)"
	assert_json "$output" .flowsteer.source config
	expect_pod_tuned "$ALL" 32768 1
}

@test "runtime annotations, even null, outrank the cached pod entry; the namespace still counts" {
	cache '{"team-a": {"flowsteer.io/scope": "container"}}' \
		'{"team-a/web": {"uid": "u-web", "annotations": {"flowsteer.io/mode": "off"}}}'
	add "$(aconf '.runtimeConfig = {"io.kubernetes.cri.pod-annotations": null}')"
	assert_json "$output" .flowsteer.mode rfs
	assert_json "$output" .flowsteer.scope container
	assert_json "$output" .flowsteer.source namespace
}

@test "a stale cache is a warning; the configuration decides" {
	cache '{}' '{"team-a/web": {"uid": "u-web", "annotations": {"flowsteer.io/mode": "off"}}}' 2020-01-01T00:00:00Z
	add "$(aconf)"
	assert_json "$output" '[.flowsteer.warnings[] | select(contains("is stale"))] | length' 1
	expect_pod_tuned "$ALL" 32768 1
}

@test "a broken cache is a warning naming it; a missing one is only logged" {
	echo '{"version": 1, "syncedAt": "2026-11-29T17:47:27Z", "namespaces": [], "pods": {}}' >"$CACHE"
	add "$(aconf)"
	assert_json "$output" '.flowsteer.warnings[0]' "annotationsFile $CACHE: \"namespaces\" is missing or not an object; ignored"
	rm "$CACHE"
	add "$(aconf)"
	assert_json "$output" '.flowsteer.warnings | length' 0
}

@test "a cache not owned by root is ignored" {
	cache '{}' '{"team-a/web": {"uid": "u-web", "annotations": {"flowsteer.io/mode": "off"}}}'
	chown 1000 "$CACHE"
	add "$(aconf)"
	assert_json "$output" '[.flowsteer.warnings[] | select(contains("owned by uid 1000"))] | length' 1
	expect_pod_tuned "$ALL" 32768 1
}

@test "an old kubernetes key is a warning, never an error" {
	add "$(aconf '.kubernetes = {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}')"
	assert_json "$output" '[.flowsteer.warnings[] | select(contains("no longer used"))] | length' 1
	expect_pod_tuned "$ALL" 32768 1
}

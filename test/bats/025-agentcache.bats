#!/usr/bin/env bats
# The node agent's cache (annotationsFile): the plugin reads pod and
# namespace annotations there when the runtime passes none, and never
# calls the API server. Precedence, key by key: runtime (present, even
# null), the cache's entry for this pod (uid must match), the cache's
# namespace entry, the configuration. A missing, stale or broken file is a
# warning and the configuration decides.

load helpers

setup() {
	setup_node
	make_pod web team-a
	ALL=$(all_cpus_mask)
	# The annotationsFile conf names.
	CACHE=$BATS_TEST_TMPDIR/annotations.json
}

teardown() { teardown_node; }

# cache NAMESPACES PODS [SYNCED_AT]: the agent's file, root's and 0644.
cache() {
	jq -n --argjson n "$1" --argjson p "$2" --arg t "${3:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}" \
		'{version: 1, syncedAt: $t, namespaces: $n, pods: $p}' >"$CACHE"
}

# add [JQ_FILTER]: the pod's ADD; CNI_ARGS carry its uid.
add() { CNI_ARGS_EXTRA="K8S_POD_UID=${UID_ARG:-u-web}" run_helper cni ADD "$(conf 1.0.0 "${1:-.}")"; }

@test "the cache's pod entry decides (source agent-pod)" {
	cache '{}' '{"team-a/web": {"uid": "u-web", "annotations": {"flowsteer.io/mode": "off"}}}'
	add
	expect_result source=agent-pod
	expect_untouched pod
}

@test "the cache's namespace entry decides what the pod does not say (source namespace)" {
	cache '{"team-a": {"flowsteer.io/mode": "rps", "flowsteer.io/cpus": "0"}}' '{}'
	add
	expect_result source=namespace mode=rps
	expect_tuned "$(kmask 0)" 0 pod
}

@test "a cached pod entry of another uid (a recreated pod) is not used" {
	cache '{}' '{"team-a/web": {"uid": "u-old", "annotations": {"flowsteer.io/mode": "off"}}}'
	add
	expect_result source=config
	expect_tuned "$ALL" 32768 pod
}

@test "runtime annotations, even null, outrank the cached pod entry; the namespace still counts" {
	cache '{"team-a": {"flowsteer.io/scope": "container"}}' \
		'{"team-a/web": {"uid": "u-web", "annotations": {"flowsteer.io/mode": "off"}}}'
	add '.runtimeConfig = {"io.kubernetes.cri.pod-annotations": null}'
	expect_result mode=rfs scope=container source=namespace
}

@test "a stale cache is a warning; the configuration decides" {
	cache '{}' '{"team-a/web": {"uid": "u-web", "annotations": {"flowsteer.io/mode": "off"}}}' 2020-01-01T00:00:00Z
	add
	assert_json "$output" '[.flowsteer.warnings[] | select(contains("is stale"))] | length' 1
	expect_tuned "$ALL" 32768 pod
}

@test "a broken cache is a warning naming it; a missing one is only logged" {
	echo '{"version": 1, "syncedAt": "2026-11-29T17:47:27Z", "namespaces": [], "pods": {}}' >"$CACHE"
	add
	expect_result "warnings[0]=annotationsFile $CACHE: \"namespaces\" is missing or not an object; ignored"
	rm "$CACHE"
	add
	expect_result 'warnings | length=0'
	assert_log "info .*annotationsFile $CACHE does not exist" 1
}

@test "a cache not owned by root is ignored" {
	cache '{}' '{"team-a/web": {"uid": "u-web", "annotations": {"flowsteer.io/mode": "off"}}}'
	chown 1000 "$CACHE"
	add
	assert_json "$output" '[.flowsteer.warnings[] | select(contains("owned by uid 1000"))] | length' 1
	expect_tuned "$ALL" 32768 pod
}

@test "an old kubernetes key is a warning, never an error" {
	add '.kubernetes = {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}'
	assert_json "$output" '[.flowsteer.warnings[] | select(contains("no longer used"))] | length' 1
	expect_tuned "$ALL" 32768 pod
}

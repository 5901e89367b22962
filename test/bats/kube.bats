#!/usr/bin/env bats
# Annotations from the API server (SPEC §5) and the status annotation patched
# back (§7), against test/kube/apiserver.py over verified TLS, run inside the
# test's node netns. Calico's calico-kubeconfig fixture is used as is.

bats_require_minimum_version 1.5.0
load helpers
load annot_helpers

setup() {
	setup_node
	make_pod web team-a
	ALL=$(all_cpus_mask)
	kube_certs
}

teardown() {
	kube_server_stop
	teardown_node
}

fs() { echo "$output" | jq -r ".flowsteer$1"; }
has_warning() { echo "$output" | jq -e --arg a "$1" --arg b "${2:-}" \
	'.flowsteer.warnings | any(contains($a) and contains($b))' >/dev/null; }
no_warnings() { [ "$(fs '.warnings|length')" = 0 ] || { fs .warnings; false; }; }

assert_pod_tuned() { # MASK FLOW_CNT
	[ "$(pod_sysfs "$POD_NS" rps_cpus)" = "$1" ]
	[ "$(pod_sysfs "$POD_NS" rps_flow_cnt)" = "$2" ]
}
assert_pod_untouched() {
	[[ $(pod_sysfs "$POD_NS" rps_cpus) =~ ^[0,]+$ ]]
	[ "$(pod_sysfs "$POD_NS" rps_flow_cnt)" = 0 ]
}
assert_host_untouched() {
	[[ $(node_sysfs "$HOST_VETH" rps_cpus) =~ ^[0,]+$ ]]
}
last_cpu() { cut -d- -f2 /sys/devices/system/cpu/online | tr ',' '\n' | tail -1; }
# The token must appear nowhere: result, log, server output.
assert_token_hidden() {
	[ -n "$KUBE_TOKEN" ]
	if grep -rF -- "$KUBE_TOKEN" "$LOG_FILE" "$KT/server.out" "$STATE_DIR" 2>/dev/null; then false; fi
	if printf '%s' "$output" | grep -F -- "$KUBE_TOKEN"; then false; fi
}
ms_now() { echo $(($(date +%s%N) / 1000000)); }

@test "pod annotations from the API server (calico-kubeconfig as is)" {
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/web":{"flowsteer.io/mode":"rps","app":"web"}}}'
	kube_server_start
	kube_kubeconfig
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	no_warnings
	[ "$(fs .source)" = pod ]
	[ "$(fs .mode)" = rps ]
	assert_pod_tuned "$ALL" 0
	grep -q '"GET", "path": "/api/v1/namespaces/team-a/pods/web", "auth": true' "$KUBE_REQUESTS"
	grep -q '"GET", "path": "/api/v1/namespaces/team-a", "auth": true' "$KUBE_REQUESTS"
	assert_token_hidden
}

@test "namespace annotations are the defaults of its pods" {
	kube_objects '{"namespaces":{"team-a":{"flowsteer.io/mode":"rps","flowsteer.io/scope":"container"}},"pods":{"team-a/web":"none"}}'
	kube_server_start
	kube_kubeconfig
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	no_warnings
	[ "$(fs .source)" = namespace ]
	[ "$(fs .mode)" = rps ]
	[ "$(fs .scope)" = container ]
	assert_pod_tuned "$ALL" 0
	assert_host_untouched
}

@test "precedence: pod over namespace over config, key by key" {
	local last
	last=$(last_cpu)
	[ "$last" -ge 1 ] || skip "needs two online CPUs"
	kube_objects "{\"namespaces\":{\"team-a\":{\"flowsteer.io/mode\":\"off\",\"flowsteer.io/cpus\":\"$last\"}},
		\"pods\":{\"team-a/web\":{\"flowsteer.io/mode\":\"rfs\"}}}"
	kube_server_start
	kube_kubeconfig
	run cni ADD "$(kube_conf '.mode = "rps" | .scope = "container"')"
	[ "$status" -eq 0 ]
	no_warnings
	[ "$(fs .source)" = pod ]
	[ "$(fs .mode)" = rfs ]          # pod
	[ "$(fs .cpus)" = "$last" ]      # namespace
	[ "$(fs .scope)" = container ]   # config
	[ "$(pod_sysfs "$POD_NS" rps_flow_cnt)" = 32768 ]
	[ "$(mask_list "$(pod_sysfs "$POD_NS" rps_cpus)")" = "$last" ]
	assert_host_untouched
}

@test "namespace off opts its pods out; policy opt-in: namespace rfs opts them in" {
	kube_objects '{"namespaces":{"team-a":{"flowsteer.io/mode":"off"}},"pods":{"team-a/web":{}}}'
	kube_server_start
	kube_kubeconfig
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = off ]
	[ "$(fs .source)" = namespace ]
	assert_pod_untouched

	make_pod api team-a
	kube_objects '{"namespaces":{"team-a":{"flowsteer.io/mode":"rfs"}},"pods":{"team-a/api":{}}}'
	run cni ADD "$(kube_conf '.policy = "opt-in"')"
	[ "$status" -eq 0 ]
	[ "$(fs .mode)" = rfs ]
	[ "$(fs .source)" = namespace ]
	assert_pod_tuned "$ALL" 32768
}

@test "the status annotation is patched onto the pod with the expected body" {
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/web":{"flowsteer.io/mode":"rps"}}}'
	kube_server_start
	kube_kubeconfig
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	no_warnings
	[ "$(wc -l <"$KUBE_PATCHES")" = 1 ]
	jq -e '.path == "/api/v1/namespaces/team-a/pods/web"' "$KUBE_PATCHES"
	jq -e '.contentType == "application/strategic-merge-patch+json"' "$KUBE_PATCHES"
	# exactly metadata.annotations["flowsteer.io/status"], nothing else
	jq -e '.body | keys == ["metadata"] and (.metadata | keys == ["annotations"])
		and (.metadata.annotations | keys == ["flowsteer.io/status"])' "$KUBE_PATCHES"
	local line
	line=$(jq -r '.body.metadata.annotations["flowsteer.io/status"]' "$KUBE_PATCHES")
	[[ $line == "mode=rps scope=both cpus="* ]]
	[[ $line == *"$HOST_VETH:applied"* ]]
	[[ $line != *$'\n'* ]]
	# the same line as the log's summary for this pod
	grep -qF "pod team-a/web netns $POD_NETNS: $line" "$LOG_FILE"
	assert_token_hidden
}

@test "pod 404: warning, the configured policy applies" {
	kube_objects '{"namespaces":{"team-a":{"flowsteer.io/mode":"off"}},"pods":{}}'
	kube_server_start
	kube_kubeconfig
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	has_warning "HTTP 404" 'pods "web" not found'
	has_warning "team-a/web"
	[ "$(fs .source)" = config ]
	[ "$(fs .mode)" = rfs ]
	assert_pod_tuned "$ALL" 32768
	[ "$(kube_requests GET)" = 1 ]   # namespace not asked after the pod failed

	make_pod api team-a
	run cni ADD "$(kube_conf '.policy = "opt-in"')"
	[ "$status" -eq 0 ]
	has_warning "HTTP 404"
	[ "$(fs .mode)" = off ]
	assert_pod_untouched
}

@test "403 for everything: warnings, the configured policy applies, patch failure is a warning" {
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/web":{"flowsteer.io/mode":"off"}}}'
	kube_server_start 403
	kube_kubeconfig
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	has_warning "HTTP 403" "forbidden"
	has_warning "PATCH" "flowsteer.io/status not written"
	[ "$(fs .source)" = config ]
	[ "$(fs .mode)" = rfs ]
	assert_pod_tuned "$ALL" 32768
	assert_token_hidden
}

@test "wrong token: 401 warning, token not in any output" {
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/web":{"flowsteer.io/mode":"off"}}}'
	kube_server_start
	kube_kubeconfig "$KT/ca.crt" "wrong-$KUBE_TOKEN"
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	has_warning "HTTP 401"
	[ "$(fs .source)" = config ]
	assert_pod_tuned "$ALL" 32768
	if grep -rF -- "wrong-$KUBE_TOKEN" "$LOG_FILE" "$STATE_DIR"; then false; fi
	if printf '%s' "$output" | grep -F -- "wrong-$KUBE_TOKEN"; then false; fi
}

@test "a server that never answers: the ADD ends within timeoutMs plus a margin, tuned per policy" {
	kube_server_start hang
	kube_kubeconfig
	local t0 t1
	t0=$(ms_now)
	run cni ADD "$(kube_conf . 1000)"
	t1=$(ms_now)
	[ "$status" -eq 0 ]
	echo "ADD took $((t1 - t0)) ms" >&3
	[ $((t1 - t0)) -lt 2000 ]
	[ $((t1 - t0)) -ge 1000 ]
	has_warning "team-a/web" "Timeout"
	# the status patch gets no second budget
	has_warning "PATCH" "timeoutMs 1000 already spent"
	[ "$(fs .source)" = config ]
	[ "$(fs .mode)" = rfs ]
	assert_pod_tuned "$ALL" 32768
}

@test "one budget for all calls: a slow server's later calls are cut off" {
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/web":{"flowsteer.io/mode":"rps"}}}'
	kube_server_start ok --delay-ms 400
	kube_kubeconfig
	local t0 t1
	t0=$(ms_now)
	run cni ADD "$(kube_conf . 1000)"
	t1=$(ms_now)
	[ "$status" -eq 0 ]
	echo "ADD took $((t1 - t0)) ms" >&3
	# pod (400) + namespace (400) fit; the patch would need another 400
	[ $((t1 - t0)) -lt 2000 ]
	[ "$(fs .source)" = pod ]
	[ "$(fs .mode)" = rps ]
	assert_pod_tuned "$ALL" 0
	has_warning "PATCH" "Timeout"
}

@test "nothing listening: a warning, no delay, tuned per policy" {
	kube_server_start
	kube_kubeconfig
	kube_server_stop
	run cni ADD "$(kube_conf '.policy = "opt-in"')"
	[ "$status" -eq 0 ]
	has_warning "team-a/web" "Couldn't connect"
	[ "$(fs .mode)" = off ]
	assert_pod_untouched
}

@test "a server certificate from another CA is refused with a warning" {
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/web":{"flowsteer.io/mode":"off"}}}'
	kube_server_start
	kube_kubeconfig "$KT/wrong-ca.crt"
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	has_warning "team-a/web" "certificate"
	[ "$(fs .source)" = config ]
	[ "$(fs .mode)" = rfs ]
	assert_pod_tuned "$ALL" 32768
	# refused before any request was sent
	[ ! -s "$KUBE_REQUESTS" ]
	assert_token_hidden
}

@test "the system CA store does not vouch for the API server" {
	# No CA in the kubeconfig: the test CA is in no system store, so the
	# connection must fail; with the CA file it works.
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/web":{"flowsteer.io/mode":"off"}}}'
	kube_server_start
	kube_kubeconfig
	sed -i '/certificate-authority-data/d' "$KUBECONFIG_FILE"
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	has_warning "certificate"
	[ ! -s "$KUBE_REQUESTS" ]

	# certificate-authority as a path relative to the kubeconfig
	make_pod api team-a
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/api":{"flowsteer.io/mode":"off"}}}'
	sed -i "s|^    server: .*|&\n    certificate-authority: ca.crt|" "$KUBECONFIG_FILE"
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	no_warnings
	[ "$(fs .source)" = pod ]
	[ "$(fs .mode)" = off ]
}

@test "client certificate data and tokenFile kubeconfigs work" {
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/web":{"flowsteer.io/mode":"rps"}}}'
	kube_server_start ok --client-ca "$KT/ca.crt"
	cat >"$KT/cert-kubeconfig" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: local
	  cluster:
	    server: $KUBE_URL
	    certificate-authority-data: $(base64 -w0 "$KT/ca.crt")
	users:
	- name: flowsteer
	  user:
	    tokenFile: token
	    client-certificate-data: $(base64 -w0 "$KT/client.crt")
	    client-key-data: $(base64 -w0 "$KT/client.key")
	contexts:
	- name: ctx
	  context: {cluster: local, user: flowsteer}
	current-context: ctx
	EOF
	printf '%s\n' "$KUBE_TOKEN" >"$KT/token"
	KUBECONFIG_FILE=$KT/cert-kubeconfig
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	no_warnings
	[ "$(fs .source)" = pod ]
	[ "$(fs .mode)" = rps ]
	assert_pod_tuned "$ALL" 0
	[ "$(wc -l <"$KUBE_PATCHES")" = 1 ]
	# the key material is never logged either
	if grep -F -- "$(sed -n 2p "$KT/client.key")" "$LOG_FILE"; then false; fi
	assert_token_hidden

	# without the client certificate the server refuses the TLS handshake
	make_pod api team-a
	sed -i '/client-/d' "$KUBECONFIG_FILE"
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	has_warning "team-a/api"
	[ "$(fs .source)" = config ]
}

@test "bad YAML in the kubeconfig: warning naming the file, policy applies" {
	kube_server_start
	kube_kubeconfig
	printf 'clusters: [\n  {name: x\n' >>"$KUBECONFIG_FILE"
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	has_warning "$KUBECONFIG_FILE" "YAML error"
	[ "$(fs .source)" = config ]
	assert_pod_tuned "$ALL" 32768
	[ ! -s "$KUBE_REQUESTS" ]
	assert_token_hidden
}

@test "missing kubeconfig file: warning, policy applies" {
	KUBECONFIG_FILE=$BATS_TEST_TMPDIR/absent-kubeconfig
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	has_warning "$KUBECONFIG_FILE" "No such file"
	assert_pod_tuned "$ALL" 32768
}

@test "an invalid K8S_POD_NAME is never put in a URL" {
	kube_server_start
	kube_kubeconfig
	POD_NAME='web/../../../../api/v1/secrets' CID=ctr-bad-name
	run cni ADD "$(kube_conf)"
	[ "$status" -eq 0 ]
	has_warning "K8S_POD_NAME" "DNS-1123"
	[ ! -s "$KUBE_REQUESTS" ]
	assert_pod_tuned "$ALL" 32768
}

@test "runtime annotations with ours: the API server is not asked for the pod" {
	kube_objects '{"namespaces":{"team-a":{"flowsteer.io/mode":"off"}},"pods":{"team-a/web":{"flowsteer.io/mode":"off"}}}'
	kube_server_start
	kube_kubeconfig
	run cni ADD "$(kube_conf '.capabilities = {"io.kubernetes.cri.pod-annotations": true}
		| .runtimeConfig = {"io.kubernetes.cri.pod-annotations": {"flowsteer.io/mode": "rps"}}')"
	[ "$status" -eq 0 ]
	[ "$(fs .source)" = runtime ]
	[ "$(fs .mode)" = rps ]
	assert_pod_tuned "$ALL" 0
	[ "$(kube_requests GET)" = 0 ]
}

@test "runtime annotations with ours: the status is still patched onto the pod (SPEC §7)" {
	kube_objects '{"namespaces":{"team-a":{}},"pods":{"team-a/web":{}}}'
	kube_server_start
	kube_kubeconfig
	run cni ADD "$(kube_conf '.runtimeConfig = {"io.kubernetes.cri.pod-annotations": {"flowsteer.io/mode": "rps"}}')"
	[ "$status" -eq 0 ]
	[ "$(fs .source)" = runtime ]
	[ "$(wc -l <"$KUBE_PATCHES")" = 1 ]
	jq -e '.body.metadata.annotations["flowsteer.io/status"] | startswith("mode=rps")' "$KUBE_PATCHES"
}

@test "runtime annotations without ours: the namespace default applies" {
	kube_objects '{"namespaces":{"team-a":{"flowsteer.io/mode":"off"}},"pods":{"team-a/web":{}}}'
	kube_server_start
	kube_kubeconfig
	run cni ADD "$(kube_conf '.runtimeConfig = {"io.kubernetes.cri.pod-annotations": {"app": "web"}}')"
	[ "$status" -eq 0 ]
	[ "$(fs .source)" = namespace ]
	[ "$(fs .mode)" = off ]
	[ "$(pod_sysfs "$POD_NS" rps_cpus)" = 0 ]
	[ "$(kube_requests GET)" = 1 ]
}

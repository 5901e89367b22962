# Helpers for the annotation and API-server tests: certificates made here with openssl, a
# local HTTPS API server (test/kube/apiserver.py) run inside the test's node
# netns (so its 127.0.0.1 is the plugin's and nothing leaves the namespaces
# the test made), and kubeconfigs in Calico's shape.

KUBE_SERVER=${KUBE_SERVER:-$BATS_TEST_DIRNAME/../kube/apiserver.py}
if [ -x /usr/bin/python3 ]; then KUBE_PY=/usr/bin/python3; else KUBE_PY=python3; fi

# kube_certs: CA, server certificate for IP 127.0.0.1, a second (wrong) CA,
# and a client certificate; all under $KT.
kube_certs() {
	KT=$BATS_TEST_TMPDIR/kube
	mkdir -p "$KT"
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -keyout "$KT/ca.key" -out "$KT/ca.crt" -days 1 \
		-subj /CN=flowsteer-test-ca 2>/dev/null
	openssl req -x509 "${ec[@]}" -keyout "$KT/wrong-ca.key" -out "$KT/wrong-ca.crt" -days 1 \
		-subj /CN=some-other-ca 2>/dev/null
	openssl req "${ec[@]}" -keyout "$KT/srv.key" -out "$KT/srv.csr" -subj /CN=kube-apiserver 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$KT/srv.ext"
	openssl x509 -req -in "$KT/srv.csr" -CA "$KT/ca.crt" -CAkey "$KT/ca.key" -CAcreateserial \
		-out "$KT/srv.crt" -days 1 -extfile "$KT/srv.ext" 2>/dev/null
	openssl req "${ec[@]}" -keyout "$KT/client.key" -out "$KT/client.csr" -subj /CN=flowsteer 2>/dev/null
	printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$KT/client.ext"
	openssl x509 -req -in "$KT/client.csr" -CA "$KT/ca.crt" -CAkey "$KT/ca.key" -CAcreateserial \
		-out "$KT/client.crt" -days 1 -extfile "$KT/client.ext" 2>/dev/null
	KUBE_TOKEN="fs-secret-token-$RANDOM$RANDOM$RANDOM"
	KUBE_OBJECTS=$KT/objects.json
	KUBE_PATCHES=$KT/patches.jsonl
	KUBE_REQUESTS=$KT/requests.jsonl
	echo '{"namespaces": {}, "pods": {}}' >"$KUBE_OBJECTS"
}

# kube_objects JSON: what the server serves (see apiserver.py).
kube_objects() { printf '%s\n' "$1" >"$KUBE_OBJECTS"; }

# kube_server_start [MODE] [apiserver.py args...]: starts the server in the
# node netns; sets KUBE_PID, KUBE_PORT, KUBE_URL.
kube_server_start() {
	local mode=${1:-ok} i
	shift || true
	rm -f "$KT/port" "$KUBE_PATCHES" "$KUBE_REQUESTS"
	touch "$KUBE_PATCHES" "$KUBE_REQUESTS"
	# Not through a function: $! must be the server itself (ip netns exec
	# execs it) so that kube_server_stop can end it by its id.
	"${NODE_EXEC[@]}" "$KUBE_PY" "$KUBE_SERVER" --objects "$KUBE_OBJECTS" --cert "$KT/srv.crt" --key "$KT/srv.key" \
		--token "$KUBE_TOKEN" --mode "$mode" --port-file "$KT/port" \
		--patch-log "$KUBE_PATCHES" --request-log "$KUBE_REQUESTS" "$@" \
		>"$KT/server.out" 2>&1 3>&- &
	KUBE_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -s "$KT/port" ] && break
		kill -0 "$KUBE_PID" 2>/dev/null || break
		sleep 0.05
	done
	[ -s "$KT/port" ] || { cat "$KT/server.out" >&2; return 1; }
	KUBE_PORT=$(cat "$KT/port")
	KUBE_URL=https://127.0.0.1:$KUBE_PORT
}

kube_server_stop() {
	if [ -n "${KUBE_PID:-}" ]; then
		kill "$KUBE_PID" 2>/dev/null || true
		wait "$KUBE_PID" 2>/dev/null || true
	fi
	KUBE_PID=
}

# kube_kubeconfig [CA_FILE] [TOKEN]: Calico's calico-kubeconfig fixture, as
# is, with its placeholders filled in; path in KUBECONFIG_FILE.
kube_kubeconfig() {
	local ca=${1:-$KT/ca.crt} token=${2:-$KUBE_TOKEN}
	KUBECONFIG_FILE=$KT/calico-kubeconfig
	sed -e "s|https://127.0.0.1:6443|$KUBE_URL|" \
		-e "s|REPLACE_WITH_BASE64_CA|$(base64 -w0 "$ca")|" \
		-e "s|REPLACE_WITH_TOKEN|$token|" \
		"$FIXTURES/calico-kubeconfig" >"$KUBECONFIG_FILE"
	chmod 600 "$KUBECONFIG_FILE"
}

# kube_conf [JQ_FILTER] [TIMEOUT_MS]: conf 1.0.0 with kubernetes.* set.
kube_conf() {
	local filter=${1:-.} t=${2:-2000}
	conf 1.0.0 | jq -c --arg k "$KUBECONFIG_FILE" --argjson t "$t" \
		".kubernetes = {kubeconfig: \$k, timeoutMs: \$t} | $filter"
}

# Lines of the request log for METHOD (GET/PATCH).
kube_requests() { grep -c "\"method\": \"$1\"" "$KUBE_REQUESTS" || true; }


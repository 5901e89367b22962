# Shared by the agent's scripts (valgrind-churn.sh, bench.sh) and the image
# test: bounded waits, certificates, and the test API server in a netns.
# shellcheck shell=bash

# until_ok SECONDS CMD...: polls CMD every 100 ms.
until_ok() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@" 2>/dev/null; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# make_certs DIR: DIR/ca.crt, DIR/ca.key, DIR/srv.crt, DIR/srv.key (for 127.0.0.1).
make_certs() {
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -keyout "$1/ca.key" -out "$1/ca.crt" -days 1 -subj /CN=flowsteer-test-ca 2>/dev/null
	openssl req "${ec[@]}" -keyout "$1/srv.key" -out "$1/srv.csr" -subj /CN=kube-apiserver 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$1/srv.ext"
	openssl x509 -req -in "$1/srv.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial \
		-out "$1/srv.crt" -days 1 -extfile "$1/srv.ext" 2>/dev/null
}

# start_apiserver NS DIR TOKEN [args...]: test/kube/apiserver.py in netns NS
# with DIR's certificates; sets SRV (pid), PORT, CTL (control URL).
start_apiserver() {
	local ns=$1 dir=$2 token=$3 repo
	shift 3
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	ip netns exec "$ns" python3 "$repo/test/kube/apiserver.py" --cert "$dir/srv.crt" --key "$dir/srv.key" \
		--token "$token" --port-file "$dir/port" --ctl-port-file "$dir/ctlport" --max-seconds 1800 "$@" \
		>"$dir/server.out" 2>&1 &
	SRV=$!
	until_ok 10 test -s "$dir/ctlport" || { cat "$dir/server.out" >&2; return 1; }
	PORT=$(cat "$dir/port")
	CTL=http://127.0.0.1:$(cat "$dir/ctlport")
}

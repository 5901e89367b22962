# shellcheck shell=bash
# The single-node cluster of e2e/k8s/run.sh (make e2e-k8s): etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy,
# kubelet and containerd, all started here, inside the node network
# namespace and the private mount namespace that run.sh made, and all
# stopped by k8s_down. Sourced by the inner half of run.sh. See
# e2e/README.md ("A real Kubernetes node").
#
# Paths: $KT is the run's temp dir. The host paths the manifests name are
# bind mounts of directories under $KT/host (k8s_mounts), in this mount
# namespace only.

K8S_NODE=fsk8s-node
K8S_NODE_IP=198.51.100.1
K8S_SVC_CIDR=198.18.0.0/24
K8S_SVC_IP=198.18.0.1
K8S_POD_BLOCK=10.244.1.0/26
K8S_PAUSE=localhost/flowsteer-e2e/pause:1
K8S_TIMEOUT=${K8S_TIMEOUT:-120}

k8s_log() { printf '# %s\n' "$*"; }

# The host paths, each over a temp dir. A path whose parent does not exist
# on the host (/opt/cni, /var/lib/kubelet on a machine without Kubernetes)
# cannot be a mount point without writing the host: its nearest existing
# ancestor gets a tmpfs that links every host entry back, and the path is
# made in that tmpfs.
K8S_SHADOWED=()
K8S_HOST_PATHS=(/opt/cni/bin /etc/cni/net.d /run/flowsteer /run/netns /run/containerd /run/lock
	/var/lib/kubelet /var/log/pods /var/log/containers /var/log/flowsteer)

# k8s_shadow DIR: DIR's nearest existing ancestor becomes a tmpfs holding
# links to what it held, then DIR is made there.
k8s_shadow() {
	local dir=$1 anc=$1 keep e
	while [ ! -e "$anc" ]; do anc=$(dirname "$anc"); done
	# Already a shadow of this run: the dir can be made there.
	[[ " ${K8S_SHADOWED[*]:-} " == *" $anc "* || $anc == "$KT"* ]] && { mkdir -p "$dir"; return; }
	for e in "${K8S_SHADOWED[@]}"; do [[ $anc == "$e"/* ]] && { mkdir -p "$dir"; return; }; done
	K8S_SHADOWED+=("$anc")
	keep=$KT/shadow$anc
	mkdir -p "$keep"
	mount --rbind "$anc" "$keep" || return 1
	# The mounts below it go too (they live on under $keep): a mount left
	# hidden under the tmpfs would still be the first for its path in
	# mountinfo, where containerd looks up a host path's propagation.
	awk -v a="$anc/" 'index($5, a) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r e; do umount -l "$e"; done
	mount -t tmpfs -o mode=0755 fsk8s "$anc" || return 1
	for e in "$keep"/* "$keep"/.[!.]*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		ln -s "$e" "$anc/${e##*/}"
	done
	mkdir -p "$dir"
}

# k8s_mounts: in the private mount namespace: a sysfs of the node netns
# (with the host's cgroup hierarchy kept), the host paths over temp dirs,
# /run/netns shared (the DaemonSet mounts it HostToContainer), and the
# kernel tunables the kubelet checks (k8s_tunables).
k8s_mounts() {
	local p d
	mkdir -p "$KT/cgroup-keep"
	mount --rbind /sys/fs/cgroup "$KT/cgroup-keep" &&
		mount -t sysfs sysfs /sys &&
		mount --move "$KT/cgroup-keep" /sys/fs/cgroup || return 1
	for p in "${K8S_HOST_PATHS[@]}"; do
		d=$KT/host${p//\//_}
		mkdir -p "$d"
		# A mount already there (the host's /run/netns) goes in this namespace.
		[ -L "$p" ] || ! mountpoint -q "$p" || umount -l "$p" || return 1
		if [ -L "$p" ]; then
			# A link back into a shadow tmpfs becomes a dir of its own.
			rm -f "$p" && mkdir "$p" || return 1
		elif [ ! -d "$p" ]; then
			k8s_shadow "$p" || return 1
		fi
		mount --bind "$d" "$p" || return 1
	done
	mount --make-shared /run/netns || return 1
	k8s_tunables
}

# The kubelet sets six kernel tunables (vm.overcommit_memory, kernel.panic,
# ...) for the whole machine, or, with protectKernelDefaults, refuses to
# start unless they already have its values. Files with its values are
# bound over them in this mount namespace: the host's stay as they are.
k8s_tunables() {
	local kv k v f
	mkdir -p "$KT/sysctl"
	for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
		kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
		k=${kv%%=*} v=${kv#*=} f=$KT/sysctl/${k//\//.}
		echo "$v" >"$f"
		mount --bind "$f" "/proc/sys/$k" || return 1
	done
}

# ---------------------------------------------------------------- certs

# k8s_cert NAME SUBJECT EXT: a key and a certificate signed by the run's CA.
k8s_cert() {
	local c=$KT/pki/$1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$c.key" \
		-subj "$2" -out "$c.csr" 2>/dev/null &&
		printf '%s\n' "$3" >"$c.ext" &&
		openssl x509 -req -in "$c.csr" -CA "$KT/pki/ca.crt" -CAkey "$KT/pki/ca.key" -CAcreateserial \
			-days 2 -extfile "$c.ext" -out "$c.crt" 2>/dev/null
}

# k8s_kubeconfig NAME: a kubeconfig for the client cert NAME.
k8s_kubeconfig() {
	cat >"$KT/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fsk8s
  cluster: {server: "https://$K8S_NODE_IP:6443", certificate-authority: "$KT/pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$KT/pki/$1.crt", client-key: "$KT/pki/$1.key"}
contexts:
- name: fsk8s
  context: {cluster: fsk8s, user: $1}
current-context: fsk8s
EOF
}

# CA, API server serving cert (Service IP and node IP), ServiceAccount
# signing key, and one client cert per component.
k8s_pki() {
	local client='extendedKeyUsage=clientAuth' n
	mkdir -p "$KT/pki"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=fsk8s-ca -keyout "$KT/pki/ca.key" -out "$KT/pki/ca.crt" 2>/dev/null || return 1
	k8s_cert apiserver /CN=kube-apiserver "extendedKeyUsage=serverAuth
subjectAltName=IP:$K8S_SVC_IP,IP:$K8S_NODE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" || return 1
	openssl genrsa -out "$KT/pki/sa.key" 2048 2>/dev/null &&
		openssl rsa -in "$KT/pki/sa.key" -pubout -out "$KT/pki/sa.pub" 2>/dev/null || return 1
	k8s_cert admin "/O=system:masters/CN=fsk8s-admin" "$client" || return 1
	k8s_cert kubelet "/O=system:nodes/CN=system:node:$K8S_NODE" "$client" || return 1
	k8s_cert controller-manager /CN=system:kube-controller-manager "$client" || return 1
	k8s_cert scheduler /CN=system:kube-scheduler "$client" || return 1
	k8s_cert proxy /CN=system:kube-proxy "$client" || return 1
	for n in admin kubelet controller-manager scheduler proxy; do k8s_kubeconfig $n; done
}

kubectl() { command kubectl --kubeconfig "$KT/admin.kubeconfig" --request-timeout=30s "$@"; }

# ------------------------------------------------------------ processes

# k8s_bg NAME CMD...: a component in the background, its output in
# $KT/log/NAME.log; its PID in K8S_PID[NAME].
k8s_bg() {
	local name=$1
	shift
	"$@" >"$KT/log/$name.log" 2>&1 &
	K8S_PID[$name]=$!
	K8S_ORDER+=("$name")
}

# k8s_until SECONDS WHAT CMD...: CMD until it succeeds, or fails the run.
k8s_until() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 4; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.25
	done
	e2e_log "k8s: $what: not within $secs s"
	return 1
}

k8s_etcd() {
	k8s_bg etcd etcd --name fsk8s --data-dir "$KT/etcd" --listen-client-urls http://127.0.0.1:2379 \
		--advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster fsk8s=http://127.0.0.1:2380 \
		--log-level warn --logger zap
}

k8s_apiserver() {
	local p=$KT/pki
	k8s_bg apiserver "$KBIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
		--bind-address="$K8S_NODE_IP" --advertise-address="$K8S_NODE_IP" --secure-port=6443 --insecure-port=0 \
		--cert-dir="$KT/apiserver" --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
		--client-ca-file="$p/ca.crt" --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
		--service-cluster-ip-range="$K8S_SVC_CIDR" --service-account-issuer=https://kubernetes.default.svc \
		--service-account-signing-key-file="$p/sa.key" --service-account-key-file="$p/sa.pub" \
		--kubelet-client-certificate="$p/admin.crt" --kubelet-client-key="$p/admin.key" \
		--kubelet-preferred-address-types=InternalIP --profiling=false --v=0
}

k8s_controllers() {
	k8s_bg controller-manager "$KBIN/kube-controller-manager" --kubeconfig="$KT/controller-manager.kubeconfig" \
		--service-account-private-key-file="$KT/pki/sa.key" --root-ca-file="$KT/pki/ca.crt" \
		--controllers="*" --use-service-account-credentials=true --leader-elect=false --port=0 --secure-port=0 --profiling=false \
		--node-monitor-grace-period=40s --v=0
	k8s_bg scheduler "$KBIN/kube-scheduler" --kubeconfig="$KT/scheduler.kubeconfig" --leader-elect=false \
		--port=0 --secure-port=0 --profiling=false --v=0
}

# kube-proxy in iptables mode: its rules are in the node netns and go with
# it. conntrack sizes are global sysctls: left alone (0 = keep).
k8s_proxy() {
	cat >"$KT/proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$KT/proxy.kubeconfig"}
mode: iptables
hostnameOverride: $K8S_NODE
bindAddress: $K8S_NODE_IP
clusterCIDR: 10.244.0.0/16
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
	k8s_bg kube-proxy "$KBIN/kube-proxy" --config="$KT/proxy.yaml" --v=0
}

# containerd: its own config, root and state under $KT (from e2e/cri's
# template), pod netns pinned under /run/netns (the records' netns paths,
# which the agent opens through its /run/netns mount), run by e2e/cri's
# reaper so that the shims it daemonizes stay its children.
k8s_containerd() {
	local c=$KT/containerd i
	mkdir -p "$c"
	K8S_SOCK=$c/containerd.sock
	sed -e "s|@ROOT@|$c|g" -e "s|@SOCKET@|$K8S_SOCK|g" -e "s|@SANDBOX_IMAGE@|$K8S_PAUSE|g" \
		-e "s|@CNI_BIN@|/opt/cni/bin|g" -e "s|@CNI_CONF@|/etc/cni/net.d|g" -e "s|@CNI_CONF_031@|/etc/cni/net.d|g" \
		-e 's|netns_mounts_under_state_dir = true|netns_mounts_under_state_dir = false|' \
		"$E2E_DIR/cri/containerd.toml.in" >"$c/config.toml" || return 1
	k8s_bg containerd /usr/bin/python3 "$E2E_DIR/cri/reaper.py" containerd --config "$c/config.toml"
	k8s_until 30 "containerd's socket" ctr --address "$K8S_SOCK" version || return 1
}

ctr_k8s() { ctr --address "$K8S_SOCK" -n k8s.io "$@"; }

# The pause image (e2e/cri's static pause), used as the sandbox and as
# every test pod's container; and the agent image from `make image`,
# tagged twice for the rolling update.
k8s_images() {
	local name
	cc -static -O2 -s -o "$KT/pause" "$E2E_DIR/cri/pause.c" &&
		/usr/bin/python3 "$E2E_DIR/cri/mkimage.py" "$KT/pause" "$KT/pause.tar" "$K8S_PAUSE" &&
		ctr_k8s images import --snapshotter overlayfs "$KT/pause.tar" >/dev/null || return 1
	ctr_k8s images import --snapshotter overlayfs "$AGENT_TAR" >"$KT/log/import.log" 2>&1 || return 1
	ctr_k8s images ls -q >"$KT/images" || return 1
	name=$(grep -m1 flowsteer-agent "$KT/images") || { e2e_log "k8s: no flowsteer-agent image in $AGENT_TAR"; return 1; }
	ctr_k8s images tag --force "$name" "$AGENT_IMAGE_A" >/dev/null &&
		ctr_k8s images tag --force "$name" "$AGENT_IMAGE_B" >/dev/null
}

# The kubelet: static CPU manager, 500m reserved for the system (on 2 CPUs
# a 1-CPU Guaranteed pod fits beside the agent, and CPU 0 stays shared),
# cgroupfs under this run's own cgroup parent, no image GC (the images
# cannot be pulled again).
k8s_kubelet() {
	cat >"$KT/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $K8S_NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$KT/pki/ca.crt"}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: /$K8S_CG
cgroupsPerQOS: true
failSwapOn: false
protectKernelDefaults: true
cpuManagerPolicy: static
cpuManagerReconcilePeriod: 2s
systemReserved: {cpu: 500m}
resolvConf: ""
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
EOF
	k8s_bg kubelet "$KBIN/kubelet" --config="$KT/kubelet.yaml" --kubeconfig="$KT/kubelet.kubeconfig" \
		--container-runtime=remote --container-runtime-endpoint="unix://$K8S_SOCK" \
		--image-service-endpoint="unix://$K8S_SOCK" --root-dir=/var/lib/kubelet \
		--node-ip="$K8S_NODE_IP" --hostname-override="$K8S_NODE" --pod-infra-container-image="$K8S_PAUSE" --v=1
}

# The node's CNI: the Calico stand-in (and the loopback plugin containerd
# uses for lo) in /opt/cni/bin, a Calico-only conflist, vxlan.calico as
# Felix makes it (block address 0, blackhole for the block).
k8s_cni() {
	cp "$E2E_DIR/cni/calico" /opt/cni/bin/calico && cp /usr/lib/cni/loopback /opt/cni/bin/loopback || return 1
	mkdir -p "$KT/ipam"
	jq -n --arg node "$K8S_NODE" --arg block "$K8S_POD_BLOCK" --arg ipam "$KT/ipam" '
	{name: "k8s-pod-network", cniVersion: "0.3.1",
	 plugins: [
	  {type: "calico", log_level: "info", datastore_type: "kubernetes", nodename: $node,
	   mtu: 0, ipam: {type: "calico-ipam"}, policy: {type: "k8s"},
	   kubernetes: {kubeconfig: "/etc/cni/net.d/calico-kubeconfig"},
	   resultShape: "v3.30", e2eIpam: {block: $block, dir: $ipam}}]}' >/etc/cni/net.d/10-calico.conflist || return 1
	ip link add vxlan.calico address 66:0e:00:00:00:01 mtu 1450 type vxlan id 4096 local "$K8S_NODE_IP" \
		dev eth0 dstport 4789 nolearning &&
		ip addr add 10.244.1.0/32 dev vxlan.calico && ip link set vxlan.calico up &&
		ip route add blackhole "$K8S_POD_BLOCK" proto 80 || return 1
	# Pods reach their gateway 169.254.1.1 through proxy ARP on their cali*,
	# which answers only for an address the node routes elsewhere: a real
	# node's default route does that; here (no default route, nothing may
	# leave) a route for that one address does.
	ip route add 169.254.1.1/32 dev eth0
}

k8s_svc_rule() { iptables-save -t nat | grep -q -- "-d $K8S_SVC_IP/32"; }

k8s_node_untainted() { [ -z "$(kubectl get node "$K8S_NODE" -o jsonpath='{.spec.taints}')" ]; }

k8s_node_ready() {
	[ "$(kubectl get node "$K8S_NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

# k8s_up: the whole node, Ready, with the default ServiceAccount.
k8s_up() {
	# shellcheck disable=SC2034 # read by checks.sh (inner_cleanup)
	declare -gA K8S_PID=()
	K8S_ORDER=()
	mkdir -p "$KT/log"
	echo 1 >/proc/sys/net/ipv4/ip_forward
	k8s_pki || { e2e_log "k8s: certificates failed"; return 1; }
	k8s_cni || { e2e_log "k8s: CNI setup failed"; return 1; }
	k8s_etcd
	k8s_until 30 "etcd" curl -sf http://127.0.0.1:2379/health || return 1
	k8s_apiserver
	k8s_until 60 "kube-apiserver /readyz" kubectl get --raw /readyz || return 1
	k8s_controllers
	k8s_containerd || return 1
	k8s_images || { e2e_log "k8s: image import failed: $(tail -n 5 "$KT/log/import.log" 2>/dev/null)"; return 1; }
	k8s_proxy
	k8s_kubelet
	k8s_until "$K8S_TIMEOUT" "node $K8S_NODE Ready" k8s_node_ready || return 1
	k8s_until 60 "node $K8S_NODE without taints (node lifecycle controller)" k8s_node_untainted || return 1
	k8s_until 60 "ServiceAccount default/default" kubectl -n default get sa default || return 1
	k8s_until 60 "kube-proxy's rule for $K8S_SVC_IP" k8s_svc_rule
}

#!/usr/bin/env bash
# Builds the Kubernetes binaries that `make e2e-k8s` runs, from Debian 12's
# `kubernetes` source package (v1.20.2 with its vendor/ tree: no module
# download), with Debian's Go. The result is cached outside the clone, keyed
# by the source package's version, so a second run on the same machine does
# not rebuild (about 6 minutes on 2 cores).
#
#   e2e/k8s/build-kube.sh        prints the cache's bin dir on stdout
#
# FLOWSTEER_K8S_CACHE (default /var/cache/flowsteer/kubernetes) holds
# VERSION/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,
# kube-proxy,kubelet,kubectl}. Needs root only for apt-get (deb-src entry:
# build-aux/apt-deb-src.sh) and the packages golang-go and rsync.
set -euo pipefail

CACHE=${FLOWSTEER_K8S_CACHE:-/var/cache/flowsteer/kubernetes}
BINS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl)

say() { printf 'build-kube: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

version=$(apt-cache showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n1)
[ -n "$version" ] || die "no source package 'kubernetes' known to apt (add a deb-src entry: build-aux/apt-deb-src.sh)"
out=$CACHE/$version/bin
have=1
for b in "${BINS[@]}"; do [ -x "$out/$b" ] || have=0; done
if [ "$have" = 1 ]; then
	say "cached: $out (kubernetes $version)"
	echo "$out"
	exit 0
fi
for t in go rsync; do command -v "$t" >/dev/null || die "'$t' is missing (apt-get install golang-go rsync)"; done

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "building kubernetes $version from Debian's source package into $out (about 6 minutes on 2 cores)"
(cd "$work" && apt-get source -qq "kubernetes=$version" >/dev/null 2>&1) ||
	die "apt-get source kubernetes=$version failed (deb-src entry? dpkg-dev?)"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
[ -n "$src" ] || die "no source tree after apt-get source in $work"
# As debian/rules builds it: GOPATH layout, no cgo, the vendor/ tree.
mkdir -p "$src/.go/src/k8s.io"
ln -s ../../.. "$src/.go/src/k8s.io/kubernetes"
(cd "$src" && env GOPATH="$src/.go" CGO_ENABLED=0 HOME="$work" GOCACHE="$work/gocache" \
	GOFLAGS=-mod=vendor make WHAT="${BINS[*]/#/cmd/}" >"$work/build.log" 2>&1) || {
	tail -n 30 "$work/build.log" >&2
	die "make WHAT=... failed in $src"
}
mkdir -p "$out.tmp"
for b in "${BINS[@]}"; do install -m 0755 "$src/_output/bin/$b" "$out.tmp/$b"; done
rm -rf "$out" && mv "$out.tmp" "$out"
say "built: $out"
echo "$out"

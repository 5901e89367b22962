#!/usr/bin/env bash
# make deps-arm64: what `make ARCH=arm64` and `make test-arm64` need
# (build-aux/packages/arm64.txt): enables dpkg's arm64 architecture (the
# :arm64 -dev packages are Multi-Arch: same and install next to the amd64
# ones, which apt may upgrade to the same version) and installs what is
# missing. Idempotent; root only when something is missing.
set -euo pipefail
LIST=$(dirname "$0")/packages/arm64.txt

die() {
	printf 'arm64-deps: %s\n' "$*" >&2
	exit 1
}

mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$LIST")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
[ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: run as root (make deps-arm64)"
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	apt-get update -qq || die "apt-get update failed after dpkg --add-architecture arm64"
fi
echo "arm64-deps: installing ${missing[*]}"
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null ||
	die "apt-get install ${missing[*]} failed (apt-get update first?)"

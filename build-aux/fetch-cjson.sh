#!/usr/bin/env bash
# Fetches Debian's cjson source package (apt-get source: the .dsc and tarballs
# are checked against the signed Sources index, Debian's patches applied)
# into DIR, for the static build: Debian ships libcjson.so but no libcjson.a.
#
#   build-aux/fetch-cjson.sh DIR      (called by make when DIR/cJSON.c is missing)
#
# Needs a deb-src entry (build-aux/apt-deb-src.sh, run by build-aux/deps.sh
# for the build group: sudo make test, make demo, install.sh) and dpkg-dev. DIR gets cJSON.c, cJSON.h and the rest of the
# package, plus DIR/DEBIAN-VERSION. Exit 1 with what to do when it cannot.
set -euo pipefail

DEST=${1:?usage: build-aux/fetch-cjson.sh DIR}
PKG=cjson

die() {
	printf 'fetch-cjson: %s\n' "$@" >&2
	exit 1
}

command -v apt-get >/dev/null || die "apt-get not found: this fetches Debian's $PKG source." \
	"Elsewhere, unpack cJSON's source (cJSON.c, cJSON.h) in a directory and run" \
	"make CJSON_SRC=that-directory, or build a dynamic binary: make STATIC=0"
command -v dpkg-source >/dev/null || die "dpkg-source not found: apt-get install dpkg-dev"

srcinfo=$(apt-cache showsrc "$PKG" 2>/dev/null || true)
case $srcinfo in
*"Version: "*) ;;
*) die "apt knows no source package '$PKG': no deb-src entry, or no apt-get update" \
	"since one was added. Fix: sudo build-aux/apt-deb-src.sh (adds it and updates;" \
	"sudo make test does the same), then make again" ;;
esac

parent=$(dirname "$DEST")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.fetch-$PKG.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# apt downloads as user _apt, which cannot write a root-owned mktemp dir:
# as root, download as root rather than print a sandbox warning.
sandbox=()
[ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
echo "  FETCH   Debian source package $PKG (apt-get source)"
(cd "$tmp" && apt-get source -qq "${sandbox[@]}" "$PKG" >log 2>&1) || {
	cat "$tmp/log" >&2
	die "apt-get source $PKG failed (above): is the Debian mirror reachable?"
}
dsc=$(find "$tmp" -maxdepth 1 -name "${PKG}_*.dsc" | head -n1)
src=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name "$PKG-*" | head -n1)
[ -n "$dsc" ] && [ -n "$src" ] && [ -f "$src/cJSON.c" ] && [ -f "$src/cJSON.h" ] ||
	die "apt-get source $PKG left no ${PKG}_*.dsc and $PKG-*/cJSON.c, cJSON.h"
ver=$(sed -n 's/^Version: //p' "$dsc")
echo "$ver" >"$src/DEBIAN-VERSION"
rm -rf "$DEST"
mv "$src" "$DEST"

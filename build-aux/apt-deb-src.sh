#!/usr/bin/env bash
# Makes `apt-get source` work: adds deb-src entries mirroring the
# distribution's own deb entries when apt has none, then runs apt-get update
# (unless --no-update). Debian/Ubuntu, as root. Idempotent.
#
#   build-aux/apt-deb-src.sh [--no-update]
#
# The static build compiles cJSON from Debian's source package (no
# libcjson.a is shipped): build-aux/fetch-cjson.sh.
set -euo pipefail

LIST=/etc/apt/sources.list
DIR=/etc/apt/sources.list.d
OUT822=$DIR/flowsteer-deb-src.sources
OUTLIST=$DIR/flowsteer-deb-src.list

die() {
	printf 'apt-deb-src: %s\n' "$*" >&2
	exit 1
}

# Any enabled deb-src line or deb822 stanza already there?
have_deb_src() {
	grep -qsE '^[[:space:]]*deb-src[[:space:]]' "$LIST" "$DIR"/*.list && return 0
	grep -qsiE '^Types:.*[[:space:]]deb-src([[:space:]]|$)' "$DIR"/*.sources
}

if have_deb_src; then
	echo "apt-deb-src: apt already has deb-src entries"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "no deb-src entry in apt's sources; run as root to add one"
# The distribution's own entries only (deb.debian.org, security, Ubuntu's
# archive): a third-party repository may have no sources at all.
main=
for f in "$DIR/debian.sources" "$DIR/ubuntu.sources"; do [ -f "$f" ] && main=$f && break; done
if [ -n "$main" ]; then
	sed -E 's/^(Types:[[:space:]]*)deb[[:space:]]*$/\1deb-src/I' "$main" >"$OUT822.tmp"
	grep -qiE '^Types:[[:space:]]*deb-src$' "$OUT822.tmp" || {
		rm -f "$OUT822.tmp"
		die "$main has no 'Types: deb' stanza to mirror"
	}
	mv "$OUT822.tmp" "$OUT822"
	echo "apt-deb-src: wrote $OUT822 (from $main)"
elif grep -qsE '^[[:space:]]*deb[[:space:]]' "$LIST"; then
	sed -nE 's/^[[:space:]]*deb([[:space:]])/deb-src\1/p' "$LIST" >"$OUTLIST"
	echo "apt-deb-src: wrote $OUTLIST (from $LIST)"
else
	die "found neither $DIR/debian.sources, $DIR/ubuntu.sources nor deb lines in $LIST:" \
		"add a deb-src entry for your distribution yourself, then apt-get update"
fi
[ "${1:-}" = --no-update ] || DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
	die "apt-get update failed after adding deb-src entries"

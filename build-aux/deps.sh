#!/usr/bin/env bash
# Installs what a make target needs and dpkg lacks, from the one package list
# per target group (build-aux/packages/GROUP.txt): the first line of the
# targets that need packages (`$(call deps,GROUP...)` in the Makefile),
# install.sh and make demo. Silent when nothing is missing.
#
#   build-aux/deps.sh [--dry-run] [--verbose] GROUP...
#
# As root: apt-get install of what is missing (and, for the build group, a
# deb-src entry when cJSON's source is not fetched yet: build-aux/apt-deb-src.sh).
# Not root, or no apt: one line naming what is missing, exit 1.
# Env: DEPS=0 skips all of it (a machine set up by other means);
# DEPS_PRETEND_MISSING="PKG..." counts those as not installed (tests).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LISTS=$REPO/build-aux/packages

die() {
	printf 'deps: %s\n' "$*" >&2
	exit 1
}

dry=0 verbose=0 groups=()
for a in "$@"; do
	case $a in
	--dry-run | -n) dry=1 ;;
	--verbose | -v) verbose=1 ;;
	-*) die "unknown option \"$a\" (usage: build-aux/deps.sh [--dry-run] [--verbose] GROUP...)" ;;
	*) groups+=("$a") ;;
	esac
done
if [ ${#groups[@]} -eq 0 ]; then
	all=("$LISTS"/*.txt)
	all=("${all[@]##*/}")
	die "no group (usage: build-aux/deps.sh [--dry-run] [--verbose] GROUP...; groups: ${all[*]%.txt})"
fi
[ "${DEPS:-1}" != 0 ] || exit 0

# The packages of the groups' lists, each once, in list order.
packages() {
	local g
	for g in "${groups[@]}"; do
		sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$LISTS/$g.txt"
	done | awk '!seen[$0]++'
}

# The packages of "$@" that dpkg does not have installed ("ii"): one query;
# a name without :ARCH is the native architecture's (or arch all) package.
missing() {
	local native
	native=$(dpkg --print-architecture)
	{
		dpkg-query -W -f='${binary:Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null || true
		printf '%s\n' "--want" "$@"
	} | awk -v native="$native" -v pretend=" ${DEPS_PRETEND_MISSING:-} " '
		$1 == "--want" { want = 1; next }
		!want { if ($2 == "ii") { have[$1] = 1; sub(":(" native "|all)$", "", $1); have[$1] = 1 }; next }
		!have[$1] || index(pretend, " " $1 " ") { print }'
}

# True when make will have to fetch cJSON's source and apt knows no deb-src.
need_deb_src() {
	[[ " ${groups[*]} " == *" build "* ]] || return 1
	[ ! -f "${CJSON_SRC:-$REPO/deps/cjson}/cJSON.c" ] || return 1
	local src
	src=$(apt-cache showsrc cjson 2>/dev/null) || true
	[[ $src != *"Version: "* ]]
}

for g in "${groups[@]}"; do
	[ -f "$LISTS/$g.txt" ] || die "no package list for group \"$g\" ($LISTS/$g.txt)"
done
mapfile -t want < <(packages)
where=$(printf 'build-aux/packages/%s.txt ' "${groups[@]}")
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	die "no dpkg/apt-get here: install the equivalents of ${where% } (${want[*]}), then run make with DEPS=0"
fi
mapfile -t miss < <(missing "${want[@]}")
# The lists the missing packages come from.
where=
for g in "${groups[@]}"; do
	for p in "${miss[@]}"; do
		if sed -e 's/#.*//' -e 's/[[:space:]]//g' "$LISTS/$g.txt" | grep -qxF -- "$p"; then
			where+="build-aux/packages/$g.txt "
			break
		fi
	done
done
[ -n "$where" ] || where="build-aux/packages/build.txt "
src=0
need_deb_src && src=1
if [ ${#miss[@]} -eq 0 ] && [ "$src" = 0 ]; then
	[ "$verbose" = 0 ] || echo "deps: ${groups[*]}: all installed"
	exit 0
fi
what="${miss[*]}"
[ "$src" = 0 ] || what="${what:+$what and }a deb-src entry for cJSON's source (build-aux/apt-deb-src.sh)"
if [ "$dry" = 1 ]; then
	echo "deps: would install ${what} (${where% })"
	exit 0
fi
fix="sudo apt-get install ${miss[*]}"
[ ${#miss[@]} -gt 0 ] || fix="sudo build-aux/apt-deb-src.sh"
[ "$(id -u)" -eq 0 ] || die "missing ${what} (${where% }): run as root (sudo make ...), or: $fix"

export DEBIAN_FRONTEND=noninteractive
echo "deps: installing ${what} (${where% })"
if [ "$src" = 1 ]; then
	"$REPO/build-aux/apt-deb-src.sh" --no-update >/dev/null || die "cannot add a deb-src entry (above)"
fi
apt-get update -qq || die "apt-get update failed"
[ ${#miss[@]} -gt 0 ] || exit 0
# A package this release lacks must not stop the others, unless the build needs it.
have=() gone=()
for p in "${miss[@]}"; do
	if apt-cache show "$p" >/dev/null 2>&1; then have+=("$p"); else gone+=("$p"); fi
done
for p in "${gone[@]}"; do
	! grep -qx "$p" "$LISTS/build.txt" || die "package $p (build-aux/packages/build.txt) is not available from apt here"
done
if [ ${#have[@]} -gt 0 ]; then
	# apt's own chatter (debconf without apt-utils) only when it fails.
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	apt-get install -y -qq --no-install-recommends "${have[@]}" >"$log" 2>&1 || {
		cat "$log" >&2
		die "apt-get install ${have[*]} failed (above)"
	}
fi
[ ${#gone[@]} -eq 0 ] || echo "deps: warning: not available from apt here, skipped: ${gone[*]}" >&2

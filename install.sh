#!/usr/bin/env bash
# Installs flowsteer on this node: build dependencies (apt, only what is
# missing), `make`, the binary into $CNI_BIN_DIR, and the flowsteer entry
# into the CNI config the container runtime uses (the first *.conf,
# *.conflist or *.json of $CNI_NET_DIR in byte order). Idempotent.
#
#   ./install.sh              everything above
#   ./install.sh --uninstall  takes the entry out, then removes the binary
#   ./install.sh --dry-run    shows what it would change (a diff), changes nothing
#   ./install.sh --deps       only installs the build and test dependencies
#                             (build-aux/packages/{build,test}.txt)
#   ./install.sh --no-build   no apt, no make: installs the existing build/flowsteer
#   ./install.sh --entry JSON chains this entry instead of the default one
#
# Environment: CNI_BIN_DIR (/opt/cni/bin), CNI_NET_DIR (/etc/cni/net.d),
# DESTDIR (a root prefix put before both: test or image builds),
# FLOWSTEER_BIN (the binary to install; default build/flowsteer).
# Exit: 0 done, 1 error, 2 usage.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CNI_BIN_DIR=${CNI_BIN_DIR:-/opt/cni/bin}
CNI_NET_DIR=${CNI_NET_DIR:-/etc/cni/net.d}
DESTDIR=${DESTDIR:-}
BIN=${FLOWSTEER_BIN:-$REPO/build/flowsteer}

say() { printf 'install.sh: %s\n' "$*"; }
die() {
	printf 'install.sh: %s\n' "$*" >&2
	exit 1
}
usage() {
	cat <<EOF
usage: ./install.sh [--dry-run] [--no-build] [--entry JSON]
       ./install.sh --uninstall [--dry-run]
       ./install.sh --deps [--dry-run]

Builds flowsteer, installs it as \$DESTDIR\$CNI_BIN_DIR/flowsteer (now: ${DESTDIR}${CNI_BIN_DIR}/flowsteer)
and chains it into the first *.conf/*.conflist/*.json of \$DESTDIR\$CNI_NET_DIR
(now: ${DESTDIR}${CNI_NET_DIR}), after the "calico" plugin.
  --uninstall  remove the entry, then the binary
  --dry-run    print what would change, change nothing
  --deps       only install the build and test dependencies (Debian/Ubuntu, apt)
  --no-build   skip dependencies and make; install the existing \$FLOWSTEER_BIN
               (now: $BIN)
  --entry JSON the conflist entry (default: flowsteer's, with the pod-annotation capability)
EOF
}

action=install dry=0 build=1 entry=
while [ $# -gt 0 ]; do
	case $1 in
	--uninstall) action=uninstall ;;
	--deps) action=deps ;;
	--dry-run | -n) dry=1 ;;
	--no-build) build=0 ;;
	--entry)
		[ $# -ge 2 ] || {
			usage >&2
			exit 2
		}
		entry=$2
		shift
		;;
	--entry=*) entry=${1#--entry=} ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		printf 'install.sh: unknown argument "%s"\n' "$1" >&2
		usage >&2
		exit 2
		;;
	esac
	shift
done

BIN_DIR=$DESTDIR$CNI_BIN_DIR
NET_DIR=$DESTDIR$CNI_NET_DIR
DEST_BIN=$BIN_DIR/flowsteer
TMP=
trap '[ -z "$TMP" ] || rm -f "$TMP"' EXIT

# deps GROUP...: what build-aux/packages/GROUP.txt lists and dpkg lacks,
# installed by build-aux/deps.sh (the lists make's targets use).
deps() {
	local args=(--verbose)
	[ "$dry" = 0 ] || args+=(--dry-run)
	if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
		if [ "$*" = build ] && command -v make >/dev/null 2>&1 && command -v cc >/dev/null 2>&1 &&
			pkg-config --exists libnl-3.0 libnl-route-3.0 libcap 2>/dev/null; then
			say "no apt here, but the build dependencies are present (pkg-config): going on"
			return 0
		fi
		die "no apt-get/dpkg: install.sh installs dependencies on Debian/Ubuntu only. Install the" \
			"equivalents of build-aux/packages/build.txt (a C compiler, make, pkg-config, static libnl-3," \
			"libnl-route-3 and libcap), unpack cJSON's source, run make CJSON_SRC=that-directory," \
			"then ./install.sh --no-build"
	fi
	"$REPO/build-aux/deps.sh" "${args[@]}" "$@" || die "installing the dependencies failed (above)"
}

# The CNI config the runtime loads: libcni's ConfFiles (*.conf, *.conflist,
# *.json; not directories), sorted by name; the runtime takes the first.
pick_config() {
	local name
	[ -d "$NET_DIR" ] || return 0
	name=$(find "$NET_DIR" -mindepth 1 -maxdepth 1 ! -type d \
		\( -name '*.conf' -o -name '*.conflist' -o -name '*.json' \) -printf '%f\n' |
		LC_ALL=C sort | head -n 1)
	[ -z "$name" ] || printf '%s/%s\n' "$NET_DIR" "$name"
}

# conflist OP FILE: edits FILE with the binary (or shows the diff).
conflist() {
	local op=$1 file=$2 tool=$3 args=()
	[ "$op" = insert ] && [ -n "$entry" ] && args+=(--entry "$entry")
	if [ "$dry" = 1 ]; then
		TMP=$(mktemp)
		local err
		err=$("$tool" conflist "$op" "$file" --dry-run "${args[@]}" 2>&1 >"$TMP") ||
			die "$err"
		if [ -s "$TMP" ]; then
			say "would change $file:"
			diff -u --label "$file" --label "$file (after)" "$file" "$TMP" || true
			case $err in *"replace the .conf"*) say "($file would become ${file%.*}.conflist)" ;; esac
		else
			say "$file: would not change"
		fi
		rm -f "$TMP"
		TMP=
		return 0
	fi
	"$tool" conflist "$op" "$file" "${args[@]}"
}

install_binary() {
	if [ -f "$DEST_BIN" ] && cmp -s "$BIN" "$DEST_BIN" && [ "$(stat -c %a "$DEST_BIN")" = 755 ]; then
		say "$DEST_BIN: up to date"
		return 0
	fi
	if [ "$dry" = 1 ]; then
		say "would install $BIN as $DEST_BIN (mode 0755)"
		return 0
	fi
	mkdir -p "$BIN_DIR"
	# Temp file + rename: the runtime may be executing the old binary.
	TMP=$(mktemp "$BIN_DIR/.flowsteer.XXXXXX")
	cp "$BIN" "$TMP"
	chmod 0755 "$TMP"
	sync "$TMP" 2>/dev/null || true
	mv -f "$TMP" "$DEST_BIN"
	TMP=
	say "installed $DEST_BIN"
}

do_install() {
	local file
	if [ "$build" = 1 ]; then
		deps build
		if [ "$dry" = 1 ]; then
			say "would run make in $REPO"
		else
			# The plugin only: the node agent (and its libraries) is for the DaemonSet.
			make -C "$REPO" build/flowsteer >/dev/null || die "make failed (run make in $REPO to see why)"
		fi
	fi
	if [ ! -x "$BIN" ]; then
		[ "$dry" = 1 ] && [ "$build" = 1 ] && {
			say "would install the built $BIN as $DEST_BIN and chain it into $(pick_config)"
			return 0
		}
		die "$BIN: not built (run make, or drop --no-build)"
	fi
	install_binary
	file=$(pick_config)
	[ -n "$file" ] || die "no CNI config (*.conf, *.conflist, *.json) in $NET_DIR to chain flowsteer into:" \
		"install Calico first, then rerun ./install.sh"
	conflist insert "$file" "$BIN"
}

do_uninstall() {
	local file tool=$BIN
	file=$(pick_config)
	if [ -n "$file" ]; then
		[ -x "$tool" ] || tool=$DEST_BIN
		[ -x "$tool" ] || die "no flowsteer binary ($BIN or $DEST_BIN) to edit $file with: run make"
		# The entry first: from then on no pod ADD/DEL calls the binary.
		conflist remove "$file" "$tool"
	else
		say "no CNI config in $NET_DIR: nothing to unchain"
	fi
	if [ -e "$DEST_BIN" ] || [ -L "$DEST_BIN" ]; then
		if [ "$dry" = 1 ]; then
			say "would remove $DEST_BIN"
		else
			rm -f "$DEST_BIN"
			say "removed $DEST_BIN"
		fi
	else
		say "$DEST_BIN: not installed"
	fi
}

case $action in
deps) deps build test ;;
install) do_install ;;
uninstall) do_uninstall ;;
esac
[ "$dry" = 0 ] || say "dry run: nothing was changed"

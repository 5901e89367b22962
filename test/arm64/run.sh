#!/usr/bin/env bash
# make test-arm64 (after `make ARCH=arm64 unit`): the cross-compiled arm64
# plugin (build-arm64/flowsteer) run by the bats suite under qemu-user,
# transparently through binfmt_misc (test/helpers/binfmt.sh: registered
# here, undone at exit, whatever happens):
#   100-static.bats  file says ARM aarch64 and statically linked; ADD, CHECK,
#                    DEL chrooted into an empty root
#   010-core.bats    ADD, CHECK, DEL of chained pods in namespaces, every
#                    value read back from sysfs
# qemu-user 7.2 answers fsopen() with ENOSYS: the plugin reaches a pod's
# sysfs through its forked child (a private mount namespace), never through
# the detached mount a real arm64 kernel gives it (docs/install.md).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FLOWSTEER_BIN:-$REPO/build-arm64/flowsteer}
# shellcheck source=test/helpers/binfmt.sh
. "$REPO/test/helpers/binfmt.sh"

[ -x "$BIN" ] || { echo "test-arm64: $BIN missing (make ARCH=arm64)" >&2; exit 1; }
trap binfmt_arm64_off EXIT
binfmt_arm64_on
echo "# binfmt_misc: $BINFMT_NAME -> $BINFMT_QEMU$([ -n "$BINFMT_MOUNTED" ] && echo ' (mounted here)')"
FLOWSTEER_ARCH=arm64 FLOWSTEER_BIN=$BIN FLOWSTEER_STATIC_BIN=$BIN \
	bats --timing "$REPO/test/bats/100-static.bats" "$REPO/test/bats/010-core.bats"

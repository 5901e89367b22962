#!/usr/bin/env bash
# make test-arm64 (after `make ARCH=arm64 unit`): the cross-compiled arm64
# plugin (build-arm64/flowsteer) run by the bats suite under qemu-user,
# transparently through binfmt_misc (test/helpers/binfmt.sh: registered
# here, undone at exit, whatever happens):
#   100-static.bats  file says ARM aarch64 and statically linked; ADD, CHECK,
#                    DEL chrooted into an empty root
#   010-core.bats    ADD, CHECK, DEL of chained pods in namespaces, every
#                    value read back from sysfs
# qemu-user 7.2 answers fsopen() with ENOSYS, so a pod's sysfs always comes
# from the forked child (a private mount namespace), never from the detached
# mount a real arm64 kernel gives (the cases run natively force that child
# too, through test/helpers/deny-syscalls.py). What emulation does not
# cover, left out by tag (README.md, Development):
#   needs:rtm_getnsid  qemu-user refuses to pass RTM_GETNSID on (EOPNOTSUPP),
#                      so the host veth cannot be proven the pod's peer and is
#                      reported absent with that reason
#   needs:fspick       qemu-user has no fspick() either, so a pod's sysfs
#                      superblock made read-only by a container of the pod
#                      stays so, and the write is refused (EROFS), as on a
#                      kernel before 5.2 (docs/devices.md)
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
	bats --timing --filter-tags '!needs:rtm_getnsid,!needs:fspick' \
	"$REPO/test/bats/100-static.bats" "$REPO/test/bats/010-core.bats"

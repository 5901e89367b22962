#!/usr/bin/env bash
# make image: builds the agent image for linux/amd64 and linux/arm64 with
# podman from local Debian bases (no base image can be pulled here; the
# arm64 base's maintainer scripts run under qemu-user, through a binfmt_misc
# entry made here and removed at exit) and saves the image index over both
# as one OCI archive, $BUILD/flowsteer-agent-image.tar, to load, import or
# push from there:
#   skopeo copy --all oci-archive:build/flowsteer-agent-image.tar docker://REGISTRY/flowsteer-agent:TAG
#   ctr -n k8s.io images import --all-platforms build/flowsteer-agent-image.tar
#   podman load -i build/flowsteer-agent-image.tar   (this machine's platform)
# The podman storage used is private and removed afterwards.
set -euo pipefail
# shellcheck source=test/image/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/helpers/binfmt.sh
. "$REPO/test/helpers/binfmt.sh"
W=$(mktemp -d /var/tmp/flowsteer-image.XXXXXX)
img_init "$W"
trap 'img_cleanup "$W"; binfmt_arm64_off' EXIT
start=$(date +%s)
[[ " $IMAGE_ARCHES " != *" arm64 "* ]] || binfmt_arm64_on
img_build "$W"
OUT=$REPO/$BUILD/flowsteer-agent-image.tar
rm -f "$OUT"
"${PODMAN[@]}" manifest push -q --all --format oci "$IMAGE" "oci-archive:$OUT:$IMAGE"
echo "image: $IMAGE ($IMAGE_ARCHES) -> $BUILD/flowsteer-agent-image.tar ($(du -h "$OUT" | cut -f1)) in $(($(date +%s) - start)) s"

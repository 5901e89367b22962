#!/usr/bin/env bash
# make image: builds the agent image with podman from local Debian bases
# (no base image can be pulled here) and saves it as an OCI archive in
# $BUILD/flowsteer-agent-image.tar, to load or push from there:
#   podman load -i build/flowsteer-agent-image.tar
#   skopeo copy oci-archive:build/flowsteer-agent-image.tar docker://REGISTRY/flowsteer-agent:TAG
# The podman storage used is private and removed afterwards.
set -euo pipefail
# shellcheck source=test/image/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /var/tmp/flowsteer-image.XXXXXX)
img_init "$W"
trap 'img_cleanup "$W"' EXIT
start=$(date +%s)
img_build "$W"
rm -f "$REPO/$BUILD/flowsteer-agent-image.tar"
"${PODMAN[@]}" save -q --format oci-archive -o "$REPO/$BUILD/flowsteer-agent-image.tar" "$IMAGE"
echo "image: $IMAGE -> $BUILD/flowsteer-agent-image.tar ($(du -h "$REPO/$BUILD/flowsteer-agent-image.tar" | cut -f1)) in $(($(date +%s) - start)) s"

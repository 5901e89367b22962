# Shared by test/image/build.sh and test/image/test.sh: podman on a private
# storage (never the host's), and the image build from local Debian bases.
# shellcheck shell=bash

# The runtime base holds only what the agent links (checked by install.bats).
RUNTIME_PACKAGES=libcurl4,libcjson1,libmicrohttpd12,libyaml-0-2,libnl-3-200,libnl-route-3-200,ca-certificates
BUILDER_PACKAGES=gcc,make,libc6-dev,pkg-config,libcurl4-openssl-dev,libmicrohttpd-dev,libyaml-dev,libcjson-dev,libnl-3-dev,libnl-route-3-dev,libcap-dev
SUITE=${SUITE:-bookworm}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
CACHE=${IMAGE_CACHE:-$REPO/$BUILD/image-cache}
IMAGE=${IMAGE:-localhost/flowsteer-agent:dev}

# img_init DIR: PODMAN runs podman with its storage under DIR (the run
# root in a short dir of its own: podman wants it under 50 characters).
img_init() {
	IMG_RUNROOT=$(mktemp -d /tmp/fsr.XXXXXX)
	PODMAN=(podman --root "$1/storage" --runroot "$IMG_RUNROOT" --tmpdir "$1/tmp"
		--cgroup-manager=cgroupfs --events-backend=file)
	mkdir -p "$1/tmp"
}

# The image's platforms (one image index): the build machine's, whose agent
# is compiled in the builder stage, and arm64, whose agent and plugin are
# cross-compiled on the host (make ARCH=arm64: build-arm64/). IMAGE_ARCHES
# narrows it (e.g. IMAGE_ARCHES=amd64).
IMAGE_ARCHES=${IMAGE_ARCHES:-amd64 arm64}
NATIVE_ARCH=$(dpkg --print-architecture)

# img_bin_dir ARCH: the build directory holding that architecture's binaries.
img_bin_dir() { if [ "$1" = "$NATIVE_ARCH" ]; then echo "$BUILD"; else echo "build-$1"; fi; }

# img_base NAME VARIANT PACKAGES [ARCH]: a Debian base of ARCH's packages as
# a tarball, made once (mmdebstrap from Debian's archive) and kept in $CACHE
# by content. A foreign ARCH's maintainer scripts run under qemu-user
# (binfmt_arm64_on, by the caller).
img_base() {
	local name=$1 variant=$2 pkgs=$3 arch=${4:-$NATIVE_ARCH} key tar extra=() tag=
	[ "$arch" = "$NATIVE_ARCH" ] || { tag=" $arch"; extra=(--arch="$arch" --skip=check/qemu); }
	key=$(printf '%s %s %s%s' "$SUITE" "$variant" "$pkgs" "$tag" | sha256sum | cut -c1-16)
	tar=$CACHE/$name-$key.tar
	if [ ! -s "$tar" ]; then
		mkdir -p "$CACHE"
		echo "image: making the $name base ($SUITE, $arch, $variant: $pkgs)" >&2
		mmdebstrap --quiet --variant="$variant" --include="$pkgs" "${extra[@]}" \
			--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
			--dpkgopt='path-exclude=/usr/share/locale/*' \
			"$SUITE" "$tar.part.tar" >&2 || {
			rm -f "$tar.part.tar"
			echo "image: mmdebstrap of the $name base failed (above)" >&2
			return 1
		}
		mv "$tar.part.tar" "$tar" || return 1
	fi
	echo "$tar"
}

# img_tools: one line naming what the image build lacks (make image and
# make test-image install it: build-aux/packages/image.txt).
img_tools() {
	local t miss=()
	for t in podman mmdebstrap newuidmap; do command -v "$t" >/dev/null 2>&1 || miss+=("$t"); done
	[ ${#miss[@]} -eq 0 ] && return 0
	echo "image: missing ${miss[*]}: sudo build-aux/deps.sh image installs build-aux/packages/image.txt (make image and make test-image do)" >&2
	return 1
}

# img_arch ARCH BUILDER_TAG: the image for linux/ARCH, tagged $IMAGE-ARCH.
img_arch() {
	local arch=$1 dir rt
	dir=$(img_bin_dir "$arch")
	[ -x "$REPO/$dir/flowsteer" ] && [ -x "$REPO/$dir/flowsteer-agent" ] ||
		{ echo "image: $dir/flowsteer or flowsteer-agent missing (make, make ARCH=$arch)" >&2; return 1; }
	rt=$(img_base runtime essential "$RUNTIME_PACKAGES" "$arch") || return 1
	"${PODMAN[@]}" import -q --os linux --arch "$arch" "$rt" localhost/flowsteer-runtime-base:"$SUITE-$arch" >/dev/null ||
		return 1
	"${PODMAN[@]}" build -q --pull=never --network=none --platform "linux/$arch" -f "$REPO/conf/Containerfile" \
		--build-arg BUILDER_BASE="$2" --build-arg BUILDPLATFORM="linux/$NATIVE_ARCH" \
		--build-arg BUILDARCH="$NATIVE_ARCH" --build-arg TARGETARCH="$arch" --build-arg TARGETPLATFORM="linux/$arch" \
		--build-arg RUNTIME_BASE=localhost/flowsteer-runtime-base:"$SUITE-$arch" \
		--build-arg VERSION="$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo dev)" \
		-t "$IMAGE-$arch" "$REPO" >/dev/null
}

# img_build: one image per architecture ($IMAGE-amd64, $IMAGE-arm64) and
# the index over them, $IMAGE (podman manifest), in the storage of img_init.
img_build() {
	local bt arch
	img_tools || return 1
	# The build context must hold $BUILD/flowsteer at build/flowsteer.
	if [ "$BUILD" != build ]; then
		echo "image: BUILD=$BUILD: the image takes build/flowsteer; build without SANITIZE" >&2
		return 1
	fi
	bt=$(img_base builder minbase "$BUILDER_PACKAGES") && [ -s "$bt" ] || return 1
	"${PODMAN[@]}" import -q "$bt" localhost/flowsteer-builder-base:"$SUITE" >/dev/null || return 1
	"${PODMAN[@]}" manifest create "$IMAGE" >/dev/null || return 1
	for arch in $IMAGE_ARCHES; do
		img_arch "$arch" localhost/flowsteer-builder-base:"$SUITE" || return 1
		"${PODMAN[@]}" manifest add "$IMAGE" containers-storage:"$IMAGE-$arch" >/dev/null || return 1
	done
	"${PODMAN[@]}" rmi -q localhost/flowsteer-builder-base:"$SUITE" >/dev/null 2>&1 || true
}

# img_cleanup DIR: every container and image of that storage, then the storage.
img_cleanup() {
	"${PODMAN[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true
	"${PODMAN[@]}" rmi -a -f >/dev/null 2>&1 || true
	"${PODMAN[@]}" system reset -f >/dev/null 2>&1 || true
	rm -rf "$1" "$IMG_RUNROOT"
}

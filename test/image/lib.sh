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

# img_base NAME VARIANT PACKAGES: a Debian base as a tarball, made once
# (mmdebstrap from Debian's archive) and kept in $CACHE by content.
img_base() {
	local name=$1 variant=$2 pkgs=$3 key tar
	key=$(printf '%s %s %s' "$SUITE" "$variant" "$pkgs" | sha256sum | cut -c1-16)
	tar=$CACHE/$name-$key.tar
	if [ ! -s "$tar" ]; then
		mkdir -p "$CACHE"
		echo "image: making the $name base ($SUITE, $variant: $pkgs)" >&2
		mmdebstrap --quiet --variant="$variant" --include="$pkgs" \
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

# img_build: the image in the storage of img_init, tagged $IMAGE.
img_build() {
	local rt bt
	[ -x "$REPO/$BUILD/flowsteer" ] || { echo "image: run make first ($BUILD/flowsteer missing)" >&2; return 1; }
	img_tools || return 1
	# Both bases at once: mmdebstrap spends its time waiting on downloads.
	img_base runtime essential "$RUNTIME_PACKAGES" >"$1/rt.path" &
	local rt_pid=$!
	bt=$(img_base builder minbase "$BUILDER_PACKAGES") || bt=
	wait "$rt_pid" || return 1
	rt=$(cat "$1/rt.path")
	[ -n "$bt" ] && [ -s "$rt" ] && [ -s "$bt" ] || return 1
	"${PODMAN[@]}" import -q "$rt" localhost/flowsteer-runtime-base:"$SUITE" >/dev/null || return 1
	"${PODMAN[@]}" import -q "$bt" localhost/flowsteer-builder-base:"$SUITE" >/dev/null || return 1
	# The build context must hold $BUILD/flowsteer at build/flowsteer.
	if [ "$BUILD" != build ]; then
		echo "image: BUILD=$BUILD: the image takes build/flowsteer; build without SANITIZE" >&2
		return 1
	fi
	"${PODMAN[@]}" build -q --pull=never --network=none -f "$REPO/conf/Containerfile" \
		--build-arg BUILDER_BASE=localhost/flowsteer-builder-base:"$SUITE" \
		--build-arg RUNTIME_BASE=localhost/flowsteer-runtime-base:"$SUITE" \
		--build-arg VERSION="$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo dev)" \
		-t "$IMAGE" "$REPO" >/dev/null || return 1
	"${PODMAN[@]}" rmi -q localhost/flowsteer-builder-base:"$SUITE" >/dev/null 2>&1 || true
}

# img_cleanup DIR: every container and image of that storage, then the storage.
img_cleanup() {
	"${PODMAN[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true
	"${PODMAN[@]}" rmi -a -f >/dev/null 2>&1 || true
	"${PODMAN[@]}" system reset -f >/dev/null 2>&1 || true
	rm -rf "$1" "$IMG_RUNROOT"
}

# arm64 binaries run transparently under qemu-user (test/arm64/run.sh, the
# arm64 image in test/image/test.sh): binfmt_arm64_on registers
# qemu-aarch64-static for arm64 ELF files, mounting binfmt_misc first if it
# is not; binfmt_arm64_off undoes exactly that, so the machine is left as it
# was found. The entry has its own name (an entry already there for arm64
# is left alone: the newest registration is the one the kernel uses) and
# the F flag: the interpreter is opened now, so binaries run inside
# containers too, where qemu's file is absent. One user at a time (a lock
# held until the caller exits): unmounting under another run would break it.
# shellcheck shell=bash

BINFMT_DIR=/proc/sys/fs/binfmt_misc
BINFMT_QEMU=${BINFMT_QEMU:-/usr/bin/qemu-aarch64-static}
BINFMT_NAME= BINFMT_MOUNTED=
# Debian's qemu-user-static entry (/usr/lib/binfmt.d/qemu-aarch64.conf).
BINFMT_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
BINFMT_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'

binfmt_arm64_on() {
	[ -x "$BINFMT_QEMU" ] || { echo "binfmt: $BINFMT_QEMU missing (apt-get install qemu-user-static)" >&2; return 1; }
	exec {BINFMT_LOCK}>/run/lock/flowsteer-binfmt.lock
	flock -w 1800 "$BINFMT_LOCK" || { echo "binfmt: /run/lock/flowsteer-binfmt.lock held for 30 min" >&2; return 1; }
	if [ ! -e "$BINFMT_DIR/register" ]; then
		mount -t binfmt_misc binfmt_misc "$BINFMT_DIR" || return 1
		BINFMT_MOUNTED=1
	fi
	[ "$(cat "$BINFMT_DIR/status")" = enabled ] ||
		{ echo "binfmt: $BINFMT_DIR/status is disabled: not turning it on for everyone" >&2; return 1; }
	BINFMT_NAME=flowsteer-aarch64-$$
	printf ':%s:M::%s:%s:%s:F' "$BINFMT_NAME" "$BINFMT_MAGIC" "$BINFMT_MASK" "$BINFMT_QEMU" \
		>"$BINFMT_DIR/register" || { BINFMT_NAME=; binfmt_arm64_off; return 1; }
}

binfmt_arm64_off() {
	if [ -n "$BINFMT_NAME" ] && [ -e "$BINFMT_DIR/$BINFMT_NAME" ]; then
		echo -1 >"$BINFMT_DIR/$BINFMT_NAME"
	fi
	BINFMT_NAME=
	if [ -n "$BINFMT_MOUNTED" ]; then
		umount "$BINFMT_DIR"
		BINFMT_MOUNTED=
	fi
}

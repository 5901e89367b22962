#!/usr/bin/env bats
# `flowsteer conflist insert|remove` on files: the entry lands after calico
# and nothing else moves; a second run leaves the file byte-identical (and
# the same inode); remove gives back the original bytes; mode and owner are
# kept; a .conf becomes a .conflist; a file that does not parse, or a bad
# --entry, is refused with exit 1 and the file is left as it was; usage
# errors exit 2. Each test works in its own $BATS_TEST_TMPDIR.

bats_require_minimum_version 1.5.0

load helpers
load install_helpers

setup() {
	D=$BATS_TEST_TMPDIR/net.d
	F=$D/10-calico.conflist
	calico_conflist "$F"
}

@test "insert: entry right after calico, every other plugin and key untouched" {
	run --separate-stderr fs conflist insert "$F"
	[ "$status" -eq 0 ]
	[[ $output == *"$F: flowsteer chained"* ]]
	[ "$(types "$F")" = calico,flowsteer,portmap ]
	jq -e '.plugins[1] == {"type":"flowsteer","capabilities":{"io.kubernetes.cri.pod-annotations":true}}' "$F"
	# Without the entry the document is the fixture's, key order included.
	diff <(jq 'del(.plugins[1])' "$F") <(jq . "$CALICO_FIXTURE")
	# Text outside the entry kept byte for byte: exactly one line added.
	[ "$(diff "$CALICO_FIXTURE" "$F" | grep -c '^>')" -eq 1 ]
	[ "$(diff "$CALICO_FIXTURE" "$F" | grep -c '^<')" -eq 0 ]
	# No temp file left behind.
	[ "$(ls -A "$D")" = 10-calico.conflist ]
}

@test "insert twice: second run changes nothing (same bytes, same inode)" {
	fs conflist insert "$F"
	cp -p "$F" "$BATS_TEST_TMPDIR/first"
	ino=$(stat -c %i "$F")
	run --separate-stderr fs conflist insert "$F"
	[ "$status" -eq 0 ]
	[[ $output == *"unchanged"* ]]
	cmp "$F" "$BATS_TEST_TMPDIR/first"
	[ "$(stat -c %i "$F")" = "$ino" ]
}

@test "remove: gives back the original file byte for byte; twice is a no-op" {
	fs conflist insert "$F"
	run --separate-stderr fs conflist remove "$F"
	[ "$status" -eq 0 ]
	[[ $output == *"entry removed"* ]]
	cmp "$F" "$CALICO_FIXTURE"
	run --separate-stderr fs conflist remove "$F"
	[ "$status" -eq 0 ]
	[[ $output == *"unchanged"* ]]
	cmp "$F" "$CALICO_FIXTURE"
}

@test "mode and owner are kept" {
	chmod 0600 "$F"
	chown 4321:8765 "$F"
	fs conflist insert "$F"
	has_entry "$F"
	[ "$(stat -c '%a %u:%g' "$F")" = "600 4321:8765" ]
	chmod 0444 "$F"
	fs conflist remove "$F"
	no_entry "$F"
	[ "$(stat -c '%a %u:%g' "$F")" = "444 4321:8765" ]
}

@test "--entry: replaces an existing entry in place, never duplicates it" {
	fs conflist insert "$F"
	fs conflist insert "$F" --entry '{"type":"flowsteer","mode":"rps","scope":"host"}'
	[ "$(types "$F")" = calico,flowsteer,portmap ]
	jq -e '.plugins[1] == {"type":"flowsteer","mode":"rps","scope":"host"}' "$F"
	# Options may come first too.
	fs conflist --entry '{"type":"flowsteer","mode":"off"}' insert "$F"
	jq -e '.plugins[1].mode == "off"' "$F"
	[ "$(types "$F")" = calico,flowsteer,portmap ]
}

@test "--entry: not an object with type flowsteer, or a value flowsteer rejects: exit 1, file unchanged" {
	for bad in '{"type":"calico"}' '[1,2]' '{"type":"flowsteer"' '{"mode":"rfs"}' \
		'{"type":"flowsteer","mode":"turbo"}'; do
		run --separate-stderr fs conflist insert "$F" --entry "$bad"
		echo "$bad -> $status: $stderr"
		[ "$status" -eq 1 ]
		[[ $stderr == *"--entry"* ]]
		cmp "$F" "$CALICO_FIXTURE"
	done
	run --separate-stderr fs conflist insert "$F" --entry '{"type":"flowsteer","mode":"turbo"}'
	[[ $stderr == *'"mode"'* ]]
}

@test "a file that does not parse is refused, named, and left byte for byte" {
	head -c 200 "$CALICO_FIXTURE" >"$F"
	cp -p "$F" "$BATS_TEST_TMPDIR/orig"
	for op in insert remove; do
		run --separate-stderr fs conflist "$op" "$F"
		echo "$op -> $status: $stderr"
		[ "$status" -eq 1 ]
		[[ $stderr == *"$F"* ]]
		[[ $stderr == *"not valid JSON"* ]]
		[[ $stderr == *"left unchanged"* ]]
		[ -z "$output" ]
		cmp "$F" "$BATS_TEST_TMPDIR/orig"
	done
	: >"$F"
	run --separate-stderr fs conflist insert "$F"
	[ "$status" -eq 1 ]
	[[ $stderr == *"empty"* ]]
	[ ! -s "$F" ]
	[ "$(ls -A "$D")" = 10-calico.conflist ]
}

@test ".conf: becomes FILE.conflist the way libcni reads it; the .conf goes" {
	C=$D/10-calico.conf
	rm -f "$F"
	jq -c '{cniVersion, name} + .plugins[0]' "$CALICO_FIXTURE" >"$C"
	chmod 0640 "$C"
	run --separate-stderr fs conflist insert "$C"
	[ "$status" -eq 0 ]
	[ ! -e "$C" ]
	[ -f "$F" ]
	[ "$(stat -c %a "$F")" = 640 ]
	jq -e '.cniVersion == "0.3.1" and .name == "k8s-pod-network"' "$F"
	[ "$(types "$F")" = calico,flowsteer ]
	# The plugin object is Calico's, minus what moved up to the list.
	diff <(jq -S '.plugins[0]' "$F") <(jq -S '.plugins[0]' "$CALICO_FIXTURE")
	# Asked again under the old name: the .conflist, unchanged.
	cp -p "$F" "$BATS_TEST_TMPDIR/first"
	run --separate-stderr fs conflist insert "$C"
	[ "$status" -eq 0 ]
	[[ $output == *"unchanged"* ]]
	cmp "$F" "$BATS_TEST_TMPDIR/first"
	run --separate-stderr fs conflist remove "$F"
	[ "$status" -eq 0 ]
	[ "$(types "$F")" = calico ]
	[ "$(ls -A "$D")" = 10-calico.conflist ]
}

@test ".conf whose .conflist name is taken by another file: refused, both untouched" {
	C=$D/10-calico.conf
	jq -c '{cniVersion, name} + .plugins[0]' "$CALICO_FIXTURE" >"$C"
	cp "$C" "$BATS_TEST_TMPDIR/conf"
	run --separate-stderr fs conflist insert "$C"
	[ "$status" -eq 1 ]
	[[ $stderr == *"$F already exists"* ]]
	cmp "$C" "$BATS_TEST_TMPDIR/conf"
	cmp "$F" "$CALICO_FIXTURE"
}

@test "--dry-run: prints the would-be file, writes nothing" {
	cp "$F" "$BATS_TEST_TMPDIR/copy.conflist"
	fs conflist insert "$BATS_TEST_TMPDIR/copy.conflist"
	run --separate-stderr fs conflist insert "$F" --dry-run
	[ "$status" -eq 0 ]
	[[ $stderr == *"would change"* ]]
	cmp "$F" "$CALICO_FIXTURE"
	diff <(printf '%s\n' "$output") "$BATS_TEST_TMPDIR/copy.conflist"
	run --separate-stderr fs conflist insert "$BATS_TEST_TMPDIR/copy.conflist" --dry-run
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[[ $stderr == *"would not change"* ]]
}

@test "a symlink: its target is edited, the link stays a link" {
	mv "$F" "$D/calico.real"
	ln -s calico.real "$F"
	fs conflist insert "$F"
	[ -L "$F" ]
	has_entry "$D/calico.real"
	fs conflist remove "$F"
	[ -L "$F" ]
	cmp "$D/calico.real" "$CALICO_FIXTURE"
}

@test "usage errors exit 2; a missing file exits 1 naming it" {
	run --separate-stderr fs conflist
	[ "$status" -eq 2 ]
	run --separate-stderr fs conflist frobnicate "$F"
	[ "$status" -eq 2 ]
	[[ $stderr == *'unknown action "frobnicate"'* ]]
	run --separate-stderr fs conflist insert
	[ "$status" -eq 2 ]
	run --separate-stderr fs conflist insert "$F" "$F"
	[ "$status" -eq 2 ]
	run --separate-stderr fs conflist insert "$F" --bogus
	[ "$status" -eq 2 ]
	run --separate-stderr fs conflist remove "$F" --entry '{"type":"flowsteer"}'
	[ "$status" -eq 2 ]
	run --separate-stderr fs conflist insert "$D/nope.conflist"
	[ "$status" -eq 1 ]
	[[ $stderr == *"$D/nope.conflist"* ]]
	[[ $stderr == *"No such file"* ]]
	cmp "$F" "$CALICO_FIXTURE"
}

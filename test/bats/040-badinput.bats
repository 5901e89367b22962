#!/usr/bin/env bats
# Bad input, one row per test: each gives its documented CNI code and a
# message naming the culprit, as CNI error JSON on stdout with exit 1 — never
# a crash, nothing on stderr — and changes nothing on the node (every rps
# value of the node's and the pod's devices, and the stateDir, compared
# before and after).
#
# Codes (SPEC §6): 1 unsupported version, 4 bad CNI_* variable, 6 malformed /
# empty / oversized JSON, 7 bad configuration key or ADD without prevResult.

load helpers

setup() {
	setup_node
	make_pod p1
	IN=$BATS_TEST_TMPDIR/stdin.json
	conf 1.0.0 >"$IN"
	snapshot before
}

teardown() { teardown_node; }

# bad_config JQ_FILTER: the pod's valid config, changed by JQ_FILTER.
bad_config() { conf 1.0.0 "$1" >"$IN"; }

# expect_error CODE MSG_ERE [VAR=VALUE | -VAR]...: the plugin on $IN gives
# CNI error CODE, its message matching MSG_ERE, and changes nothing.
expect_error() {
	local code=$1 msg=$2
	shift 2
	run_helper 1 plugin_env "$IN" "$@"
	expect_cni_error "$code" "$msg"
	snapshot after
	assert_unchanged before after
}

need_setpriv() { command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"; }

# --- stdin -----------------------------------------------------------------

@test "empty stdin: 6, empty input" {
	: >"$IN"
	expect_error 6 'empty input'
}

@test "not JSON: 6, not valid JSON" {
	printf 'hello, world\n' >"$IN"
	expect_error 6 'not valid JSON'
}

@test "truncated JSON: 6, names where it broke" {
	conf 1.0.0 | head -c 300 >"$IN"
	expect_error 6 'not valid JSON \(error near byte [0-9]+ of 300\)'
}

@test "2 MiB of JSON: 6, over the 1 MiB cap" {
	conf 1.0.0 '.padding = ("x" * 2097152)' >"$IN"
	[ "$(stat -c %s "$IN")" -gt 2097152 ]
	expect_error 6 'exceeds 1048576 bytes'
}

@test "a JSON array instead of an object: 6" {
	echo '[1, 2, 3]' >"$IN"
	expect_error 6 'must be a JSON object'
}

@test "nesting 100000 deep: 6, no stack overflow" {
	python3 -c 'print("{\"cniVersion\":\"1.0.0\",\"x\":" + "[" * 100000 + "]" * 100000 + "}")' >"$IN"
	expect_error 6 'not valid JSON'
}

@test "a NUL byte between tokens: 6 naming its offset" {
	printf '{"cniVersion":"1.0.0",\0"name":"x"}' >"$IN"
	expect_error 6 'not valid JSON \(NUL byte at byte 22\)'
}

@test "a NUL byte inside a string: 6 (no silent truncation of a path)" {
	# Cut at the NUL, the stateDir would be $BATS_TEST_TMPDIR/x.
	conf 1.0.0 | sed "s|\"stateDir\":\"|&$BATS_TEST_TMPDIR/x\\x00/..|" >"$IN"
	assert_eq "$(tr -cd '\000' <"$IN" | wc -c)" 1 "NUL bytes in the input"
	expect_error 6 'NUL byte at byte [0-9]+'
	[ ! -e "$BATS_TEST_TMPDIR/x" ]
}

# --- cniVersion ------------------------------------------------------------

@test "missing cniVersion: 7 naming cniVersion" {
	bad_config 'del(.cniVersion)'
	expect_error 7 '"cniVersion" is missing'
}

@test "cniVersion a number: 7 naming cniVersion" {
	bad_config '.cniVersion = 1.0'
	expect_error 7 '"cniVersion" must be a string'
}

@test "cniVersion \"banana\": 1 naming the value" {
	bad_config '.cniVersion = "banana"'
	expect_error 1 'cniVersion "banana" is not supported'
}

@test "unsupported cniVersion 0.2.0: 1 naming the value" {
	bad_config '.cniVersion = "0.2.0"'
	expect_error 1 'cniVersion "0.2.0" is not supported'
}

@test "unsupported cniVersion 2.0.0: 1" {
	bad_config '.cniVersion = "2.0.0"'
	expect_error 1 'cniVersion "2.0.0" is not supported'
}

@test "CHECK under cniVersion 0.3.1: 1 naming the verb" {
	conf 0.3.1 >"$IN"
	expect_error 1 'does not allow CHECK' CNI_COMMAND=CHECK
}

# --- prevResult ------------------------------------------------------------

@test "ADD without prevResult: 7 naming prevResult" {
	bad_config 'del(.prevResult)'
	expect_error 7 'ADD needs prevResult'
}

@test "prevResult null: 7 naming prevResult" {
	bad_config '.prevResult = null'
	expect_error 7 'ADD needs prevResult'
}

@test "prevResult a string: 7 naming prevResult" {
	bad_config '.prevResult = "calico"'
	expect_error 7 '"prevResult" must be an object'
}

@test "prevResult a list: 7 naming prevResult" {
	bad_config '.prevResult = [.prevResult]'
	expect_error 7 '"prevResult" must be an object'
}

@test "prevResult.interfaces an object: 7" {
	bad_config '.prevResult.interfaces = {"name": "eth0"}'
	expect_error 7 'prevResult.interfaces must be a list'
}

@test "prevResult.interfaces[1] a string: 7 naming the entry" {
	bad_config '.prevResult.interfaces[1] = "eth0"'
	expect_error 7 'prevResult.interfaces\[1\] has no string "name"'
}

@test "interface name ../../etc: 7 naming it" {
	bad_config '.prevResult.interfaces[0].name = "../../etc"'
	expect_error 7 'interfaces\[0\].name "\.\./\.\./etc" is not a valid interface name'
}

@test "interface name of 16 bytes: 7 naming it" {
	bad_config '.prevResult.interfaces[0].name = "cali0123456789ab"'
	expect_error 7 'interfaces\[0\].name "cali0123456789ab" is not a valid interface name'
}

@test "interface name \"..\": 7" {
	bad_config '.prevResult.interfaces[1].name = ".."'
	expect_error 7 'interfaces\[1\].name "\.\." is not a valid interface name'
}

@test "sandbox a number: 7 naming it" {
	bad_config '.prevResult.interfaces[1].sandbox = 42'
	expect_error 7 'interfaces\[1\].sandbox must be a string'
}

# --- CNI_* environment -------------------------------------------------------

@test "CNI_NETNS missing on ADD: 4 naming CNI_NETNS" {
	expect_error 4 'CNI_NETNS is not set' -CNI_NETNS
}

@test "CNI_NETNS a regular file: 4 naming the path" {
	: >"$BATS_TEST_TMPDIR/not-a-netns"
	expect_error 4 "CNI_NETNS \"$BATS_TEST_TMPDIR/not-a-netns\" is not a network namespace" \
		CNI_NETNS="$BATS_TEST_TMPDIR/not-a-netns"
}

@test "CNI_NETNS a directory: 4 naming the path" {
	expect_error 4 "CNI_NETNS \"$BATS_TEST_TMPDIR\" is not a network namespace" \
		CNI_NETNS="$BATS_TEST_TMPDIR"
}

@test "CNI_NETNS a dead netns (deleted): 4 naming the path" {
	local dead
	dead=$(fs_prefix)dead
	ip netns add "$dead"
	ip netns del "$dead"
	expect_error 4 "CNI_NETNS \"/run/netns/$dead\": No such file" CNI_NETNS="/run/netns/$dead"
}

@test "CNI_NETNS a mount namespace: 4 naming the path" {
	expect_error 4 'CNI_NETNS "/proc/self/ns/mnt" is a namespace, but not a network namespace' \
		CNI_NETNS=/proc/self/ns/mnt
}

@test "CNI_NETNS relative: 4 naming it" {
	expect_error 4 'CNI_NETNS "run/netns/x" is not an absolute path' CNI_NETNS=run/netns/x
}

@test "CNI_CONTAINERID missing: 4 naming it" {
	expect_error 4 'CNI_CONTAINERID is not set' -CNI_CONTAINERID
}

@test "CNI_CONTAINERID ../x: 4 naming it" {
	expect_error 4 'CNI_CONTAINERID "\.\./x" is invalid' CNI_CONTAINERID=../x
}

@test "CNI_IFNAME missing: 4 naming it" {
	expect_error 4 'CNI_IFNAME is not set' -CNI_IFNAME
}

@test "CNI_IFNAME ../../etc: 4 naming it" {
	expect_error 4 'CNI_IFNAME "\.\./\.\./etc" is not a valid interface name' CNI_IFNAME=../../etc
}

@test "CNI_IFNAME of 16 bytes: 4 naming it" {
	expect_error 4 'CNI_IFNAME "eth0123456789abc" is not a valid' CNI_IFNAME=eth0123456789abc
}

@test "CNI_COMMAND unknown: 4 naming the command" {
	expect_error 4 'CNI_COMMAND "FROB" is not supported' CNI_COMMAND=FROB
}

@test "CNI_COMMAND lower-case add: 4" {
	expect_error 4 'CNI_COMMAND "add" is not supported' CNI_COMMAND=add
}

@test "CNI_COMMAND missing: the human CLI, usage on stderr, exit 2 (SPEC §8)" {
	run_helper 2 plugin_env "$IN" -CNI_COMMAND
	assert_eq "$output" "" "stdout"
	assert_match "$stderr" 'flowsteer status'
	snapshot after
	assert_unchanged before after
}

# --- configuration keys ------------------------------------------------------

@test "mode \"fast\": 7 naming mode and the value" {
	bad_config '.mode = "fast"'
	expect_error 7 '"mode" = "fast" is invalid'
}

@test "scope 3: 7 naming scope" {
	bad_config '.scope = 3'
	expect_error 7 '"scope" must be a string'
}

@test "cpus \"3-1\": 7, reversed range" {
	bad_config '.cpus = "3-1"'
	expect_error 7 '"cpus": range "3-1" in "3-1" is reversed'
}

@test "cpus \"0-99999\": 7, out of range" {
	bad_config '.cpus = "0-99999"'
	expect_error 7 '"cpus": CPU number in "0-99999" is out of range'
}

@test "cpus \"a\": 7, not a cpulist" {
	bad_config '.cpus = "a"'
	expect_error 7 '"cpus": "a" is not a cpulist'
}

@test "cpus \"\": 7" {
	bad_config '.cpus = ""'
	expect_error 7 '"cpus": "" is not a cpulist'
}

@test "excludeCpus removing every CPU: 7 naming both keys" {
	bad_config '.excludeCpus = "0-8191"'
	expect_error 7 '"cpus" = "all" with "excludeCpus" = "0-8191" leaves no online CPU'
}

@test "cpus only on CPUs that are not online: 7" {
	bad_config '.cpus = "8000-8191"'
	expect_error 7 'leaves no online CPU'
}

@test "sockFlowEntries -1: 7 naming the key and range" {
	bad_config '.sockFlowEntries = -1'
	expect_error 7 '"sockFlowEntries" = -1 is out of range'
}

@test "sockFlowEntries 1e12: 7 naming the key" {
	bad_config '.sockFlowEntries = 1000000000000'
	expect_error 7 '"sockFlowEntries" = 1000000000000 is out of range'
}

@test "sockFlowEntries 1.5: 7, not an integer" {
	bad_config '.sockFlowEntries = 1.5'
	expect_error 7 '"sockFlowEntries" must be an integer'
}

@test "sockFlowEntries as a string: 7" {
	bad_config '.sockFlowEntries = "32768"'
	expect_error 7 '"sockFlowEntries" must be an integer, got a string'
}

@test "flowCnt as a string: 7" {
	bad_config '.flowCnt = "4096"'
	expect_error 7 '"flowCnt" must be an integer, got a string'
}

@test "flowCnt huge: 7" {
	bad_config '.flowCnt = 1e300'
	expect_error 7 '"flowCnt" = .* is out of range'
}

@test "restoreOnLastDel \"yes\": 7" {
	bad_config '.restoreOnLastDel = "yes"'
	expect_error 7 '"restoreOnLastDel" must be true or false'
}

@test "failurePolicy \"maybe\": 7" {
	bad_config '.failurePolicy = "maybe"'
	expect_error 7 '"failurePolicy" = "maybe" is invalid'
}

@test "policy \"opt-sideways\": 7" {
	bad_config '.policy = "opt-sideways"'
	expect_error 7 '"policy" = "opt-sideways" is invalid'
}

@test "hostDevices a string: 7" {
	bad_config '.hostDevices = "eth0"'
	expect_error 7 '"hostDevices" must be a list'
}

@test "hostDevices with ../../etc: 7 naming the entry" {
	bad_config '.hostDevices = ["ul0", "../../etc"]'
	expect_error 7 '"hostDevices"\[1\] = "\.\./\.\./etc" is neither'
}

@test "hostDevices with an unknown token: 7" {
	bad_config '.hostDevices = ["@everything"]'
	expect_error 7 '"hostDevices"\[0\] = "@everything" is neither'
}

@test "hostDevices with 33 entries: 7" {
	bad_config '.hostDevices = [range(33) | "d\(.)"]'
	expect_error 7 '"hostDevices" lists more than 32 entries'
}

@test "stateDir relative: 7 naming it" {
	bad_config '.stateDir = "state"'
	expect_error 7 '"stateDir": "state" is not an absolute path'
}

@test "logLevel \"loud\": 7" {
	bad_config '.logLevel = "loud"'
	expect_error 7 '"logLevel" = "loud" is invalid'
}

@test "type a number: 7" {
	bad_config '.type = 7'
	expect_error 7 '"type" must be a string'
}

# --- privileges ------------------------------------------------------------

@test "no CAP_SYS_ADMIN nor CAP_NET_ADMIN: 102 naming both" {
	need_setpriv
	caps_dropped -sys_admin,-net_admin expect_error 102 'missing privileges: CAP_SYS_ADMIN, CAP_NET_ADMIN'
}

@test "no CAP_NET_ADMIN: 102 naming it alone" {
	need_setpriv
	caps_dropped -net_admin expect_error 102 'missing privileges: CAP_NET_ADMIN \('
}

@test "no privileges on DEL: 102 too, nothing forgotten" {
	need_setpriv
	run_helper cni ADD "$(conf 1.0.0)"
	snapshot before
	caps_dropped -sys_admin expect_error 102 'missing privileges: CAP_SYS_ADMIN \(' CNI_COMMAND=DEL
	assert_eq "$(record_names)" "ctr-p1@eth0.n.json" "records"
}

# --- odd but accepted input (regressions found by test/fuzz) ------------------

@test "prevResult with cniVersion twice: the result carries ours, once" {
	conf 1.0.0 '.' | sed 's|"prevResult":{|&"cniVersion":"0.0.9",|' >"$IN"
	assert_eq "$(grep -o '"cniVersion"' "$IN" | wc -l)" 3 "cniVersion keys in the input"
	run_helper plugin_env "$IN"
	assert_eq "$(grep -o '"cniVersion":"[^"]*"' <<<"$output")" '"cniVersion":"1.0.0"' "cniVersion in the result"
}

@test "an annotation value with control bytes: the warning carries none" {
	bad_config '.runtimeConfig = {"io.kubernetes.cri.pod-annotations": {"flowsteer.io/cpus": "2-\n5\u001b[31m"}}'
	run_helper plugin_env "$IN"
	assert_json "$output" '.flowsteer.warnings | length == 1 and all(explode | all(. >= 32 and . != 127))' true
	assert_eq "$(grep -c . "$LOG_FILE")" "$(wc -l <"$LOG_FILE")" "non-empty log lines"
	assert_log $'\e' 0
}

@test "trailing data after the JSON object: 6" {
	{ conf 1.0.0; echo '{"cniVersion": "0.3.1"}'; } >"$IN"
	expect_error 6 'trailing data at byte'
}

# --- DEL stays lenient -------------------------------------------------------

@test "DEL with a bad key still succeeds and changes nothing it does not own" {
	bad_config '.mode = "fast"'
	run_helper plugin_env "$IN" CNI_COMMAND=DEL
	assert_eq "$output" "" "DEL's stdout"
	# The lock file and an empty attachments directory may appear: nothing else.
	expect_no_state
	node_values | diff -u <(sed -n '/^--$/q;p' "$BATS_TEST_TMPDIR/before") -
}

@test "DEL with an invalid CNI_CONTAINERID: 4, no path is built from it" {
	expect_error 4 'CNI_CONTAINERID "\.\./\.\./etc/passwd" is invalid' CNI_COMMAND=DEL \
		CNI_CONTAINERID=../../etc/passwd
}

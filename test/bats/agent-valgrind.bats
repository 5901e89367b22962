#!/usr/bin/env bats
# Memcheck of flowsteer-agent across 1000 watch events, a dropped watch, a
# 410 relist and SIGTERM (test/agent/valgrind-churn.sh): no error, no leak.
# Needs the plain build (valgrind cannot run an ASan binary): under
# SANITIZE=1, build/flowsteer-agent is used when it exists.

bats_require_minimum_version 1.5.0

load helpers

@test "agent under valgrind: 1000 events, drop, 410, SIGTERM: 0 errors, all heap blocks freed" {
	command -v valgrind >/dev/null || skip "valgrind not installed"
	bin=$(dirname "$FLOWSTEER_BIN")/flowsteer-agent
	if ldd "$bin" | grep -q libasan; then
		bin=$BATS_TEST_DIRNAME/../../build/flowsteer-agent
		[ -x "$bin" ] && ! ldd "$bin" | grep -q libasan || skip "only an ASan build of the agent is there"
	fi
	run timeout 300 "$BATS_TEST_DIRNAME/../agent/valgrind-churn.sh" "$bin"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"agent exit 0"* ]]
	[[ $output == *"ERROR SUMMARY: 0 errors"* ]]
	[[ $output == *"1 passed, 0 failed"* ]]
}

#!/usr/bin/env bats
# Memcheck over every verb, success and error paths: no invalid access, no
# definite or indirect leak, in the plugin process and in any netns child it
# forks (one log per process, each must report 0 errors).
#
#   valgrind --leak-check=full --error-exitcode=9
#            --errors-for-leak-kinds=definite,indirect --trace-children=no
#
# Runs a plain dynamic build (`make` puts one in build-dyn/ for the suite):
# in a static binary memcheck cannot replace malloc, so it would see no leak
# and no heap overrun at all, and it cannot run an ASan build. The first of
# FLOWSTEER_BIN, FLOWSTEER_DYN_BIN and build-dyn/flowsteer that is dynamic
# and not ASan is used; the tests are skipped when there is none.
#
# Valgrind 3.19 (Debian 12) does not know fsopen() (syscall 430) and answers
# ENOSYS, so here the pod side runs in the forked child (the fallback for
# kernels without detached mounts); its mount(NULL, "/", NULL, MS_SLAVE|MS_REC)
# trips a valgrind false positive on the NULL filesystem type
# (test/helpers/valgrind-netns.supp, shared with the agent's churn test).

load helpers

setup() {
	command -v valgrind >/dev/null || skip "valgrind not installed"
	VG_BIN=$(vg_binary) ||
		skip "no plain dynamic build (static or ASan FLOWSTEER_BIN, no build-dyn/flowsteer): make bin-dyn"
	setup_node
	save_orig ul0
	make_pod p1
	VG_LOGS=$BATS_TEST_TMPDIR/vg
	mkdir -p "$VG_LOGS"
	cat >"$BATS_TEST_TMPDIR/vg.sh" <<EOF
#!/bin/sh
exec valgrind --leak-check=full --error-exitcode=9 --errors-for-leak-kinds=definite,indirect \\
	--trace-children=no --suppressions=$REPO/test/helpers/valgrind-netns.supp \\
	--log-file=$VG_LOGS/%p.log "$VG_BIN" "\$@"
EOF
	chmod +x "$BATS_TEST_TMPDIR/vg.sh"
	PLAIN_BIN=$VG_BIN
	FLOWSTEER_BIN=$BATS_TEST_TMPDIR/vg.sh
	CNI_TIMEOUT=120
}

teardown() { teardown_node; }

# vg_binary: the first candidate that is dynamic (ldd fails on a static
# binary) and not built with ASan/UBSan.
vg_binary() {
	local b libs
	for b in "$FLOWSTEER_BIN" "${FLOWSTEER_DYN_BIN:-}" "$REPO/build-dyn/flowsteer"; do
		[ -n "$b" ] && [ -x "$b" ] || continue
		libs=$(ldd "$b" 2>/dev/null) || continue
		case $libs in *libasan* | *libubsan*) continue ;; esac
		echo "$b"
		return 0
	done
	return 1
}

# vg VERB CONFIG EXPECTED_EXIT [CID]: one invocation under memcheck; every
# process's log must be clean.
vg() {
	local want=$3 f bad=0 n=0
	rm -f "$VG_LOGS"/*.log
	run_helper '?' cni "$1" "$2" "${4:-}"
	for f in "$VG_LOGS"/*.log; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		if ! grep -q 'ERROR SUMMARY: 0 errors' "$f" ||
			grep -Eq '(definitely|indirectly) lost: [1-9]' "$f" ||
			grep -Eq 'Invalid (read|write|free)' "$f"; then
			echo "--- $f"
			cat "$f"
			bad=1
		fi
	done
	[ "$n" -ge 1 ] || { echo "no valgrind log was written" >&2; return 1; }
	assert_eq "$bad" 0 "valgrind logs with errors or leaks"
	assert_eq "$status" "$want" "exit status"
}

@test "valgrind: ADD (first pod), ADD, CHECK, DEL, DEL (last, node restored)" {
	local first_conf
	first_conf=$(conf 1.0.0)
	vg ADD "$first_conf" 0
	assert_eq "$(refs)" 1 "references"
	make_pod p2
	vg ADD "$(conf 1.0.0)" 0
	vg CHECK "$(conf 1.0.0)" 0
	vg DEL "$(conf 1.0.0)" 0
	vg DEL "$first_conf" 0 ctr-p1
	expect_no_state
	expect_orig ul0
}

@test "valgrind: CHECK finding drift (101)" {
	FLOWSTEER_BIN=$PLAIN_BIN run_helper cni ADD "$(conf 1.0.0)"
	pod_write rps_cpus 0
	vg CHECK "$(conf 1.0.0)" 1
	expect_cni_error 101
}

@test "valgrind: STATUS ready and not ready" {
	vg STATUS "$(conf 1.1.0 'del(.prevResult)')" 0
	: >"$BATS_TEST_TMPDIR/afile"
	vg STATUS "$(conf 1.1.0 "del(.prevResult) | .stateDir = \"$BATS_TEST_TMPDIR/afile/x\" | .failurePolicy = \"fail\"")" 1
	expect_cni_error 50
	vg STATUS "$(conf 1.1.0 "del(.prevResult) | .stateDir = \"$BATS_TEST_TMPDIR/afile/x\"")" 0
}

@test "valgrind: GC dropping records and restoring the node" {
	FLOWSTEER_BIN=$PLAIN_BIN run_helper cni ADD "$(conf 1.0.0)"
	vg GC "$(conf 1.1.0 '.["cni.dev/valid-attachments"] = [{"containerID": "other", "ifname": "eth0"}]')" 0
	assert_eq "$(refs)" 0 "references"
	expect_orig ul0
}

@test "valgrind: VERSION" {
	vg VERSION '{"cniVersion": "1.0.0"}' 0
	assert_json "$output" .cniVersion 1.0.0
}

@test "valgrind: error paths (bad JSON, bad key, no prevResult, bad env)" {
	vg ADD '{"cniVersion": "1.0.0", "name": ' 1
	expect_cni_error 6
	vg ADD "$(conf 1.0.0 '.cpus = "3-1"')" 1
	vg ADD "$(conf 1.0.0 'del(.prevResult)')" 1
	vg ADD "$(conf 1.0.0 '.prevResult.interfaces[0].name = "../../etc"')" 1
	CNI_NETNS_OVERRIDE=/proc/self/ns/mnt vg ADD "$(conf 1.0.0)" 1
	expect_cni_error 4
}

@test "valgrind: failurePolicy fail rolls back (100), ignore reports" {
	CNI_IFNAME_OVERRIDE=eth1 vg ADD "$(conf 1.0.0 '.prevResult.interfaces[1].name = "eth1" | .failurePolicy = "fail"')" 1 ctr-x
	expect_cni_error 100
	CNI_IFNAME_OVERRIDE=eth1 vg ADD "$(conf 1.0.0 '.prevResult.interfaces[1].name = "eth1"')" 0 ctr-x
}

@test "valgrind: runtime pod annotations (narrowed cpus, opt-out)" {
	vg ADD "$(conf 1.0.0 '.runtimeConfig = {"io.kubernetes.cri.pod-annotations": {"flowsteer.io/cpus": "0", "flowsteer.io/scope": "container"}}')" 0
	make_pod p2
	vg ADD "$(conf 1.0.0 '.runtimeConfig = {"io.kubernetes.cri.pod-annotations": {"flowsteer.io/mode": "off"}}')" 0
}

@test "valgrind: DEL with a broken config, netns gone" {
	FLOWSTEER_BIN=$PLAIN_BIN run_helper cni ADD "$(conf 1.0.0)"
	CNI_NETNS_OVERRIDE="" vg DEL "$(conf 1.0.0 '.mode = "fast"')" 0
	assert_eq "$(refs)" 0 "references"
}

@test "valgrind: a planning error under ignore (no rtnetlink); a result that cannot be written (rolled back)" {
	deny_syscalls socket:16=EAFNOSUPPORT -- vg ADD "$(conf 1.0.0)" 0
	expect_warning 'tuning abandoned, nothing changed' 'opening rtnetlink'
	in_state 'exec >/dev/full' vg ADD "$(conf 1.0.0)" 1
	expect_no_state
	expect_orig ul0
}

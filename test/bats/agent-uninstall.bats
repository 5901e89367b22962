#!/usr/bin/env bats
# flowsteer-agent's uninstall (docs/agent.md, "Uninstall"): SIGTERM with its
# DaemonSet gone takes the entry out and then undoes, itself, what the
# tuned pods' DELs would have (a runtime runs them later without
# flowsteer): every pod device and node device back to its original
# value (read in sysfs), the records gone, and a later DEL of such a pod
# finds nothing and exits 0. With the DaemonSet there (a rolling update)
# nothing is undone. The agent's /sys is read-only, as in its container.

bats_require_minimum_version 1.5.0

load helpers
load agent_helpers

setup() {
	p2_setup
	root_setup
	make_root "$ROOT"
	AGENT_RO_SYS=1
	AGENT_INSTALL=1
	api_start
	declare -gA P2_NS=() P2_VETH=()
}
teardown() { p2_teardown; }

DS='{"op":"ds","ns":"kube-system","name":"flowsteer-agent"}'

# tune NAME...: the pods (namespace team-a) made, every value of the node
# and the pods saved (ORIG_VALUES), then each pod's ADD.
tune() {
	local p
	for p; do
		make_pod "$p" team-a
		P2_NS[$p]=$POD_NS
		P2_VETH[$p]=$HOST_VETH
	done
	ORIG_VALUES=$(node_values)
	for p; do
		POD_NAME=$p POD_NETNS=/run/netns/${P2_NS[$p]} HOST_VETH=${P2_VETH[$p]} tune_one || return
	done
	[ "$(node_values)" != "$ORIG_VALUES" ]
}
tune_one() { run_helper cni ADD "$(p2_conf)"; }
records() { find "$STATE_DIR/attachments" -name '*.json' | wc -l; }

# start_and_stop: the agent chains the entry, then gets SIGTERM.
start_and_stop() {
	agent_start
	wait_until 5 has_entry "$F"
	agent_stop TERM
	[ "$AGENT_STATUS" -eq 0 ]
}

@test "agent uninstall: SIGTERM with the DaemonSet gone puts every pod and node device back, removes the records; a later DEL exits 0" {
	tune web db
	[ "$(records)" = 2 ]
	[ -f "$STATE_DIR/node.json" ]
	start_and_stop
	no_entry "$F"
	log_has "is gone or being deleted: uninstall, taking the entry out"
	assert_eq "$(node_values)" "$ORIG_VALUES" "the node's and pods' values after the uninstall"
	[ "$(records)" = 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
	log_has "uninstall: pod team-a/web (ctr-web eth0): 2 device(s) put back, 0 left"
	log_has "uninstall: pod team-a/db (ctr-db eth0): 2 device(s) put back, 0 left"
	log_has "uninstall: 2 record(s) undone, 4 pod device(s) put back, 0 left holding flowsteer's value, 0 record(s) kept; node devices restored"
	# The runtime's DEL later, the entry gone or not: nothing left to undo.
	POD_NAME=web POD_NETNS=/run/netns/${P2_NS[web]} run_helper cni DEL "$(p2_conf)"
	assert_eq "$(node_values)" "$ORIG_VALUES" "the values after a later DEL"
}

@test "agent uninstall: SIGTERM with the DaemonSet there (rolling update) undoes nothing" {
	tune web
	tuned=$(node_values)
	ctl "$DS"
	start_and_stop
	has_entry "$F"
	assert_eq "$(node_values)" "$tuned" "the values after a rolling update's SIGTERM"
	[ "$(records)" = 1 ]
	[ -f "$STATE_DIR/node.json" ]
	! log_has "uninstall:"
}

@test "agent uninstall: an operator's later change to a node device is kept; the pod's devices go back" {
	tune web
	node_write ul0 rps_cpus 1
	op=$(node_rx ul0 rps_cpus)
	[[ ! $op =~ $ZERO_MASKS ]]
	start_and_stop
	assert_eq "$(node_rx ul0 rps_cpus)" "$op" "ul0's rps_cpus, the operator's"
	[[ $(pod_rx rps_cpus eth0 "${P2_NS[web]}") =~ $ZERO_MASKS ]]
	[[ $(node_rx "${P2_VETH[web]}" rps_cpus) =~ $ZERO_MASKS ]]
	[ "$(records)" = 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
}

@test "flowsteer reset: the same undo by hand (the entry taken out by hand first); run again, nothing left, exit 0" {
	tune web db
	run_helper node_run "$FLOWSTEER_BIN" reset --state-dir "$STATE_DIR"
	assert_eq "$(node_values)" "$ORIG_VALUES" "the node's and pods' values after flowsteer reset"
	[ "$(records)" = 0 ]
	[ ! -e "$STATE_DIR/node.json" ]
	[[ $output == *"uninstall: 2 record(s) undone, 4 pod device(s) put back, 0 left holding flowsteer's value, 0 record(s) kept; node devices restored"* ]]
	run_helper node_run "$FLOWSTEER_BIN" reset --state-dir "$STATE_DIR"
	[[ $output == *"uninstall: nothing to undo (no record, no node devices held in "* ]]
	run_helper 2 "$FLOWSTEER_BIN" reset extra
}

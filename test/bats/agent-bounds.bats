#!/usr/bin/env bats
# flowsteer-agent's bounds against hostile or huge objects (docs/agent.md,
# "Bounds"): whatever the API server sends, the keys the plugin reads
# (flowsteer.io/mode, scope, cpus) reach annotations.json with the meaning
# they have on the server, the file stays one the plugin reads, and a bound
# that is hit is counted (flowsteer_agent_bounds_hit_total{bound}) and
# logged once per object. The plugin ADDs a pod for real to show its
# decision from the file.

bats_require_minimum_version 1.5.0

load helpers
load agent_helpers

setup() { p2_setup; }
teardown() { p2_teardown; }

# ctl_gen PYTHON: control ops made by a Python expression (a list), for
# bodies too big for an argument.
ctl_gen() {
	python3 -c "import json; print(json.dumps({'ops': $1}))" |
		"${A_EXEC[@]}" curl -sS -m 60 --fail-with-body -X POST --data-binary @- "$CTL_URL/ctl" >/dev/null
}
bound() { metric "flowsteer_agent_bounds_hit_total{bound=\"$1\"}"; }
pod_ann() { jq -cS --arg k "$1" '.pods[$k].annotations' "$AF"; }

@test "bounds: hundreds of other flowsteer.io keys before and after mode: the file holds mode, scope, cpus, the plugin decides by them" {
	api_start
	ctl_gen '[{"op": "ns", "name": "team-a", "annotations": dict([("flowsteer.io/a%03d" % i, "x") for i in range(300)] + [("flowsteer.io/mode", "off")] + [("flowsteer.io/z%03d" % i, "y") for i in range(300)])},
	          {"op": "pod", "ns": "team-a", "name": "web", "node": "node-1", "uid": "u-web", "annotations": dict([("flowsteer.io/b%03d" % i, "x") for i in range(300)] + [("flowsteer.io/mode", "rps"), ("flowsteer.io/scope", "container")] + [("flowsteer.io/y%03d" % i, "y") for i in range(300)])}]'
	agent_start
	wait_until 5 file_has '.pods["team-a/web"]'
	[ "$(pod_ann team-a/web)" = '{"flowsteer.io/mode":"rps","flowsteer.io/scope":"container"}' ]
	[ "$(jq -c '.namespaces["team-a"]' "$AF")" = '{"flowsteer.io/mode":"off"}' ]
	file_matches
	p2_add web u-web
	expect_result source=agent-pod mode=rps scope=container
	p2_add other u-other
	expect_result source=namespace mode=off
}

@test "bounds: a 100 kB value in a 1.1 MB object: cut to one the plugin ignores as too long, the other keys kept, logged once" {
	api_start
	big='dict([("big.example/k%d" % i, "b" * 100000) for i in range(11)] + [("flowsteer.io/cpus", "0-1," * 25000), ("flowsteer.io/mode", "rps")])'
	ctl_gen "[{'op': 'pod', 'ns': 'team-a', 'name': 'web', 'node': 'node-1', 'uid': 'u-web', 'annotations': $big}]"
	agent_start
	wait_until 5 file_has '.pods["team-a/web"]'
	file_has '.pods["team-a/web"].annotations["flowsteer.io/mode"] == "rps"'
	len=$(jq '.pods["team-a/web"].annotations["flowsteer.io/cpus"] | utf8bytelength' "$AF")
	[ "$len" -gt 32768 ] && [ "$len" -le 32772 ]
	[ "$(bound value)" -ge 1 ]
	# More events of the same object (a watch event over 1 MB each): counted, not logged again.
	for i in 1 2 3; do
		ctl_gen "[{'op': 'pod', 'ns': 'team-a', 'name': 'web', 'node': 'node-1', 'uid': 'u-web', 'annotations': dict($big, **{'big.example/n': '$i'})}]"
	done
	wait_until 5 metric_gt 'flowsteer_agent_bounds_hit_total{bound="value"}' 3
	[ "$(grep -c 'bounds: team-a/web: an annotation value longer than 32768 bytes' "$A_LOG")" -eq 1 ]
	p2_add web u-web
	expect_result source=agent-pod mode=rps
	expect_warning flowsteer.io/cpus 'longer than 32768 bytes; ignored'
}

@test "bounds: a watch event over 8 MiB ends the watch (counted, logged) and relists; the list page holds the object" {
	api_start
	ctl '{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-web","annotations":{"flowsteer.io/mode":"rps"}}'
	agent_start
	wait_until 5 file_has '.pods["team-a/web"].annotations["flowsteer.io/mode"] == "rps"'
	ctl_gen "[{'op': 'pod', 'ns': 'team-a', 'name': 'web', 'node': 'node-1', 'uid': 'u-web', 'annotations': dict([('big.example/k%d' % i, 'b' * 900000) for i in range(10)] + [('flowsteer.io/mode', 'off')])}]"
	wait_until 10 file_has '.pods["team-a/web"].annotations["flowsteer.io/mode"] == "off"'
	[ "$(bound event)" -eq 1 ]
	log_has 'pods: a watch event is larger than 8 MiB: relisting'
	log_has 'pods: watch: stream broken; relisting'
	[ "$(bound page)" -eq 0 ]
}

@test "bounds: a list page over 64 MiB is listed again in pages of fewer objects (counted once per halving); every pod arrives" {
	api_start
	ctl_gen "[{'op': 'pod', 'ns': 'team-a', 'name': 'p%02d' % n, 'node': 'node-1', 'uid': 'u%d' % n, 'annotations': dict([('big.example/k%d' % i, 'b' * 100000) for i in range(10)] + [('flowsteer.io/mode', 'rps')])} for n in range(70)]"
	agent_start
	wait_until 60 file_has '.pods | length == 70'
	[ "$(bound page)" -eq 3 ]
	grep -q 'limit=62&' "$KUBE_REQUESTS"
}

@test "bounds: namespaces whose entries would make the file bigger than the plugin reads: the largest leave, the rest stays readable" {
	api_start
	ctl_gen '[{"op": "ns", "name": "big-%02d" % i, "annotations": {"flowsteer.io/mode": "m" * 30000, "flowsteer.io/scope": "s" * 30000, "flowsteer.io/cpus": "c" * 30000}} for i in range(60)] +
	         [{"op": "ns", "name": "team-a", "annotations": {"flowsteer.io/scope": "container"}},
	          {"op": "pod", "ns": "team-a", "name": "web", "node": "node-1", "uid": "u-web", "annotations": {"flowsteer.io/mode": "rps"}}]'
	agent_start
	wait_until 5 file_has '.pods["team-a/web"]'
	[ "$(stat -c %s "$AF")" -lt $((4 << 20)) ]
	file_has '.namespaces["team-a"] == {"flowsteer.io/scope": "container"}'
	[ "$(bound file)" -ge 1 ]
	log_has 'bounds: big-.*left out of the annotations file'
	p2_add web u-web
	expect_result source=agent-pod mode=rps scope=container 'warnings | length=0'
}

@test "bounds: NUL and lone-surrogate escapes, RTL marks, combining marks, JSON escapes: written so the plugin reads what the server holds, and rejects it" {
	api_start
	ctl_gen '[{"op": "ns", "name": "team-a", "annotations": {"flowsteer.io/mode": "rfs\u200f"}},
	          {"op": "pod", "ns": "team-a", "name": "web", "node": "node-1", "uid": "u-web", "annotations": {"flowsteer.io/mode": "rps\x00", "flowsteer.io/mode\x00x": "off", "flowsteer.io/scope": "container\u0301", "flowsteer.io/cpus": "\ud800"}},
	          {"op": "pod", "ns": "team-a", "name": "db", "node": "node-1", "uid": "u-db", "annotations": {"flowsteer.io/cpus": "0\n", "flowsteer.io/scope": "ho\\st\"", "flowsteer.io/mode": "\ud83d\ude00"}}]'
	agent_start
	wait_until 5 file_has '.pods["team-a/web"]'
	[ "$(pod_ann team-a/web)" = "$(jq -cnS '{"flowsteer.io/cpus":"\ufffd","flowsteer.io/mode":"rps\ufffd","flowsteer.io/scope":"container\u0301"}')" ]
	[ "$(pod_ann team-a/db)" = "$(jq -cnS '{"flowsteer.io/cpus":"0\n","flowsteer.io/mode":"\ud83d\ude00","flowsteer.io/scope":"ho\\st\""}')" ]
	[ "$(jq -c '.namespaces["team-a"]' "$AF")" = "$(jq -cn '{"flowsteer.io/mode":"rfs\u200f"}')" ]
	! grep -q 'u0000' "$AF"
	[ "$(bound unicode)" -ge 1 ]
	p2_add web u-web
	expect_result source=config mode=rfs scope=both
	expect_warning flowsteer.io/mode agent-pod 'is invalid'
	expect_warning flowsteer.io/mode namespace 'is invalid'
	expect_warning flowsteer.io/scope agent-pod 'is invalid'
	expect_warning flowsteer.io/cpus agent-pod
}

@test "bounds: invalid UTF-8 on the wire becomes U+FFFD; valid UTF-8 passes as it is" {
	api_start
	ctl_gen '[{"op": "wire", "mode": "raw"},
	          {"op": "pod", "ns": "team-a", "name": "web", "node": "node-1", "uid": "u-web", "annotations": {"flowsteer.io/mode": "rps\udcff", "flowsteer.io/scope": "h\u00f4st", "flowsteer.io/cpus": "0\ud800"}}]'
	agent_start
	wait_until 5 file_has '.pods["team-a/web"]'
	[ "$(pod_ann team-a/web)" = "$(jq -cnS '{"flowsteer.io/cpus":"0\ufffd\ufffd\ufffd","flowsteer.io/mode":"rps\ufffd","flowsteer.io/scope":"h\u00f4st"}')" ]
	! LC_ALL=C grep -aq $'\xff\|\xed\xa0\x80' "$AF"
	iconv -f UTF-8 -t UTF-8 "$AF" >/dev/null
	[ "$(bound unicode)" -ge 1 ]
}

@test "bounds: a namespace deleted with its pods: its entry and its pods' leave the file, the others stay" {
	api_start
	ctl '{"op":"ns","name":"team-a","annotations":{"flowsteer.io/mode":"rps"}}' \
		'{"op":"ns","name":"team-b","annotations":{"flowsteer.io/mode":"off"}}' \
		'{"op":"pod","ns":"team-a","name":"web","node":"node-1","uid":"u-web","annotations":{"flowsteer.io/cpus":"0"}}' \
		'{"op":"pod","ns":"team-a","name":"db","node":"node-1","uid":"u-db","annotations":{"flowsteer.io/scope":"host"}}' \
		'{"op":"pod","ns":"team-b","name":"api","node":"node-1","uid":"u-api","annotations":{"flowsteer.io/cpus":"0"}}'
	agent_start
	wait_until 5 file_has '.pods["team-a/db"] and .pods["team-b/api"] and .namespaces["team-a"]'
	ctl '{"op":"delns","name":"team-a"}'
	wait_until 5 file_has '.namespaces["team-a"] == null'
	[ "$(jq -c '[(.namespaces | keys), (.pods | keys)]' "$AF")" = '[["team-b"],["team-b/api"]]' ]
	file_matches
	p2_add web u-web
	expect_result source=config
}

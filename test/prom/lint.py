#!/usr/bin/env python3
"""Static checks and expression lists for test/prom/run.sh (python3-yaml).

  lint.py rules RULES ALERTS_MD TEST...   every alert: for, severity, a
        runbook_url to its section of ALERTS_MD; every alert unit-tested by
        TEST files both firing and silent
  lint.py dashboard JSON                  Grafana dashboard checks
  lint.py test-rules RULES WINDOW FOR     the rules with every range set to
        WINDOW and every for to FOR, group "flowsteer-test", label
        window="test" (YAML on stdout)
  lint.py rule-exprs RULES [WINDOW]       "ALERT<TAB>EXPR" per rule, one line
  lint.py dashboard-exprs JSON HOST WINDOW  "TITLE<TAB>EXPR" per target,
        Grafana's variables replaced: $host, $__rate_interval
  lint.py dashboard-vars JSON             "NAME<TAB>METRIC<TAB>LABEL" per
        label_values() variable
Exit 1 with a message naming what is wrong.
"""
import json
import re
import sys

import yaml

SEVERITIES = {"critical", "warning", "info"}
RANGE = re.compile(r"\[(\d+[smhdwy])\]")


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def load_rules(path):
    doc = yaml.safe_load(open(path))
    return [r for g in doc["groups"] for r in g["rules"]]


def anchor(heading):
    """GitHub's anchor of a Markdown heading."""
    a = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return a.replace(" ", "-")


def lint_rules(path, doc, tests):
    text = open(doc).read()
    anchors = {anchor(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
    fired, silent = set(), set()
    for t in tests:
        for case in yaml.safe_load(open(t)).get("tests", []):
            for a in case.get("alert_rule_test", []):
                (fired if a.get("exp_alerts") else silent).add(a["alertname"])
    bad = []
    for r in load_rules(path):
        name = r.get("alert") or r.get("record")
        if "alert" not in r:
            continue
        if "for" not in r:
            bad.append(f"{name}: no for")
        if r.get("labels", {}).get("severity") not in SEVERITIES:
            bad.append(f"{name}: severity {r.get('labels', {}).get('severity')!r} not in {sorted(SEVERITIES)}")
        url = r.get("annotations", {}).get("runbook_url", "")
        want = "docs/alerts.md#" + name.lower()
        if url != want:
            bad.append(f"{name}: runbook_url {url!r}, want {want!r}")
        elif name.lower() not in anchors:
            bad.append(f"{name}: no section \"{name}\" in {doc}")
        for what, seen in (("firing", fired), ("silent", silent)):
            if name not in seen:
                bad.append(f"{name}: no promtool test where it is expected {what}")
    if bad:
        die("\n".join(bad))


def panels(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])


def lint_dashboard(path):
    dash = json.load(open(path))
    bad = []
    if not isinstance(dash.get("schemaVersion"), int):
        bad.append("no integer schemaVersion")
    for k in ("title", "uid"):
        if not dash.get(k):
            bad.append(f"no {k}")
    tvars = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds = tvars.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        bad.append("no templating variable \"datasource\" of type datasource, query prometheus")
    ids = set()
    for p in panels(dash):
        title = p.get("title", "?")
        if p.get("id") in ids:
            bad.append(f"panel {title}: id {p.get('id')} used twice")
        ids.add(p.get("id"))
        if not all(k in p.get("gridPos", {}) for k in ("h", "w", "x", "y")):
            bad.append(f"panel {title}: no gridPos h/w/x/y")
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            bad.append(f"panel {title}: datasource is not ${{datasource}}")
        targets = p.get("targets", [])
        if not targets or not all(t.get("expr") and t.get("refId") for t in targets):
            bad.append(f"panel {title}: no targets, or a target without expr/refId")
        for t in targets:
            for var in re.findall(r"\$\{?(\w+)", t.get("expr", "")):
                if not var.startswith("__") and var not in tvars:
                    bad.append(f"panel {title}: ${var} is not a templating variable")
    if bad:
        die("\n".join(bad))


def test_rules(path, window, for_):
    doc = yaml.safe_load(open(path))
    rules = []
    for r in (r for g in doc["groups"] for r in g["rules"]):
        r = dict(r, expr=RANGE.sub(f"[{window}]", r["expr"]))
        if "alert" in r:
            r["for"] = for_
            r["labels"] = dict(r.get("labels", {}), window="test")
        rules.append(r)
    yaml.safe_dump({"groups": [{"name": "flowsteer-test", "rules": rules}]}, sys.stdout, sort_keys=False)


def one_line(expr):
    return " ".join(expr.split())


def rule_exprs(path, window=None):
    for r in load_rules(path):
        e = RANGE.sub(f"[{window}]", r["expr"]) if window else r["expr"]
        print(f"{r.get('alert') or r.get('record')}\t{one_line(e)}")


def dashboard_exprs(path, host, window):
    for p in panels(json.load(open(path))):
        for t in p.get("targets", []):
            e = t["expr"].replace("$__rate_interval", window).replace("${host}", host).replace("$host", host)
            print(f"{p['title']} ({t['refId']})\t{one_line(e)}")


def dashboard_vars(path):
    for v in json.load(open(path)).get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"label_values\((\w+)(?:\{[^}]*\})?,\s*(\w+)\)", q or "")
        if v.get("type") == "query":
            if not m:
                die(f"variable {v['name']}: query {q!r} is not label_values(METRIC, LABEL)")
            print(f"{v['name']}\t{m.group(1)}\t{m.group(2)}\t{v.get('regex', '')}")


def main(argv):
    cmds = {
        "rules": lambda a: lint_rules(a[0], a[1], a[2:]),
        "dashboard": lambda a: lint_dashboard(a[0]),
        "test-rules": lambda a: test_rules(a[0], a[1], a[2]),
        "rule-exprs": lambda a: rule_exprs(*a[:2]),
        "dashboard-exprs": lambda a: dashboard_exprs(a[0], a[1], a[2]),
        "dashboard-vars": lambda a: dashboard_vars(a[0]),
    }
    if len(argv) < 2 or argv[0] not in cmds:
        die(__doc__)
    cmds[argv[0]](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])

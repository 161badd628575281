#!/usr/bin/env python3
"""Checks docs/monitoring against the code and the runbooks, without promtool.

usage: check_alerts.py SOURCE_DIR

- every certa_* metric name used in docs/monitoring/alerts.yml,
  alerts_test.yml and dashboard.json is one node/*.c registers (a histogram's
  _bucket, _sum and _count series count as its name), so that a renamed
  metric fails CI instead of silencing an alert;
- every alert has a `runbook` annotation "docs/OPERATIONS.md#ANCHOR" whose
  anchor is a heading of docs/OPERATIONS.md (GitHub's anchor rules);
- every alert has a unit test in alerts_test.yml that expects it to fire,
  and a case where it must not (an evaluation expecting no alert, or an
  input instance left out of the expected alerts);
- dashboard.json is valid JSON.

Prints one line per problem, naming the file (and the alert or panel), and
exits 1 when there is any; 0 and "ok" lines otherwise.
"""
import json
import os
import re
import sys

import yaml

NAME = re.compile(r"\bcerta_[a-z0-9_]+")


def registered(src):
    """Metric names registered by the validator: the string literals of node/
    that start with certa_ (metrics.c registers through macros, so reading
    literals is sturdier than matching the registering calls)."""
    names, histograms = set(), set()
    node = os.path.join(src, "node")
    for f in sorted(os.listdir(node)):
        if not f.endswith(".c"):
            continue
        text = open(os.path.join(node, f), encoding="utf-8").read()
        names.update(re.findall(r'"(certa_[a-z0-9_]+)"', text))
        histograms.update(re.findall(
            r'certa_metrics_histogram\s*\([^;"]*"(certa_[a-z0-9_]+)"', text))
    return names, histograms


def anchors(md_path):
    """GitHub heading anchors: lower case, punctuation other than - and _
    dropped, spaces to -."""
    out = set()
    for line in open(md_path, encoding="utf-8"):
        m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m:
            a = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            out.add(a)
    return out


def main():
    src = sys.argv[1]
    mon = os.path.join(src, "docs", "monitoring")
    problems = []
    names, histograms = registered(src)
    if not names:
        problems.append("node/*.c: no certa_* metric names found")

    def known(n):
        if n in names:
            return True
        for suf in ("_bucket", "_sum", "_count"):
            if n.endswith(suf) and n[: -len(suf)] in histograms:
                return True
        return False

    for f in ("alerts.yml", "alerts_test.yml", "dashboard.json"):
        path = os.path.join(mon, f)
        for i, line in enumerate(open(path, encoding="utf-8"), 1):
            for n in NAME.findall(line):
                if not known(n):
                    problems.append(
                        f"docs/monitoring/{f}:{i}: metric {n} is not registered in node/*.c")

    try:
        json.load(open(os.path.join(mon, "dashboard.json"), encoding="utf-8"))
    except ValueError as e:
        problems.append(f"docs/monitoring/dashboard.json: invalid JSON: {e}")

    rules = yaml.safe_load(open(os.path.join(mon, "alerts.yml"), encoding="utf-8"))
    ops = anchors(os.path.join(src, "docs", "OPERATIONS.md"))
    alerts = []
    for g in rules.get("groups", []):
        for r in g.get("rules", []):
            if "alert" not in r:
                continue
            a = r["alert"]
            alerts.append(a)
            rb = (r.get("annotations") or {}).get("runbook", "")
            m = re.fullmatch(r"docs/OPERATIONS\.md#([\w-]+)", rb)
            if not m:
                problems.append(f"docs/monitoring/alerts.yml: {a}: annotations.runbook "
                                f"'{rb}' is not docs/OPERATIONS.md#SECTION")
            elif m.group(1) not in ops:
                problems.append(f"docs/monitoring/alerts.yml: {a}: annotations.runbook names "
                                f"section #{m.group(1)}, which docs/OPERATIONS.md lacks")
    if not alerts:
        problems.append("docs/monitoring/alerts.yml: no alerts")

    tests = yaml.safe_load(open(os.path.join(mon, "alerts_test.yml"), encoding="utf-8"))
    fires, quiet = set(), set()
    inst = re.compile(r'instance="([^"]*)"')
    for t in tests.get("tests", []):
        instances = set()
        for s in t.get("input_series", []):
            instances.update(inst.findall(s["series"]))
        for c in t.get("alert_rule_test", []):
            exp = c.get("exp_alerts") or []
            if not exp:
                quiet.add(c["alertname"])
                continue
            fires.add(c["alertname"])
            if instances - {e["exp_labels"].get("instance") for e in exp}:
                quiet.add(c["alertname"])
    for a in alerts:
        if a not in fires:
            problems.append(f"docs/monitoring/alerts_test.yml: {a}: no case where it fires")
        if a not in quiet:
            problems.append(f"docs/monitoring/alerts_test.yml: {a}: no case where it must not fire")

    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"ok: {len(alerts)} alerts: metric names registered, runbooks exist, "
          f"each tested firing and not firing; dashboard.json is JSON")
    return 0


if __name__ == "__main__":
    sys.exit(main())

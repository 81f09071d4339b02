#!/usr/bin/env python3
"""Checks that every query of the Grafana dashboard and every alert rule uses
only metrics that ispflowd exports.

  check_metric_names.py SCRAPE [--rules alerts.yml] [--dashboard grafana-dashboard.json]
                        [--promtool promtool]

SCRAPE is the text of a real GET /metrics. A metric counts as exported when
the scrape names it in a `# TYPE` line (ispflowd lists every family it
defines, samples or not); a histogram `h` exports h_bucket, h_sum and
h_count. Every expression must name at least one ispflow_ metric, and every
ispflow_ name it uses must be exported. With --promtool, the dashboard's
expressions are also parsed by promtool (as recording rules), so a typo in
PromQL fails too. Exit status 1 lists every problem.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = re.compile(r"(?<![A-Za-z0-9_:])(ispflow_[A-Za-z0-9_:]*)")
# Label values and label matchers' strings may contain anything: drop them.
STRING = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")


def exported(scrape_text):
    names = set()
    for line in scrape_text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "#" and parts[1] == "TYPE":
            name, kind = parts[2], parts[3]
            names.add(name)
            if kind == "histogram":
                names.update({name + "_bucket", name + "_sum", name + "_count"})
            if kind == "summary":
                names.update({name + "_sum", name + "_count"})
    return names


def dashboard_exprs(path):
    with open(path) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if "expr" in t:
                    out.append((f"dashboard panel '{p.get('title', '?')}'", t["expr"]))
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    return out


def rule_exprs(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    out = []
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            what = rule.get("alert") or rule.get("record") or "?"
            out.append((f"rule {what}", rule["expr"]))
    return out


def promql_parses(promtool, exprs):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": e} for i, (_, e) in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(rules, f)
        tmp = f.name
    try:
        res = subprocess.run([promtool, "check", "rules", tmp], capture_output=True, text=True)
        return res.returncode == 0, res.stdout + res.stderr
    finally:
        os.unlink(tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scrape")
    ap.add_argument("--rules", default=os.path.join(HERE, "alerts.yml"))
    ap.add_argument("--dashboard", default=os.path.join(HERE, "grafana-dashboard.json"))
    ap.add_argument("--promtool")
    args = ap.parse_args()
    with open(args.scrape) as f:
        have = exported(f.read())
    if not have:
        print(f"{args.scrape}: no '# TYPE' line: not a scrape of /metrics", file=sys.stderr)
        return 1
    exprs = dashboard_exprs(args.dashboard) + rule_exprs(args.rules)
    problems = []
    used = set()
    for where, expr in exprs:
        names = set(NAME.findall(STRING.sub('""', expr)))
        if not names:
            problems.append(f"{where}: uses no ispflow_ metric: {expr}")
        for n in sorted(names - have):
            problems.append(f"{where}: {n} is not exported by ispflowd")
        used |= names
    if args.promtool:
        ok, out = promql_parses(args.promtool, dashboard_exprs(args.dashboard))
        if not ok:
            problems.append("dashboard: promtool does not parse every expression:\n" + out)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{len(exprs)} expressions, {len(used)} metrics used, "
          f"{len(have)} exported, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Summarises a simulator's GET /_sim/calls answer (read from stdin) as
requests per activation by method and path, every segment with a digit as :id.
    sim_calls.py NAME ACTIVATIONS"""
import json
import re
import sys

name, activations = sys.argv[1], max(int(sys.argv[2]), 1)
answer = json.load(sys.stdin)
calls = answer.get("calls", [])
matched = answer.get("matched", len(calls))
# The log answers with at most 10,000 calls: the rest are counted in
# the same proportions as those it returned.
scale = matched / len(calls) if calls else 0
counts = {}
for c in calls:
    path = c["path"].split("?", 1)[0]
    # A segment with a digit in it names one object (a number, a serial,
    # a UUID); the rest name the kind.
    path = "/".join(":id" if re.search(r"[0-9]", seg) else seg
                    for seg in path.split("/"))
    key = f'{c["method"]} {path}'
    counts[key] = counts.get(key, 0) + 1
print(f"   {name}: {matched / activations:.2f} per activation"
      + (f" (the kinds from the first {len(calls)} of {matched})" if scale > 1 else ""))
for key, n in sorted(counts.items(), key=lambda kv: -kv[1]):
    print(f"     {n * scale / activations:6.2f}  {key}")

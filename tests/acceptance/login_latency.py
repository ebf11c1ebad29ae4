#!/usr/bin/python3
"""The login latency benchmark's smoke run (bench/login_latency.py --smoke, issue 15) against
real parleyd --demo, as root privilege-separated and as an ordinary user (nobody): it finds a
maximum login rate, then offers logins at 50 % and 90 % of it with parley-load's open loop
(--rate): every login succeeds, the 50 % load is carried at the rate offered (the pacing
works), and each latency figure is there and ordered (p50 <= p99 <= max). The figures
themselves are the benchmark's (BENCHMARKS.md), not this test's: this build may be sanitized.
Usage: login_latency.py PARLEYD PARLEY_LOAD"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import check, finish  # noqa: E402

PARLEYD, LOAD = sys.argv[1], sys.argv[2]
BENCH = os.path.join(HERE, "..", "..", "bench", "login_latency.py")

run = subprocess.run(["/usr/bin/python3", BENCH, PARLEYD, LOAD, "--smoke", "--json",
                      "--deployments", "separated,user"], capture_output=True, text=True, timeout=240)
check(run.returncode == 0, f"the benchmark ran, every login succeeding: {run.stderr.strip()[-300:]}")
if run.returncode == 0:
    medians = json.loads(run.stdout.strip().splitlines()[-1])["medians"]
    for name in ("separated", "ordinary user"):
        m = medians.get(name)
        check(m is not None and m["max_rate"] > 10, f"{name}: a maximum rate: {m and m['max_rate']:.0f} logins/s")
        if not m:
            continue
        for fraction in ("0.5", "0.9"):
            x = m["at"].get(fraction)
            check(x is not None, f"{name}: figures at {fraction} of it")
            if not x:
                continue
            check(0 < x["p50_ms"] <= x["p99_ms"] <= x["max_ms"],
                  f"{name} at {fraction}: p50 {x['p50_ms']:.2f} <= p99 {x['p99_ms']:.2f} <= max {x['max_ms']:.2f} ms")
        half = m["at"].get("0.5")
        if half:
            check(abs(half["achieved"] - half["offered"]) <= 0.2 * half["offered"],
                  f"{name}: offered {half['offered']:.0f}/s, carried {half['achieved']:.0f}/s (within 20 %)")
sys.exit(finish("login_latency"))

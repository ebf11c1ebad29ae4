#!/usr/bin/python3
"""Login latency under a steady offered load (issue 15): the maximum login rate parleyd --demo
sustains, and the latency of logins (p50, p99, max) offered at 50 % and 90 % of it, as
deployed: as root privilege-separated, as root in one process, as an ordinary user (nobody).

parleyd is pinned to one CPU and the load tool (parley-load, bench/load) to the other. A login
is parley-load's: connect, curve25519-sha256 with ssh-ed25519, keyboard-interactive Higher or
Lower answered, disconnect; its latency runs from the connect to the authentication's success.
  - maximum rate: --max-count logins with --max-concurrency in flight (a closed loop that keeps
    the server busy): logins per second;
  - at each fraction F of it: logins started at F x that rate for --seconds (parley-load --rate,
    an open loop: a login starts on time whether or not the earlier ones are done), at most
    --concurrency in flight; p50/p99/max latency of those logins, the rate achieved, failures.
Every login must succeed. Prints each round, then the medians over the rounds; --json prints
one JSON object instead.
Usage: login_latency.py PARLEYD PARLEY_LOAD [--rounds R] [--seconds S] [--fractions 0.5,0.9]
                        [--deployments separated,one,user] [--smoke] [--json]"""
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib_mem as bench  # noqa: E402

def rate_run(a, tool_cpu, port, fp, extra):
    r = bench.result(bench.load(a.load, tool_cpu, "rate", port, fp, extra), "parley-load rate")
    if r.get("failed", 1) != 0:
        raise SystemExit(f"logins failed: {r}")
    return r


def measure(a, deployment, key, cpu_pair):
    """One round for one deployment: {"max_rate", "at": {fraction: {...}}}."""
    _, root, separated = deployment
    server_cpu, tool_cpu = cpu_pair
    proc, port, fp, _ = bench.start(a.parleyd, key, server_cpu, root=root, separated=separated)
    try:
        rate_run(a, tool_cpu, port, fp, ["--count", "200", "--concurrency", "20"])  # warm-up
        top = rate_run(a, tool_cpu, port, fp, ["--count", str(a.max_count), "--concurrency", str(a.max_concurrency)])
        out = {"max_rate": top["per_second"], "at": {}}
        for fraction in a.fractions:
            offered = fraction * top["per_second"]
            count = max(1, int(offered * a.seconds * 1.5))  # --duration ends it; the count only bounds it
            r = rate_run(a, tool_cpu, port, fp, ["--rate", f"{offered:.1f}", "--duration", str(a.seconds),
                                                 "--count", str(count), "--concurrency", str(a.concurrency)])
            lat = r["latency_ms"]
            out["at"][fraction] = {"offered": offered, "achieved": r["per_second"], "logins": r["succeeded"],
                                   "p50_ms": lat["p50"], "p99_ms": lat["p99"], "max_ms": lat["max"]}
        return out
    finally:
        bench.stop(proc)


def main():
    p = bench.deployment_arguments()
    p.add_argument("--seconds", type=float, default=10, help="how long each fraction's load is offered")
    p.add_argument("--fractions", default="0.5,0.9")
    p.add_argument("--max-count", type=int, default=6000)
    p.add_argument("--max-concurrency", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=1000, help="logins in flight at most, at a fraction")
    p.add_argument("--smoke", action="store_true", help="one short round (a test's run, not a measurement)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the separated deployment needs it, and nobody's is started with setpriv")
    a.fractions = [float(f) for f in a.fractions.split(",")]
    if a.smoke:
        a.rounds, a.seconds, a.max_count = 1, 2, 600
    cpu_pair = bench.cpus()
    chosen = bench.chosen_deployments(a)
    rounds = {}
    with tempfile.TemporaryDirectory(prefix="parley-latency-bench-") as tmp:
        key = bench.host_key(tmp)
        for r in range(a.rounds):
            for d in chosen:
                m = measure(a, d, key, cpu_pair)
                rounds.setdefault(d[0], []).append(m)
                if not a.json:
                    at = "; ".join(f"at {f:.0%} ({x['offered']:.0f}/s offered, {x['achieved']:.0f}/s done): "
                                   f"p50 {x['p50_ms']:.2f} ms, p99 {x['p99_ms']:.2f} ms, max {x['max_ms']:.2f} ms"
                                   for f, x in m["at"].items())
                    print(f"round {r + 1} {d[0]:13}: max {m['max_rate']:.0f} logins/s; {at}", flush=True)
    medians = {}
    for name, runs in rounds.items():
        medians[name] = {"max_rate": statistics.median(x["max_rate"] for x in runs), "at": {}}
        for f in a.fractions:
            medians[name]["at"][f] = {k: statistics.median(x["at"][f][k] for x in runs)
                                      for k in ("offered", "achieved", "p50_ms", "p99_ms", "max_ms")}
    if a.json:
        print(json.dumps({"rounds": rounds, "medians": medians}))
        return 0
    for name, m in medians.items():
        at = "; ".join(f"at {f:.0%}: p50 {x['p50_ms']:.2f} ms, p99 {x['p99_ms']:.2f} ms (max {x['max_ms']:.2f})"
                       for f, x in m["at"].items())
        print(f"median {name:13}: max {m['max_rate']:.0f} logins/s; {at}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""What privilege separation costs parleyd (issue 14), measured side by side in one run.

Starts parleyd as root with the same settings (the Higher or Lower demo: its question is
cheap, so the login's own work shows) twice per round: as one process
(--no-privilege-separation) and privilege-separated (the default as root). parleyd is
pinned to one CPU and the load tool (parley-load, bench/load) to another, as issue 15
measures. For each server:
  - CPU per login under load: `parley-load rate` with --concurrency C for N logins (connect,
    curve25519-sha256 with ssh-ed25519, keyboard-interactive Higher or Lower, disconnect);
    the CPU time of every thread of the server (monitor and network process) from
    /proc/PID/task/TID/schedstat, in nanoseconds,
    divided by N;
  - CPU per login one at a time: the same with --concurrency 1 (every message wakes an idle
    server, so each hand-over between the two processes is paid in full);
  - memory per idle authenticated connection: `parley-load hold` of K connections, the
    server's RSS (all its processes) while they are held less its RSS before, divided by K.
Alternates the two servers over R rounds and reports the median of each.
Usage: privsep_cost.py PARLEYD PARLEY_LOAD [--logins N] [--concurrency C] [--idle K] [--rounds R]"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, cpus, load, rss_bytes  # noqa: E402  (shared)
import benchlib  # noqa: E402


def start(parleyd, separated, key, server_cpu):
    args = [parleyd, "--demo", "--port", "0", "--host-key", key, "--per-source-penalties", "no",
            "--max-startups", "100000", "--log-level", "warn"]
    if not separated:
        args.append("--no-privilege-separation")
    if server_cpu is not None:
        args = ["taskset", "-c", str(server_cpu)] + args
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    port, fingerprint = benchlib.parleyd_ready(proc, separated)
    return proc, port, fingerprint


def result(run, what):
    return benchlib.result(run, f"parley-load {what}")


def cpu_per_login(proc, tool, tool_cpu, port, fp, logins, concurrency):
    before = cpu_seconds(proc)
    r = result(load(tool, tool_cpu, "rate", port, fp, ["--count", str(logins), "--concurrency", str(concurrency)]),
               "rate")
    if r["succeeded"] != logins:
        raise SystemExit(f"only {r['succeeded']} of {logins} logins succeeded")
    return (cpu_seconds(proc) - before) / logins


def measure(a, separated, key, cpu_pair):
    server_cpu, tool_cpu = cpu_pair
    proc, port, fp = start(a.parleyd, separated, key, server_cpu)
    try:
        # Warm: first-use costs are not a login's.
        result(load(a.load, tool_cpu, "rate", port, fp, ["--count", "200", "--concurrency", "20"]), "warm-up")
        loaded = cpu_per_login(proc, a.load, tool_cpu, port, fp, a.logins, a.concurrency)
        single = cpu_per_login(proc, a.load, tool_cpu, port, fp, max(500, a.logins // 4), 1)
        time.sleep(0.5)
        rss0 = rss_bytes(proc)
        hold = load(a.load, tool_cpu, "hold", port, fp,
                    ["--count", str(a.idle), "--concurrency", "100", "--hold-seconds", "6"])
        # Held once the server's RSS stops growing (every connection logged in), well before the end.
        time.sleep(2.0)
        last = rss_bytes(proc)
        for _ in range(20):
            time.sleep(0.25)
            now = rss_bytes(proc)
            if now == last:
                break
            last = now
        per_conn = (last - rss0) / a.idle
        r = result(hold, "hold")
        if r.get("held") != a.idle or r.get("answered") != a.idle:
            raise SystemExit(f"hold: {r.get('held')} held, {r.get('answered')} answered of {a.idle}")
        return loaded, single, per_conn
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("parleyd")
    p.add_argument("load", help="parley-load (bench/load)")
    p.add_argument("--logins", type=int, default=4000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: privilege separation needs it")
    cpu_pair = cpus()
    if cpu_pair[0] is None:
        print("one CPU: server and load tool share it, unpinned", flush=True)
    with tempfile.TemporaryDirectory(prefix="parley-privsep-bench-") as tmp:
        key = os.path.join(tmp, "hostkey")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        results = {False: [], True: []}
        for r in range(a.rounds):
            for separated in (False, True):
                results[separated].append(measure(a, separated, key, cpu_pair))
                loaded, single, mem = results[separated][-1]
                print(f"round {r + 1} {'separated' if separated else 'one process'}: "
                      f"{loaded * 1e6:.0f} us CPU per login at concurrency {a.concurrency}, "
                      f"{single * 1e6:.0f} us one at a time, {mem / 1024:.1f} KiB per idle connection", flush=True)
    one = [statistics.median(x) for x in zip(*results[False])]
    sep = [statistics.median(x) for x in zip(*results[True])]
    for name, m in (("one process", one), ("separated", sep)):
        print(f"median {name + ':':13} {m[0] * 1e6:.0f} us/login (concurrency {a.concurrency}), "
              f"{m[1] * 1e6:.0f} us/login (one at a time), {m[2] / 1024:.1f} KiB/idle connection")
    print(f"separation costs {100 * (sep[0] / one[0] - 1):+.1f}% CPU per login under load, "
          f"{100 * (sep[1] / one[1] - 1):+.1f}% one at a time, "
          f"{(sep[2] - one[2]) / 1024:+.1f} KiB per idle connection")


if __name__ == "__main__":
    sys.exit(main())

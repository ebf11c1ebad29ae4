#!/usr/bin/python3
"""What an idle authenticated connection costs parleyd (issue 15), as deployed: as root
privilege-separated (RSS of both processes: monitor and network process), as root in one
process, and as an ordinary user (nobody; one process). parleyd --demo is pinned to one CPU
and the load tool (parley-load, bench/load) to the other. For each deployment and each N:
  - memory: `parley-load hold` of N authenticated idle connections (curve25519-sha256,
    ssh-ed25519, chacha20-poly1305, keyboard-interactive Higher or Lower), the server's RSS
    while they are held less its RSS before (after a warm-up of 200 logins), over N; every
    connection must answer a channel request at the end (`--check channel`), then all close;
  - keep-alive CPU (with --keepalive S): the server's CPU (utime+stime, every process) over
    --keepalive-seconds while the N connections each send a keepalive@openssh.com global
    request every S seconds (as ssh -o ServerAliveInterval=S), over the requests answered.
Prints the median over the rounds and what 100 000 connections need at those figures (keep-alive
CPU at one request per --assume-interval seconds per connection, 15 by default).
Usage: idle_memory.py PARLEYD PARLEY_LOAD [--counts 1000,18000] [--rounds R]
                      [--keepalive S] [--keepalive-seconds T] [--deployments separated,one,user]"""
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib_mem as bench  # noqa: E402

def keepalive_cpu(seconds):
    """A while_held probe: the server's CPU seconds over `seconds` of held connections."""
    def probe(proc):
        before = bench.cpu_seconds(proc)
        time.sleep(seconds)
        return bench.cpu_seconds(proc) - before
    return probe


def measure(a, deployment, key, count, cpu_pair):
    name, root, separated = deployment
    server_cpu, tool_cpu = cpu_pair
    proc, port, fp, _ = bench.start(a.parleyd, key, server_cpu, root=root, separated=separated)
    try:
        bench.result(bench.load(a.load, tool_cpu, "rate", port, fp, ["--count", "200", "--concurrency", "20"]),
                     "warm-up")
        extra = ["--keepalive", str(a.keepalive)] if a.keepalive else []
        probe = keepalive_cpu(a.keepalive_seconds) if a.keepalive else None
        per_conn, cpu, r = bench.hold(proc, a.load, tool_cpu, port, fp, count, concurrency=a.concurrency,
                                      while_held=probe, extra=extra)
        per_keepalive = None
        if a.keepalive:
            # Requests answered during the probe's window: N / S per second of it.
            per_keepalive = cpu / (count * a.keepalive_seconds / a.keepalive)
            if r.get("keepalives_answered", 0) < r.get("keepalives_sent", 1) - count:
                raise SystemExit(f"keepalives unanswered: {r}")
        return per_conn, per_keepalive
    finally:
        bench.stop(proc)


def main():
    p = bench.deployment_arguments()
    p.add_argument("--counts", default="1000,18000")
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--keepalive", type=float, default=None, help="seconds between a connection's keepalives")
    p.add_argument("--keepalive-seconds", type=float, default=60)
    p.add_argument("--assume-interval", type=float, default=15,
                   help="keep-alive interval (s) for the 100 000-connection projection")
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the separated deployment needs it, and nobody's is started with setpriv")
    cpu_pair = bench.cpus()
    counts = [int(n) for n in a.counts.split(",")]
    chosen = bench.chosen_deployments(a)
    results = {}
    with tempfile.TemporaryDirectory(prefix="parley-idle-bench-") as tmp:
        key = bench.host_key(tmp)
        for r in range(a.rounds):
            for count in counts:
                for d in chosen:
                    per_conn, per_ka = measure(a, d, key, count, cpu_pair)
                    results.setdefault((d[0], count), []).append((per_conn, per_ka))
                    ka = f", {per_ka * 1e6:.1f} us CPU per keepalive" if per_ka is not None else ""
                    print(f"round {r + 1} {d[0]:13} N={count:5}: {per_conn / 1024:.2f} KiB per idle connection{ka}",
                          flush=True)
    for (name, count), runs in sorted(results.items(), key=lambda x: (x[0][1], x[0][0])):
        mem = statistics.median(x[0] for x in runs)
        line = f"median {name:13} N={count:5}: {mem / 1024:.2f} KiB per idle connection"
        line += f"; 100 000 connections: {mem * 100_000 / 2**20:.0f} MiB"
        if a.keepalive:
            ka = statistics.median(x[1] for x in runs)
            line += (f"; {ka * 1e6:.1f} us CPU per keepalive; 100 000 connections, each sending one every "
                     f"{a.assume_interval:g} s: {ka * 100_000 / a.assume_interval:.3f} of a core")
        print(line)


if __name__ == "__main__":
    sys.exit(main())

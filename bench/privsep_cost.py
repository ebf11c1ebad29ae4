#!/usr/bin/python3
"""What privilege separation costs parleyd (issue 14), measured side by side in one run.

Starts parleyd as root twice with the same settings (the Higher or Lower demo: the
question is cheap, so the login's own work shows), once as one process and once with
--privilege-separation, and for each:
  - CPU per login: N full logins (connect, key exchange, keyboard-interactive answered
    by paramiko, disconnect), the server's utime+stime from /proc (every process of it:
    monitor and network process) divided by N;
  - memory per idle authenticated connection: K connections logged in and left idle,
    the server's RSS (all its processes) before and after, divided by K.
Alternates the two servers over several rounds and reports the median of each.
Usage: privsep_cost.py PARLEYD [--logins N] [--idle K] [--rounds R]"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time

import paramiko

QUESTION = re.compile(r"What is the highest number: (\d+) or (\d+)\?")
TICK = os.sysconf("SC_CLK_TCK")


def start(parleyd, separated, tmp):
    key = os.path.join(tmp, "hostkey")
    if not os.path.exists(key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    args = [parleyd, "--demo", "--port", "0", "--host-key", key, "--per-source-penalties", "no",
            "--max-startups", "100000", "--log-level", "warn", "--threads", "1"]
    # As root separation is the default; the one-process run opts out.
    args.append("--privilege-separation" if separated else "--no-privilege-separation")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    m = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())
    if not m:
        raise SystemExit("parleyd did not start")
    time.sleep(0.3)
    return proc, int(m.group(1))


def pids(proc):
    """The server's processes: parleyd and, when separated, its child."""
    out = [proc.pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == proc.pid:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def cpu_seconds(proc):
    total = 0
    for pid in pids(proc):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def rss_bytes(proc):
    total = 0
    for pid in pids(proc):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def answer(title, instructions, prompts):
    out = []
    for text, _echo in prompts:
        m = QUESTION.search(text)
        out.append(str(max(int(m.group(1)), int(m.group(2)))) if m else "")
    return out


def login(port):
    sock = socket.create_connection(("127.0.0.1", port))
    t = paramiko.Transport(sock)
    t.get_security_options().kex = ["curve25519-sha256@libssh.org"]  # X25519, as the issue measures
    t.start_client(timeout=20)
    t.auth_interactive("admin", answer)
    if not t.is_authenticated():
        raise SystemExit("login failed")
    return t


def measure(parleyd, separated, tmp, logins, idle):
    proc, port = start(parleyd, separated, tmp)
    try:
        login(port).close()  # warm: first-use costs are not a login's
        before = cpu_seconds(proc)
        for _ in range(logins):
            login(port).close()
        cpu = (cpu_seconds(proc) - before) / logins
        time.sleep(0.5)
        rss0 = rss_bytes(proc)
        held = [login(port) for _ in range(idle)]
        time.sleep(1.0)
        per_conn = (rss_bytes(proc) - rss0) / idle
        for t in held:
            t.close()
        return cpu, per_conn
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("parleyd")
    p.add_argument("--logins", type=int, default=300)
    p.add_argument("--idle", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: privilege separation needs it")
    tmp = f"/tmp/parley-privsep-bench-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    results = {False: [], True: []}
    for r in range(a.rounds):
        for separated in (False, True):
            results[separated].append(measure(a.parleyd, separated, tmp, a.logins, a.idle))
            cpu, mem = results[separated][-1]
            print(f"round {r + 1} {'separated' if separated else 'one process'}: "
                  f"{cpu * 1e6:.0f} us CPU per login, {mem / 1024:.1f} KiB per idle connection", flush=True)
    one = [statistics.median(x) for x in zip(*results[False])]
    sep = [statistics.median(x) for x in zip(*results[True])]
    print(f"median one process: {one[0] * 1e6:.0f} us/login, {one[1] / 1024:.1f} KiB/idle connection")
    print(f"median separated:   {sep[0] * 1e6:.0f} us/login, {sep[1] / 1024:.1f} KiB/idle connection")
    print(f"separation costs {100 * (sep[0] / one[0] - 1):+.1f}% CPU per login, "
          f"{(sep[1] - one[1]) / 1024:+.1f} KiB per idle connection")


if __name__ == "__main__":
    sys.exit(main())

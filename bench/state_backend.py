#!/usr/bin/python3
"""What keeping TOTP state in Redis costs a login (issue 18), measured side by side in one run.

Starts redis-server (the Debian package) on a free loopback port, without persistence
(--save "" --appendonly no), then per round starts parleyd as root twice with the same
configuration but for [state]: once without it (the local backend: replay and failure state in
the process's memory) and once with `[state] backend = "redis"` at that Redis. The login is
keyboard-interactive:totp alone ([auth] methods = ["keyboard-interactive:totp"], secrets in a
users.oath, one key for every user): parley-load --auth kbd-totp connects, curve25519-sha256 with
ssh-ed25519, answers "Verification code: " with the current RFC 6238 code, disconnects. The
users are virtual (a password file lists them so that they exist; its password is never asked)
and would run sessions as --session-user. A code is accepted once per user and 30 s step, so
every run has user names of its own (parley-load --user PREFIX --users N): each server start
gets a fresh users.oath holding exactly its run's users (and a warm-up's), and no name is
used twice in Redis.
parleyd is pinned to one CPU; parley-load and redis-server share the other, as Redis would be
another machine's. For each server:
  - CPU per login under load: N logins with --concurrency C; the CPU time of every thread of
    every process of the server (benchlib.cpu_seconds: /proc/PID/task/TID/schedstat), / N;
  - CPU per login one at a time: N logins with --concurrency 1 (a server of its own);
  - latency: p50 and p90 of the login time (connect to USERAUTH_SUCCESS, parley-load's) of
    each of the two runs;
  - Redis's own CPU per login: redis-server's threads' schedstat over the same runs, / N.
Alternates local and redis (which goes first alternates too) over R rounds, privilege-separated
(the default as root) and, with --one-process, also --no-privilege-separation; prints each
round, then the medians, and the median of each round's own difference (the two servers of a
round run one after the other, so the machine's drift between rounds cancels); --json prints
one JSON object instead.
Usage: state_backend.py PARLEYD PARLEY_LOAD [--users N] [--concurrency C] [--rounds R]
                        [--one-process] [--session-user NAME] [--dir DIR] [--json]"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402  (shared)
from benchlib import cpu_seconds, cpus, pinned, process_cpu_seconds  # noqa: E402

WARM_USERS = 50  # the warm-up's logins: first-use costs are not a login's


def ensure_session_user(name):
    """The unprivileged account the virtual users would run sessions as (as the acceptance
    tests make it: shell /bin/sh, home /)."""
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/", "--shell", "/bin/sh",
                            name], capture_output=True, text=True)
        if r.returncode not in (0, 9):
            raise SystemExit(f"useradd {name}: {r.stderr.strip()}")


def start_redis(tmp, cpu):
    port = benchlib.free_port()
    proc = subprocess.Popen(pinned(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", tmp, "--daemonize", "no", "--loglevel", "warning"],
                                   cpu),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not benchlib.wait_for_port(port, proc):
        raise SystemExit("redis-server did not start")
    return proc, port


def redis_calls(port):
    """Commands Redis has run that a client sent (EVALSHA, EVAL, SCRIPT LOAD and plain
    commands), not counting the ones run inside scripts; from INFO commandstats."""
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "commandstats"], capture_output=True, text=True,
                         check=True).stdout
    calls = {}
    for line in out.splitlines():
        m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
        if m:
            calls[m.group(1)] = int(m.group(2))
    return calls


def write_users(tmp, prefixes, hexkey, password_hash):
    """users.oath (mode 0600) and the password file naming the same users."""
    oath, users = os.path.join(tmp, "users.oath"), os.path.join(tmp, "users")
    for path in (oath, users):
        if os.path.exists(path):
            os.unlink(path)
    with open(os.open(oath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f_oath, \
            open(os.open(users, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f_users:
        for prefix, n in prefixes:
            for i in range(n):
                f_oath.write(f"HOTP/T30/6\t{prefix}{i}\t-\t{hexkey}\n")
                f_users.write(f"{prefix}{i}:{password_hash}\n")
    return oath, users


def write_config(tmp, name, key, oath, users, session_user, redis_port):
    text = f"""listen = "127.0.0.1"
port = 0
host_keys = ["{key}"]
log_level = "warn"

[auth]
password_file = "{users}"
methods = ["keyboard-interactive:totp"]

[session]
session_user = "{session_user}"

[totp]
users_oath = "{oath}"
max_failures = 1000
failure_period = 300
"""
    if redis_port is not None:
        text += f"""
[state]
backend = "redis"
address = "127.0.0.1:{redis_port}"
"""
    path = os.path.join(tmp, f"{name}.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def start_parleyd(parleyd, config, separated, server_cpu, log):
    args = [parleyd, "--config", config, "--per-source-penalties", "no", "--max-startups", "100000"]
    if not separated:
        args.append("--no-privilege-separation")
    with open(log, "ab") as err:
        proc = subprocess.Popen(pinned(args, server_cpu), stdout=subprocess.PIPE, stderr=err)
    try:
        port, fingerprint = benchlib.parleyd_ready(proc, separated)
    except SystemExit:
        with open(log) as f:
            raise SystemExit(f"parleyd did not start: {f.read().strip()[-400:]}")
    return proc, port, fingerprint


def logins(a, tool_cpu, port, fp, key_file, prefix, count, concurrency):
    r = benchlib.result(benchlib.load(a.load, tool_cpu, "rate", port, fp,
                                      ["--auth", "kbd-totp", "--totp-key-file", key_file, "--user", prefix,
                                       "--users", str(count), "--count", str(count), "--concurrency",
                                       str(concurrency)]),
                        f"parley-load rate --user {prefix}")
    if r["succeeded"] != count:
        raise SystemExit(f"only {r['succeeded']} of {count} logins succeeded: {r}")
    return r


def measured_run(a, proc, redis, tool_cpu, port, fp, key_file, prefix, concurrency):
    """N logins: server CPU, Redis CPU and client-sent Redis commands per login, p50/p90 latency."""
    redis_proc, redis_port = redis
    calls0, r0, s0 = redis_calls(redis_port), process_cpu_seconds(redis_proc.pid), cpu_seconds(proc)
    r = logins(a, tool_cpu, port, fp, key_file, prefix, a.users, concurrency)
    s1, r1, calls1 = cpu_seconds(proc), process_cpu_seconds(redis_proc.pid), redis_calls(redis_port)
    top_level = ("evalsha", "eval", "script|load", "del", "ping", "auth", "hello", "client|setinfo")
    sent = sum(calls1.get(c, 0) - calls0.get(c, 0) for c in top_level)
    return {"cpu_us": (s1 - s0) / a.users * 1e6, "redis_cpu_us": (r1 - r0) / a.users * 1e6,
            "redis_calls": sent / a.users, "p50_ms": r["latency_ms"]["p50"], "p90_ms": r["latency_ms"]["p90"],
            "per_second": r["per_second"]}


def measure(a, tmp, key, key_file, hexkey, password_hash, redis, cpu_pair, tag, backend, separated):
    """Two server starts, each with a users.oath of its own run's users (the file is read and
    rewritten at every login, so it stays as small as the run): a warm-up and N logins at
    concurrency C; a warm-up and N logins one at a time."""
    server_cpu, tool_cpu = cpu_pair
    out = {}
    for run, concurrency in (("loaded", a.concurrency), ("single", 1)):
        name = f"{tag}{run[0]}"
        oath, users = write_users(tmp, [(name + "w", WARM_USERS), (name + "u", a.users)], hexkey, password_hash)
        config = write_config(tmp, name, key, oath, users, a.session_user,
                              redis[1] if backend == "redis" else None)
        proc, port, fp = start_parleyd(a.parleyd, config, separated, server_cpu, os.path.join(tmp, f"{name}.log"))
        try:
            logins(a, tool_cpu, port, fp, key_file, name + "w", WARM_USERS, 10)
            out[run] = measured_run(a, proc, redis, tool_cpu, port, fp, key_file, name + "u", concurrency)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return out


def line(m):
    lo, si = m["loaded"], m["single"]
    return (f"{lo['cpu_us']:.0f} us CPU/login under load (p50 {lo['p50_ms']:.2f} / p90 {lo['p90_ms']:.2f} ms), "
            f"{si['cpu_us']:.0f} us one at a time (p50 {si['p50_ms']:.2f} / p90 {si['p90_ms']:.2f} ms); "
            f"Redis {lo['redis_cpu_us']:.0f} / {si['redis_cpu_us']:.0f} us/login, "
            f"{si['redis_calls']:.1f} calls/login")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("parleyd")
    p.add_argument("load", help="parley-load (bench/load)")
    p.add_argument("--users", type=int, default=300, help="logins per run, each a user of its own")
    p.add_argument("--concurrency", type=int, default=10, help="logins in flight in the run under load")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--one-process", action="store_true", help="also measure --no-privilege-separation")
    p.add_argument("--session-user", default="parley-session-test",
                   help="the account virtual users' sessions would run as (created if missing)")
    p.add_argument("--dir", help="where the users.oath files go (default: the system's temporary directory); "
                   "a tmpfs such as /dev/shm takes the disk's fsync out of the login")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: privilege separation needs it")
    ensure_session_user(a.session_user)
    cpu_pair = cpus()
    if cpu_pair[0] is None and not a.json:
        print("one CPU: server, load tool and Redis share it, unpinned", flush=True)
    deployments = [("separated", True)] + ([("one process", False)] if a.one_process else [])
    results = {}
    with tempfile.TemporaryDirectory(prefix="parley-state-bench-", dir=a.dir) as tmp:
        key = os.path.join(tmp, "hostkey")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        hexkey = os.urandom(20).hex()
        key_file = os.path.join(tmp, "totp.key")
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(hexkey + "\n")
        # The users exist as a password file's; the password is never asked (TOTP alone).
        password_hash = subprocess.run(["openssl", "passwd", "-6", os.urandom(18).hex()], capture_output=True,
                                       text=True, check=True).stdout.strip()
        redis = start_redis(tmp, cpu_pair[1])
        try:
            for r in range(a.rounds):
                for dname, separated in deployments:
                    order = ("local", "redis") if r % 2 == 0 else ("redis", "local")
                    for backend in order:
                        tag = f"r{r}{'s' if separated else 'o'}{backend[0]}"
                        m = measure(a, tmp, key, key_file, hexkey, password_hash, redis, cpu_pair, tag, backend,
                                    separated)
                        results.setdefault(dname, {}).setdefault(backend, []).append(m)
                        if not a.json:
                            print(f"round {r + 1} {dname} {backend:5}: {line(m)}", flush=True)
        finally:
            redis[0].terminate()
            redis[0].wait(timeout=10)
    medians = {}
    for dname, backends in results.items():
        for backend, runs in backends.items():
            medians.setdefault(dname, {})[backend] = {
                run: {k: statistics.median(x[run][k] for x in runs) for k in runs[0][run]}
                for run in ("loaded", "single")}
    # The machine's speed moves between rounds (two CPUs, shared), so the difference is also
    # taken round by round, between the two servers measured one after the other.
    diffs = {}
    for dname, backends in results.items():
        pairs = list(zip(backends["local"], backends["redis"]))
        diffs[dname] = {run: {k: statistics.median(r[run][k] - lo[run][k] for lo, r in pairs)
                              for k in ("cpu_us", "p50_ms", "p90_ms")}
                        for run in ("loaded", "single")}
    if a.json:
        print(json.dumps({"users": a.users, "concurrency": a.concurrency, "rounds": results, "medians": medians,
                          "paired_differences": diffs}))
        return 0
    for dname, backends in medians.items():
        for backend, m in backends.items():
            print(f"median {dname} {backend:5}: {line(m)}")
        lo, re_ = backends["local"], backends["redis"]
        print(f"{dname}: redis costs {re_['loaded']['cpu_us'] - lo['loaded']['cpu_us']:+.0f} us "
              f"({100 * (re_['loaded']['cpu_us'] / lo['loaded']['cpu_us'] - 1):+.1f} %) of parleyd's CPU per login "
              f"under load, {re_['single']['cpu_us'] - lo['single']['cpu_us']:+.0f} us "
              f"({100 * (re_['single']['cpu_us'] / lo['single']['cpu_us'] - 1):+.1f} %) one at a time; "
              f"p50 {re_['single']['p50_ms'] - lo['single']['p50_ms']:+.2f} ms one at a time")
        d = diffs[dname]
        print(f"{dname}: median of the rounds' own differences (redis - local): CPU "
              f"{d['loaded']['cpu_us']:+.0f} us under load, {d['single']['cpu_us']:+.0f} us one at a time; "
              f"p50/p90 {d['loaded']['p50_ms']:+.2f}/{d['loaded']['p90_ms']:+.2f} ms under load, "
              f"{d['single']['p50_ms']:+.2f}/{d['single']['p90_ms']:+.2f} ms one at a time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

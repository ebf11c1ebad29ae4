#!/usr/bin/env python3
"""Per-source penalties shared between two parleyd through real Redis (issue 18,
docs/scale-out.md). redis-server runs on a free loopback port without persistence;
instance A is privilege-separated (its network process relays accruals to its
monitor, which alone reaches Redis), instance B runs as one process
(--no-privilege-separation). Both: password logins, per_source_penalties
"authfail:10 noauth:1 min:15". Failed logins from 127.0.0.33 on A penalise that
source on A, and within a few seconds B refuses 127.0.0.33 at accept too and logs
why, while 127.0.0.34 still logs in on B. The other way round as well: failures
from 127.0.0.35 on B make A refuse 127.0.0.35. Redis must be real: without
redis-server the test fails."""
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import paramiko

from common import check, finish, free_port, mkpasswd, read_log, skip, start_parleyd, stop, wait_for_port, wait_log

PARLEYD = sys.argv[1]
REDIS = "/usr/bin/redis-server"
PASSWORD = "right-horse-battery"
GUESSER_A = "127.0.0.33"  # fails on A
BYSTANDER = "127.0.0.34"
GUESSER_B = "127.0.0.35"  # fails on B
PENALTIES = "authfail:10 noauth:1 min:15 max:600"

logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def first_bytes(source, port):
    """What the server sends first: b"" if it closes without a byte (refused at accept)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as s:
            return s.recv(64)
    except (ConnectionResetError, socket.timeout):
        return b""


def password_login(source, port, password):
    """'in', 'denied', or 'refused' (closed before the key exchange)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    except OSError:
        return "refused"
    t = paramiko.Transport(sock)
    try:
        t.start_client(timeout=10)
    except Exception:
        t.close()
        return "refused"
    try:
        t.auth_password("alice", password)
        return "in" if t.is_authenticated() else "denied"
    except paramiko.AuthenticationException:
        return "denied"
    except Exception:
        return "refused"
    finally:
        t.close()


def instance(tmp, name, users, redis_port, separated):
    conf = os.path.join(tmp, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f'[state]\nbackend = "redis"\naddress = "127.0.0.1:{redis_port}"\n')
    log = os.path.join(tmp, f"{name}.log")
    args = ["--config", conf, "--password-file", users, "--per-source-penalties", PENALTIES,
            "--log-level", "debug"]
    if not separated:
        args.append("--no-privilege-separation")
    proc, port = start_parleyd(PARLEYD, tmp, args, log)
    return proc, port, log


def guess_until_refused(source, port):
    """Wrong passwords from `source` until the server refuses it at accept: the
    failed logins it took (sshd's authfail penalty each)."""
    failures = 0
    for _ in range(8):
        got = password_login(source, port, "wrong-" + str(failures))
        if got == "refused":
            return failures
        failures += 1
        time.sleep(0.3)  # the penalty accrues once the connection has ended
    return failures


def spread(tmp, guesser, on_port, on_log, to_port, to_log, to_name):
    """Failures from `guesser` on one instance; the other instance then refuses it."""
    failures = guess_until_refused(guesser, on_port)
    check(1 <= failures <= 3, f"{guesser}: penalised after {failures} failed logins (authfail:10, min:15)")
    check(re.search(rf"source {re.escape(guesser)}/32 penalised for \d+ s: penalty: failed authentication",
                    read_log(on_log)) is not None, f"{guesser}: the instance it failed on logs the penalty")
    shared = rf"source {re.escape(guesser)}/32 penalised for \d+ s: penalty: shared by another instance"
    start = time.monotonic()
    seen = wait_log(to_log, shared, 8)
    check(seen, f"{guesser}: instance {to_name} takes the shared penalty and logs why "
                f"({time.monotonic() - start:.1f} s)")
    check(first_bytes(guesser, to_port) == b"", f"{guesser}: instance {to_name} refuses it at accept")


def main():
    if not os.path.exists(REDIS):
        print(f"FAIL {REDIS} is missing (apt-get install redis-server): this test needs a real Redis")
        return 1
    if os.geteuid() != 0:
        skip("instance A needs root for privilege separation")
        return finish("shared_penalties")
    tmp = tempfile.mkdtemp()
    os.chmod(tmp, 0o755)
    redis = a = b = None
    try:
        redis_port = free_port()
        redis = subprocess.Popen([REDIS, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", tmp],
                                 stdout=open(os.path.join(tmp, "redis.log"), "ab"), stderr=subprocess.STDOUT)
        wait_for_port(redis_port, redis)
        users = os.path.join(tmp, "users")
        with open(users, "w") as f:
            f.write(f"alice:{mkpasswd('sha512crypt', PASSWORD)}\n")
        os.chmod(users, 0o600)
        a, a_port, a_log = instance(tmp, "a", users, redis_port, separated=True)
        b, b_port, b_log = instance(tmp, "b", users, redis_port, separated=False)
        check("network process confined" in read_log(a_log), "instance A is privilege-separated")
        check(wait_log(a_log, r"per-source penalties shared through redis", 5),
              "instance A's monitor shares penalties through Redis")
        check("per-source penalties shared through redis" in read_log(b_log),
              "instance B shares penalties through Redis")
        for port, name in ((a_port, "A"), (b_port, "B")):
            check(first_bytes(GUESSER_A, port).startswith(b"SSH-"), f"{GUESSER_A} is served by {name} at first")

        # A (separated: network process -> monitor -> Redis) to B (one process, from Redis).
        spread(tmp, GUESSER_A, a_port, a_log, b_port, b_log, "B")
        check(password_login(BYSTANDER, b_port, PASSWORD) == "in", f"{BYSTANDER} still logs in on B")
        check(password_login(BYSTANDER, a_port, PASSWORD) == "in", f"{BYSTANDER} still logs in on A")
        # B (one process -> Redis) to A (Redis -> monitor -> network process).
        spread(tmp, GUESSER_B, b_port, b_log, a_port, a_log, "A")

        keys = subprocess.run(["redis-cli", "-p", str(redis_port), "--scan", "--pattern", "parley:penalty:*"],
                              capture_output=True, text=True).stdout.split()
        check(sorted(keys) == sorted([f"parley:penalty:{GUESSER_A}/32", f"parley:penalty:{GUESSER_B}/32"])
              or shutil.which("redis-cli") is None, f"Redis holds the two netblocks' penalties ({keys})")
        check("shared penalties:" not in read_log(a_log), "no shared-penalty errors on A")
        check("shared penalties:" not in read_log(b_log), "no shared-penalty errors on B")

        # Redis gone: both keep serving, local penalties still apply, one line each.
        redis.terminate()
        redis.wait(timeout=10)
        redis = None
        check(wait_log(b_log, r"shared penalties: .*local penalties still apply", 5),
              "B says once that Redis cannot be reached")
        check(wait_log(a_log, r"shared penalties: .*local penalties still apply", 5),
              "A's monitor says so too")
        time.sleep(3)
        check(len(re.findall(r"shared penalties: .*local penalties still apply", read_log(b_log))) == 1,
              "and only once in 3 s")
        check(password_login(BYSTANDER, b_port, PASSWORD) == "in", f"{BYSTANDER} logs in on B with Redis down")
        check(password_login(BYSTANDER, a_port, PASSWORD) == "in", f"{BYSTANDER} logs in on A with Redis down")
        check(first_bytes(GUESSER_A, a_port) == b"", f"{GUESSER_A} is still refused by A (its local penalty)")
    finally:
        for p in (a, b):
            if p and p.poll() is None:
                stop(p)
        if redis and redis.poll() is None:
            redis.terminate()
            redis.wait(timeout=10)
        for name in ("a.log", "b.log"):
            path = os.path.join(tmp, name)
            if os.path.exists(path) and os.environ.get("VERBOSE"):
                print(f"--- {name}\n" + read_log(path))
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("shared_penalties")


if __name__ == "__main__":
    sys.exit(main())

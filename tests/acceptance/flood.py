#!/usr/bin/python3
"""Pre-authentication work is bounded (issue 11, item 4).

parleyd with a password file and per-source limits on is flooded from 127.0.0.1 by
20 connections that each send 128 password requests (each aborted by the next, sent
right behind it) and 500 connections that never authenticate. Meanwhile legitimate
password logins with real OpenSSH `ssh` bound to 127.0.0.2 must each complete in
under 2 s. Afterwards 127.0.0.1 is penalised as sshd's PerSourcePenalties would
penalise it (the log line, and a new connection is closed before the server sends a
byte) while 127.0.0.2 is served, and the password checks queued at once stayed within
their bound (parleyd's exit line; printed). Every wait has a timeout; exits non-zero
on any failure (run by ctest).
"""
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time

import paramiko
from paramiko.common import cMSG_SERVICE_REQUEST, cMSG_USERAUTH_REQUEST

from common import check, finish, mkpasswd, outcome, ssh, start_parleyd, stop

# The flooders leave the server's replies unread on purpose: no paramiko warnings.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)

PARLEYD = sys.argv[1]
PASSWORD = "c0rrect-h0rse-battery"
FLOOD = "127.0.0.1"
LEGIT = "127.0.0.2"
PASSWORD_FLOODERS = 20
REQUESTS_EACH = 128
NOAUTH_CONNECTIONS = 500
MAX_QUEUED_CHECKS = 64
LOGIN_LIMIT = 2.0


def connect_from(source, port, timeout=5):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def first_bytes(source, port):
    """What the server sends first: b"" if it closes without a byte (refused at accept)."""
    try:
        with connect_from(source, port) as s:
            return s.recv(64)
    except (ConnectionResetError, socket.timeout):
        return b""


def password_flooder(port, stats, lock, queued):
    """One connection: key exchange, then 128 password requests back to back."""
    try:
        try:
            sock = connect_from(FLOOD, port, timeout=20)
        finally:
            queued.release()  # in parleyd's accept queue ahead of the no-auth flood
        t = paramiko.Transport(sock)
        t.start_client(timeout=20)
    except Exception:  # refused at accept (or penalised): counted, not an error
        with lock:
            stats["refused"] += 1
        return
    try:
        m = paramiko.Message()
        m.add_byte(cMSG_SERVICE_REQUEST)
        m.add_string("ssh-userauth")
        t._send_message(m)
        for i in range(REQUESTS_EACH):
            m = paramiko.Message()
            m.add_byte(cMSG_USERAUTH_REQUEST)
            m.add_string("alice")
            m.add_string("ssh-connection")
            m.add_string("password")
            m.add_boolean(False)
            m.add_string(f"guess-{i}")
            t._send_message(m)
        with lock:
            stats["connected"] += 1
            stats["requests"] += REQUESTS_EACH
        deadline = time.monotonic() + 30
        while t.is_active() and time.monotonic() < deadline:  # until parleyd hangs up
            time.sleep(0.1)
    except Exception:
        with lock:
            stats["cut"] += 1
    finally:
        t.close()


def noauth_flooder(port, count, stats, lock):
    """Connections that take the banner (or a refusal) and leave without authenticating."""
    for _ in range(count):
        got = first_bytes(FLOOD, port)
        with lock:
            stats["served" if got.startswith(b"SSH-") else "refused"] += 1


def legit_login(port):
    """A password login with real ssh from 127.0.0.2: (authenticated, seconds)."""
    start = time.monotonic()
    child = ssh(port, "alice", ["-b", LEGIT, "-o", "PubkeyAuthentication=no",
                                "-o", "PreferredAuthentications=password"])
    try:
        child.expect(rb"password: ")
        child.sendline(PASSWORD)
        ok = outcome(child) == 0
        return ok, time.monotonic() - start
    except Exception:
        return False, time.monotonic() - start
    finally:
        child.close(force=True)


def main():
    tmp = tempfile.mkdtemp()
    log = os.path.join(tmp, "parleyd.log")
    users = os.path.join(tmp, "users")
    with open(users, "w") as f:
        f.write(f"alice:{mkpasswd('sha512crypt', PASSWORD)}\n")
    os.chmod(users, 0o600)
    proc, port = start_parleyd(PARLEYD, tmp, [
        "--password-file", users,
        # Per-source limits on: the flood holds at most 32 unauthenticated
        # connections, below MaxStartups' start, so 127.0.0.2 is never dropped.
        "--max-startups", "64:30:200", "--per-source-max-startups", "32",
        "--per-source-penalties", "yes",  # OpenSSH's defaults
        "--max-queued-checks", str(MAX_QUEUED_CHECKS)], log)
    try:
        # The baseline: a login before the flood.
        ok, took = legit_login(port)
        check(ok and took < LOGIN_LIMIT, f"login from {LEGIT} before the flood ({took:.2f} s)")

        lock = threading.Lock()
        pw = {"connected": 0, "refused": 0, "requests": 0, "cut": 0}
        na = {"served": 0, "refused": 0}
        queued = threading.Semaphore(0)
        flooders = [threading.Thread(target=password_flooder, args=(port, pw, lock, queued))
                    for _ in range(PASSWORD_FLOODERS)]
        for t in flooders:
            t.start()
        for _ in range(PASSWORD_FLOODERS):
            queued.acquire(timeout=30)
        noauth = [threading.Thread(target=noauth_flooder, args=(port, NOAUTH_CONNECTIONS // 25, na, lock))
                  for _ in range(25)]
        for t in noauth:
            t.start()
        flooders += noauth
        # Logins spread over the flood, each timed.
        times = []
        while any(t.is_alive() for t in flooders) or len(times) < 5:
            ok, took = legit_login(port)
            times.append((ok, took))
            if len(times) >= 20:
                break
            time.sleep(0.5)
        for t in flooders:
            t.join(timeout=60)
        check(not any(t.is_alive() for t in flooders), "the flood ended by itself")
        print(f"password flood: {pw['connected']} connections sent {pw['requests']} requests, "
              f"{pw['refused']} refused at accept, {pw['cut']} cut off while sending")
        print(f"no-auth flood: {na['served']} served, {na['refused']} refused at accept")
        print("logins from 127.0.0.2 during the flood: " +
              ", ".join(f"{took:.2f} s{'' if ok else ' FAILED'}" for ok, took in times))
        check(pw["connected"] > 0 and pw["requests"] >= REQUESTS_EACH,
              "password flooders got in and sent their requests")
        check(na["served"] + na["refused"] == NOAUTH_CONNECTIONS, "500 no-auth connections made")
        check(len(times) >= 5 and all(ok for ok, _ in times),
              f"every login from {LEGIT} during the flood succeeded ({len(times)})")
        check(all(took < LOGIN_LIMIT for _, took in times),
              f"every login from {LEGIT} during the flood took under {LOGIN_LIMIT} s "
              f"(slowest {max(took for _, took in times):.2f} s)")

        # The flooding source is penalised, as sshd would: one line, then refused at accept.
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        lines = re.findall(r"source 127\.0\.0\.1/32 penalised for (\d+) s: penalty: ([a-zA-Z ]+)", text)
        check(len(lines) == 1, f"one log line penalises 127.0.0.1/32 ({lines})")
        check(na["refused"] > 0, "no-auth connections were refused once the source was penalised")
        check(first_bytes(FLOOD, port) == b"", f"a new connection from {FLOOD} is closed before any byte")
        check(first_bytes(LEGIT, port).startswith(b"SSH-2.0-"), f"a connection from {LEGIT} gets the banner")
        ok, took = legit_login(port)
        check(ok and took < LOGIN_LIMIT, f"login from {LEGIT} after the flood ({took:.2f} s)")
        aborted = text.count("outcome=aborted")
        print(f"aborted password attempts in the audit log: {aborted}")
        check(aborted > 0, "password requests were aborted by the ones behind them")
    finally:
        stop(proc)

    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    m = re.search(r"checks queued at most (\d+) at once \(bound (\d+)\), (\d+) refused", text)
    check(m is not None, "parleyd reported the queue's high-water mark at exit")
    if m:
        high, bound = int(m.group(1)), int(m.group(2))
        print(f"queued password checks: high-water mark {high}, bound {bound}")
        check(bound == MAX_QUEUED_CHECKS, "the bound is the one configured")
        check(high <= bound, f"queued checks stayed within the bound ({high} <= {bound})")
        # One check per connection at most: the flooders' 20 plus one login.
        check(high <= PASSWORD_FLOODERS + 1,
              f"at most one check per connection was queued ({high} <= {PASSWORD_FLOODERS + 1})")
    check(PASSWORD not in text, "the password is not in the log")
    shutil.rmtree(tmp, ignore_errors=True)
    return finish("flood")


if __name__ == "__main__":
    sys.exit(main())

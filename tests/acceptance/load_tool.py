#!/usr/bin/python3
"""parley-load (bench/load, docs/load-tool.md) against real peers: real parleyd --demo for
Higher or Lower logins at concurrency, held connections that answer at the end, a flood
against a low --max-startups; password and publickey logins against parleyd and real OpenSSH
sshd; a wrong password, a wrong host key and a silent server each counted as their failure,
with exit status 1.

Usage: load_tool.py PARLEYD PARLEY_LOAD"""
import json
import os
import socket
import subprocess
import sys
import struct
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (SYSTEM_OPENSSH, Sshd, check, children, finish, keygen, mkpasswd,  # noqa: E402
                    start_parleyd, stop, write_private)

PARLEYD, LOAD = sys.argv[1], sys.argv[2]
PASSWORD = "load-tool-Secret-7"


def fingerprint(pub):
    out = subprocess.run(["/usr/bin/ssh-keygen", "-lf", pub], capture_output=True, check=True).stdout
    return out.decode().split()[1]


def run_load(*args, timeout=300):
    """Runs parley-load with --json; returns (exit status, the JSON report, stderr)."""
    r = subprocess.run([LOAD, *args, "--json"], capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    lines = r.stdout.decode().strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else {}
    except ValueError:
        report = {}
    print(f"  parley-load {' '.join(args)} -> {r.returncode} {lines[-1] if lines else ''}", flush=True)
    return r.returncode, report, r.stderr.decode()


def sane_latency(report):
    lat = report.get("latency_ms", {})
    return 0 < lat.get("p50", 0) <= lat.get("p99", 0) <= lat.get("max", 0) < 30_000


def socket_count(pid):
    """Sockets parleyd holds open (descriptors that are sockets, in parleyd and,
    privilege-separated, its network process)."""
    n = 0
    for p in [pid] + children(pid):
        for fd in os.listdir(f"/proc/{p}/fd"):
            try:
                n += os.readlink(f"/proc/{p}/fd/{fd}").startswith("socket:")
            except OSError:
                pass
    return n


def demo_tests(tmp):
    log = os.path.join(tmp, "parleyd-demo.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--demo"], log)
    target = f"127.0.0.1:{port}"
    fp = ["--host-key-fingerprint", fingerprint(os.path.join(tmp, "hostkey.pub"))]
    try:
        rc, r, _ = run_load("rate", target, "--count", "200", "--concurrency", "20", *fp)
        check(rc == 0 and r.get("started") == 200 and r.get("succeeded") == 200 and r.get("failed") == 0,
              "rate: 200 Higher or Lower logins at concurrency 20 all succeed, exit 0")
        check(sane_latency(r) and r.get("per_second", 0) > 0 and r.get("elapsed_s", 0) > 0,
              "rate: logins per second and p50 <= p99 <= max latency are reported")

        rc, r, _ = run_load("rate", target, "--duration", "1.5", "--rate", "20", *fp)
        check(rc == 0 and 20 <= r.get("started", 0) <= 40 and r.get("succeeded") == r.get("started"),
              "rate: --rate 20 for --duration 1.5 s starts about 30 logins, all succeed")

        rc, r, _ = run_load("rate", target, "--count", "5", "--host-key-fingerprint", "SHA256:" + "A" * 43)
        check(rc == 1 and r.get("failures", {}).get("host_key_rejected") == 5 and r.get("succeeded") == 0,
              "rate: a host key that is not the given fingerprint is refused (host_key_rejected, exit 1)")

        # Hold: 300 authenticated connections, parleyd seen holding them, each answering at the end.
        cmd = [LOAD, "hold", target, "--count", "300", "--concurrency", "50", "--hold-seconds", "3",
               "--json", *fp]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        holding = p.stderr.readline().decode()
        sockets = socket_count(proc.pid) if "holding 300" in holding else 0
        out, _ = p.communicate(timeout=120)
        r = json.loads(out.decode().strip().splitlines()[-1])
        print(f"  {' '.join(cmd[1:])} -> {p.returncode} {json.dumps(r)}", flush=True)
        check(sockets >= 300, f"hold: parleyd holds the 300 connections at once ({sockets} sockets)")
        check(p.returncode == 0 and r.get("held") == 300 and r.get("answered") == 300 and r.get("failed") == 0,
              "hold: 300 connections held, each answers a session channel's request at the end")
        rc, r, _ = run_load("hold", target, "--count", "50", "--hold-seconds", "0.5", "--check", "global", *fp)
        check(rc == 0 and r.get("held") == 50 and r.get("answered") == 50,
              "hold --check global: 50 held connections answer a global request")

        rc, r, _ = run_load("flood", target, "--count", "100", "--hold-seconds", "1", "--kexinit", *fp)
        check(rc == 0 and r.get("succeeded") == 100 and r.get("held") == 100,
              "flood --kexinit: 100 unauthenticated connections get the version and are held")
        check(proc.poll() is None, "parleyd --demo still runs after the load")
    finally:
        stop(proc)


def flood_tests(tmp):
    # MaxStartups 10 (start = full): the 11th unauthenticated connection is dropped.
    log = os.path.join(tmp, "parleyd-flood.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--demo", "--max-startups", "10"], log)
    target = f"127.0.0.1:{port}"
    try:
        rc, r, _ = run_load("flood", target, "--count", "40", "--concurrency", "40",
                            "--hold-seconds", "1", "--max-failures", "40")
        dropped = r.get("failures", {}).get("dropped_before_version", 0)
        check(rc == 0 and r.get("started") == 40 and 1 <= r.get("held", 0) <= 10 and dropped >= 30,
              f"flood against --max-startups 10: at most 10 held, the rest dropped ({r.get('held')} held, "
              f"{dropped} dropped before the version)")
        rc, r, _ = run_load("flood", target, "--count", "40", "--concurrency", "40", "--hold-seconds", "0.5")
        check(rc == 1 and r.get("failed", 0) >= 30, "flood: drops beyond --max-failures (0) exit 1")
        fp = ["--host-key-fingerprint", fingerprint(os.path.join(tmp, "hostkey.pub"))]
        rc, r, _ = run_load("rate", target, "--count", "100", "--concurrency", "40", "--max-failures", "100", *fp)
        f = r.get("failures", {})
        check(rc == 0 and f.get("dropped_before_version", 0) > 0 and list(f) == ["dropped_before_version"]
              and r.get("succeeded", 0) + f["dropped_before_version"] == 100,
              f"rate at concurrency 40 against --max-startups 10: the drops are named "
              f"({f.get('dropped_before_version')} dropped before the version, {r.get('succeeded')} logged in)")
    finally:
        stop(proc)


def parleyd_password_and_key_tests(tmp):
    users = os.path.join(tmp, "users")
    write_private(users, f"alice:{mkpasswd('sha512crypt', PASSWORD)}\n")
    keys = os.path.join(tmp, "keys")
    os.makedirs(keys, exist_ok=True)
    identity = os.path.join(tmp, "id_load")
    keygen(identity)
    with open(os.path.join(keys, "alice"), "w") as f, open(identity + ".pub") as pub:
        f.write(pub.read())
    good = write_private(os.path.join(tmp, "pw-good"), PASSWORD + "\n")
    bad = write_private(os.path.join(tmp, "pw-bad"), "not-" + PASSWORD + "\n")
    log = os.path.join(tmp, "parleyd-pw.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--password-file", users, "--authorized-keys",
                                              os.path.join(keys, "%u")], log)
    target = f"127.0.0.1:{port}"
    fp = ["--host-key-fingerprint", fingerprint(os.path.join(tmp, "hostkey.pub"))]
    try:
        rc, r, _ = run_load("rate", target, "--auth", "password", "--user", "alice", "--password-file", good,
                            "--count", "30", "--concurrency", "10", *fp)
        check(rc == 0 and r.get("succeeded") == 30 and sane_latency(r), "parleyd: 30 password logins succeed")
        rc, r, err = run_load("rate", target, "--auth", "password", "--user", "alice", "--password-file", bad,
                              "--count", "10", "--concurrency", "10", *fp)
        check(rc == 1 and r.get("failures", {}).get("auth_failed") == 10 and r.get("succeeded") == 0,
              "parleyd: a wrong password: 10 failures counted as auth_failed, exit 1")
        check(PASSWORD not in err and PASSWORD not in json.dumps(r), "the password is never printed")
        rc, r, _ = run_load("rate", target, "--auth", "kbd-hol", "--user", "alice", "--count", "3", *fp)
        check(rc == 1 and r.get("failures", {}).get("auth_failed") == 3,
              "kbd-hol declines a question that is not Higher or Lower (parleyd's password prompt): auth_failed")
        # Every one: a signed request right after PK_OK is checked even if the query's worker
        # has yet to return (it was refused about once in a thousand under ASan).
        rc, r, _ = run_load("rate", target, "--auth", "publickey", "--user", "alice", "--identity", identity,
                            "--count", "100", "--concurrency", "10", *fp)
        check(rc == 0 and r.get("succeeded") == 100 and sane_latency(r),
              f"parleyd: 100 publickey logins succeed ({r.get('succeeded')}; {r.get('failures') or 'no failure'})")
    finally:
        stop(proc)
    with open(log, "rb") as f:
        check(PASSWORD.encode() not in f.read(), "parleyd's log holds no password either")


def sshd_tests(tmp):
    """Real OpenSSH sshd as the current user: publickey logins, and a wrong password refused."""
    user = subprocess.run(["id", "-un"], capture_output=True, check=True).stdout.decode().strip()
    d = os.path.join(tmp, "sshd")
    os.makedirs(d, exist_ok=True)
    identity = os.path.join(d, "id_load")
    keygen(identity)
    ak = os.path.join(d, "authorized_keys")
    with open(ak, "w") as f, open(identity + ".pub") as pub:
        f.write(pub.read())
    bad = write_private(os.path.join(d, "pw-bad"), "not-the-password\n")
    with Sshd(SYSTEM_OPENSSH, d, ["AuthorizedKeysFile " + ak, "StrictModes no", "MaxStartups 100",
                                  "PasswordAuthentication yes", "KbdInteractiveAuthentication no",
                                  "ClientAliveInterval 1", "ClientAliveCountMax 1"],
              log_level="INFO") as sshd:
        target = f"127.0.0.1:{sshd.port}"
        fp = ["--host-key-fingerprint", fingerprint(os.path.join(d, "hostkey.pub"))]
        rc, r, _ = run_load("rate", target, "--auth", "publickey", "--user", user, "--identity", identity,
                            "--count", "20", "--concurrency", "5", *fp)
        check(rc == 0 and r.get("succeeded") == 20 and sane_latency(r),
              "OpenSSH sshd: 20 publickey logins succeed")
        # sshd asks idle clients keepalive@openssh.com every second and drops those that
        # do not answer twice running: held connections must answer it.
        rc, r, _ = run_load("hold", target, "--auth", "publickey", "--user", user, "--identity", identity,
                            "--count", "5", "--concurrency", "5", "--hold-seconds", "4", *fp)
        check(rc == 0 and r.get("held") == 5 and r.get("answered") == 5,
              "OpenSSH sshd (ClientAliveInterval 1, CountMax 1): 5 connections held 4 s answer its "
              "keepalives and the final check")
        rc, r, _ = run_load("rate", target, "--auth", "password", "--user", user, "--password-file", bad,
                            "--count", "3", "--concurrency", "3", *fp)
        check(rc == 1 and r.get("failures", {}).get("auth_failed") == 3,
              "OpenSSH sshd: a wrong password is counted as auth_failed, exit 1")


def silent_server_test():
    """A server that accepts and never speaks: every login times out at --login-timeout,
    and the run ends soon after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        port = s.getsockname()[1]
        start = time.monotonic()
        rc, r, _ = run_load("rate", f"127.0.0.1:{port}", "--count", "5", "--login-timeout", "1",
                            "--insecure-accept-any-host-key", timeout=60)
        took = time.monotonic() - start
    check(rc == 1 and r.get("failures", {}).get("timeout") == 5 and took < 10,
          f"a silent server: 5 logins time out after --login-timeout ({took:.1f} s)")
    port = socket.socket()  # closed at once: nothing listens there
    port.bind(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    rc, r, _ = run_load("rate", f"127.0.0.1:{free}", "--count", "3", "--insecure-accept-any-host-key")
    check(rc == 1 and r.get("failures", {}).get("connect_refused") == 3, "no server: connect_refused, exit 1")
    rc, r, _ = run_load("rate", f"127.0.0.1:{free}", "--count", "3", "--max-failures", "3",
                        "--insecure-accept-any-host-key")
    check(rc == 0, "failures within --max-failures: exit 0")


def disconnecting_server_test():
    """A server that sends its version and a DISCONNECT (too many connections): each login is
    counted as disconnected, with the server's reason."""
    text = b"come back later"
    payload = bytes([1]) + struct.pack(">II", 12, len(text)) + text + struct.pack(">I", 0)
    pad = 8 - (len(payload) + 5) % 8
    pad += 8 if pad < 4 else 0
    packet = struct.pack(">IB", len(payload) + pad + 1, pad) + payload + bytes(pad)

    def answer(conn):
        with conn:
            conn.settimeout(5)
            conn.sendall(b"SSH-2.0-disconnecting\r\n" + packet)
            conn.shutdown(socket.SHUT_WR)
            try:
                while conn.recv(4096):  # read until the client closes: no RST
                    pass
            except OSError:
                pass

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        srv.settimeout(20)

        def serve():
            for _ in range(4):
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                threading.Thread(target=answer, args=(conn,), daemon=True).start()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        rc, r, _ = run_load("rate", f"127.0.0.1:{srv.getsockname()[1]}", "--count", "4",
                            "--insecure-accept-any-host-key", timeout=60)
        t.join(timeout=20)
    check(rc == 1 and r.get("failures", {}).get("disconnected") == 4
          and r.get("reasons", {}).get("too many connections: come back later") == 4,
          "a server's DISCONNECT is counted as disconnected, with its reason")


def main():
    tmp = tempfile.mkdtemp(prefix="load_tool.")
    os.chmod(tmp, 0o755)
    demo_tests(tmp)
    flood_tests(tmp)
    parleyd_password_and_key_tests(tmp)
    sshd_tests(tmp)
    silent_server_test()
    disconnecting_server_test()
    return finish("load_tool")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""parleyd logs to the journal when systemd connects its stderr to it (issue 17).

systemd says so with JOURNAL_STREAM=DEV:INODE, the device and inode of the stream it
gave as stderr. This machine has no journald, so the test plays it: it binds the
journal's native socket (/run/systemd/journal/socket, which sd_journal_send writes to)
and reads the entries parleyd sends, in the native protocol (KEY=value lines, or
KEY, a 64-bit length and the value for values with a newline).

Checks, as root privilege-separated and as one process (as an ordinary user, one process):
- an ordinary line arrives as an entry with SYSLOG_IDENTIFIER=parleyd (separated: the monitor's;
  the confined network process, which cannot reach the socket, keeps to stderr);
- each audit line of a login arrives with its fields as structured data: PARLEY_USER,
  PARLEY_METHOD, PARLEY_OUTCOME (reject for a wrong password, accept for the right one),
  PARLEY_PEER=127.0.0.1:PORT, beside its text in MESSAGE;
- no password is in any entry or on stderr;
- without JOURNAL_STREAM (or with one that is not its stderr) parleyd logs to stderr.
Usage: journal.py PARLEYD"""
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from common import check, finish, keygen, mkpasswd, session_user, skip

PARLEYD = sys.argv[1]
SOCKET = "/run/systemd/journal/socket"
PASSWORD = "journal-Pass-9"


def parse(datagram):
    """One native-protocol entry as a dict (the last value of a repeated key)."""
    fields, i = {}, 0
    while i < len(datagram):
        nl = datagram.index(b"\n", i)
        line = datagram[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", datagram[nl + 1:nl + 9])
            value = datagram[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        fields[key.decode()] = value.decode(errors="replace")
    return fields


def login(port, password):
    askpass = tempfile.NamedTemporaryFile("w", delete=False, suffix=".sh")
    askpass.write(f"#!/bin/sh\necho '{password}'\n")
    askpass.close()
    os.chmod(askpass.name, 0o755)
    env = {**os.environ, "SSH_ASKPASS": askpass.name, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    r = subprocess.run(["/usr/bin/ssh", "-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
                        "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1",
                        "alice@127.0.0.1", "true"], env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    os.unlink(askpass.name)
    return r.returncode == 0


def start(tmp, extra, journal_stream):
    key = os.path.join(tmp, "hostkey")
    if not os.path.exists(key):
        keygen(key)
    users = os.path.join(tmp, "users")
    with open(users, "w") as f:
        f.write(f"alice:{mkpasswd('yescrypt', PASSWORD)}\n")
    os.chmod(users, 0o600)
    args = [PARLEYD, "--port", "0", "--host-key", key, "--password-file", users, "--per-source-penalties", "no",
            *extra]
    if session_user():
        args += ["--session-user", session_user()]
    err_path = os.path.join(tmp, f"stderr-{len(os.listdir(tmp))}")
    err = open(err_path, "wb")
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    if journal_stream:
        st = os.fstat(err.fileno())
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env)
    m = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())
    return proc, (int(m.group(1)) if m else None), err_path


class Journal:
    """Reads the socket all the time, as journald does (a full datagram queue would
    block the sender), keeping what came."""

    def __init__(self, sock):
        self.sock, self.lock, self.got = sock, threading.Lock(), []
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.got.append(d)

    def take(self, settle=0.5):
        time.sleep(settle)
        with self.lock:
            out, self.got = self.got, []
        return out

    def stop(self):
        self.running = False
        self.thread.join()


def one_run(label, extra, journal, tmp):
    proc, port, err_path = start(tmp, extra, True)
    try:
        check(port is not None, f"{label}: parleyd started")
        if port is None:
            return
        wrong = login(port, "not-" + PASSWORD)
        right = login(port, PASSWORD)
        check(not wrong and right, f"{label}: a wrong password is refused, the right one lets alice in")
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    raw = journal.take()
    entries = [parse(d) for d in raw]
    # Separated, "listening on" is the network process's (stderr); the monitor's own lines are entries.
    ordinary = "connection opened from" if not extra else "listening on"
    check(any(e.get("SYSLOG_IDENTIFIER") == "parleyd" and "PARLEY_EVENT" not in e and ordinary in e.get("MESSAGE", "")
              for e in entries),
          f"{label}: an ordinary line ('{ordinary}') is an entry of parleyd ({len(entries)} entries)")
    audits = [e for e in entries if e.get("PARLEY_EVENT") == "auth"]
    outcomes = [e.get("PARLEY_OUTCOME") for e in audits]
    check("reject" in outcomes and "accept" in outcomes, f"{label}: audit entries say reject then accept ({outcomes})")
    good = [e for e in audits if e.get("PARLEY_USER") == "alice" and e.get("PARLEY_METHOD") == "password"
            and re.fullmatch(r"127\.0\.0\.1:\d+", e.get("PARLEY_PEER", "")) and e.get("MESSAGE", "").startswith("auth: ")]
    check(len(good) == len(audits) and audits, f"{label}: each audit entry has its user, method, peer and text")
    with open(err_path, "rb") as f:
        stderr = f.read()
    check(all(PASSWORD.encode() not in d for d in raw) and PASSWORD.encode() not in stderr,
          f"{label}: no password in any entry or on stderr")
    check(b"auth: " not in stderr, f"{label}: audit lines went to the journal, not to stderr")


def main():
    if os.geteuid() != 0:
        skip("the fake journal socket needs root (/run/systemd/journal)")
        return finish("journal")
    if os.path.exists(SOCKET):
        skip(f"{SOCKET} exists: a real journald runs here, which this test must not replace")
        return finish("journal")
    tmp = tempfile.mkdtemp(prefix="parleyd-journal-")
    os.chmod(tmp, 0o755)
    made_dir = not os.path.isdir(os.path.dirname(SOCKET))
    os.makedirs(os.path.dirname(SOCKET), exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(SOCKET)
    journal = Journal(sock)
    try:
        one_run("separated", [], journal, tmp)
        one_run("one process", ["--no-privilege-separation"], journal, tmp)
        # Without JOURNAL_STREAM the log stays on stderr, and nothing reaches the journal.
        proc, port, err_path = start(tmp, ["--no-privilege-separation"], False)
        try:
            check(port is not None and login(port, PASSWORD), "no JOURNAL_STREAM: alice logs in")
            time.sleep(0.3)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        with open(err_path, "rb") as f:
            stderr = f.read()
        check(b"auth: user='alice'" in stderr and not journal.take(),
              "no JOURNAL_STREAM: the audit lines are on stderr and nothing is sent to the journal")
    finally:
        journal.stop()
        sock.close()
        os.unlink(SOCKET)
        if made_dir:
            os.rmdir(os.path.dirname(SOCKET))
    return finish("journal")


if __name__ == "__main__":
    sys.exit(main())

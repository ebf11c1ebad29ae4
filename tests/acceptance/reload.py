#!/usr/bin/python3
"""parleyd reloads its configuration on SIGHUP (issue 17), with real OpenSSH `ssh`.

Run as root twice: privilege-separated (the monitor takes SIGHUP and hands the network
process the configuration it accepted) and as one process (--no-privilege-separation);
as an ordinary user once, as one process.

Each run:
- starts parleyd under a fake systemd notify socket (NOTIFY_SOCKET): READY=1 once listening;
- opens 20 sessions (ssh ... cat, password A, host key A) and checks each echoes;
- rewrites the configuration (host key B, password B) and sends SIGHUP: RELOADING=1 then
  READY=1; the 20 sessions still echo; a new login with password A is refused and with B
  let in; a new connection is shown host key B, not A;
- rewrites it broken (a TOML error on line 3) and sends SIGHUP: the log says the reload was
  refused with FILE:3, and the configuration before it goes on serving (password B, key B);
- rewrites it changing the listening address (a restart-only setting): refused by name;
- closes the 20 sessions (each ends with status 0); no password is in the log.
Usage: reload.py PARLEYD"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from common import check, finish, keygen, mkpasswd, remove_user, session_user, skip, wait_log

PARLEYD = sys.argv[1]
PASSWORD_A = "first-pass-Aa1"
PASSWORD_B = "second-pass-Bb2"
SESSIONS = 20


def write(path, text, mode=0o600):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chmod(path + ".new", mode)
    os.replace(path + ".new", path)


def config(tmp, key, users, extra=""):
    user = session_user()
    session = f'[session]\nsession_user = "{user}"\n' if user else ""
    return (f'{extra}host_keys = ["{key}"]\n'
            f'[auth]\npassword_file = "{users}"\n'
            '[limits]\nper_source_penalties = "no"\nmax_startups = "1000"\n' + session)


class Notify:
    """A fake systemd notify socket: what parleyd sends with sd_notify()."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)
        self.path = path

    def next(self, seconds=15):
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            return ""


def ssh_args(port, known_hosts=None):
    hosts = (["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"] if known_hosts
             else ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no"])
    return ["/usr/bin/ssh", "-F", "/dev/null", "-p", str(port), *hosts, "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1",
            "-o", "BatchMode=no", "alice@127.0.0.1"]


def askpass_env(tmp, password):
    script = os.path.join(tmp, f"askpass-{len(password)}-{password[-2:]}")
    write(script, f"#!/bin/sh\necho '{password}'\n", 0o755)
    return {**os.environ, "SSH_ASKPASS": script, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}


def login(tmp, port, password, known_hosts=None):
    """True if ssh logs in and runs a command."""
    r = subprocess.run(ssh_args(port, known_hosts) + ["echo logged-in"], env=askpass_env(tmp, password),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    return r.returncode == 0 and b"logged-in" in r.stdout


def open_sessions(tmp, port):
    env = askpass_env(tmp, PASSWORD_A)
    procs = []
    for _ in range(SESSIONS):
        procs.append(subprocess.Popen(ssh_args(port) + ["cat"], env=env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
    return procs


def all_echo(procs, word):
    ok = 0
    for i, p in enumerate(procs):
        line = f"{word} {i}\n".encode()
        try:
            p.stdin.write(line)
            p.stdin.flush()
            if p.stdout.readline() == line:
                ok += 1
        except (BrokenPipeError, OSError):
            pass
    return ok


def known_hosts(tmp, port, key):
    path = key + ".known"
    with open(key + ".pub") as f:
        kind, blob = f.read().split()[:2]
    write(path, f"[127.0.0.1]:{port} {kind} {blob}\n", 0o644)
    return path


def one_run(label, extra_args):
    tmp = tempfile.mkdtemp(prefix="parleyd-reload-")
    os.chmod(tmp, 0o755)
    key_a, key_b = os.path.join(tmp, "key_a"), os.path.join(tmp, "key_b")
    keygen(key_a)
    keygen(key_b)
    users_a, users_b = os.path.join(tmp, "users_a"), os.path.join(tmp, "users_b")
    write(users_a, f"alice:{mkpasswd('yescrypt', PASSWORD_A)}\n")
    write(users_b, f"alice:{mkpasswd('yescrypt', PASSWORD_B)}\n")
    conf = os.path.join(tmp, "parleyd.conf")
    write(conf, config(tmp, key_a, users_a))
    notify = Notify(os.path.join(tmp, "notify"))
    log_path = os.path.join(tmp, "parleyd.log")
    proc = subprocess.Popen([PARLEYD, "--config", conf, "--port", "0", *extra_args], stdout=subprocess.PIPE,
                            stderr=open(log_path, "ab"), env={**os.environ, "NOTIFY_SOCKET": notify.path})
    procs = []
    try:
        m = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())
        if not m:
            check(False, f"{label}: parleyd started")
            return
        port = int(m.group(1))
        check(notify.next().startswith("READY=1"), f"{label}: READY=1 reaches the notify socket at start")
        procs = open_sessions(tmp, port)
        check(all_echo(procs, "before") == SESSIONS, f"{label}: {SESSIONS} sessions (password A) echo")
        check(login(tmp, port, PASSWORD_A, known_hosts(tmp, port, key_a)), f"{label}: host key A is shown at first")

        write(conf, config(tmp, key_b, users_b))
        os.kill(proc.pid, signal.SIGHUP)
        check(notify.next().startswith("RELOADING=1"), f"{label}: SIGHUP sends RELOADING=1")
        check(notify.next().startswith("READY=1"), f"{label}: then READY=1")
        check(wait_log(log_path, r"configuration reloaded"), f"{label}: the log says the configuration was reloaded")
        if "--no-privilege-separation" not in extra_args and os.geteuid() == 0:
            check(wait_log(log_path, r"network process follows the reloaded configuration \(generation 1\)"),
                  f"{label}: the network process follows it")
        check(all_echo(procs, "after") == SESSIONS, f"{label}: all {SESSIONS} sessions still echo after the reload")
        check(not login(tmp, port, PASSWORD_A), f"{label}: a new login with the old password is refused")
        check(login(tmp, port, PASSWORD_B), f"{label}: a new login with the new password is let in")
        check(login(tmp, port, PASSWORD_B, known_hosts(tmp, port, key_b)), f"{label}: a new connection is shown host key B")
        check(not login(tmp, port, PASSWORD_B, known_hosts(tmp, port, key_a)), f"{label}: ... and not host key A")

        write(conf, f'host_keys = ["{key_b}"]\n[auth]\npassword_file = = "{users_b}"\n')
        os.kill(proc.pid, signal.SIGHUP)
        check(notify.next().startswith("RELOADING=1") and notify.next().startswith("READY=1"),
              f"{label}: a refused reload still ends with READY=1")
        check(wait_log(log_path, r"reload refused.*" + re.escape(conf) + r":3"),
              f"{label}: a broken configuration is refused in the log with FILE:3")
        check(login(tmp, port, PASSWORD_B, known_hosts(tmp, port, key_b)),
              f"{label}: the configuration before it goes on serving (password B, key B)")
        check(all_echo(procs, "broken") == SESSIONS, f"{label}: the sessions still echo")

        write(conf, config(tmp, key_b, users_b, extra='listen = "127.0.0.2"\n'))
        os.kill(proc.pid, signal.SIGHUP)
        notify.next()
        notify.next()
        check(wait_log(log_path, r"reload refused.*listen changed.*restart"),
              f"{label}: a new listening address is refused: it needs a restart")
        check(login(tmp, port, PASSWORD_B), f"{label}: still serving on the old address")

        for p in procs:
            p.stdin.close()
        codes = [p.wait(timeout=30) for p in procs]
        check(codes == [0] * SESSIONS, f"{label}: the {SESSIONS} sessions end with status 0 ({codes})")
        check(proc.poll() is None, f"{label}: parleyd is still running")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    with open(log_path, errors="replace") as f:
        text = f.read()
    check(PASSWORD_A not in text and PASSWORD_B not in text, f"{label}: no password in the log")


def main():
    if os.geteuid() == 0:
        one_run("separated", [])
        one_run("one process", ["--no-privilege-separation"])
    else:
        skip("the privilege-separated reload needs root")
        one_run("one process", [])
    return finish("reload")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Issue 15: parleyd looks a login's user up once, as OpenSSH's getpwnamallow() once per
authentication context. Real parleyd --demo (as root: privilege-separated and in one
process; otherwise one process) with strace attached to every process of it after start;
parley-load makes 20 Higher or Lower logins as admin (all succeed) and 5 as a user that
does not exist (all fail, the same failure): glibc's NSS opens /etc/passwd once per lookup,
so it must be opened once per login, not once per rule of the login (admin: twice before).
As root, publickey logins of an OS account (%h/.ssh/authorized_keys; parley-load queries the
key, then signs): 4 lookups per login (9 before).

Usage: login_lookups.py PARLEYD PARLEY_LOAD"""
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check, finish, keygen, stop  # noqa: E402

PARLEYD, LOAD = sys.argv[1], sys.argv[2]


def start(tmp, separated, how=("--demo",)):
    key = os.path.join(tmp, "hostkey")
    if not os.path.exists(key):
        keygen(key)
    args = [PARLEYD, *how, "--port", "0", "--host-key", key, "--per-source-penalties", "no",
            "--log-level", "warn"] + ([] if separated else ["--no-privilege-separation"])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    port = int(re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())[1])
    fingerprint = None
    while not fingerprint:
        fingerprint = re.match(r"host key: ssh-ed25519 (SHA256:\S+)", proc.stdout.readline().decode())
    time.sleep(0.5)  # the network process is up
    return proc, port, fingerprint[1]


def pids(proc):
    out = [proc.pid]
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == proc.pid:
                    out.append(int(entry))
        except (OSError, ValueError):
            pass
    return out


def passwd_opens(tmp, separated, user, count, how=("--demo",), auth=()):
    """(parley-load's report, opens of /etc/passwd) for `count` logins as `user`."""
    proc, port, fingerprint = start(tmp, separated, how)
    trace = os.path.join(tmp, f"trace-{separated}-{user}")
    attach = [a for p in pids(proc) for a in ("-p", str(p))]
    strace = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=openat", "-o", trace, *attach],
                              stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached
    r = subprocess.run([LOAD, "rate", f"127.0.0.1:{port}", "--host-key-fingerprint", fingerprint,
                        "--user", user, *auth, "--count", str(count), "--concurrency", "2",
                        "--max-failures", str(count), "--json"], capture_output=True, timeout=120)
    time.sleep(0.5)
    strace.send_signal(signal.SIGINT)
    strace.wait(timeout=10)
    stop(proc)
    report = json.loads(r.stdout.decode().strip().splitlines()[-1])
    with open(trace) as f:
        opens = sum('"/etc/passwd"' in line for line in f)
    print(f"  {user}: {report.get('succeeded')} succeeded, {report.get('failed')} failed, "
          f"/etc/passwd opened {opens} times")
    return report, opens


def publickey(tmp):
    """An OS account with ~/.ssh/authorized_keys: each key check (the query, then the signed
    request) looks up once on the worker pool (it was twice: the path's %h and the file's
    owner); the login's verdict once, plus the %h of its authorized_keys rule."""
    user = "parley-lookups-test"
    subprocess.run(["userdel", "-r", "-f", user], capture_output=True)
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", user], check=True)
    try:
        account = pwd.getpwnam(user)
        key = os.path.join(tmp, "userkey")
        keygen(key)
        ssh_dir = os.path.join(account.pw_dir, ".ssh")
        os.makedirs(ssh_dir, mode=0o700)
        with open(os.path.join(ssh_dir, "authorized_keys"), "w") as f:
            f.write(open(key + ".pub").read())
        for p in (ssh_dir, os.path.join(ssh_dir, "authorized_keys")):
            os.chown(p, account.pw_uid, account.pw_gid)
        report, opens = passwd_opens(tmp, False, user, 10, ("--authorized-keys", "%h/.ssh/authorized_keys"),
                                     ("--auth", "publickey", "--identity", key))
        check(report.get("succeeded") == 10, "10 publickey logins succeed")
        check(0 < opens <= 40, f"publickey: at most 4 lookups per login ({opens} for 10; 90 before)")
    finally:
        subprocess.run(["userdel", "-r", "-f", user], capture_output=True)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for separated in ([True, False] if os.geteuid() == 0 else [False]):
            mode = "separated" if separated else "one process"
            report, opens = passwd_opens(tmp, separated, "admin", 20)
            check(report.get("succeeded") == 20, f"{mode}: 20 logins as admin succeed")
            check(opens == 20, f"{mode}: /etc/passwd opened once per login ({opens} for 20)")
            report, opens = passwd_opens(tmp, separated, "nosuchuser-pwonce", 5)
            check(report.get("failed") == 5, f"{mode}: 5 logins as an unknown user fail")
            check(opens == 5, f"{mode}: once per login for an unknown user too ({opens} for 5)")
        if os.geteuid() == 0:
            publickey(tmp)
    return finish("login_lookups")


sys.exit(main())

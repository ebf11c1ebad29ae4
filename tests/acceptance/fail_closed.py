#!/usr/bin/python3
"""Issue 11: parleyd fails closed. A configuration that leaves no complete way to log
in (only a TOTP store, only --user, nothing at all, a config file without methods)
stops parleyd at start with a message naming what is missing, and nothing listens;
as root, password-file users that are not OS accounts need a session_user, which may
not be root. The demo runs only with --demo (or demo = true), and run as root (as
scripts/demo.sh is) it lets admin into the built-in command shell, where no system
command runs. Exits non-zero on any failure."""
import os
import subprocess
import sys
import tempfile

import pexpect

from common import QUESTION, SSH, check, finish, keygen, mkpasswd, start_parleyd, stop

PARLEYD = sys.argv[1]


def refused(tmp, args, expect, what):
    """parleyd ARGS must exit non-zero at once, its message containing every `expect`."""
    key = os.path.join(tmp, "hostkey")
    try:
        r = subprocess.run([PARLEYD, "--port", "0", "--host-key", key, *args], capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        check(False, f"{what}: parleyd started and kept running")
        return
    check(r.returncode != 0, f"{what}: parleyd exits non-zero (got {r.returncode})")
    check("listening" not in r.stdout, f"{what}: nothing listens")
    missing = [e for e in expect if e not in r.stderr]
    check(not missing, f"{what}: the message names what is missing ({r.stderr.strip()!r})")


def demo_login(port, command=None):
    args = ["-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=error", "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=keyboard-interactive", "-tt", "admin@127.0.0.1"]
    if command:
        args.append(command)
    child = pexpect.spawn(SSH, args, timeout=20)
    child.expect(QUESTION)
    a, b = int(child.match.group(1)), int(child.match.group(2))
    child.sendline(str(max(a, b)))
    return child


def main():
    tmp = tempfile.mkdtemp(prefix="parley-failclosed-")
    keygen(os.path.join(tmp, "hostkey"))
    oath = os.path.join(tmp, "users.oath")
    with open(oath, "w") as f:
        f.write("HOTP/T30 alice - 3132333435363738393031323334353637383930\n")
    os.chmod(oath, 0o600)

    refused(tmp, ["--totp-users-oath", oath], ["no way to log in", "TOTP store is a second factor"],
            "only a TOTP store")
    refused(tmp, ["--user", "bob"], ["no way to log in", "--user"], "only --user")
    refused(tmp, [], ["no way to log in", "--demo"], "nothing configured")
    conf = os.path.join(tmp, "parleyd.conf")
    with open(conf, "w") as f:
        f.write('[auth]\nusers = ["bob"]\n[totp]\nusers_oath = "users.oath"\n')
    refused(tmp, ["--config", conf], ["no way to log in"], "a config file without methods")
    refused(tmp, ["--auth-methods", "keyboard-interactive:higher-or-lower"], ["--user"],
            "the question in a chain without --user accounts")
    refused(tmp, ["--demo", "--auth-methods", "publickey", "--authorized-keys", "/nonexistent/%u"],
            ["--demo"], "--demo with other methods")
    if os.geteuid() == 0:
        pwfile = os.path.join(tmp, "passwords")
        with open(pwfile, "w") as f:
            f.write(f"ghost-user-1:{mkpasswd('yescrypt', 'x-y-z-w')}\n")
        os.chmod(pwfile, 0o600)
        refused(tmp, ["--password-file", pwfile], ["ghost-user-1", "session_user"],
                "as root, virtual users without a session_user")
        refused(tmp, ["--password-file", pwfile, "--session-user", "root"], ["root"],
                "as root, root as the session_user")
        refused(tmp, ["--password-file", pwfile, "--session-user", "nobody"], ["nobody", "nologin"],
                "as root, a session_user whose shell refuses logins")

    # demo = true in a config file runs the demo.
    with open(conf, "w") as f:
        f.write("demo = true\n")
    log_path = os.path.join(tmp, "parleyd.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--config", conf], log_path)
    try:
        child = demo_login(port, "whoami")
        child.expect(pexpect.EOF)
        child.close()
        out = child.before.decode(errors="replace")
        check(child.exitstatus == 0, f"demo = true: admin answers the question and runs a command "
                                     f"(status {child.exitstatus}, {out.strip()!r})")
    finally:
        stop(proc)

    if os.geteuid() != 0:
        print("fail_closed: not root, so the demo-as-root checks do not apply here")
        return finish("fail_closed")
    proc, port = start_parleyd(PARLEYD, tmp, ["--demo"], log_path)
    try:
        child = demo_login(port, "id")
        child.expect(pexpect.EOF)
        child.close()
        out = child.before.decode(errors="replace")
        check("uid=" not in out and "unknown command" in out,
              f"demo as root: 'id' is no system command there ({out.strip()!r})")
        check(child.exitstatus == 127, f"demo as root: an unknown command exits 127 (got {child.exitstatus})")

        child = demo_login(port)
        i = child.expect([b"parley command shell", pexpect.EOF, pexpect.TIMEOUT])
        check(i == 0, "demo as root: the shell is the built-in command shell")
        child.expect(b"admin> ")
        child.send(b"whoami\r")
        check(child.expect([b"\r\nadmin\r\n", pexpect.TIMEOUT]) == 0, "demo as root: whoami answers admin")
        child.send(b"cat /etc/shadow\r")
        i = child.expect([b"cat: unknown command", b"root:", pexpect.TIMEOUT])
        check(i == 0, "demo as root: cat /etc/shadow is an unknown command")
        child.send(b"exit\r")
        child.expect(pexpect.EOF)
        child.close()
        check(child.exitstatus == 0, f"demo as root: exit leaves with status 0 (got {child.exitstatus})")
    finally:
        stop(proc)
    check("sessions are the built-in command shell" in open(log_path).read(),
          "demo as root: the log says its sessions are the built-in command shell")
    return finish("fail_closed")


if __name__ == "__main__":
    sys.exit(main())

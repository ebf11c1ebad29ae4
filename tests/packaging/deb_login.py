#!/usr/bin/python3
"""Logs in to the installed parleyd with real OpenSSH `ssh` by password through
PAM (keyboard-interactive: PAM's "Password:" prompt) and runs `id -un`: the right
password lets USER in and the command runs as USER; a wrong one is refused.
The password comes from the environment (PARLEY_TEST_PASSWORD), never argv, and
is never printed.

    deb_login.py PORT USER        exits non-zero on any failure
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "acceptance"))
import pexpect  # noqa: E402
from common import check, finish, ssh  # noqa: E402

KI_ONLY = ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=keyboard-interactive"]


def login(port, user, password, command):
    """Answers the password prompt; returns (authenticated, output after it, exit status)."""
    child = ssh(port, user, KI_ONLY, command=command)
    child.timeout = 30
    i = child.expect([re.compile(rb"[Pp]assword: ?"), b"Permission denied", pexpect.EOF])
    if i != 0:
        child.close(force=True)
        return False, "", None
    child.sendline(password)
    i = child.expect([b"Authenticated to 127.0.0.1", b"Permission denied", re.compile(rb"[Pp]assword: ?"),
                      pexpect.EOF])
    if i != 0:
        child.close(force=True)
        return False, "", None
    child.expect(pexpect.EOF)
    out = child.before.decode(errors="replace")
    child.close()
    return True, out, child.exitstatus


def main():
    port, user = int(sys.argv[1]), sys.argv[2]
    password = os.environ["PARLEY_TEST_PASSWORD"]
    ok, _, _ = login(port, user, password + "-wrong", "true")
    check(not ok, f"a wrong password for {user} is refused")
    ok, out, status = login(port, user, password, "id -un")
    check(ok, f"{user} logs in by password through PAM (ssh: Authenticated)")
    lines = [line.strip() for line in out.splitlines() if not line.startswith("debug1:")]
    check(user in lines, f"the session runs as {user} (id -un printed it)")
    check(status == 0, f"ssh exits 0 after the command ({status})")
    return finish("deb_login")


if __name__ == "__main__":
    sys.exit(main())

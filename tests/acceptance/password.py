#!/usr/bin/python3
"""Password logins against parleyd with real OpenSSH `ssh` through a pseudo-terminal:
the "password" method and password over keyboard-interactive ("Password: ", echo off),
with a users file of mkpasswd hashes. Checks that wrong passwords fail, that the
password never appears in parleyd's log (trace level), and that a plain-text users file
is refused with its file and line. Exits non-zero on any failure (run by ctest).
"""
import os
import shutil
import subprocess
import sys
import tempfile

from common import check, finish, keygen, mkpasswd, outcome, ssh, start_parleyd, stop

PARLEYD = sys.argv[1]
PASSWORD = "c0rrect-h0rse-battery"


def login(port, user, method, password):
    child = ssh(port, user, ["-o", "PubkeyAuthentication=no", "-o", f"PreferredAuthentications={method}"])
    child.expect(rb"password: " if method == "password" else rb"Password: ")
    child.sendline(password)
    ok = outcome(child) == 0
    child.close(force=True)
    return ok


def main():
    tmp = tempfile.mkdtemp()
    keygen(os.path.join(tmp, "hostkey"))
    users = os.path.join(tmp, "users")
    with open(users, "w") as f:
        f.write("# test users\n")
        f.write(f"alice:{mkpasswd('yescrypt', PASSWORD)}\n")
        f.write(f"bob:{mkpasswd('sha512crypt', PASSWORD)}\n")
    os.chmod(users, 0o600)

    # A plain-text password file is refused, naming file and line.
    plain = os.path.join(tmp, "plain")
    with open(plain, "w") as f:
        f.write(f"alice:{mkpasswd('yescrypt', PASSWORD)}\ncarol:hunter2\n")
    os.chmod(plain, 0o600)
    r = subprocess.run([PARLEYD, "--port", "0", "--host-key", os.path.join(tmp, "hostkey"),
                        "--password-file", plain], capture_output=True, timeout=20)
    check(r.returncode != 0 and f"{plain}:2".encode() in r.stderr, "a plain-text users file is refused with file:line")
    check(b"hunter2" not in r.stderr, "the refused line's password is not echoed")

    log_path = os.path.join(tmp, "parleyd.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--password-file", users, "--log-level", "trace"], log_path)
    try:
        check(login(port, "alice", "password", PASSWORD), "alice logs in with the password method (yescrypt)")
        check(login(port, "bob", "keyboard-interactive", PASSWORD),
              "bob logs in with keyboard-interactive 'Password: ' (sha512crypt)")
        check(not login(port, "alice", "password", "wrong"), "a wrong password is refused")
        check(not login(port, "alice", "keyboard-interactive", "wrong"), "a wrong KI password is refused")
        check(not login(port, "mallory", "password", PASSWORD), "an unknown user is refused")
        check(proc.poll() is None, "parleyd is still running")
    finally:
        stop(proc)
    log = open(log_path, "rb").read().decode(errors="replace")
    check(PASSWORD not in log and "wrong" not in log, "no password in the log (trace level)")
    check("method=password" in log and "provider=password" in log and "outcome=accept" in log,
          "audit lines for password logins")
    shutil.rmtree(tmp, ignore_errors=True)
    return finish("password")


if __name__ == "__main__":
    sys.exit(main())

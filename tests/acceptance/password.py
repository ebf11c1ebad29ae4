#!/usr/bin/python3
"""Password logins against parleyd with real OpenSSH `ssh` through a pseudo-terminal:
the "password" method and password over keyboard-interactive ("Password: ", echo off),
with a users file of mkpasswd hashes. Checks that wrong passwords fail, that the
password never appears in parleyd's log (trace level), and that a plain-text users file
is refused with its file and line. Exits non-zero on any failure (run by ctest).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pexpect

PARLEYD = sys.argv[1]
SSH = "/usr/bin/ssh"
PASSWORD = "c0rrect-h0rse-battery"
failures = []
checks = [0]


def check(cond, what):
    checks[0] += 1
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def mkpasswd(scheme, password):
    r = subprocess.run(["/usr/bin/mkpasswd", "-m", scheme, "-s"], input=password.encode(),
                       capture_output=True, check=True)
    return r.stdout.decode().strip()


def ssh(port, user, method):
    args = ["-F", "/dev/null", "-v", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
            "-o", f"PreferredAuthentications={method}", "-o", "NumberOfPasswordPrompts=1",
            f"{user}@127.0.0.1", "true"]
    return pexpect.spawn(SSH, args, timeout=20)


def login(port, user, method, password):
    child = ssh(port, user, method)
    prompt = rb"password: " if method == "password" else rb"Password: "
    child.expect(prompt)
    child.sendline(password)
    i = child.expect([b"Authenticated to 127.0.0.1", b"Permission denied", pexpect.EOF])
    child.close(force=True)
    return i == 0


def main():
    tmp = tempfile.mkdtemp()
    key = os.path.join(tmp, "hostkey")
    subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
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
    r = subprocess.run([PARLEYD, "--port", "0", "--host-key", key, "--password-file", plain],
                       capture_output=True, timeout=20)
    err = r.stderr.decode()
    check(r.returncode != 0 and f"{plain}:2" in err, "a plain-text users file is refused with file:line")
    check("hunter2" not in err, "the refused line's password is not echoed")

    log_path = os.path.join(tmp, "parleyd.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([PARLEYD, "--port", "0", "--host-key", key, "--password-file", users,
                                 "--log-level", "trace"], stdout=subprocess.PIPE, stderr=log)
    m = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())
    if not m:
        proc.kill()
        raise SystemExit("parleyd did not start")
    port = int(m.group(1))
    try:
        check(login(port, "alice", "password", PASSWORD), "alice logs in with the password method (yescrypt)")
        check(login(port, "bob", "keyboard-interactive", PASSWORD),
              "bob logs in with keyboard-interactive 'Password: ' (sha512crypt)")
        check(not login(port, "alice", "password", "wrong"), "a wrong password is refused")
        check(not login(port, "alice", "keyboard-interactive", "wrong"), "a wrong KI password is refused")
        check(not login(port, "mallory", "password", PASSWORD), "an unknown user is refused")
        check(proc.poll() is None, "parleyd is still running")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    log = open(log_path, "rb").read().decode(errors="replace")
    check(PASSWORD not in log and "wrong" not in log.replace("wrong-", ""), "no password in the log (trace level)")
    check("method=password" in log and "provider=password" in log and "outcome=accept" in log,
          "audit lines for password logins")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"password: {checks[0] - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

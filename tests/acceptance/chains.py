#!/usr/bin/python3
"""Method chains with real OpenSSH `ssh` (pexpect): publickey then keyboard-interactive
Higher or Lower, and password then Higher or Lower. Checks partial success after the
first method, that the second method's challenge follows, that skipping the first
method is refused, and that a key with options in authorized_keys is not used.
Exits non-zero on any failure (run by ctest)."""
import os
import shutil
import subprocess
import sys
import tempfile

import pexpect

from common import QUESTION, answer_question, check, finish, keygen, mkpasswd, outcome, ssh, start_parleyd, stop

PARLEYD = sys.argv[1]
PASSWORD = "s3cond-factor-first"


def start(tmp, args):
    return start_parleyd(PARLEYD, tmp, args, os.path.join(tmp, "log"))


def answer(child):
    answer_question(child, right=True)


def main():
    tmp = tempfile.mkdtemp()
    keygen(os.path.join(tmp, "alice"))
    keygen(os.path.join(tmp, "carol"))
    keys = os.path.join(tmp, "keys")
    os.mkdir(keys)
    shutil.copy(os.path.join(tmp, "alice.pub"), os.path.join(keys, "alice"))
    with open(os.path.join(keys, "carol"), "w") as f:  # restricted: must not be used unrestricted
        f.write('from="10.0.0.1" ' + open(os.path.join(tmp, "carol.pub")).read())

    proc, port = start(tmp, ["--authorized-keys", os.path.join(keys, "%u"),
                             "--auth-methods", "publickey,keyboard-interactive:higher-or-lower"])
    key_opts = ["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
    try:
        child = ssh(port, "alice", [*key_opts, "-i", os.path.join(tmp, "alice")])
        i = child.expect([b'Authenticated using "publickey" with partial success', b"Permission denied", pexpect.EOF])
        check(i == 0, "publickey gives partial success")
        child.expect("Higher or Lower")
        answer(child)
        check(outcome(child) == 0, "publickey then Higher or Lower gets in")
        child.close(force=True)

        child = ssh(port, "alice", ["-o", "PubkeyAuthentication=no", "-o", "IdentityAgent=none"])
        i = child.expect([b"Permission denied \\(publickey\\)", QUESTION, pexpect.EOF])
        check(i == 0, "without the key only publickey is offered, and it is refused")
        child.close(force=True)

        child = ssh(port, "carol", [*key_opts, "-i", os.path.join(tmp, "carol")])
        i = child.expect([b"Permission denied", b"partial success", pexpect.EOF])
        check(i == 0, "a key with options in authorized_keys is not used")
        child.close(force=True)
    finally:
        stop(proc)

    users = os.path.join(tmp, "users")
    h = mkpasswd("yescrypt", PASSWORD)
    with open(users, "w") as f:
        f.write(f"bob:{h}\n")
    os.chmod(users, 0o600)
    proc, port = start(tmp, ["--password-file", users,
                             "--auth-methods", "password,keyboard-interactive:higher-or-lower"])
    try:
        child = ssh(port, "bob", ["-o", "PubkeyAuthentication=no"])
        child.expect(rb"password: ")
        child.sendline(PASSWORD)
        i = child.expect([b'Authenticated using "password" with partial success', b"Permission denied", pexpect.EOF])
        check(i == 0, "password gives partial success")
        answer(child)
        check(outcome(child) == 0, "password then Higher or Lower gets in")
        child.close(force=True)
        check(proc.poll() is None, "parleyd is still running")
    finally:
        stop(proc)

    # The same chain from a TOML config file instead of flags.
    conf = os.path.join(tmp, "parleyd.conf")
    with open(conf, "w") as f:
        f.write('[auth]\npassword_file = "users"\nmethods = ["password,keyboard-interactive:higher-or-lower"]\n')
    proc, port = start(tmp, ["--config", conf])
    try:
        child = ssh(port, "bob", ["-o", "PubkeyAuthentication=no"])
        child.expect(rb"password: ")
        child.sendline(PASSWORD)
        answer(child)
        check(outcome(child) == 0, "the chain configured in a TOML file works the same")
        child.close(force=True)
    finally:
        stop(proc)
    with open(conf, "w") as f:
        f.write('port = 0\n\n[auth]\nusers = ["admin"]\nmethod = ["password"]\n')
    r = subprocess.run([PARLEYD, "--config", conf], capture_output=True, timeout=20)
    check(r.returncode == 2 and f"{conf}:5: unknown key 'method'".encode() in r.stderr,
          "a bad config line is reported with file, line and reason")

    r = subprocess.run([PARLEYD, "--port", "0", "--auth-methods", "publickey,keyboard-interactive:nonsense"],
                       capture_output=True, timeout=20)
    check(r.returncode == 2 and b"keyboard-interactive:nonsense" in r.stderr, "an unknown method is a usage error naming it")
    log = open(os.path.join(tmp, "log"), "rb").read().decode(errors="replace")
    check(PASSWORD not in log, "no password in the log")
    shutil.rmtree(tmp, ignore_errors=True)
    return finish("chains")


if __name__ == "__main__":
    sys.exit(main())

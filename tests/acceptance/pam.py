#!/usr/bin/python3
"""keyboard-interactive:pam with real OpenSSH `ssh` (pexpect) against parleyd run
through pam_wrapper, from docs/examples/pam.conf. The "parley" PAM stack (written
here) is: our test module (blocks for users named block*), pam_matrix for the
password, our test module asking an info line plus "Colour: " (echo on) and
"PIN: " (echo off), then an account check. Shows each PAM prompt arriving as its
own round, the info text shown by ssh, a wrong password and a wrong PIN refused,
an unknown user refused, and a login completing while another connection is stuck
inside a blocking PAM module. No password or PIN reaches the trace log.

argv: parleyd, docs/examples, libpam_wrapper.so, pam_wrapper's module dir, our
test module."""
import os
import shutil
import sys
import tempfile
import time

import pexpect

from common import SSH, check, finish, session_user, start_parleyd, stop

PARLEYD, EXAMPLES, WRAPPER, MODULE_DIR, TEST_MODULE = map(os.path.abspath, sys.argv[1:6])
PASSWORD = "pam-matrix-secret"
PIN = "8642097531"
# pam_matrix's user must also be an account parleyd lets log in (getpwnam, a
# working shell): the tests' session user as root, else nobody.
USER = session_user() or "nobody"


def ssh(port, user, command="echo pam-ok-$((6*7))"):
    args = ["-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "NumberOfPasswordPrompts=1",
            "-o", "PreferredAuthentications=keyboard-interactive", f"{user}@127.0.0.1", command]
    return pexpect.spawn(SSH, args, timeout=20)


def full_login(port, user, password=PASSWORD, colour="blue", pin=PIN):
    """Returns (reached, result): how far the conversation got, and 'in' or 'denied'."""
    child = ssh(port, user)
    reached = []
    try:
        if child.expect([b"Password: ", b"Permission denied", pexpect.EOF]) != 0:
            return reached, "denied"
        reached.append("password")
        child.sendline(password)
        i = child.expect([b"Second factor required", b"Permission denied", pexpect.EOF])
        if i != 0:
            return reached, "denied"
        reached.append("info")
        child.expect(b"Colour: ")
        reached.append("colour")
        child.sendline(colour)
        child.expect(b"PIN: ")
        reached.append("pin")
        child.sendline(pin)
        i = child.expect([b"pam-ok-42", b"Permission denied", pexpect.EOF])
        return reached, "in" if i == 0 else "denied"
    finally:
        child.close(force=True)


def main():
    for path in (WRAPPER, TEST_MODULE, os.path.join(MODULE_DIR, "pam_matrix.so")):
        if not os.path.exists(path):
            raise SystemExit(f"missing {path}: install libpam-wrapper (scripts/install-deps.sh)")
    tmp = tempfile.mkdtemp()
    try:
        services = os.path.join(tmp, "pam.d")
        os.mkdir(services)
        state = os.path.join(tmp, "state")
        os.mkdir(state)
        passdb = os.path.join(tmp, "passdb")
        with open(passdb, "w") as f:
            f.write(f"{USER}:{PASSWORD}:parley\n")
        matrix = os.path.join(MODULE_DIR, "pam_matrix.so")
        with open(os.path.join(services, "parley"), "w") as f:
            f.write(f"auth required {TEST_MODULE} mode=block\n"
                    f"auth required {matrix} passdb={passdb}\n"
                    f"auth required {TEST_MODULE} mode=ask colour=blue pin={PIN}\n"
                    f"account required {TEST_MODULE} mode=account\n"
                    # As root parleyd opens a PAM session for the login (sshd's UsePAM).
                    f"session required {matrix} passdb={passdb}\n")
        shutil.copy(os.path.join(EXAMPLES, "pam.conf"), tmp)
        env = dict(os.environ, LD_PRELOAD=WRAPPER, PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=services,
                   PAM_WRAPPER_DISABLE_DEEPBIND="1", UID_WRAPPER_DISABLE_DEEPBIND="1",
                   PARLEY_PAM_TEST_DIR=state,
                   ASAN_OPTIONS="verify_asan_link_order=0:detect_leaks=0")
        old = dict(os.environ)
        os.environ.update(env)  # start_parleyd passes the environment on
        try:
            proc, port = start_parleyd(PARLEYD, tmp, ["--config", os.path.join(tmp, "pam.conf"),
                                                      "--log-level", "trace"], os.path.join(tmp, "log"))
        finally:
            os.environ.clear()
            os.environ.update(old)
        try:
            reached, result = full_login(port, USER)
            check(reached == ["password", "info", "colour", "pin"],
                  f"each PAM prompt is its own round, the info text is shown ({reached})")
            check(result == "in", "the right password, colour and PIN get in and the command runs")
            check(full_login(port, USER, password="wrong")[1] == "denied", "a wrong password is refused")
            check(full_login(port, USER, pin="1111")[1] == "denied", "a wrong PIN is refused")
            reached, result = full_login(port, "no-such-user-x")
            check(result == "denied" and "password" in reached,
                  "an unknown user is asked the same and refused")

            # A module that blocks: block1's conversation is stuck inside PAM.
            blocked = ssh(port, "block1")
            entered = os.path.join(state, "block1.entered")
            deadline = time.time() + 15
            while not os.path.exists(entered) and time.time() < deadline:
                time.sleep(0.1)
            check(os.path.exists(entered), "block1's PAM conversation entered the blocking module")
            start = time.time()
            reached, result = full_login(port, USER)
            check(result == "in" and time.time() - start < 10,
                  f"another login completes while a PAM module blocks ({time.time() - start:.1f} s)")
            open(os.path.join(state, "block1.release"), "w").close()
            i = blocked.expect([b"Password: ", b"Permission denied", pexpect.EOF])
            check(i == 0, "once the module returns, the blocked conversation goes on")
            blocked.close(force=True)
            check(proc.poll() is None, "parleyd is still running")
        finally:
            stop(proc)
        log = open(os.path.join(tmp, "log")).read()
        check(f"pam for {USER}" in log and "accepted" in log, "PAM results are logged")
        check(f"PAM session opened for '{USER}'" in log or os.geteuid() != 0,
              "as root, the login gets a PAM session (sshd's UsePAM)")
        leaked = [s for s in (PASSWORD, PIN) if s in log]
        check(not leaked, "no password or PIN in the trace log")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("pam")


if __name__ == "__main__":
    sys.exit(main())

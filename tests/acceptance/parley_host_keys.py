#!/usr/bin/python3
"""Issue 11, item 3: parley never sends a secret to a substituted host. Against real
parleyd (trace log) and real OpenSSH sshd (LogLevel DEBUG3), with the password in
PARLEY_PASSWORD so that any password or keyboard-interactive request would be answered:

- type substitution: the server at a known address offers an ECDSA key where
  known_hosts holds only an Ed25519 key for it; refused as a changed key under
  accept-new (no terminal) and ask (at a terminal: no question is asked), nothing is
  added to known_hosts, and the server's log shows no authentication request;
- a key revoked in the GlobalKnownHostsFile is refused under ask (no question);
- StrictHostKeyChecking=no with a changed key: the connection goes on, one line says
  password and keyboard-interactive are off, and the server's log shows no password
  and no keyboard-interactive request.

Needs root for sshd (a private sshd on a free loopback port, PAM's default sshd
service for keyboard-interactive; the user does not exist, which changes nothing
before authentication). Usage: parley_host_keys.py PARLEYD PARLEY"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pexpect

from common import (SSH_KEYGEN, SYSTEM_OPENSSH, Sshd, SshdDidNotStart, check, finish, keygen, mkpasswd,
                    start_parleyd, stop)

PASSWORD = "pw-Numbat-5820"
CHANGED = b"REMOTE HOST IDENTIFICATION HAS CHANGED"
QUESTION = b"Are you sure you want to continue connecting"


def keygen_type(path, kind):
    subprocess.run([SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-f", path], check=True)


def pub(path):
    """'type base64' of a .pub file (no comment)."""
    return " ".join(open(path + ".pub").read().split()[:2])


def parley_batch(exe, port, user, kh, strict, global_kh="/dev/null"):
    """parley without a terminal; the password in the environment."""
    e = dict(os.environ, PARLEY_PASSWORD=PASSWORD)
    args = [exe, "-p", str(port), "-o", f"UserKnownHostsFile={kh}", "-o", f"GlobalKnownHostsFile={global_kh}",
            "-o", f"StrictHostKeyChecking={strict}", "-o", "PubkeyAuthentication=no", "-o", "IdentityAgent=none",
            f"{user}@127.0.0.1", "echo should-not-run"]
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, env=e)


def parley_tty(exe, port, user, kh, strict, global_kh="/dev/null"):
    """parley at a terminal (pexpect); returns (asked the host question?, status, output)."""
    e = dict(os.environ, PARLEY_PASSWORD=PASSWORD)
    args = ["-p", str(port), "-o", f"UserKnownHostsFile={kh}", "-o", f"GlobalKnownHostsFile={global_kh}",
            "-o", f"StrictHostKeyChecking={strict}", "-o", "PubkeyAuthentication=no", "-o", "IdentityAgent=none",
            f"{user}@127.0.0.1", "echo should-not-run"]
    child = pexpect.spawn(exe, args, timeout=20, env=e)
    got = child.expect([QUESTION, pexpect.EOF, pexpect.TIMEOUT])
    out = child.before or b""
    asked = got == 0
    if asked:
        child.sendline("yes")  # a person who trusts the question: what the fix must not depend on
        child.expect([pexpect.EOF, pexpect.TIMEOUT])
        out += child.before or b""
    child.close(force=True)  # a parley still running (logged in) is a failure, not a hang
    return asked, child.exitstatus, out


def parleyd_cases(parleyd, exe, tmp):
    real = os.path.join(tmp, "real_ed25519")
    keygen(real)  # the key known_hosts holds for the host
    users = os.path.join(tmp, "users")
    with open(users, "w") as f:
        f.write(f"alice:{mkpasswd('yescrypt', PASSWORD)}\n")
    os.chmod(users, 0o600)

    # 1. Type substitution: the server has only an ECDSA key.
    d = os.path.join(tmp, "ecdsa-server")
    os.mkdir(d)
    keygen_type(os.path.join(d, "hostkey"), "ecdsa")
    log = os.path.join(d, "parleyd.log")
    proc, port = start_parleyd(parleyd, d, ["--password-file", users, "--log-level", "trace"], log)
    try:
        kh = os.path.join(tmp, "kh-substitution")
        text = f"[127.0.0.1]:{port} {pub(real)}\n"
        open(kh, "w").write(text)
        r = parley_batch(exe, port, "alice", kh, "accept-new")
        check(r.returncode == 255 and CHANGED in r.stderr,
              f"parleyd, accept-new: an ECDSA key where an Ed25519 key is known is refused as changed "
              f"(status {r.returncode}, {r.stderr[-300:]!r})")
        check(b"should-not-run" not in r.stdout, "parleyd, accept-new: nothing ran")
        check(open(kh).read() == text, "parleyd, accept-new: nothing was added to known_hosts")
        open(kh, "w").write(text)  # as it was, whatever accept-new did
        asked, status, out = parley_tty(exe, port, "alice", kh, "ask")
        check(not asked and status == 255 and CHANGED in out,
              f"parleyd, ask: refused as changed without asking (asked={asked}, status {status})")
        check(open(kh).read() == text, "parleyd, ask: nothing was added to known_hosts")
    finally:
        stop(proc)
    server_log = open(log).read()
    check("auth: user=" not in server_log and "method=password" not in server_log,
          "parleyd's trace log shows no authentication request at all (no password attempt)")

    # 2. A key revoked in the global file, under ask.
    d = os.path.join(tmp, "revoked-server")
    os.mkdir(d)
    keygen(os.path.join(d, "hostkey"))
    log = os.path.join(d, "parleyd.log")
    proc, port = start_parleyd(parleyd, d, ["--password-file", users, "--log-level", "trace"], log)
    try:
        kh = os.path.join(tmp, "kh-empty")  # missing: the user's file knows nothing
        global_kh = os.path.join(tmp, "global-revoked")
        open(global_kh, "w").write(f"@revoked [127.0.0.1]:{port} {pub(os.path.join(d, 'hostkey'))}\n")
        asked, status, out = parley_tty(exe, port, "alice", kh, "ask", global_kh)
        check(not asked and status == 255 and b"REVOKED HOST KEY DETECTED" in out,
              f"parleyd, ask: a key revoked in GlobalKnownHostsFile is refused without asking "
              f"(asked={asked}, status {status})")
        check(not os.path.exists(kh), "parleyd, ask: the revoked key was not added")
    finally:
        stop(proc)
    server_log = open(log).read()
    check("auth: user=" not in server_log, "parleyd's log shows no authentication request after the revoked key")

    # 3. StrictHostKeyChecking=no with a changed key: no password, no keyboard-interactive answer.
    d = os.path.join(tmp, "changed-server")
    os.mkdir(d)
    keygen(os.path.join(d, "hostkey"))
    log = os.path.join(d, "parleyd.log")
    proc, port = start_parleyd(parleyd, d, ["--password-file", users, "--log-level", "trace"], log)
    try:
        kh = os.path.join(tmp, "kh-changed")
        text = f"[127.0.0.1]:{port} {pub(real)}\n"
        open(kh, "w").write(text)
        r = parley_batch(exe, port, "alice", kh, "no")
        check(CHANGED in r.stderr and r.stderr.count(b"authentication are disabled to avoid man-in-the-middle") == 1,
              f"parleyd, no: the changed-key warning and one line saying password and keyboard-interactive "
              f"are off ({r.stderr[-300:]!r})")
        check(r.returncode == 255 and b"should-not-run" not in r.stdout,
              f"parleyd, no: not logged in (status {r.returncode})")
        check(open(kh).read() == text, "parleyd, no: known_hosts unchanged")
    finally:
        stop(proc)
    server_log = open(log).read()
    check("method=password" not in server_log and "method=keyboard-interactive" not in server_log,
          "parleyd's trace log shows no password and no keyboard-interactive attempt under `no`")
    check(PASSWORD not in server_log, "the password is not in parleyd's log")


def sshd_cases(exe, tmp):
    if os.geteuid() != 0 or not os.access(SYSTEM_OPENSSH.sshd, os.X_OK):
        check(False, "root and /usr/sbin/sshd are available for the sshd cases")
        return
    real = os.path.join(tmp, "real_ed25519")
    for name, kind, strict, known in (("substitution", "ecdsa", "accept-new", "real"),
                                      ("substitution-ask", "ecdsa", "ask", "real"),
                                      ("changed-no", "ed25519", "no", "real")):
        d = os.path.join(tmp, "sshd-" + name)
        os.mkdir(d)
        keygen_type(os.path.join(d, "hostkey"), kind)  # Sshd uses the key it finds there
        config = ["UsePAM yes", "KbdInteractiveAuthentication yes", "PasswordAuthentication yes",
                  "PubkeyAuthentication no", "PermitRootLogin no"]
        try:
            with Sshd(SYSTEM_OPENSSH, d, config, log_level="DEBUG3") as sshd:
                port = sshd.port
                kh = os.path.join(d, "known_hosts")
                text = f"[127.0.0.1]:{port} {pub(real)}\n"
                open(kh, "w").write(text)
                if strict == "ask":
                    asked, status, out = parley_tty(exe, port, "parleynobody", kh, strict)
                    check(not asked and status == 255 and CHANGED in out,
                          f"sshd, ask: an ECDSA key where an Ed25519 key is known is refused without asking "
                          f"(asked={asked}, status {status})")
                else:
                    r = parley_batch(exe, port, "parleynobody", kh, strict)
                    if strict == "no":
                        check(CHANGED in r.stderr and b"authentication are disabled to avoid man-in-the-middle" in r.stderr
                              and r.returncode == 255,
                              f"sshd, no: changed key accepted with secrets off, then not logged in "
                              f"(status {r.returncode}, {r.stderr[-300:]!r})")
                    else:
                        check(r.returncode == 255 and CHANGED in r.stderr,
                              f"sshd, {strict}: an ECDSA key where an Ed25519 key is known is refused as changed "
                              f"(status {r.returncode}, {r.stderr[-300:]!r})")
                check(open(kh).read() == text, f"sshd, {strict}: known_hosts unchanged")
                time.sleep(0.5)  # let sshd's connection process write its last lines
        except SshdDidNotStart as e:
            check(False, f"sshd ({name}) starts ({e})")
            continue
        server_log = sshd.log()
        check("Server listening" in server_log or "debug" in server_log, f"sshd ({name}) logged at DEBUG3")
        check("method password" not in server_log and "method keyboard-interactive" not in server_log
              and "input_userauth_info_response" not in server_log,
              f"sshd ({name}, {strict}): its DEBUG3 log shows no password and no keyboard-interactive request")
        if strict != "no":
            check("userauth-request" not in server_log,
                  f"sshd ({name}, {strict}): no authentication request reached sshd at all")
        else:
            check("userauth-request" in server_log,
                  "sshd (no): the connection did go on to authentication (so the check above means something)")
        check(PASSWORD not in server_log, f"sshd ({name}): the password is not in its log")


def main():
    parleyd, exe = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("parley_host_keys: terminated"))
    tmp = tempfile.mkdtemp(prefix="parley-hostkeys-")
    try:
        parleyd_cases(parleyd, exe, tmp)
        sshd_cases(exe, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("parley_host_keys")


if __name__ == "__main__":
    sys.exit(main())

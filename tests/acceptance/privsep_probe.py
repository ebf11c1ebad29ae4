#!/usr/bin/python3
"""Issue 14: what a compromised network process could try, tried from inside it.

parleyd_probe is a test build of parleyd (never installed) whose network process, once
confined and serving, tries the one thing PARLEY_PROBE names: open the host key file,
/etc/shadow or a user's ~/.google_authenticator, execve("/bin/sh"), setuid(0),
PTRACE_ATTACH to the monitor, or a TCP connection to a listener of this script. Each
must fail: an errno (EPERM/EACCES/ENOENT) the probe prints, or the seccomp filter killing
the network process with SIGSYS, which the monitor logs before it exits. The listener
must see no connection. Also: the production parleyd has no such hook. Root only (CI)."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from common import SESSION_USER, check, finish, mkpasswd, session_user, start_parleyd, stop, write_private

PARLEYD, PROBE = sys.argv[1], sys.argv[2]
GA_DIR = "/run/parley-privsep-probe"
REFUSED = ("Operation not permitted", "Permission denied", "No such file or directory")


def run_probe(tmp, what, users):
    """Starts parleyd_probe with PARLEY_PROBE=what; returns (probe line or None, log text)."""
    log_path = os.path.join(tmp, f"log-{len(os.listdir(tmp))}")
    os.environ["PARLEY_PROBE"] = what
    try:
        proc, _ = start_parleyd(PROBE, tmp, ["--privilege-separation", "--password-file", users], log_path)
    finally:
        del os.environ["PARLEY_PROBE"]
    line, trying = None, False
    deadline = time.time() + 15
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        log = open(log_path, errors="replace").read()
        if "killed by signal" in log or re.search(r"^probe (?!trying)", log, re.M):
            break
        time.sleep(0.1)
    stop(proc)
    log = open(log_path, errors="replace").read()
    for text in log.splitlines():
        if text == f"probe trying {what}":
            trying = True
        elif text.startswith("probe "):
            line = text
    return trying, line, log


def main():
    if os.geteuid() != 0:
        check(False, "privsep_probe.py must run as root (CI does)")
        return finish("privsep_probe")
    session_user()
    with open(PARLEYD, "rb") as f:
        check(b"PARLEY_PROBE" not in f.read(), "the production parleyd has no probe hook")
    tmp = tempfile.mkdtemp(prefix="parley-probe-")
    os.makedirs(GA_DIR, exist_ok=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        users = write_private(os.path.join(tmp, "users"), f"alice:{mkpasswd('yescrypt', 'probe-pw')}\n")
        ga = write_private(os.path.join(GA_DIR, ".google_authenticator"), "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n",
                           mode=0o400, owner=SESSION_USER)
        hostkey = os.path.join(tmp, "hostkey")  # start_parleyd makes it, mode 0600
        attempts = [f"open:{hostkey}", "open:/etc/shadow", f"open:{ga}", "execve", "setuid", "ptrace",
                    f"connect:{listener.getsockname()[1]}"]
        # The control: a name the probe does not know. The hook runs, answers EINVAL,
        # and the network process lives on.
        trying, line, log = run_probe(tmp, "nothing", users)
        check(trying and line == "probe nothing: Invalid argument" and "killed by signal" not in log,
              f"the probe runs in the confined network process and an allowed path survives ({line})")
        for what in attempts:
            trying, line, log = run_probe(tmp, what, users)
            check(trying, f"{what}: the probe reached the attempt")
            killed = "the network process killed by signal 31" in log
            refused = line is not None and line.split(": ", 1)[1] in REFUSED
            check((killed or refused) and (line is None or "succeeded" not in line),
                  f"{what}: " + (line or ("killed by the seccomp filter" if killed else "no outcome")))
        try:
            conn, _ = listener.accept()
            conn.close()
            check(False, "the listener saw a connection from the network process")
        except BlockingIOError:
            check(True, "the listener saw no connection")
    finally:
        listener.close()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(GA_DIR, ignore_errors=True)
    return finish("privsep_probe")


sys.exit(main())

#!/usr/bin/python3
"""Starts examples/consumer's Higher or Lower server (built against an installed
parley) and logs in with real OpenSSH `ssh`: a wrong answer is refused, the right
one lets admin in, an unknown user is not let in by a right answer. Also checks
that the program runs with the installed libparley.so.0 (from LIBDIR).

    consumer_login.py PROGRAM LIBDIR      exits non-zero on any failure
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "acceptance"))
from common import answer_question, check, finish, outcome, ssh, stop  # noqa: E402

KI_ONLY = ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=keyboard-interactive"]


def main():
    program, libdir = sys.argv[1], os.path.realpath(sys.argv[2])
    name = os.path.basename(os.path.dirname(program)) or program
    ldd = subprocess.run(["ldd", program], capture_output=True, text=True).stdout
    m = re.search(r"libparley\.so\.0 => (\S+)", ldd)
    check(m is not None and os.path.realpath(os.path.dirname(m.group(1))) == libdir,
          f"{name}: libparley.so.0 is the installed one in {libdir} ({m.group(1) if m else 'not linked'})")
    server = subprocess.Popen([program, "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = server.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+) \(libparley (\S+)\)", line)
        check(m is not None, f"{name}: the server starts ({line.strip()!r})")
        if not m:
            return finish(name)
        port = int(m.group(1))
        child = ssh(port, "admin", KI_ONLY)
        answer_question(child, right=False)
        check(outcome(child) == 1, f"{name}: a wrong answer is refused (ssh: Permission denied)")
        child.close(force=True)
        child = ssh(port, "admin", KI_ONLY)
        child.expect("Answer the question to show me you are human.")
        answer_question(child, right=True)
        check(outcome(child) == 0, f"{name}: the right answer lets admin in (ssh: Authenticated)")
        child.close(force=True)
        child = ssh(port, "root", KI_ONLY)
        answer_question(child, right=True)
        check(outcome(child) == 1, f"{name}: another user is refused even on the right answer")
        child.close(force=True)
        check(server.poll() is None, f"{name}: the server is still running")
    finally:
        stop(server)
    return finish(name)


if __name__ == "__main__":
    sys.exit(main())

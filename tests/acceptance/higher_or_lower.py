#!/usr/bin/python3
"""Seed 004's acceptance test: real OpenSSH `ssh`, driven through a pseudo-terminal
(pexpect), answers parleyd's "Higher or Lower" keyboard-interactive challenge.

Checks that the screen shows the name, the instruction and the question exactly as
the seed's transcript; that the right answer gets in; that a wrong answer gets a new
question; that past the limit ssh reports permission denied; that an unknown user is
not let in; that the log has its audit lines and nothing else. With a second argument,
the same login against the README's example program. Exits non-zero on any failure.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pexpect

from common import QUESTION, answer_question, check, finish, outcome, ssh, start_parleyd, stop

PARLEYD = sys.argv[1]
EXAMPLE = sys.argv[2] if len(sys.argv) > 2 else None  # examples/higher_or_lower_server.cpp
KI_ONLY = ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=keyboard-interactive"]


def seed_screen(child):
    child.expect("Higher or Lower")
    child.expect(re.escape("Answer the question to show me you are human."))


def asked(child, right):
    a, b = answer_question(child, right)
    check(a != b and 0 <= a <= 99 and 0 <= b <= 99, f"two distinct numbers 0-99 ({a}, {b})")


def main():
    tmp = tempfile.mkdtemp()
    log_path = os.path.join(tmp, "parleyd.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--demo", "--log-level", "trace"], log_path)
    try:
        # 1. The screen of the seed's transcript, and the right answer gets in.
        child = ssh(port, "admin", KI_ONLY)
        seed_screen(child)
        asked(child, right=True)
        check(outcome(child) == 0, "the right answer gets in (ssh: Authenticated to 127.0.0.1)")
        child.close(force=True)

        # 2. A wrong answer gets a new question, then the right one gets in.
        child = ssh(port, "admin", KI_ONLY)
        asked(child, right=False)
        i = child.expect([QUESTION, b"Permission denied", pexpect.EOF])
        check(i == 0, "a wrong answer gets a new question")
        if i == 0:
            a, b = int(child.match.group(1)), int(child.match.group(2))
            child.sendline(str(max(a, b)))
            check(outcome(child) == 0, "after a wrong answer, the right one gets in")
        child.close(force=True)

        # 3. Past the limit (three questions per attempt), ssh reports permission denied.
        child = ssh(port, "admin", KI_ONLY)
        for _ in range(3):
            asked(child, right=False)
        i = child.expect([b"Permission denied", QUESTION, b"Authenticated", pexpect.EOF])
        check(i == 0, "past the limit ssh reports permission denied")
        child.expect(pexpect.EOF)
        child.close()
        check(child.exitstatus == 255, f"ssh exits 255 after permission denied ({child.exitstatus})")

        # 4. An unknown user sees the same challenge and fails like a wrong answer.
        child = ssh(port, "nobody-here", KI_ONLY)
        seed_screen(child)
        asked(child, right=True)
        i = child.expect([b"Permission denied", QUESTION, b"Authenticated", pexpect.EOF])
        check(i in (0, 1), "an unknown user is not let in by a right answer")
        child.close(force=True)
        check(proc.poll() is None, "parleyd is still running")
    finally:
        stop(proc)

    if EXAMPLE:
        # The README's example program: the seed's provider through the embedding API.
        ex = subprocess.Popen([EXAMPLE, "0"], stdout=subprocess.PIPE)
        try:
            m = re.match(r"listening on 127\.0\.0\.1:(\d+)", ex.stdout.readline().decode())
            check(m is not None, "the example server starts")
            if m:
                child = ssh(int(m.group(1)), "admin", KI_ONLY)
                seed_screen(child)
                answer_question(child, right=True)
                check(outcome(child) == 0, "the example server lets admin in on the right answer")
                child.close(force=True)
        finally:
            stop(ex)

    log = open(log_path, "rb").read().decode(errors="replace")
    check("outcome=accept" in log and "provider=higher-or-lower" in log, "audit log has the accepted attempt")
    # Audit lines have only fixed fields (numbers are counts, never answers).
    audit_format = re.compile(r"auth: user='[^']*' method=\S+ provider=\S+ prompts=\d+ round=\d+ "
                              r"outcome=[a-z-]+ peer=127\.0\.0\.1:\d+$")
    audit = [l for l in log.splitlines() if "auth: " in l]
    check(len(audit) >= 8, f"one audit line per step ({len(audit)})")
    odd = [l for l in audit if not audit_format.search(l)]
    check(not odd, "every audit line has only its fixed fields" + (": " + odd[0] if odd else ""))
    # Every other line is one of parleyd's fixed messages, none of which carries
    # an answer (a new kind of line must be added here deliberately).
    known = re.compile(r"\] (listening on \S+|\S+: connection open|\S+: (key exchange|rekey) done: .*"
                       r"|\S+: service \S+ started|\S+: user '[^']*' authenticated"
                       r"|\S+: disconnected: .*|\S+: authentication ended the connection: .*"
                       r"|\S+: session \d+: (shell|exec|subsystem)( \S+)?( refused)?"
                       r"|\S+: stopping|stopped|open-file limit \d+"
                       r"|(the network process )?can hold \d+ connections at once: .*"
                       r"|demo as root: sessions are the built-in command shell"
                       # As root, separated: the network process and the monitor's own lines.
                       r"|network process confined as \S+ in \S+"
                       r"|the network process (exited with status \d+|killed by signal \d+ \(.*\))"
                       r"|the network process has gone: stopping"
                       r"|monitor: conn \d+: (connection opened from \S+|connection closed|authenticated \S+"
                       r"|signed the exchange hash of a \S+ key exchange with \S+)"
                       r"|checks queued at most \d+ at once \(bound \d+\), \d+ refused; "
                       r"\d+ connections refused before authentication"
                       r"|checks queued at most \d+ at once \(bound \d+\), \d+ refused)$")  # the monitor's
    other = [l for l in log.splitlines() if l.strip() and "auth: " not in l]
    unknown = [l for l in other if not known.search(l)]
    check(not unknown, "every other log line is a known, answer-free message" +
          (": " + unknown[0] if unknown else ""))
    shutil.rmtree(tmp, ignore_errors=True)
    return finish("higher_or_lower")


if __name__ == "__main__":
    sys.exit(main())

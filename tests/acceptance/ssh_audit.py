#!/usr/bin/python3
"""Issue 12: parleyd's default offer passes a hardening audit. Debian's ssh-audit (2.5.0)
scans parleyd with its own defaults (no --kex or --macs given to either) and its report
has no failure and no warning; the only notes tolerated are "unknown algorithm" for
kex-strict-s-v00@openssh.com and mlkem768x25519-sha256, which that version predates. The
offer has mlkem768x25519-sha256 first, no ecdh-sha2-nistp256 and no encrypt-and-MAC
hmac-sha2-256/512. And the audit can fail: parleyd told to offer ecdh-sha2-nistp256 (or
hmac-sha2-256) gets a failure (or a warning) for it.

ssh-audit marks each message's level only by its colour (red fail, yellow warn; the
recommendations, "(rec) -name", have no [fail]/[warn] text at all), so the report is
read with colours on and split into coloured messages. Its exit status agrees: 3 for
any failure, 2 for any warning. Usage: ssh_audit.py PARLEYD"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from common import check, finish, mkpasswd, start_parleyd, stop

SSH_AUDIT = "/usr/bin/ssh-audit"
TOLERATED_UNKNOWN = ("kex-strict-s-v00@openssh.com", "mlkem768x25519-sha256")
# ssh-audit's OutputBuffer.COLORS on POSIX: "\033[0;31m...\033[0m" fail, 33 warn.
MESSAGE = re.compile(r"\x1b\[0;(\d+)m(.*?)\x1b\[0m", re.S)
LEVELS = {"31": "fail", "33": "warn"}
ALGORITHM = re.compile(r"^\((kex|key|enc|mac)\) (\S+)", re.M)
UNKNOWN = re.compile(r"^\((?:kex|key|enc|mac)\) (\S+)\s+-- \[warn\] unknown algorithm$")
UNKNOWN_SUMMARY = re.compile(r"!!! WARNING: unknown algorithm\(s\) found!: (\S+?)\.  Please")
ETM = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com"


def audit(port):
    """ssh-audit of 127.0.0.1:port; returns (exit status, report with colours)."""
    r = subprocess.run([SSH_AUDIT, "-p", str(port), "127.0.0.1"], capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def plain(report):
    return re.sub(r"\x1b\[[0-9;]*m", "", report)


def tolerated(text):
    """True for ssh-audit's notes that it does not know one of TOLERATED_UNKNOWN."""
    m = UNKNOWN.match(text)
    if m:
        return m.group(1) in TOLERATED_UNKNOWN
    m = UNKNOWN_SUMMARY.match(text)
    return bool(m) and all(name in TOLERATED_UNKNOWN for name in m.group(1).split(","))


def problems(report):
    """Every failure and warning in a report, as 'level: text', but the tolerated notes."""
    out = []
    for colour, text in MESSAGE.findall(report):
        level = LEVELS.get(colour)
        text = text.strip()
        if level and not (level == "warn" and tolerated(text)):
            out.append(f"{level}: {text}")
    return out


def offer(report):
    """{'kex': [...], 'key': [...], 'enc': [...], 'mac': [...]} as the report lists them."""
    lists = {"kex": [], "key": [], "enc": [], "mac": []}
    for kind, name in ALGORITHM.findall(plain(report)):
        lists[kind].append(name)
    return lists


def run(parleyd, tmp, name, args):
    """ssh-audit of a parleyd started with `args` (and a password file: parleyd needs a
    way to log in); returns (exit status, report)."""
    users = os.path.join(tmp, "passwords")
    if not os.path.exists(users):
        with open(users, "w") as f:
            f.write(f"alice:{mkpasswd('yescrypt', 'pw-Audit-' + os.urandom(6).hex())}\n")
        os.chmod(users, 0o600)
    log = os.path.join(tmp, f"parleyd-{name}.log")
    proc, port = start_parleyd(parleyd, tmp, ["--password-file", users, *args], log)
    try:
        return audit(port)
    finally:
        stop(proc)


def main():
    parleyd = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="parley-ssh-audit-")
    try:
        # The defaults.
        status, report = run(parleyd, tmp, "defaults", [])
        found = problems(report)
        algs = offer(report)
        check(len(algs["kex"]) > 0 and len(algs["mac"]) > 0 and len(algs["enc"]) > 0,
              f"ssh-audit read parleyd's offer (kex {algs['kex']})")
        check(not found, "ssh-audit: no failure and no warning for parleyd's defaults"
              + "".join(f"\n       {p}" for p in found))
        check(status in (0, 2) and (status == 0 or "unknown algorithm" in plain(report)),
              f"ssh-audit's exit status agrees: 0, or 2 only for its tolerated unknown notes (got {status})")
        check(algs["kex"][:1] == ["mlkem768x25519-sha256"],
              f"mlkem768x25519-sha256 is offered first (kex {algs['kex']})")
        check("ecdh-sha2-nistp256" not in algs["kex"], f"no ecdh-sha2-nistp256 in the offer (kex {algs['kex']})")
        check(not {"hmac-sha2-256", "hmac-sha2-512"} & set(algs["mac"]),
              f"no encrypt-and-MAC hmac-sha2-256/512 in the offer (mac {algs['mac']})")
        if found or status not in (0, 2):
            print(plain(report), flush=True)

        # The audit can fail: ecdh-sha2-nistp256 and hmac-sha2-256 when configured, each with
        # otherwise clean lists so that it alone makes the verdict.
        status, report = run(parleyd, tmp, "nistp256",
                             ["--kex", "curve25519-sha256,ecdh-sha2-nistp256", "--macs", ETM])
        found = problems(report)
        check(status == 3 and any(p.startswith("fail: (kex) ecdh-sha2-nistp256 ") for p in found),
              f"with --kex ...,ecdh-sha2-nistp256: ssh-audit fails it (status {status}, {found})")
        status, report = run(parleyd, tmp, "hmac", ["--kex", "curve25519-sha256", "--macs", ETM + ",hmac-sha2-256"])
        found = problems(report)
        check(status == 2 and any(p.startswith("warn: (mac) hmac-sha2-256 ") for p in found)
              and not any(p.startswith("fail") for p in found),
              f"with --macs ...,hmac-sha2-256: ssh-audit warns on it (status {status}, {found})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("ssh_audit")


if __name__ == "__main__":
    sys.exit(main())

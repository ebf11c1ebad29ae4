#!/usr/bin/python3
"""`parley cp` against OpenSSH's `scp` (Debian 12's 9.2, which copies over SFTP), both
to and from the same OpenSSH sshd (its sftp-server), in one run.

    /usr/bin/python3 bench/copy_throughput.py build/perf/apps/parley/parley [--size MiB] [--rounds N] [--json]

A file of SIZE random bytes (1024 MiB by default) goes up and comes back with each
tool; rounds alternate between the tools so both see the same background load. Every
copy is checked by SHA-256. Printed: the median time and MiB/s per tool and direction,
and parley's time over scp's (the issue's bound: at most 1.2). Both ends run on this
machine, so the figures compare the clients, not a network; the file system is synced
before each copy, so none pays for the writeback of the one before. Exits 1 if a copy arrived
damaged; the ratio is reported, never asserted (that is a benchmark's job, not a test's).
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port, wait_for_port

SSHD = "/usr/sbin/sshd"
SCP = "/usr/bin/scp"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def setup(tmp, size_mib):
    """A private sshd with sftp-server, a key for the current user, a file to copy."""
    for name in ("hostkey", "id"):
        subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(tmp, name)],
                       check=True)
    shutil.copy(os.path.join(tmp, "id.pub"), os.path.join(tmp, "authorized_keys"))
    port = free_port()
    with open(os.path.join(tmp, "sshd_config"), "w") as f:
        f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp}/hostkey\nPidFile none\n"
                f"AuthorizedKeysFile {tmp}/authorized_keys\nStrictModes no\nUsePAM no\n"
                f"PermitRootLogin prohibit-password\nSubsystem sftp {SFTP_SERVER}\nLogLevel ERROR\n")
    os.makedirs("/run/sshd", exist_ok=True)
    sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", os.path.join(tmp, "sshd_config")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "sshd.log"), "w"))
    if not wait_for_port(port, sshd):
        sys.exit("sshd did not start: " + open(os.path.join(tmp, "sshd.log")).read()[-500:])
    with open(os.path.join(tmp, "hostkey.pub")) as f:
        kind, blob = f.read().split()[:2]
    with open(os.path.join(tmp, "known_hosts"), "w") as f:
        f.write(f"[127.0.0.1]:{port} {kind} {blob}\n")
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    common = (f"Host b\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {tmp}/id\n"
              f"  UserKnownHostsFile {tmp}/known_hosts\n  BatchMode yes\n")
    with open(os.path.join(tmp, "parley.cfg"), "w") as f:
        f.write(common + "  WarnWeakCrypto no\n")
    with open(os.path.join(tmp, "ssh.cfg"), "w") as f:
        f.write(common)
    source = os.path.join(tmp, "source.bin")
    with open(source, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    return sshd, source


def timed(argv):
    os.sync()  # no writeback of the last copy's gigabyte during this one
    t0 = time.monotonic()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"{argv[0]} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parley")
    ap.add_argument("--size", type=int, default=1024, help="MiB (default 1024)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    parley = os.path.abspath(args.parley)
    tmp = tempfile.mkdtemp(prefix="parley-copy-bench-")
    sshd = None
    try:
        sshd, source = setup(tmp, args.size)
        want = sha256(source)
        tools = {
            "parley cp": lambda src, dst: [parley, "cp", "-q", "-F", os.path.join(tmp, "parley.cfg"), src, dst],
            "scp": lambda src, dst: [SCP, "-q", "-F", os.path.join(tmp, "ssh.cfg"), src, dst],
        }
        times = {(t, d): [] for t in tools for d in ("up", "down")}
        damaged = []
        for _ in range(args.rounds):
            for tool, argv in tools.items():
                remote = os.path.join(tmp, "remote.bin")
                back = os.path.join(tmp, "back.bin")
                times[(tool, "up")].append(timed(argv(source, f"b:{remote}")))
                times[(tool, "down")].append(timed(argv(f"b:{remote}", back)))
                for path, what in ((remote, "up"), (back, "down")):
                    if sha256(path) != want:
                        damaged.append(f"{tool} {what}")
                    os.unlink(path)
        rows = {}
        for (tool, direction), values in times.items():
            median = statistics.median(values)
            rows[f"{tool} {direction}"] = {"seconds": round(median, 3), "mib_per_s": round(args.size / median, 1),
                                           "all": [round(v, 3) for v in values]}
        ratios = {d: round(rows[f"parley cp {d}"]["seconds"] / rows[f"scp {d}"]["seconds"], 3) for d in ("up", "down")}
        if args.json:
            print(json.dumps({"size_mib": args.size, "rounds": args.rounds, "rows": rows, "ratio": ratios,
                              "damaged": damaged}, indent=2))
        else:
            print(f"{args.size} MiB, {args.rounds} alternated rounds, medians")
            print(f"{'':16} {'seconds':>8} {'MiB/s':>8}")
            for name, row in rows.items():
                print(f"{name:16} {row['seconds']:8.2f} {row['mib_per_s']:8.1f}")
            for d, r in ratios.items():
                print(f"parley cp / scp, {d}: {r:.2f} (bound: 1.20)")
            for d in damaged:
                print(f"DAMAGED: {d}")
        return 1 if damaged else 0
    finally:
        if sshd is not None:
            sshd.send_signal(signal.SIGTERM)
            sshd.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

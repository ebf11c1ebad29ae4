#!/usr/bin/python3
"""File transfer against parleyd with real OpenSSH clients, logging in by publickey:
a 100 MiB random file up and down with scp (SFTP mode, OpenSSH's default), with
scp -O (the legacy protocol over exec) and with sftp -b, each copy's SHA-256 the
original's; sftp ls; and with --sftp-server '' sftp and SFTP-mode scp fail while
scp -O still works. Prints each transfer's time. Exits non-zero on any failure."""
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

from common import check, finish, keygen, start_parleyd, stop

PARLEYD = sys.argv[1]
SCP = "/usr/bin/scp"
SFTP = "/usr/bin/sftp"
ME = pwd.getpwuid(os.getuid()).pw_name
SIZE = 100 << 20


def opts(port, key):
    return ["-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=error", "-o", f"Port={port}"]


def sha256(path):
    if not os.path.exists(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def timed(what, args, stdin=None, timeout=180, size=None):
    t = time.time()
    try:
        r = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"     {what}: timed out after {timeout} s", flush=True)
        return subprocess.CompletedProcess(args, -1, b"", b"timeout")
    took = time.time() - t
    print(f"     {what}: {took:.2f} s (exit {r.returncode})"
          + (f", {size / took / (1 << 20):.0f} MiB/s" if r.returncode == 0 and size else ""), flush=True)
    return r


def remote(path):
    return f"{ME}@127.0.0.1:{path}"


def copy_checks(port, key, tmp, src, want):
    o = opts(port, key)
    for label, flags in (("scp (SFTP)", []), ("scp -O", ["-O"])):
        tag = "sftp" if not flags else "legacy"
        up = os.path.join(tmp, f"up-{tag}.bin")
        down = os.path.join(tmp, f"down-{tag}.bin")
        r = timed(f"{label} upload 100 MiB", [SCP, *flags, *o, src, remote(up)], size=SIZE)
        check(r.returncode == 0 and sha256(up) == want,
              f"{label}: upload of 100 MiB has the original's SHA-256 (exit {r.returncode}, {r.stderr[-200:]!r})")
        r = timed(f"{label} download 100 MiB", [SCP, *flags, *o, remote(up), down], size=SIZE)
        check(r.returncode == 0 and sha256(down) == want,
              f"{label}: download of 100 MiB has the original's SHA-256 (exit {r.returncode}, {r.stderr[-200:]!r})")
        for p in (up, down):
            if os.path.exists(p):
                os.unlink(p)

    up = os.path.join(tmp, "up-sftpb.bin")
    down = os.path.join(tmp, "down-sftpb.bin")
    batch = os.path.join(tmp, "batch")
    with open(batch, "w") as f:
        f.write(f'put "{src}" "{up}"\n')
    r = timed("sftp -b put 100 MiB", [SFTP, *o, "-b", batch, f"{ME}@127.0.0.1"], size=SIZE)
    check(r.returncode == 0 and sha256(up) == want,
          f"sftp -b: put of 100 MiB has the original's SHA-256 (exit {r.returncode}, {r.stderr[-200:]!r})")
    with open(batch, "w") as f:
        f.write(f'get "{up}" "{down}"\n')
    r = timed("sftp -b get 100 MiB", [SFTP, *o, "-b", batch, f"{ME}@127.0.0.1"], size=SIZE)
    check(r.returncode == 0 and sha256(down) == want,
          f"sftp -b: get of 100 MiB has the original's SHA-256 (exit {r.returncode}, {r.stderr[-200:]!r})")
    with open(batch, "w") as f:
        f.write(f'ls -l "{tmp}"\n')
    r = timed("sftp -b ls", [SFTP, *o, "-b", batch, f"{ME}@127.0.0.1"], timeout=60)
    listing = r.stdout.decode(errors="replace")
    check(r.returncode == 0 and "up-sftpb.bin" in listing and str(SIZE) in listing,
          f"sftp -b: ls -l of the temp dir shows the file and its size (exit {r.returncode})")
    for p in (up, down):
        if os.path.exists(p):
            os.unlink(p)


def no_sftp_checks(port, key, tmp, src, want):
    """--sftp-server '': no sftp subsystem, so sftp and SFTP-mode scp fail; scp -O works."""
    o = opts(port, key)
    batch = os.path.join(tmp, "batch")
    with open(batch, "w") as f:
        f.write(f'ls "{tmp}"\n')
    r = timed("sftp without a subsystem", [SFTP, *o, "-b", batch, f"{ME}@127.0.0.1"], timeout=60)
    check(r.returncode != 0, f"no sftp-server: sftp fails (exit {r.returncode}, {r.stderr[-200:]!r})")
    dst = os.path.join(tmp, "nosftp-sftp.bin")
    r = timed("scp (SFTP) without a subsystem", [SCP, *o, src, remote(dst)], timeout=60)
    check(r.returncode != 0 and not os.path.exists(dst),
          f"no sftp-server: scp in SFTP mode fails (exit {r.returncode}, {r.stderr[-200:]!r})")
    dst = os.path.join(tmp, "nosftp-legacy.bin")
    r = timed("scp -O upload 100 MiB without a subsystem", [SCP, "-O", *o, src, remote(dst)], size=SIZE)
    check(r.returncode == 0 and sha256(dst) == want,
          f"no sftp-server: scp -O still works, SHA-256 intact (exit {r.returncode}, {r.stderr[-200:]!r})")
    if os.path.exists(dst):
        os.unlink(dst)


def main():
    t0 = time.time()
    tmp = tempfile.mkdtemp()
    key = os.path.join(tmp, "client")
    keygen(key)
    ak = os.path.join(tmp, "authorized_keys")
    shutil.copy(key + ".pub", ak)

    src = os.path.join(tmp, "original.bin")
    with open(src, "wb") as f:
        for _ in range(SIZE >> 20):
            f.write(os.urandom(1 << 20))
    want = sha256(src)

    log_path = os.path.join(tmp, "parleyd.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--authorized-keys", ak], log_path)
    try:
        copy_checks(port, key, tmp, src, want)
        check(proc.poll() is None, "parleyd is still running")
    finally:
        stop(proc)
    log = open(log_path, "rb").read().decode(errors="replace")
    check("subsystem sftp" in log, "log: 'subsystem sftp' session lines")

    log_path = os.path.join(tmp, "parleyd-nosftp.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--authorized-keys", ak, "--sftp-server", ""], log_path)
    try:
        no_sftp_checks(port, key, tmp, src, want)
        check(proc.poll() is None, "parleyd (no sftp-server) is still running")
    finally:
        stop(proc)
    log = open(log_path, "rb").read().decode(errors="replace")
    check("subsystem sftp refused" in log, "log: the sftp subsystem is logged as refused")

    print(f"transfer: took {time.time() - t0:.1f} s")
    shutil.rmtree(tmp, ignore_errors=True)
    return finish("transfer")


if __name__ == "__main__":
    sys.exit(main())

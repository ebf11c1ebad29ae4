"""`parley cp` against a real OpenSSH sshd and its sftp-server (issue 16), as scp is used:

- a 16 MiB file up and back down, SHA-256 equal, status 0; scp fetches parley's upload
  and parley fetches scp's, byte for byte (the same files whichever wrote them);
- -r -p: a tree with files and directories of several modes and old times arrives the
  same both ways (content, modes, modification times);
- several sources into a remote directory; into a name that is not a directory: 1;
- a missing remote or local file, a directory without -r: status 1, one line each, and
  the other files are still copied; host-to-host and local-to-local are refused;
- a progress meter on a terminal (pexpect), none with -q or without one;
- a hostile SFTP server (tests/acceptance/hostile_sftp_server.py as the sftp subsystem)
  listing "../escape", "a/b" and "..", then answering reads with more than was asked:
  nothing is written outside the target, the names are refused, the oversized answer
  ends the copy with status 1 and one line, never a crash.
Usage: parley_copy.py PARLEY"""
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pexpect

from common import SYSTEM_OPENSSH, Sshd, check, finish, keygen

SFTP_SERVER = "/usr/lib/openssh/sftp-server"
HOSTILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile_sftp_server.py")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree_of(root):
    """{relative path: (kind, mode, mtime, sha256 or None)} of a tree."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.stat(p)
            out[os.path.relpath(p, root)] = (stat.S_ISDIR(st.st_mode), stat.S_IMODE(st.st_mode), int(st.st_mtime),
                                             None if stat.S_ISDIR(st.st_mode) else digest(p))
    return out


def write_config(path, port, key, known, user):
    with open(path, "w") as f:
        f.write(f"Host t\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n"
                f"  UserKnownHostsFile {known}\n  BatchMode yes\n")


def start_sshd(tmp, name, subsystem, key):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    shutil.copy(key + ".pub", os.path.join(d, "authorized_keys"))
    sshd = Sshd(SYSTEM_OPENSSH, d, [f"AuthorizedKeysFile {d}/authorized_keys", "StrictModes no", "UsePAM no",
                                    "PermitRootLogin prohibit-password", f"Subsystem sftp {subsystem}"],
                log_level="ERROR")
    sshd.__enter__()
    with open(os.path.join(d, "hostkey.pub")) as f:
        kind, blob = f.read().split()[:2]
    known = os.path.join(d, "known_hosts")
    with open(known, "w") as f:
        f.write(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    write_config(os.path.join(d, "parley.cfg"), sshd.port, key, known, user)
    with open(os.path.join(d, "parley.cfg"), "a") as f:
        f.write("  WarnWeakCrypto no\n")
    write_config(os.path.join(d, "ssh.cfg"), sshd.port, key, known, user)
    return sshd, os.path.join(d, "parley.cfg"), os.path.join(d, "ssh.cfg")


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)


def files_both_ways(exe, cfg, ssh_cfg, tmp):
    src = os.path.join(tmp, "big.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(16 << 20))
    r1 = run([exe, "cp", "-F", cfg, src, f"t:{tmp}/up.bin"])
    r2 = run([exe, "cp", "-F", cfg, f"t:{tmp}/up.bin", f"{tmp}/down.bin"])
    ok = r1.returncode == 0 and r2.returncode == 0 and digest(src) == digest(f"{tmp}/up.bin") == digest(f"{tmp}/down.bin")
    check(ok, f"16 MiB up and down: same SHA-256, status 0 ({r1.returncode}, {r2.returncode}, {r1.stderr + r2.stderr!r})")
    r3 = run(["/usr/bin/scp", "-q", "-F", ssh_cfg, f"t:{tmp}/up.bin", f"{tmp}/scp.bin"])
    r4 = run(["/usr/bin/scp", "-q", "-F", ssh_cfg, src, f"t:{tmp}/by-scp.bin"])
    r5 = run([exe, "cp", "-q", "-F", cfg, f"t:{tmp}/by-scp.bin", f"{tmp}/from-scp.bin"])
    check(r3.returncode == r4.returncode == r5.returncode == 0
          and digest(f"{tmp}/scp.bin") == digest(f"{tmp}/from-scp.bin") == digest(src),
          "scp reads what parley wrote, parley reads what scp wrote")
    check(r1.stdout == "" and r2.stdout == "", "no progress meter without a terminal")


def trees(exe, cfg, tmp):
    src = os.path.join(tmp, "tree")
    os.makedirs(os.path.join(src, "sub", "deeper"))
    for rel, mode, when in (("a.txt", 0o600, 1_500_000_000), ("sub/b.bin", 0o755, 1_600_000_000),
                            ("sub/deeper/c", 0o640, 1_400_000_000)):
        p = os.path.join(src, rel)
        with open(p, "wb") as f:
            f.write(os.urandom(70000) if rel.endswith("bin") else rel.encode())
        os.chmod(p, mode)
        os.utime(p, (when, when))
    os.chmod(os.path.join(src, "sub"), 0o751)
    os.utime(os.path.join(src, "sub"), (1_300_000_000, 1_300_000_000))
    os.utime(os.path.join(src, "sub", "deeper"), (1_200_000_000, 1_200_000_000))
    r1 = run([exe, "cp", "-r", "-p", "-F", cfg, src, f"t:{tmp}/remote-tree"])
    r2 = run([exe, "cp", "-r", "-p", "-F", cfg, f"t:{tmp}/remote-tree", f"{tmp}/back-tree"])
    want = tree_of(src)
    check(r1.returncode == 0 and tree_of(f"{tmp}/remote-tree") == want,
          f"-r -p up: contents, modes and times arrive ({r1.stderr.strip()!r})")
    check(r2.returncode == 0 and tree_of(f"{tmp}/back-tree") == want,
          f"-r -p down: contents, modes and times come back ({r2.stderr.strip()!r})")


def several_and_errors(exe, cfg, tmp):
    os.makedirs(f"{tmp}/into")
    a, b = f"{tmp}/tree/a.txt", f"{tmp}/tree/sub/b.bin"
    r = run([exe, "cp", "-F", cfg, a, b, f"t:{tmp}/into"])
    check(r.returncode == 0 and digest(f"{tmp}/into/a.txt") == digest(a) and digest(f"{tmp}/into/b.bin") == digest(b),
          "two sources into a remote directory")
    r = run([exe, "cp", "-F", cfg, a, b, f"t:{tmp}/into/a.txt"])
    check(r.returncode == 1 and "Not a directory" in r.stderr, f"two sources into a file: 1 ({r.stderr.strip()!r})")
    r = run([exe, "cp", "-F", cfg, f"t:{tmp}/nope", f"t:{tmp}/tree/a.txt", f"{tmp}/into2"])
    check(r.returncode != 0, "host-to-host is refused")
    os.makedirs(f"{tmp}/into3")
    r = run([exe, "cp", "-F", cfg, f"{tmp}/missing", f"{tmp}/tree", a, f"t:{tmp}/into3"])
    check(r.returncode == 1 and "missing: No such file or directory" in r.stderr and "use -r" in r.stderr
          and os.path.exists(f"{tmp}/into3/a.txt"),
          f"a missing file and a directory without -r: status 1, one line each, the rest copied ({r.stderr.strip()!r})")
    r = run([exe, "cp", "-F", cfg, f"t:{tmp}/missing", f"{tmp}/m"])
    check(r.returncode == 1 and r.stderr.count("\n") == 1 and "No such file or directory" in r.stderr,
          f"a missing remote file: 1, one line ({r.stderr.strip()!r})")
    r = run([exe, "cp", "-F", cfg, a, f"{tmp}/local-copy"])
    check(r.returncode == 1 and "copies go between this machine and one host" in r.stderr, "local-to-local is refused")


def progress(exe, cfg, tmp):
    child = pexpect.spawn(exe, ["cp", "-F", cfg, f"{tmp}/big.bin", f"t:{tmp}/meter.bin"], timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    text = child.before.decode(errors="replace")
    check(child.exitstatus == 0 and "big.bin" in text and "100%" in text and "MiB/s" in text,
          f"on a terminal a progress meter ends at 100% ({text.strip()[-120:]!r})")
    child = pexpect.spawn(exe, ["cp", "-q", "-F", cfg, f"{tmp}/big.bin", f"t:{tmp}/meter.bin"], timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    check(child.exitstatus == 0 and "%" not in child.before.decode(errors="replace"), "-q: no meter")


def hostile(exe, cfg, tmp):
    target = os.path.join(tmp, "hostile", "target")
    os.makedirs(target)
    r = run([exe, "cp", "-r", "-F", cfg, "t:dir", target])
    outside = [p for p in ("escape", "hostile/escape", "hostile/target/escape", "b") if os.path.exists(os.path.join(tmp, p))]
    check(r.returncode == 1 and not outside and "not a plain file name" in r.stderr,
          f"a server naming ../escape and a/b: refused, nothing outside the target ({r.returncode}, {outside}, "
          f"{r.stderr.strip()!r})")
    check("more data than was asked for" in r.stderr and not os.path.exists(os.path.join(target, "dir", "a")),
          "a server answering a read with more than asked: the copy ends with one line")


def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="parley-cp-")
    sshds = []
    try:
        key = os.path.join(tmp, "id")
        keygen(key)
        sshd, cfg, ssh_cfg = start_sshd(tmp, "real", SFTP_SERVER, key)
        sshds.append(sshd)
        files_both_ways(exe, cfg, ssh_cfg, tmp)
        trees(exe, cfg, tmp)
        several_and_errors(exe, cfg, tmp)
        progress(exe, cfg, tmp)
        bad, bad_cfg, _ = start_sshd(tmp, "bad", f"/usr/bin/python3 {HOSTILE}", key)
        sshds.append(bad)
        hostile(exe, bad_cfg, tmp)
    finally:
        for s in sshds:
            s.__exit__(None, None, None)
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("parley_copy")


if __name__ == "__main__":
    sys.exit(main())

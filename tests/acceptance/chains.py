#!/usr/bin/python3
"""Method chains with real OpenSSH `ssh` (pexpect): publickey then keyboard-interactive
Higher or Lower, and password then Higher or Lower. Checks partial success after the
first method, that the second method's challenge follows, that skipping the first
method is refused, and that a key with options in authorized_keys is not used.
Exits non-zero on any failure (run by ctest)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pexpect

PARLEYD = sys.argv[1]
SSH = "/usr/bin/ssh"
QUESTION = re.compile(rb"What is the highest number: (\d+) or (\d+)\? ")
PASSWORD = "s3cond-factor-first"
failures = []
checks = [0]


def check(cond, what):
    checks[0] += 1
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def start(tmp, args):
    key = os.path.join(tmp, "hostkey")
    if not os.path.exists(key):
        subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    proc = subprocess.Popen([PARLEYD, "--port", "0", "--host-key", key, *args],
                            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "log"), "ab"))
    m = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())
    if not m:
        proc.kill()
        raise SystemExit("parleyd did not start")
    return proc, int(m.group(1))


def ssh(port, user, opts):
    args = ["-F", "/dev/null", "-v", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "NumberOfPasswordPrompts=1", *opts,
            f"{user}@127.0.0.1", "true"]
    return pexpect.spawn(SSH, args, timeout=20)


def answer(child):
    child.expect(QUESTION)
    child.sendline(str(max(int(child.match.group(1)), int(child.match.group(2)))))


def main():
    tmp = tempfile.mkdtemp()
    subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(tmp, "alice")], check=True)
    subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(tmp, "carol")], check=True)
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
        i = child.expect([b"Authenticated to 127.0.0.1", b"Permission denied", pexpect.EOF])
        check(i == 0, "publickey then Higher or Lower gets in")
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
        proc.terminate()
        proc.wait(timeout=10)

    users = os.path.join(tmp, "users")
    h = subprocess.run(["/usr/bin/mkpasswd", "-m", "yescrypt", "-s"], input=PASSWORD.encode(),
                       capture_output=True, check=True).stdout.decode().strip()
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
        i = child.expect([b"Authenticated to 127.0.0.1", b"Permission denied", pexpect.EOF])
        check(i == 0, "password then Higher or Lower gets in")
        child.close(force=True)
        check(proc.poll() is None, "parleyd is still running")
    finally:
        proc.terminate()
        proc.wait(timeout=10)

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
        i = child.expect([b"Authenticated to 127.0.0.1", b"Permission denied", pexpect.EOF])
        check(i == 0, "the chain configured in a TOML file works the same")
        child.close(force=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
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
    print(f"chains: {checks[0] - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

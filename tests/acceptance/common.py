"""Helpers shared by the acceptance scripts: checks with a closing tally, starting
parleyd on a free port, and driving real OpenSSH `ssh` through a pseudo-terminal."""
import os
import re
import socket
import subprocess
import time

import pexpect

SSH = "/usr/bin/ssh"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
QUESTION = re.compile(rb"What is the highest number: (\d+) or (\d+)\? ")

failures = []
checks = [0]


def check(cond, what):
    """Records one check; prints ok/FAIL."""
    checks[0] += 1
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def finish(name):
    """Prints the 'N passed, M failed' line and returns the exit status."""
    print(f"{name}: {checks[0] - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def keygen(path):
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)


def mkpasswd(scheme, password):
    """A crypt(3) hash as mkpasswd writes it (the password goes on stdin, never argv)."""
    r = subprocess.run(["/usr/bin/mkpasswd", "-m", scheme, "-s"], input=password.encode(),
                       capture_output=True, check=True)
    return r.stdout.decode().strip()


# As root, parleyd runs the sessions of users that are not accounts of the system
# (password files, keys/%u) as a session_user; the tests share this one.
SESSION_USER = "parley-session-test"


def session_user():
    """The unprivileged account virtual users' sessions run as when the tests run as
    root (created once, shell /bin/sh, home /); None when not root."""
    if os.geteuid() != 0:
        return None
    if subprocess.run(["id", SESSION_USER], capture_output=True).returncode != 0:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/",
                            "--shell", "/bin/sh", SESSION_USER], capture_output=True)
        if r.returncode not in (0, 9):  # 9: made meanwhile by a test running in parallel
            raise SystemExit(f"useradd {SESSION_USER}: {r.stderr.decode().strip()}")
    return SESSION_USER


def remove_user(user):
    """userdel, retried while the user's last session processes go away; True once gone."""
    for _ in range(20):
        if subprocess.run(["userdel", user], capture_output=True).returncode == 0:
            return True
        time.sleep(0.25)
    print(f"warning: could not remove the user {user}", flush=True)
    return False


def start_parleyd(parleyd, tmp, args, log_path):
    """Starts parleyd on a free port with a fresh host key; returns (process, port).
    Every test connects from 127.0.0.1, so unless `args` set them, the per-source
    penalties are off and MaxStartups has no random early drop (as OpenSSH's own
    regression tests run sshd); flood.py tests those limits. As root, virtual users
    run as SESSION_USER unless `args` name a session user or ask for the demo."""
    key = os.path.join(tmp, "hostkey")
    if not os.path.exists(key):
        keygen(key)
    if "--per-source-penalties" not in args:
        args = [*args, "--per-source-penalties", "no"]
    if "--max-startups" not in args:
        args = [*args, "--max-startups", "1000"]
    if session_user() and "--session-user" not in args and "--demo" not in args:
        args = [*args, "--session-user", SESSION_USER]
    proc = subprocess.Popen([parleyd, "--port", "0", "--host-key", key, *args],
                            stdout=subprocess.PIPE, stderr=open(log_path, "ab"))
    m = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())
    if not m:
        proc.kill()
        raise SystemExit("parleyd did not start")
    return proc, int(m.group(1))


def stop(proc):
    proc.terminate()
    proc.wait(timeout=10)


def ssh(port, user, opts=()):
    """`ssh -v` to 127.0.0.1 under pexpect, ignoring host keys, one password prompt."""
    args = ["-F", "/dev/null", "-v", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "NumberOfPasswordPrompts=1", *opts,
            f"{user}@127.0.0.1", "true"]
    return pexpect.spawn(SSH, args, timeout=20)


def answer_question(child, right):
    """Answers Higher or Lower (rightly or not); returns the numbers asked."""
    child.expect(QUESTION)
    a, b = int(child.match.group(1)), int(child.match.group(2))
    child.sendline(str(max(a, b) if right else min(a, b)))
    return a, b


def outcome(child):
    """0 if ssh authenticated, 1 if permission was denied, 2 on EOF."""
    return child.expect([b"Authenticated to 127.0.0.1", b"Permission denied", pexpect.EOF])


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers that need one given)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, seconds=10):
    """True once 127.0.0.1:port accepts connections; False if `proc` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False

"""Helpers shared by the acceptance scripts: checks with a closing tally, starting
parleyd on a free port, driving real OpenSSH `ssh` through a pseudo-terminal, and a
private OpenSSH sshd (the system's 9.2 or the 10.0 that scripts/install-deps.sh unpacks)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pexpect

SSH = "/usr/bin/ssh"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
QUESTION = re.compile(rb"What is the highest number: (\d+) or (\d+)\? ")

failures = []
checks = [0]
skipped = []
# ctest's SKIP_RETURN_CODE for the scripts that may skip (only outside CI; see skip()).
SKIP_STATUS = 77


def check(cond, what):
    """Records one check; prints ok/FAIL."""
    checks[0] += 1
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def skip(what):
    """Records that a part could not run here. Under CI (CI=true) that is a failure:
    CI must run every part, so a missing peer fails loudly there instead of hiding."""
    if os.environ.get("CI") == "true":
        check(False, f"{what} (CI=true: nothing may be skipped)")
        return
    print("SKIP " + what, flush=True)
    skipped.append(what)


def finish(name):
    """Prints the 'N passed, M failed' line and returns the exit status: 1 on any
    failure, else SKIP_STATUS if a part was skipped, else 0."""
    extra = f", {len(skipped)} parts skipped" if skipped else ""
    print(f"{name}: {checks[0] - len(failures)} passed, {len(failures)} failed{extra}")
    if failures:
        return 1
    return SKIP_STATUS if skipped else 0


def keygen(path):
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)


def write_private(path, text, mode=0o600, owner=None):
    """Writes `text` to `path` with `mode` (and `owner`), as a secret file is kept."""
    with open(path, "w") as f:
        f.write(text)
    if owner:
        shutil.chown(path, owner)
    os.chmod(path, mode)
    return path


def pam_session_marks(tmp):
    """A PAM session stack's two witnesses, in `tmp`: a pam_exec hook that records
    each open and close ("open_session USER") in a log, and a pam_env file that sets
    PARLEY_PAM_MARK=set-by-pam-env. Returns (the session lines for a PAM service file,
    the hook's log)."""
    hook_log = os.path.join(tmp, "pam-sessions.log")
    hook = os.path.join(tmp, "pam-hook.sh")
    with open(hook, "w") as f:
        f.write(f'#!/bin/sh\necho "$PAM_TYPE $PAM_USER" >> {hook_log}\n')
    os.chmod(hook, 0o755)
    envfile = os.path.join(tmp, "pam-environment")
    with open(envfile, "w") as f:
        f.write("PARLEY_PAM_MARK=set-by-pam-env\n")
    lines = (f"session optional pam_exec.so {hook}\n"
             f"session required pam_env.so readenv=1 envfile={envfile} user_readenv=0\n")
    return lines, hook_log


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


def ssh(port, user, opts=(), exe=SSH, command="true"):
    """`ssh -v` (the system's, or `exe`) to 127.0.0.1 under pexpect, ignoring host keys,
    one password prompt."""
    args = ["-F", "/dev/null", "-v", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "NumberOfPasswordPrompts=1", *opts,
            f"{user}@127.0.0.1", command]
    return pexpect.spawn(exe, args, timeout=20)


def answer_question(child, right):
    """Answers Higher or Lower (rightly or not); returns the numbers asked."""
    child.expect(QUESTION)
    a, b = int(child.match.group(1)), int(child.match.group(2))
    child.sendline(str(max(a, b) if right else min(a, b)))
    return a, b


def outcome(child):
    """0 if ssh authenticated, 1 if permission was denied, 2 on EOF."""
    return child.expect([b"Authenticated to 127.0.0.1", b"Permission denied", pexpect.EOF])


def read_log(path):
    with open(path, errors="replace") as f:
        return f.read()


def wait_log(path, pattern, seconds=15):
    """True once the file at `path` matches the regular expression `pattern`; False after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if re.search(pattern, read_log(path)):
            return True
        time.sleep(0.1)
    return False


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers that need one given)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoServer:
    """Echoes every connection on a free 127.0.0.1 port (`port`) until the client's EOF,
    then closes; `accepted` counts connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        try:
            while True:
                data = conn.recv(256 * 1024)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()

    def close(self):
        self.sock.close()


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


# OpenSSH installations: the system's (Debian 12: 9.2) and OpenSSH 10.0, whose packages
# from bookworm-backports scripts/install-deps.sh unpacks into a private directory
# (PARLEY_OPENSSH10, default below) without installing them.
OPENSSH10_DEFAULT = "/opt/parley-peers/openssh-10.0"


def openssh10_dir():
    """Where install-deps.sh unpacked OpenSSH 10.0: $PARLEY_OPENSSH10, else the default.
    install-deps.sh reads the same variable with the same default."""
    return os.environ.get("PARLEY_OPENSSH10") or OPENSSH10_DEFAULT


class OpenSsh:
    """The programs of one OpenSSH tree: `root` is "/" for the system's, or the directory
    a package was unpacked into (its usr/bin, usr/sbin, usr/lib/openssh)."""

    def __init__(self, root):
        self.root = root
        self.ssh = os.path.join(root, "usr/bin/ssh")
        self.ssh_keygen = os.path.join(root, "usr/bin/ssh-keygen")
        self.sshd = os.path.join(root, "usr/sbin/sshd")
        self.sshd_session = os.path.join(root, "usr/lib/openssh/sshd-session")
        self.sshd_auth = os.path.join(root, "usr/lib/openssh/sshd-auth")

    def version(self):
        """'OpenSSH_10.0p2 ...' as `ssh -V` prints it, or None if it does not run."""
        try:
            r = subprocess.run([self.ssh, "-V"], capture_output=True, timeout=10)
        except OSError:
            return None
        text = r.stderr.decode(errors="replace").strip()
        return text if r.returncode == 0 and text.startswith("OpenSSH_") else None

    def private(self):
        """True for an unpacked tree: its sshd must be told where its helpers are."""
        return os.path.realpath(self.root) != "/"


SYSTEM_OPENSSH = OpenSsh("/")


def openssh10(what):
    """The private OpenSSH 10.0, or None after skip() (a failure under CI) when it is
    missing or does not run; `what` names the part that needs it."""
    o = OpenSsh(openssh10_dir())
    v = o.version()
    if v is None or not v.startswith("OpenSSH_10.0") or not os.access(o.sshd, os.X_OK):
        skip(f"{what}: needs OpenSSH 10.0 unpacked in {o.root} (run scripts/install-deps.sh); "
             f"found {v!r}")
        return None
    return o


class SshdDidNotStart(RuntimeError):
    """Sshd's sshd exited or did not listen; the message ends with its log."""


class Sshd:
    """A real OpenSSH sshd of `openssh` (SYSTEM_OPENSSH or a private tree) on a free
    127.0.0.1 port, run in the foreground as the current user from `directory` with its
    own host key and sshd_config (`config`: lines added to the basic ones), logging at
    `log_level` into directory/sshd.log (read it with log()). A context manager: the
    server is started on entry, stopped on exit; /run/sshd (sshd's privilege-separation
    directory, needed as root) is made if missing and then removed.

    OpenSSH 9.8 and later split sshd: the listener execs sshd-session (and 10.0 also
    sshd-auth) from a compiled-in /usr/lib/openssh path, which for a private tree is the
    system's (9.2, which has neither); SshdSessionPath and SshdAuthPath (sshd_config(5),
    "intended for use by tests") point it at the tree's own."""

    def __init__(self, openssh, directory, config=(), log_level="DEBUG"):
        self.openssh = openssh
        self.dir = directory
        self.config = list(config)
        self.log_level = log_level
        self.port = None
        self.proc = None
        self.log_path = os.path.join(directory, "sshd.log")
        self.made_run_sshd = False

    def __enter__(self):
        os.makedirs(self.dir, exist_ok=True)
        hostkey = os.path.join(self.dir, "hostkey")
        if not os.path.exists(hostkey):
            subprocess.run([self.openssh.ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-f", hostkey],
                           check=True)
        self.port = free_port()
        lines = [f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {hostkey}",
                 "PidFile none", f"LogLevel {self.log_level}"]
        if self.openssh.private():
            lines += [f"SshdSessionPath {self.openssh.sshd_session}"]
            if os.path.exists(self.openssh.sshd_auth):
                lines += [f"SshdAuthPath {self.openssh.sshd_auth}"]
        if os.path.exists(self.openssh.sshd_session):
            # 9.8+: every test connects from 127.0.0.1; no penalties (as start_parleyd).
            lines += ["PerSourcePenalties no"]
        config = os.path.join(self.dir, "sshd_config")
        with open(config, "w") as f:
            f.write("\n".join([*lines, *self.config]) + "\n")
        if not os.path.isdir("/run/sshd") and os.geteuid() == 0:
            os.makedirs("/run/sshd", 0o755)
            self.made_run_sshd = True
        self.proc = subprocess.Popen([self.openssh.sshd, "-D", "-e", "-f", config],
                                     stdin=subprocess.DEVNULL, stdout=open(self.log_path, "ab"),
                                     stderr=subprocess.STDOUT)
        if not wait_for_port(self.port, self.proc):
            self.__exit__(None, None, None)
            raise SshdDidNotStart(f"{self.openssh.sshd} did not start: {self.log()[-500:]!r}")
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.made_run_sshd:
            shutil.rmtree("/run/sshd", ignore_errors=True)
        return False

    def log(self):
        """Everything sshd (and its per-connection processes) logged so far."""
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_for_log(self, text, seconds=10):
        """True once `text` is in the log (a connection's process writes its last
        lines after the client has gone)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return False


def children(pid):
    """The processes whose parent is `pid` (as root, parleyd's network process)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, ValueError):
                pass
    return out

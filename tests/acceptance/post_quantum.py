#!/usr/bin/python3
"""Issue 12: mlkem768x25519-sha256 with real peers over loopback, each with its own
default algorithm lists unless said otherwise.

a. OpenSSH 10.0's ssh (the private copy scripts/install-deps.sh unpacks) logs into
   parleyd with -o KexAlgorithms=mlkem768x25519-sha256 and runs a command; with no -o
   at all its -v output shows `kex: algorithm: mlkem768x25519-sha256`.
b. The system's OpenSSH 9.2 ssh logs into parleyd with curve25519-sha256.
c. parley logs into OpenSSH 10.0's sshd (private, on a loopback port, publickey as the
   current user) with mlkem768x25519-sha256, and into the system's 9.2 sshd with
   curve25519-sha256: what each sshd's DEBUG log says it agreed.
d. paramiko and AsyncSSH (Debian's) connect to parleyd, authenticate with the password
   and run a command; paramiko's MAC is an -etm one (parleyd offers no other).
e. The password is in neither parleyd's log (trace level) nor its stderr.

Without OpenSSH 10.0 the parts that need it are skipped (status 77), except under CI
(CI=true), where that is a failure. Usage: post_quantum.py PARLEYD PARLEY"""
import asyncio
import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings

import pexpect

from common import (SYSTEM_OPENSSH, Sshd, SshdDidNotStart, check, finish, keygen, mkpasswd,
                    openssh10, ssh, start_parleyd, stop)

# Debian's cryptography warns about Blowfish, CAST5, ... when paramiko and asyncssh import them.
warnings.filterwarnings("ignore", module="paramiko")
warnings.filterwarnings("ignore", module="asyncssh")
warnings.filterwarnings("ignore", message=".*(Blowfish|CAST5|SEED|TripleDES).*")
import asyncssh  # noqa: E402
import paramiko  # noqa: E402

logging.getLogger("paramiko").setLevel(logging.CRITICAL)
logging.getLogger("asyncssh").setLevel(logging.CRITICAL)

PASSWORD = "pw-Pangolin-4471"
USER = "alice"
MLKEM = "mlkem768x25519-sha256"
CURVE = "curve25519-sha256"
# The command every login runs: its output, "pq-42", is not in the command line ssh -v echoes.
COMMAND = "echo pq-$((6*7))"
OUTPUT = b"pq-42"
KEX_LINE = re.compile(r"kex: algorithm: (\(no match\)|\S+)")


def agreed_kex(text):
    """The key exchanges an OpenSSH -v output or DEBUG log says were agreed, in order."""
    return KEX_LINE.findall(text)


def ssh_login(exe, port, opts=()):
    """OpenSSH `exe` -v logs in as USER with the password and runs COMMAND; returns
    (status, everything it printed)."""
    child = ssh(port, USER, ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
                             *opts], exe=exe, command=COMMAND)
    out = b""
    try:
        if child.expect([rb"password: ", pexpect.EOF]) == 0:
            out += child.before + child.after
            child.sendline(PASSWORD)
            child.expect(pexpect.EOF)
        out += child.before
    except pexpect.TIMEOUT:
        out += child.before or b""
    child.close(force=True)
    return child.exitstatus, out.decode(errors="replace")


def openssh_clients(parleyd_port, ssh10):
    """Parts a and b."""
    if ssh10 is not None:
        status, out = ssh_login(ssh10.ssh, parleyd_port, ["-o", f"KexAlgorithms={MLKEM}"])
        check(status == 0 and OUTPUT in out.encode() and agreed_kex(out) == [MLKEM],
              f"a. OpenSSH 10.0 ssh -o KexAlgorithms={MLKEM} logs into parleyd and runs a command "
              f"(status {status}, kex {agreed_kex(out)}, {last_lines(out)!r})")
        status, out = ssh_login(ssh10.ssh, parleyd_port)
        check(status == 0 and OUTPUT in out.encode() and agreed_kex(out) == [MLKEM],
              f"a. OpenSSH 10.0 ssh with its defaults: -v shows 'kex: algorithm: {MLKEM}' "
              f"(status {status}, kex {agreed_kex(out)})")
    status, out = ssh_login(SYSTEM_OPENSSH.ssh, parleyd_port)
    check(status == 0 and OUTPUT in out.encode() and agreed_kex(out) == [CURVE],
          f"b. the system's {SYSTEM_OPENSSH.version()} ssh logs into parleyd with '{CURVE}' "
          f"(status {status}, kex {agreed_kex(out)}, {last_lines(out)!r})")


def last_lines(text, n=3):
    return " | ".join(text.replace("\r", "").strip().splitlines()[-n:])


PQ_WARNING = b"** WARNING: connection is not using a post-quantum key exchange algorithm."


def parley_to_sshd(parley, openssh, tmp, name, expected):
    """Part c: parley logs into a private sshd of `openssh` as the current user with a key;
    the sshd's DEBUG log must show `expected` agreed. parley warns, as OpenSSH 10.1's ssh
    does (WarnWeakCrypto), exactly when that is not the post-quantum exchange, and
    -o WarnWeakCrypto=no silences it."""
    d = os.path.join(tmp, "sshd-" + re.sub(r"[^a-z0-9.]+", "-", name.lower()))
    os.mkdir(d)
    key = os.path.join(d, "client")
    keygen(key)
    ak = os.path.join(d, "authorized_keys")
    shutil.copy(key + ".pub", ak)
    os.chmod(ak, 0o644)
    user = pwd.getpwuid(os.geteuid()).pw_name
    config = ["UsePAM no", "PubkeyAuthentication yes", "PasswordAuthentication no",
              "KbdInteractiveAuthentication no", f"AuthorizedKeysFile {ak}", "StrictModes no",
              "PermitRootLogin prohibit-password"]
    env = dict(os.environ)
    env.pop("PARLEY_PASSWORD", None)
    try:
        with Sshd(openssh, d, config, log_level="DEBUG") as server:
            def run(*extra):
                return subprocess.run([parley, "-p", str(server.port), "-i", key, "-o", "BatchMode=yes",
                                       "-o", "IdentityAgent=none", "-o", "StrictHostKeyChecking=accept-new",
                                       "-o", f"UserKnownHostsFile={os.path.join(d, 'known_hosts')}",
                                       *extra, f"{user}@127.0.0.1", COMMAND],
                                      stdin=subprocess.DEVNULL, capture_output=True, timeout=60, env=env)
            r = run()
            server.wait_for_log("kex: algorithm:")
            kex = agreed_kex(server.log())
            quiet = run("-o", "WarnWeakCrypto=no")
    except SshdDidNotStart as e:
        check(False, f"c. {name} sshd starts ({e})")
        return
    check(r.returncode == 0 and r.stdout == OUTPUT + b"\n",
          f"c. parley logs into {name} sshd as {user} and runs a command "
          f"(status {r.returncode}, {r.stdout!r}, {r.stderr.decode(errors='replace')[-200:]!r})")
    check(kex == [expected], f"c. {name} sshd's log: 'kex: algorithm: {expected}' (agreed {kex})")
    warned = PQ_WARNING in r.stderr
    check(warned == (expected != MLKEM),
          f"c. parley {'warns' if expected != MLKEM else 'does not warn'} that {expected} is not "
          f"post-quantum (stderr {r.stderr.decode(errors='replace')[-300:]!r})")
    check(quiet.returncode == 0 and PQ_WARNING not in quiet.stderr,
          f"c. -o WarnWeakCrypto=no: no warning ({quiet.returncode}, {quiet.stderr[-200:]!r})")


class KexRecorder(logging.Handler):
    """paramiko's transport logs "Kex: NAME" at DEBUG when it has agreed (it keeps no name)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.kex = []

    def emit(self, record):
        m = re.match(r"Kex: (\S+)$", record.getMessage())
        if m:
            self.kex.append(m.group(1))


def paramiko_login(port):
    """Part d: paramiko with its defaults; returns (output, kex, cipher, mac) or raises."""
    recorder = KexRecorder()
    logger = logging.getLogger("paramiko.transport")
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect("127.0.0.1", port, username=USER, password=PASSWORD, look_for_keys=False,
                       allow_agent=False, timeout=20, banner_timeout=20, auth_timeout=20)
        t = client.get_transport()
        _, stdout, _ = client.exec_command(COMMAND, timeout=20)
        return stdout.read(), recorder.kex, t.local_cipher, t.local_mac
    finally:
        client.close()
        logger.removeHandler(recorder)


async def asyncssh_login(port):
    """Part d: AsyncSSH with its defaults; returns (output, cipher and MAC)."""
    async with asyncssh.connect("127.0.0.1", port, username=USER, password=PASSWORD, known_hosts=None,
                                client_keys=None, agent_path=None, preferred_auth="password",
                                login_timeout=20) as conn:
        r = await conn.run(COMMAND, check=False)
        algs = f"{conn.get_extra_info('send_cipher')}, {conn.get_extra_info('send_mac')}"
        return r.stdout.encode() if isinstance(r.stdout, str) else r.stdout, algs


def libraries(port):
    try:
        out, kex, cipher, mac = paramiko_login(port)
        check(out == OUTPUT + b"\n", f"d. paramiko {paramiko.__version__} logs into parleyd with the password "
              f"and runs a command ({out!r}; {kex}, {cipher}, {mac})")
        check(mac.endswith("-etm@openssh.com"),
              f"d. paramiko's MAC is an -etm@openssh.com one, the only MACs parleyd offers (got {mac})")
    except Exception as e:  # noqa: BLE001 (any paramiko error is this check's failure)
        check(False, f"d. paramiko {paramiko.__version__} logs into parleyd ({type(e).__name__}: {e})")
    try:
        out, algs = asyncio.run(asyncio.wait_for(asyncssh_login(port), 60))
        check(out == OUTPUT + b"\n",
              f"d. AsyncSSH {asyncssh.__version__} logs into parleyd with the password and runs a command "
              f"({out!r}; {algs})")
    except Exception as e:  # noqa: BLE001
        check(False, f"d. AsyncSSH {asyncssh.__version__} logs into parleyd ({type(e).__name__}: {e})")


def main():
    parleyd, parley = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("post_quantum: terminated"))
    ssh10 = openssh10("OpenSSH 10.0 parts (a, c)")
    tmp = tempfile.mkdtemp(prefix="parley-pq-")
    try:
        users = os.path.join(tmp, "passwords")
        with open(users, "w") as f:
            f.write(f"{USER}:{mkpasswd('yescrypt', PASSWORD)}\n")
        os.chmod(users, 0o600)
        log = os.path.join(tmp, "parleyd.log")
        proc, port = start_parleyd(parleyd, tmp, ["--password-file", users, "--log-level", "trace"], log)
        try:
            openssh_clients(port, ssh10)
            libraries(port)
            check(proc.poll() is None, "parleyd is still running after every client")
        finally:
            stop(proc)
        text = open(log, "rb").read().decode(errors="replace")
        check("outcome=accept" in text, "parleyd's log records the logins (so the next check reads a real log)")
        check(PASSWORD not in text, "e. the password is not in parleyd's log or stderr (trace level)")

        if ssh10 is not None:
            parley_to_sshd(parley, ssh10, tmp, "OpenSSH 10.0", MLKEM)
        parley_to_sshd(parley, SYSTEM_OPENSSH, tmp, "OpenSSH 9.2", CURVE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("post_quantum")


if __name__ == "__main__":
    sys.exit(main())

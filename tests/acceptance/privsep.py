#!/usr/bin/python3
"""Issue 14: parleyd's privilege separation, as root, with real OpenSSH `ssh`.

As root it is the default; --no-privilege-separation runs one process and warns.
Logins go through the root monitor exactly as through a single process: a password
(a virtual user of the password file, whose sessions run as the session user), the
same password over keyboard-interactive, a key of a system account, a password then
a TOTP code (users.oath), and PAM (pam_unix) for an account of this system; wrong
passwords are refused. The sessions run as the user; the monitor opens a PAM login
session for each login's programs (sshd's UsePAM: pam_exec sees it open and close,
pam_env's variable reaches the program) and `who` lists a terminal session.
The network process runs as the `parleyd` account, with no_new_privs, a seccomp filter
and the empty directory as its root, while the monitor stays root. Killing either
process ends the other. No password or code reaches the log. Run as another user it
fails (CI runs as root)."""
import grp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pexpect

from common import (SESSION_USER, SSH, check, finish, keygen, mkpasswd, pam_session_marks, session_user,
                    start_parleyd, write_private)

PARLEYD = sys.argv[1]
PASSWORD = "privsep-Pa55-word"
KEY_DIR = "/run/parley-privsep-test"
PAM_USER = "parley-privsep-pam"
PAM_SERVICE = "parley-privsep-test"


def ssh_opts(port, extra=()):
    return ["-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "NumberOfPasswordPrompts=1",
            "-o", "IdentityAgent=none", *extra]


def password_login(port, user, method, password=PASSWORD, then=None, command=None, output=None):
    """ssh by `method` answering the password prompt (and `then` at a code prompt);
    returns what `command` (by default: the user's name and uid) printed that
    matches the regex `output`, or None if refused."""
    child = pexpect.spawn(SSH, [*ssh_opts(port, ["-o", f"PreferredAuthentications={method}"]),
                                f"{user}@127.0.0.1", command or "echo who=$(id -un) uid=$(id -u)"],
                          timeout=30)
    try:
        child.expect(rb"[Pp]assword: ")
        child.sendline(password)
        if then is not None:
            if child.expect([b"Verification code: ", b"Permission denied", pexpect.EOF]) != 0:
                return None
            child.sendline(then)
        i = child.expect([output or rb"who=\S+ uid=\d+", b"Permission denied",
                          pexpect.EOF])
        return child.after.decode() if i == 0 else None
    finally:
        child.close(force=True)


def key_login(port, user, key):
    r = subprocess.run([SSH, *ssh_opts(port, ["-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                                              "-o", "PreferredAuthentications=publickey"]),
                        f"{user}@127.0.0.1", "echo who=$(id -un) uid=$(id -u)"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return r.stdout.strip() if r.returncode == 0 else None


def serve_once(text):
    """A listener that sends `text` to its first connection; returns (port, thread)."""
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def run():
        srv.settimeout(30)
        try:
            conn, _ = srv.accept()
            conn.sendall(text)
            conn.close()
        except OSError:
            pass
        srv.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv.getsockname()[1], t


def forward(port, spec, connect_port):
    """ssh -N with one -L/-R `spec`; returns what a connection to `connect_port` reads."""
    child = pexpect.spawn(SSH, [*ssh_opts(port, ["-o", "PreferredAuthentications=password",
                                                 "-o", "ExitOnForwardFailure=yes"]),
                                "-N", *spec, "alice@127.0.0.1"], timeout=30)
    try:
        child.expect(rb"[Pp]assword: ")
        child.sendline(PASSWORD)
        for _ in range(50):
            try:
                with socket.create_connection(("127.0.0.1", connect_port), timeout=5) as s:
                    data = s.recv(100)
                    if data:
                        return data
            except OSError:
                pass
            time.sleep(0.2)
        return b""
    finally:
        child.close(force=True)


def ensure_utmp():
    """who(1) reads /run/utmp, which systemd-tmpfiles makes at boot; a container may lack it."""
    if not os.path.exists("/run/utmp"):
        open("/run/utmp", "ab").close()
        os.chown("/run/utmp", 0, grp.getgrnam("utmp").gr_gid)
        os.chmod("/run/utmp", 0o664)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def network_process(monitor_pid):
    """The monitor's child: the network process."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if status_of(entry).get("PPid") == str(monitor_pid):
                    return int(entry)
            except OSError:
                continue
    return None


def check_processes(proc):
    net = network_process(proc.pid)
    check(net is not None, "the monitor has one child, the network process")
    if net is None:
        return None
    mon, child = status_of(proc.pid), status_of(net)
    parleyd_uid = subprocess.run(["id", "-u", "parleyd"], capture_output=True, text=True).stdout.strip()
    check(mon["Uid"].split()[0] == "0", "the monitor stays root")
    check(child["Uid"].split() == [parleyd_uid] * 4, f"the network process runs as parleyd ({child['Uid']})")
    check(child["Groups"] == "", "the network process has no supplementary groups")
    check(child["NoNewPrivs"] == "1", "the network process has no_new_privs")
    check(child["Seccomp"] == "2", "the network process runs under a seccomp filter")
    check(os.readlink(f"/proc/{net}/root") == "/run/parleyd/empty",
          "the network process's root is the empty directory")
    return net


def main():
    if os.geteuid() != 0:
        check(False, "privsep.py must run as root (CI does)")
        return finish("privsep")
    session_user()
    tmp = tempfile.mkdtemp(prefix="parley-privsep-")
    os.makedirs(KEY_DIR, exist_ok=True)
    os.chmod(KEY_DIR, 0o755)
    log_path = os.path.join(tmp, "parleyd.log")
    hexkey = os.urandom(20).hex()
    try:
        users = write_private(os.path.join(tmp, "users"), f"alice:{mkpasswd('yescrypt', PASSWORD)}\n")
        key = os.path.join(tmp, "id_key")
        keygen(key)
        shutil.copy(key + ".pub", os.path.join(KEY_DIR, SESSION_USER))
        os.chmod(os.path.join(KEY_DIR, SESSION_USER), 0o644)
        proc, port = start_parleyd(PARLEYD, tmp, ["--privilege-separation", "--password-file", users,
                                                  "--authorized-keys", f"{KEY_DIR}/%u",
                                                  "--allow-tcp-forwarding", "yes", "--threads", "1",
                                                  "--log-level", "debug"], log_path)
        check_processes(proc)
        out = password_login(port, "alice", "password")
        check(out is not None and out.startswith(f"who={SESSION_USER} "),
              f"a password login through the monitor runs as the session user ({out})")
        out = password_login(port, "alice", "keyboard-interactive")
        check(out is not None and out.startswith(f"who={SESSION_USER} "),
              f"keyboard-interactive with the password through the monitor ({out})")
        check(password_login(port, "alice", "password", password="not-it") is None,
              "a wrong password is refused by the monitor")
        out = key_login(port, SESSION_USER, key)
        check(out is not None and out.startswith(f"who={SESSION_USER} ") and "uid=0" not in out,
              f"a publickey login through the monitor runs as that account ({out})")
        target, _ = serve_once(b"through-L")
        local = free_port()
        got = forward(port, ["-L", f"{local}:127.0.0.1:{target}"], local)
        check(got == b"through-L", f"ssh -L: the monitor opens the connection and hands it over ({got!r})")
        target, _ = serve_once(b"through-R")
        remote = free_port()
        got = forward(port, ["-R", f"{remote}:127.0.0.1:{target}"], remote)
        check(got == b"through-R", f"ssh -R: the monitor listens and hands the socket over ({got!r})")
        net = network_process(proc.pid)
        os.kill(net, signal.SIGKILL)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            code = None
        check(code not in (None, 0), f"killing the network process ends the monitor (exit {code})")

        oath = write_private(os.path.join(tmp, "users.oath"), f"HOTP/T30/6\talice\t-\t{hexkey}\n")
        proc, port = start_parleyd(PARLEYD, tmp, ["--privilege-separation", "--password-file", users,
                                                  "--totp-users-oath", oath,
                                                  "--auth-methods", "password,keyboard-interactive:totp"],
                                   log_path)
        while 30 - time.time() % 30 < 4:
            time.sleep(0.5)
        code = subprocess.run(["/usr/bin/oathtool", "--totp", hexkey], capture_output=True, text=True,
                              check=True).stdout.strip()
        out = password_login(port, "alice", "password,keyboard-interactive", then=code)
        check(out is not None and out.startswith(f"who={SESSION_USER} "),
              f"password then a TOTP code through the monitor ({out})")
        check(password_login(port, "alice", "password,keyboard-interactive", then=code) is None,
              "the same code again is refused (the monitor's store recorded it)")
        proc.terminate()
        proc.wait(timeout=10)

        # The opt-out (for measurement and debugging): one root process, with a warning.
        one_log = os.path.join(tmp, "one-process.log")
        proc, port = start_parleyd(PARLEYD, tmp, ["--no-privilege-separation", "--password-file", users], one_log)
        check(network_process(proc.pid) is None, "--no-privilege-separation: parleyd is one process")
        out = password_login(port, "alice", "password")
        check(out is not None and out.startswith(f"who={SESSION_USER} "),
              f"--no-privilege-separation: a password login works in one process ({out})")
        proc.terminate()
        proc.wait(timeout=10)
        check("privilege separation is off" in open(one_log, errors="replace").read(),
              "--no-privilege-separation as root: the log warns")

        # PAM (pam_unix) through the monitor: an account of this system with a password.
        # The session stack records when PAM opens and closes the login session
        # (pam_exec) and sets a variable the session must see (pam_env).
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", PAM_USER], check=True)
        subprocess.run(["chpasswd"], input=f"{PAM_USER}:{PASSWORD}\n", text=True, check=True)
        marks, hook_log = pam_session_marks(tmp)
        with open(f"/etc/pam.d/{PAM_SERVICE}", "w") as f:
            f.write("auth required pam_unix.so\naccount required pam_unix.so\n" + marks)
        # No flag: as root, separation is the default.
        proc, port = start_parleyd(PARLEYD, tmp, ["--pam-service", PAM_SERVICE], log_path)
        check(network_process(proc.pid) is not None, "as root parleyd is separated without being asked")
        out = password_login(port, PAM_USER, "keyboard-interactive")
        check(out is not None and out.startswith(f"who={PAM_USER} "),
              f"a PAM (pam_unix) login through the monitor runs as that account ({out})")
        check(password_login(port, PAM_USER, "keyboard-interactive", password="wrong") is None,
              "PAM refuses a wrong password through the monitor")
        out = password_login(port, PAM_USER, "keyboard-interactive", command="echo mark=$PARLEY_PAM_MARK",
                             output=rb"mark=\S*")
        check(out == "mark=set-by-pam-env", f"the session has the PAM session's variable ({out})")
        events = []
        for _ in range(50):
            events = open(hook_log).read().split("\n") if os.path.exists(hook_log) else []
            if events.count(f"close_session {PAM_USER}") >= 2:
                break
            time.sleep(0.1)
        check(events[:4] == [f"open_session {PAM_USER}", f"close_session {PAM_USER}"] * 2,
              f"the monitor opened a PAM session before each login's program and closed it after ({events})")

        # A terminal session started by the monitor is in utmp while it runs (who).
        ensure_utmp()
        child = pexpect.spawn(SSH, [*ssh_opts(port, ["-tt", "-o", "PreferredAuthentications=keyboard-interactive"]),
                                    f"{PAM_USER}@127.0.0.1"], timeout=30, encoding="utf-8")
        try:
            child.expect(r"[Pp]assword: ")
            child.sendline(PASSWORD)
            child.sendline("echo READY-$((40+2)); tty")
            child.expect(r"READY-42\s+(/dev/pts/\d+)")
            line = child.match.group(1)[len("/dev/"):]
            who = subprocess.run(["who"], capture_output=True, text=True).stdout
            check(any(entry.split()[:2] == [PAM_USER, line] for entry in who.splitlines()),
                  f"who lists {PAM_USER} on {line} while the monitor's pty session runs ({who.strip()!r})")
            child.sendline("exit")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
        time.sleep(0.5)
        who = subprocess.run(["who"], capture_output=True, text=True).stdout
        check(not any(entry.split()[:2] == [PAM_USER, line] for entry in who.splitlines()),
              f"who no longer lists {PAM_USER} on {line} after exit")
        net = network_process(proc.pid)
        proc.kill()  # the monitor, outright
        proc.wait(timeout=10)
        gone = False
        for _ in range(50):
            if net is None or not os.path.exists(f"/proc/{net}"):
                gone = True
                break
            time.sleep(0.1)
        check(gone, "killing the monitor ends the network process")
        log = open(log_path, errors="replace").read()
        check(PASSWORD not in log and code not in log and hexkey not in log,
              "no password, code or TOTP key in the log")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(KEY_DIR, ignore_errors=True)
        if os.path.exists(f"/etc/pam.d/{PAM_SERVICE}"):
            os.remove(f"/etc/pam.d/{PAM_SERVICE}")
        subprocess.run(["pkill", "-u", PAM_USER], capture_output=True)
        subprocess.run(["userdel", "-r", PAM_USER], capture_output=True)
    return finish("privsep")


sys.exit(main())

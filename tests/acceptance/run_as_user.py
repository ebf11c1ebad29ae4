#!/usr/bin/python3
"""Issue 11: parleyd started as root runs each session as the user who logged in.

As root this script creates OS accounts and a PAM service, starts parleyd as root and
logs in with real OpenSSH `ssh` and `sftp`:
- one user by password through PAM's pam_unix, one by key from ~/.ssh/authorized_keys:
  `id -un`, $HOME, `pwd` and the owner of $(tty) are the user's, a file put with sftp
  is owned by the user, `cat /etc/shadow` fails; `who` lists a pty session while it is
  open, `last` and `lastlog` show it after;
- root under the default PermitRootLogin prohibit-password: refused a password login
  (with the right password, which `--permit-root-login yes` accepts) and allowed a key
  login; `--permit-root-login no` refuses the key too;
- a virtual user of the password file runs as the session_user, never root;
- locked, expired and nologin accounts are refused with a key that would otherwise do.
Every account and file it makes is removed at the end. Exits non-zero on any failure;
run as another user it fails (CI runs as root), unless PARLEY_ALLOW_SKIP=1."""
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pexpect

from common import SSH, check, finish, keygen, mkpasswd, pam_session_marks, start_parleyd, stop

PARLEYD = sys.argv[1]
SFTP = "/usr/bin/sftp"
PW_USER, KEY_USER, SESSION_USER = "parley-pw", "parley-key", "parley-sess"
LOCKED, EXPIRED, NOLOGIN = "parley-locked", "parley-expired", "parley-nologin"
ALL_USERS = [PW_USER, KEY_USER, SESSION_USER, LOCKED, EXPIRED, NOLOGIN]
PASSWORD = "Corr3ct-h0rse-pw"
ROOT_PASSWORD = "r00t-only-in-this-file"
PAM_SERVICE = "parley-run-as-test"
PAM_FILE = f"/etc/pam.d/{PAM_SERVICE}"
REPORT = ('id -un; echo "HOME=$HOME"; pwd; stat -c "%U:%G:%a" "$(tty)"; '
          'cat /etc/shadow >/dev/null 2>&1; echo "shadow=$?"; echo "PU=$PARLEY_USER"; '
          'echo "PM=$PARLEY_PAM_MARK"')


def ssh_base(port, opts=()):
    return [SSH, "-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=error", "-o", "IdentityAgent=none",
            *opts]


def key_run(port, key, user, command, tty=True):
    """ssh by key alone (BatchMode); returns CompletedProcess (text)."""
    args = ssh_base(port, ["-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                           "-o", "PreferredAuthentications=publickey"])
    if tty:
        args.append("-tt")
    return subprocess.run([*args, f"{user}@127.0.0.1", command], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def password_spawn(port, user, method, command=None, tty=True):
    """ssh answering one password prompt of `method` (password or keyboard-interactive)."""
    args = ssh_base(port, ["-o", "PubkeyAuthentication=no", "-o", f"PreferredAuthentications={method}",
                           "-o", "NumberOfPasswordPrompts=1"])
    if tty:
        args.append("-tt")
    args.append(f"{user}@127.0.0.1")
    if command is not None:
        args.append(command)
    return pexpect.spawn(args[0], args[1:], timeout=30, encoding="utf-8")


def password_run(port, user, password, method, command):
    """Logs in by password and runs `command`; returns (output, denied)."""
    child = password_spawn(port, user, method, command)
    child.expect(r"[Pp]assword: ")
    child.sendline(password)
    i = child.expect([r"Permission denied", pexpect.EOF])
    out = child.before or ""
    child.close()
    return out, i == 0


def report_of(text):
    """Parses REPORT's lines."""
    lines = [l.strip() for l in text.replace("\r", "").split("\n") if l.strip()]
    r = {"id": None}
    for l in lines:
        if l.startswith("HOME="):
            r["home"] = l[5:]
        elif l.startswith("shadow="):
            r["shadow"] = l[7:]
        elif l.startswith("PU="):
            r["parley_user"] = l[3:]
        elif l.startswith("PM="):
            r["pam_mark"] = l[3:]
        elif re.fullmatch(r"[^:\s]+:[^:\s]+:\d+", l):
            r["tty"] = l
        elif l.startswith("/"):
            r["pwd"] = l
        elif r["id"] is None:
            r["id"] = l
    return r


def check_report(r, user, home, who):
    check(r.get("id") == user, f"{who}: id -un is {user} (got {r.get('id')!r})")
    check(r.get("home") == home, f"{who}: $HOME is {home} (got {r.get('home')!r})")
    check(r.get("pwd") == home, f"{who}: pwd is {home} (got {r.get('pwd')!r})")
    check(r.get("tty") == f"{user}:tty:620", f"{who}: $(tty) is {user}'s, group tty, mode 620 "
                                             f"(got {r.get('tty')!r})")
    check(r.get("shadow") not in (None, "0"), f"{who}: cat /etc/shadow fails (status {r.get('shadow')!r})")


def userdel(name):
    subprocess.run(["userdel", "-r", "-f", name], capture_output=True)


def useradd(name, shell="/bin/bash"):
    userdel(name)
    subprocess.run(["useradd", "-m", "-s", shell, name], check=True)
    return pwd.getpwnam(name)


def set_password(name, password):
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)


def install_key(account, pub):
    ssh_dir = os.path.join(account.pw_dir, ".ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(ssh_dir, "authorized_keys"), "w") as f:
        f.write(open(pub).read())
    for p in (ssh_dir, os.path.join(ssh_dir, "authorized_keys")):
        os.chown(p, account.pw_uid, account.pw_gid)
    os.chmod(os.path.join(ssh_dir, "authorized_keys"), 0o600)


def sftp_put_key(port, key, user, local, remote):
    batch = f"put {local} {remote}\n"
    return subprocess.run([SFTP, "-F", "/dev/null", "-P", str(port), "-i", key, "-o", "IdentitiesOnly=yes",
                           "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "IdentityAgent=none",
                           "-o", "UserKnownHostsFile=/dev/null", "-b", "-", f"{user}@127.0.0.1"],
                          input=batch, capture_output=True, text=True, timeout=60)


def sftp_put_password(port, user, password, local, remote):
    child = pexpect.spawn(SFTP, ["-F", "/dev/null", "-P", str(port), "-o", "StrictHostKeyChecking=no",
                                 "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
                                 "-o", "PreferredAuthentications=keyboard-interactive",
                                 f"{user}@127.0.0.1"], timeout=30, encoding="utf-8")
    child.expect(r"[Pp]assword: ")
    child.sendline(password)
    child.expect("sftp> ")
    child.sendline(f"put {local} {remote}")
    child.expect("sftp> ")
    child.sendline("bye")
    child.expect(pexpect.EOF)
    child.close()


def owner(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return pwd.getpwuid(st.st_uid).pw_name


def ensure_utmp():
    """who(1) reads /run/utmp, which systemd-tmpfiles makes at boot; a container may lack it."""
    if not os.path.exists("/run/utmp"):
        open("/run/utmp", "ab").close()
        os.chown("/run/utmp", 0, grp.getgrnam("utmp").gr_gid)
        os.chmod("/run/utmp", 0o664)


def os_users_checks(tmp, key, pub):
    pw_account = useradd(PW_USER)
    set_password(PW_USER, PASSWORD)
    key_account = useradd(KEY_USER)
    install_key(key_account, pub)
    # The session stack records when PAM opens and closes sessions (pam_exec) and
    # sets a variable the sessions must see (pam_env, through pam_getenvlist).
    marks, hook_log = pam_session_marks(tmp)
    with open(PAM_FILE, "w") as f:
        f.write("auth required pam_unix.so\naccount required pam_unix.so\n"
                "session required pam_unix.so\n" + marks)
    log_path = os.path.join(tmp, "parleyd-os.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--pam-service", PAM_SERVICE, "--authorized-keys",
                                              "%h/.ssh/authorized_keys", "--log-level", "debug"], log_path)
    try:
        # The password user, through PAM's pam_unix (keyboard-interactive).
        out, denied = password_run(port, PW_USER, PASSWORD, "keyboard-interactive", REPORT)
        check(not denied, "password user: pam_unix lets the right password in")
        rep = report_of(out)
        check_report(rep, PW_USER, pw_account.pw_dir, "password user")
        check(rep.get("pam_mark") == "set-by-pam-env",
              f"password user: the session has pam_env's variable (got {rep.get('pam_mark')!r})")
        out, denied = password_run(port, PW_USER, "wrong-" + PASSWORD, "keyboard-interactive", "true")
        check(denied, "password user: a wrong password is refused")

        # The key user, from ~/.ssh/authorized_keys.
        r = key_run(port, key, KEY_USER, REPORT)
        check(r.returncode == 0, f"key user: logged in (status {r.returncode}, {r.stderr.strip()!r})")
        rep = report_of(r.stdout)
        check_report(rep, KEY_USER, key_account.pw_dir, "key user")
        check(rep.get("pam_mark") == "set-by-pam-env",
              f"key user: a key login gets a PAM session too (got {rep.get('pam_mark')!r})")
        time.sleep(0.5)
        events = open(hook_log).read().split("\n") if os.path.exists(hook_log) else []
        for user in (PW_USER, KEY_USER):
            opened = f"open_session {user}" in events
            closed = f"close_session {user}" in events
            check(opened and closed and events.index(f"open_session {user}") < events.index(f"close_session {user}"),
                  f"PAM opened {user}'s session before it ran and closed it after ({events})")

        # Files put with sftp belong to the user who put them.
        local = os.path.join(tmp, "payload.txt")
        with open(local, "w") as f:
            f.write("payload\n")
        os.chmod(tmp, 0o755)
        os.chmod(local, 0o644)
        r = sftp_put_key(port, key, KEY_USER, local, "put-by-key.txt")
        target = os.path.join(key_account.pw_dir, "put-by-key.txt")
        check(owner(target) == KEY_USER, f"sftp put by the key user is owned by {KEY_USER} (owner "
                                         f"{owner(target)!r}; {r.stderr.strip()!r})")
        sftp_put_password(port, PW_USER, PASSWORD, local, "put-by-password.txt")
        target = os.path.join(pw_account.pw_dir, "put-by-password.txt")
        check(owner(target) == PW_USER, f"sftp put by the password user is owned by {PW_USER} "
                                        f"(owner {owner(target)!r})")
        r = sftp_put_key(port, key, KEY_USER, local, "/etc/parley-should-not-exist")
        check(not os.path.exists("/etc/parley-should-not-exist"), "the key user cannot sftp into /etc")

        # who lists an open pty session; last and lastlog show it after.
        ensure_utmp()
        child = password_spawn(port, PW_USER, "keyboard-interactive")
        child.expect(r"[Pp]assword: ")
        child.sendline(PASSWORD)
        child.sendline("echo READY-$((40+2)); tty")
        child.expect(r"READY-42\s+(/dev/pts/\d+)")
        tty = child.match.group(1)
        who = subprocess.run(["who"], capture_output=True, text=True).stdout
        line = tty[len("/dev/"):]
        check(any(l.split()[:2] == [PW_USER, line] for l in who.splitlines() if l.strip()),
              f"who lists {PW_USER} on {line} while the session is open (who: {who.strip()!r})")
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
        check(child.exitstatus == 0, f"exit ends the session with status 0 (got {child.exitstatus})")
        time.sleep(0.5)
        who = subprocess.run(["who"], capture_output=True, text=True).stdout
        check(not any(l.split()[:2] == [PW_USER, line] for l in who.splitlines() if l.strip()),
              f"who no longer lists {PW_USER} on {line} after exit")
        last = subprocess.run(["last", "-w", PW_USER], capture_output=True, text=True).stdout
        check(any(l.split()[:2] == [PW_USER, line] for l in last.splitlines() if l.strip()),
              f"last shows {PW_USER}'s session on {line} (last: {last.strip()[:200]!r})")
        lastlog = subprocess.run(["lastlog", "-u", PW_USER], capture_output=True, text=True).stdout
        check(line in lastlog and "Never" not in lastlog, f"lastlog shows {PW_USER} on {line} "
                                                          f"({lastlog.strip()!r})")
    finally:
        stop(proc)
    log = open(log_path, errors="replace").read()
    check(PASSWORD not in log, "the password never reaches the log")


def refused_accounts_checks(tmp, key, pub):
    for name, shell in ((LOCKED, "/bin/bash"), (EXPIRED, "/bin/bash"), (NOLOGIN, "/usr/sbin/nologin")):
        account = useradd(name, shell)
        install_key(account, pub)
    set_password(LOCKED, PASSWORD)
    subprocess.run(["usermod", "-L", LOCKED], check=True)
    subprocess.run(["chage", "-E", "1", EXPIRED], check=True)  # expired on 1970-01-02
    log_path = os.path.join(tmp, "parleyd-refused.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--authorized-keys", "%h/.ssh/authorized_keys",
                                              "--log-level", "debug"], log_path)
    try:
        for name, why in ((LOCKED, "account is locked"), (EXPIRED, "account has expired"),
                          (NOLOGIN, "refuses logins")):
            r = key_run(port, key, name, "id -un")
            check(r.returncode == 255 and "Permission denied" in r.stderr,
                  f"{name}: refused although the key is authorized (status {r.returncode})")
            log = open(log_path, errors="replace").read()
            check(f"login of '{name}' refused: " in log and why in log, f"{name}: the log says why ({why})")
    finally:
        stop(proc)


def root_checks(tmp, key, pub):
    session = useradd(SESSION_USER, "/bin/sh")
    pwfile = os.path.join(tmp, "passwords")
    with open(pwfile, "w") as f:
        f.write(f"root:{mkpasswd('yescrypt', ROOT_PASSWORD)}\nvisitor:{mkpasswd('yescrypt', PASSWORD)}\n")
    os.chmod(pwfile, 0o600)
    keydir = os.path.join(tmp, "keys")
    os.makedirs(keydir, exist_ok=True)
    shutil.copy(pub, os.path.join(keydir, "root.keys"))
    common = ["--password-file", pwfile, "--authorized-keys", os.path.join(keydir, "%u.keys"),
              "--session-user", SESSION_USER, "--log-level", "debug", "--allow-tcp-forwarding", "remote"]

    log_path = os.path.join(tmp, "parleyd-root.log")
    proc, port = start_parleyd(PARLEYD, tmp, common, log_path)
    try:
        _, denied = password_run(port, "root", ROOT_PASSWORD, "password", "id -un")
        check(denied, "prohibit-password (default): root's right password is refused")
        _, denied = password_run(port, "root", ROOT_PASSWORD, "keyboard-interactive", "id -un")
        check(denied, "prohibit-password (default): root's keyboard-interactive password is refused")
        check("outcome=not-permitted" in open(log_path).read(), "the audit log says not-permitted")
        r = key_run(port, key, "root", "id -un", tty=False)
        check(r.returncode == 0 and r.stdout.strip() == "root",
              f"prohibit-password (default): root by key runs as root (got {r.stdout.strip()!r})")
        # ssh -R on a port below 1024: root only, as sshd.
        r = subprocess.run([*ssh_base(port, ["-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                                             "-o", "ExitOnForwardFailure=yes", "-R", "1022:127.0.0.1:9"]),
                            "root@127.0.0.1", "echo forwarded"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and "forwarded" in r.stdout,
              f"root may listen on port 1022 with ssh -R ({r.returncode}, {r.stderr.strip()!r})")
        child = pexpect.spawn(SSH, [*ssh_base(port, ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
                                                     "-o", "ExitOnForwardFailure=yes", "-R", "1022:127.0.0.1:9"])[1:],
                                    "visitor@127.0.0.1", "echo forwarded"], timeout=30, encoding="utf-8")
        child.expect(r"[Pp]assword: ")
        child.sendline(PASSWORD)
        child.expect(pexpect.EOF)
        child.close()
        check(child.exitstatus == 255 and "forwarded" not in (child.before or ""),
              f"a user who is not root may not listen on port 1022 (status {child.exitstatus})")
        check("1022 refused: a privileged port" in open(log_path).read(), "the log says why -R 1022 was refused")
        out, denied = password_run(port, "visitor", PASSWORD, "password", REPORT)
        rep = report_of(out)
        check(not denied and rep.get("id") == SESSION_USER,
              f"a virtual user runs as the session_user {SESSION_USER} (got {rep.get('id')!r})")
        check(rep.get("parley_user") == "visitor", "PARLEY_USER is the virtual login name")
        check(rep.get("home") == session.pw_dir, "the virtual user's HOME is the session_user's")
    finally:
        stop(proc)

    proc, port = start_parleyd(PARLEYD, tmp, [*common, "--permit-root-login", "yes"], log_path)
    try:
        out, denied = password_run(port, "root", ROOT_PASSWORD, "password", "id -un")
        check(not denied and "root" in out, "--permit-root-login yes: the same password lets root in")
    finally:
        stop(proc)

    proc, port = start_parleyd(PARLEYD, tmp, [*common, "--permit-root-login", "no"], log_path)
    try:
        r = key_run(port, key, "root", "id -un", tty=False)
        check(r.returncode == 255, f"--permit-root-login no: root's key is refused (status {r.returncode})")
    finally:
        stop(proc)


def main():
    if os.geteuid() != 0:
        print("run_as_user: needs root (it creates accounts and runs parleyd as root)")
        if os.environ.get("PARLEY_ALLOW_SKIP") == "1" and os.environ.get("CI") != "true":
            return 0
        return 1
    tmp = tempfile.mkdtemp(prefix="parley-runas-")
    os.chmod(tmp, 0o755)
    key = os.path.join(tmp, "id_ed25519")
    keygen(key)
    try:
        os_users_checks(tmp, key, key + ".pub")
        refused_accounts_checks(tmp, key, key + ".pub")
        root_checks(tmp, key, key + ".pub")
    finally:
        for name in ALL_USERS:
            userdel(name)
        if os.path.exists(PAM_FILE):
            os.remove(PAM_FILE)
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("run_as_user")


if __name__ == "__main__":
    sys.exit(main())

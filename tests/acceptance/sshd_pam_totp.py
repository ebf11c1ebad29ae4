#!/usr/bin/python3
"""The parley command against a real OpenSSH sshd whose keyboard-interactive goes
through PAM: pam_unix asks the account password, then pam_oath asks a TOTP code
("One-time password (OATH) for `USER': "), after publickey
(AuthenticationMethods publickey,keyboard-interactive). parley answers both from
the environment (PARLEY_PASSWORD, PARLEY_TOTP as base32). Checks the login and the
command's status, batch mode's reason when the TOTP prompt has no answer, a wrong
TOTP secret refused, and no secret (password, TOTP code, TOTP secret) in parley's
-vvv output or sshd's log.
Then jumps (issue 16): the same sshd as a bastion (PermitOpen to 127.0.0.3 only) in front
of a parleyd listening on 127.0.0.3 that asks its own password, and behind that parleyd
(its --permit-open the only way there) a second OpenSSH sshd asking, as the bastion, a key
and then through PAM the password and TOTP code of its own account; parley, configured only
by a config file and a secrets file (PARLEY_SECRETS_FILE) and with no terminal, runs a
command behind the bastion, then on the last sshd through both jumps, and `parley cp` moves
100 MiB there and back; each hop is answered with its own password (and TOTP code).

Needs root, openssh-server, libpam-oath (pam_oath.so) and oathtool (to cross-check
the test's own TOTP codes); fails, not skips, without them.
Everything lives in a temporary directory, except what sshd and PAM need outside it,
all removed at the end: the two test users (only if this script created them; a
pre-existing one gets its password hash back), /etc/pam.d/parley-sshd-PID (sshd uses
its program name as the PAM service, so it runs as a copy named that way), and
/run/sshd (only if this script created it).
Usage: sshd_pam_totp.py PARLEY PARLEYD"""
import base64
import glob
import hashlib
import hmac
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from common import (SESSION_USER, SYSTEM_OPENSSH, OpenSsh, Sshd, check, finish, free_port, keygen, mkpasswd, remove_user,
                    session_user,
                    wait_for_port)

SSHD = "/usr/sbin/sshd"
OATHTOOL = "/usr/bin/oathtool"
USER = "parleypam"
PASSWORD = "pw-Wombat-" + secrets.token_hex(6)
# The last host's account: its own password and TOTP secret (the same PAM service).
FINAL_USER = "parleypam2"
FINAL_PASSWORD = "pw-Quokka-" + secrets.token_hex(6)
PAM_OATH_PATHS = ["/lib/x86_64-linux-gnu/security/pam_oath.so",
                  "/usr/lib/x86_64-linux-gnu/security/pam_oath.so",
                  *glob.glob("/lib/*/security/pam_oath.so"), *glob.glob("/usr/lib/*/security/pam_oath.so"),
                  "/lib/security/pam_oath.so", "/usr/lib/security/pam_oath.so"]


def totp(key, unix_time, period=30, digits=6):
    """RFC 6238 with HMAC-SHA1, as pam_oath's HOTP/T30/6."""
    mac = hmac.new(key, struct.pack(">Q", int(unix_time) // period), hashlib.sha1).digest()
    off = mac[-1] & 15
    return "%0*d" % (digits, (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** digits)


def parley(exe, port, key, command, env, timeout=20):
    """parley at trace level (-vvv) in batch mode; status None if killed at `timeout`."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("PARLEY_PASSWORD", "PARLEY_PASSWORD_FILE", "PARLEY_TOTP", "PARLEY_TOTP_FILE")}
    e.update(env)
    args = [exe, "-vvv", "-p", str(port), "-i", key, "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", f"{USER}@127.0.0.1", command]
    t0 = time.monotonic()
    try:
        r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=e)
    except subprocess.TimeoutExpired as t:  # killed: reported as status None with what it wrote
        r = subprocess.CompletedProcess(args, None, t.stdout or b"", t.stderr or b"")
    r.seconds = time.monotonic() - t0
    return r


def children(pid):
    """The pids of `pid`'s child processes (sshd's per-connection processes)."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.split("/")[2]))
    return found


def stop_sshd(proc):
    """Lets sshd's connection processes end (a killed client's one may sit in PAM's
    failure delay) so that sshd reaps them, then stops sshd and any still left."""
    deadline = time.monotonic() + 5
    while children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = children(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in left:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass


def make_user(name, password, home):
    """Creates `name` (or takes the existing one) with `password`: (created, saved hash)."""
    created, saved = False, None
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", "-d", home, name], check=True)
        created = True
        os.mkdir(home, 0o755)
        shutil.chown(home, name)
    else:
        saved = subprocess.run(["getent", "shadow", name], capture_output=True, check=True).stdout.decode().split(":")[1]
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n".encode(), check=True)
    return created, saved


def put_back_user(name, created, saved):
    if created:
        remove_user(name)
    elif saved is not None:
        subprocess.run(["chpasswd", "-e"], input=f"{name}:{saved}\n".encode())


def tail(data, n=400):
    return data.decode(errors="replace").strip()[-n:]


def jump_through_bastion(exe, tmp, sshd_port, key, inner_port, inner_pw, totp_b32, final_port, final_key, final_totp,
                         host="inner", command="echo behind-the-bastion; id -un", copy=None):
    """parley -F config (ProxyJump bastion, then inner) with a secrets file, no terminal,
    runs `command` on `host`: inner (parleyd behind the bastion) or final (the OpenSSH
    sshd behind parleyd: its own key, then its account's own password and TOTP code)."""
    cfg = os.path.join(tmp, "client_config")
    with open(cfg, "w") as f:
        f.write(f"Host bastion\n  HostName 127.0.0.1\n  Port {sshd_port}\n  User {USER}\n  IdentityFile {key}\n"
                f"Host inner\n  HostName 127.0.0.3\n  Port {inner_port}\n  User alice\n  ProxyJump bastion\n"
                f"Host final\n  HostName 127.0.0.1\n  Port {final_port}\n  User {FINAL_USER}\n  IdentityFile {final_key}\n"
                "  ProxyJump inner\n"
                f"Host *\n  UserKnownHostsFile {os.path.join(tmp, 'known_hosts')}\n"
                "  StrictHostKeyChecking accept-new\n  BatchMode yes\n  PreferredAuthentications "
                "publickey,keyboard-interactive\n")
    secrets_file = os.path.join(tmp, "parley_secrets")
    fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"Host bastion\n  Password {PASSWORD}\n  TOTP {totp_b32}\nHost inner\n  Password {inner_pw}\n"
                f"Host final\n  Password {FINAL_PASSWORD}\n  TOTP {final_totp}\n")
    e = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    e["PARLEY_SECRETS_FILE"] = secrets_file
    t0 = time.monotonic()
    argv = [exe, "cp", "-v", "-F", cfg, *copy] if copy else [exe, "-vvv", "-F", cfg, host, command]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, env=e)
    r.seconds = time.monotonic() - t0
    return r


def main():
    exe = sys.argv[1]
    parleyd = sys.argv[2]
    started = time.time()
    # ctest's timeout sends SIGTERM: leave through `finally`, which undoes the setup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("sshd_pam_totp: terminated"))
    pam_oath = next((p for p in PAM_OATH_PATHS if os.path.exists(p)), None)
    if pam_oath is None:
        check(False, "pam_oath.so is installed (libpam-oath); looked in " + ", ".join(dict.fromkeys(PAM_OATH_PATHS)))
        return finish("sshd_pam_totp")
    for tool in (SSHD, OATHTOOL):
        if not os.access(tool, os.X_OK):
            check(False, f"{tool} is installed")
            return finish("sshd_pam_totp")

    service = f"parley-sshd-{os.getpid()}"
    pam_file = os.path.join("/etc/pam.d", service)
    tmp = tempfile.mkdtemp(prefix="parley-pam-")
    users = []  # (name, created, a pre-existing user's shadow hash), put back at the end
    created_run_sshd = False
    wrote_pam = False
    sshd = None
    inner = None
    final = None
    log_path = os.path.join(tmp, "sshd.log")
    results = []
    try:
        # sshd reads authorized_keys as the user: the directory must be traversable.
        os.chmod(tmp, 0o711)
        users.append((USER, *make_user(USER, PASSWORD, os.path.join(tmp, "home"))))
        users.append((FINAL_USER, *make_user(FINAL_USER, FINAL_PASSWORD, os.path.join(tmp, "home2"))))

        # The TOTP secret: hex for pam_oath's users file, base32 for parley.
        secret = secrets.token_bytes(20)
        secret_hex = secret.hex()
        secret_b32 = base64.b32encode(secret).decode()
        users_oath = os.path.join(tmp, "users.oath")
        fd = os.open(users_oath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        final_secret = secrets.token_bytes(20)
        final_b32 = base64.b32encode(final_secret).decode()
        with os.fdopen(fd, "w") as f:
            f.write(f"HOTP/T30/6 {USER} - {secret_hex}\nHOTP/T30/6 {FINAL_USER} - {final_secret.hex()}\n")
        os.chown(users_oath, 0, 0)
        now = int(time.time())
        ours = totp(secret, now)
        theirs = subprocess.run([OATHTOOL, "--totp", "-N", f"@{now}", secret_hex],
                                capture_output=True, check=True).stdout.decode().strip()
        check(ours == theirs, "the test's TOTP matches oathtool's for the same secret and time")

        key = os.path.join(tmp, "client")
        keygen(key)
        ak = os.path.join(tmp, "authorized_keys")
        shutil.copy(key + ".pub", ak)
        os.chmod(ak, 0o644)
        hostkey = os.path.join(tmp, "hostkey")
        keygen(hostkey)

        # PAM: the password (pam_unix), then the TOTP code (pam_oath).
        if os.path.exists(pam_file):
            raise SystemExit(f"{pam_file} already exists")
        with open(pam_file, "x") as f:
            wrote_pam = True
            f.write("# written by parley's sshd_pam_totp.py; removed when it ends\n"
                    "auth required pam_unix.so\n"
                    f"auth required {pam_oath} usersfile={users_oath} window=10 digits=6\n"
                    "account required pam_unix.so\n"
                    "session required pam_permit.so\n")
        copy = os.path.join(tmp, service)
        shutil.copy2(SSHD, copy)

        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", 0o755)
            created_run_sshd = True
        port = free_port()
        # The host behind the bastion: parleyd on 127.0.0.3 asking its own password; the
        # bastion forwards there and nowhere else (PermitOpen).
        inner_pw = "inner-Pw-" + secrets.token_hex(6)
        inner_passwords = os.path.join(tmp, "inner_passwords")
        with open(inner_passwords, "w") as f:
            f.write("alice:" + mkpasswd("yescrypt", inner_pw) + "\n")
        inner_key = os.path.join(tmp, "inner_hostkey")
        keygen(inner_key)
        inner_port = free_port()
        inner_log = os.path.join(tmp, "inner.log")
        # The last host: an OpenSSH sshd asking its own key, then (PAM, as the bastion) its
        # account's own password and TOTP code; reached through parleyd alone (parleyd may
        # forward there and nowhere else).
        final_key = os.path.join(tmp, "final_client")
        keygen(final_key)
        final_dir = os.path.join(tmp, "final")
        os.makedirs(final_dir, 0o755)
        shutil.copy(final_key + ".pub", os.path.join(final_dir, "authorized_keys"))
        os.chmod(os.path.join(final_dir, "authorized_keys"), 0o644)
        final_openssh = OpenSsh("/")
        final_openssh.sshd = copy  # named for the PAM service, as the bastion's
        final = Sshd(final_openssh, final_dir,
                     [f"AuthorizedKeysFile {final_dir}/authorized_keys", "StrictModes no", "UsePAM yes",
                      "AuthenticationMethods publickey,keyboard-interactive", "PasswordAuthentication no",
                      "KbdInteractiveAuthentication yes", "AllowTcpForwarding no", "PermitRootLogin no",
                      "Subsystem sftp /usr/lib/openssh/sftp-server"],
                     log_level="VERBOSE")
        final.__enter__()
        session_user()
        inner = subprocess.Popen([parleyd, "--listen", "127.0.0.3", "--port", str(inner_port), "--host-key", inner_key,
                                  "--password-file", inner_passwords, "--session-user", SESSION_USER,
                                  "--allow-tcp-forwarding", "local", "--permit-open", f"127.0.0.1:{final.port}",
                                  "--log-level", "debug"], stdout=subprocess.DEVNULL, stderr=open(inner_log, "ab"))
        config = os.path.join(tmp, "sshd_config")
        with open(config, "w") as f:
            f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {hostkey}\nPidFile none\n"
                    "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n"
                    "PubkeyAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n"
                    f"AuthorizedKeysFile {ak}\nStrictModes no\nLogLevel VERBOSE\nPermitRootLogin no\n"
                    f"AllowTcpForwarding local\nPermitOpen 127.0.0.3:{inner_port}\n")
        sshd = subprocess.Popen([copy, "-D", "-e", "-f", config], stdin=subprocess.DEVNULL,
                                stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
        if not wait_for_port(port, sshd):
            check(False, f"sshd starts on 127.0.0.1:{port} (log: {tail(open(log_path, 'rb').read())!r})")
            return finish("sshd_pam_totp")

        def sshd_log():
            return open(log_path, "rb").read().decode(errors="replace")

        # a) publickey, then the password and the TOTP code from the environment.
        r = parley(exe, port, key, "echo pam-ok; exit 4", {"PARLEY_PASSWORD": PASSWORD, "PARLEY_TOTP": secret_b32})
        step_a = int(time.time()) // 30
        results.append(r)
        ok = r.stdout == b"pam-ok\n" and r.returncode == 4
        check(ok, f"publickey + password + TOTP: stdout 'pam-ok\\n' and status 4 "
                  f"(got {r.stdout!r}, status {r.returncode}, {r.seconds:.1f} s)")
        if not ok:
            print("--- parley stderr (tail)\n" + tail(r.stderr, 3000) + "\n--- sshd log\n" + sshd_log(), flush=True)

        # b) batch mode, the password only: the TOTP prompt gets an empty answer.
        r = parley(exe, port, key, "echo should-not-run", {"PARLEY_PASSWORD": PASSWORD})
        results.append(r)
        ok = r.returncode == 255 and b"had no answer (batch mode)" in r.stderr and b"should-not-run" not in r.stdout
        check(ok, f"no TOTP secret, batch mode: status 255 and 'had no answer (batch mode)' "
                  f"(status {r.returncode}, {r.seconds:.1f} s, {tail(r.stderr, 200)!r})")
        if not ok:
            print("--- parley stderr (tail)\n" + tail(r.stderr, 3000) + "\n--- sshd log\n" + sshd_log(), flush=True)

        # c) a wrong TOTP secret: refused, and promptly (sshd's PAM failure delay is
        # about 2 s an attempt; 20 s also keeps the whole run under a minute).
        wrong_b32 = base64.b32encode(secrets.token_bytes(20)).decode()
        r = parley(exe, port, key, "echo should-not-run",
                   {"PARLEY_PASSWORD": PASSWORD, "PARLEY_TOTP": wrong_b32}, timeout=20)
        results.append(r)
        ok = r.returncode == 255 and b"Permission denied" in r.stderr and b"should-not-run" not in r.stdout
        check(ok, f"a wrong TOTP secret: status 255 and 'Permission denied' within 20 s "
                  f"(status {r.returncode}{' = killed at 20 s' if r.returncode is None else ''}, "
                  f"{r.seconds:.1f} s, {tail(r.stderr, 200)!r})")
        if not ok:
            print("--- parley stderr (tail)\n" + tail(r.stderr, 3000) + "\n--- sshd log\n" + sshd_log(), flush=True)

        # e) the jump: bastion (publickey, password, TOTP code) then parleyd (its own password),
        # from a config file and a secrets file alone, no terminal.
        # pam_oath takes each code once: the jump's waits for a time step after (a)'s.
        while int(time.time()) // 30 <= step_a:
            time.sleep(0.5)
        r = jump_through_bastion(exe, tmp, port, key, inner_port, inner_pw, secret_b32, final.port, final_key, final_b32)
        results.append(r)
        ok = r.returncode == 0 and r.stdout == f"behind-the-bastion\n{SESSION_USER}\n".encode()
        check(ok, f"ProxyJump through the PAM bastion to parleyd on 127.0.0.3, each hop its own secrets: "
                  f"the command ran there (status {r.returncode}, {r.seconds:.1f} s, {r.stdout!r})")
        if not ok:
            print("--- parley stderr (tail)\n" + tail(r.stderr, 3000) + "\n--- sshd log\n" + sshd_log(), flush=True)
        # f) two jumps: the bastion, then parleyd, then the OpenSSH sshd behind parleyd
        # (its own key); each hop answered with its own secrets, the bastion's code new.
        step_e = int(time.time()) // 30
        while int(time.time()) // 30 <= step_e:
            time.sleep(0.5)
        r = jump_through_bastion(exe, tmp, port, key, inner_port, inner_pw, secret_b32, final.port, final_key,
                                 final_b32, host="final", command="echo on-the-final-host; id -un")
        results.append(r)
        ok = r.returncode == 0 and r.stdout == f"on-the-final-host\n{FINAL_USER}\n".encode()
        check(ok, f"ProxyJump bastion,inner to an OpenSSH sshd behind parleyd: the command ran there "
                  f"(status {r.returncode}, {r.seconds:.1f} s, {r.stdout!r})")
        if not ok:
            print("--- parley stderr (tail)\n" + tail(r.stderr, 3000) + "\n--- final sshd log\n" + final.log()[-3000:],
                  flush=True)
        check(final.wait_for_log(f"Accepted keyboard-interactive/pam for {FINAL_USER} from 127.0.0.1")
              and f"Partial publickey for {FINAL_USER}" in final.log(),
              "the final sshd took its own key, then its account's password and TOTP code (PAM), from parleyd's forward")

        # g) parley cp through both jumps: 100 MiB up to the final host and back, the same
        # SHA-256 (each run a new TOTP step: pam_oath takes a code once).
        files = os.path.join(tmp, "final_files")
        os.mkdir(files, 0o755)
        shutil.chown(files, FINAL_USER)
        big = os.path.join(tmp, "big.bin")
        with open(big, "wb") as f:
            for _ in range(100):
                f.write(os.urandom(1 << 20))
        copies = []
        for copy in ([big, f"final:{files}/big.bin"], [f"final:{files}/big.bin", os.path.join(tmp, "big.back")]):
            step = int(time.time()) // 30
            while int(time.time()) // 30 <= step:
                time.sleep(0.5)
            copies.append(jump_through_bastion(exe, tmp, port, key, inner_port, inner_pw, secret_b32, final.port,
                                               final_key, final_b32, copy=copy))
        results.extend(copies)
        same = (all(c.returncode == 0 for c in copies) and os.path.exists(os.path.join(tmp, "big.back"))
                and hashlib.sha256(open(big, "rb").read()).digest()
                == hashlib.sha256(open(os.path.join(files, "big.bin"), "rb").read()).digest()
                == hashlib.sha256(open(os.path.join(tmp, "big.back"), "rb").read()).digest())
        check(same, "parley cp through both jumps: 100 MiB up to the final sshd and back, the same SHA-256 "
                    f"(status {[c.returncode for c in copies]}, {[round(c.seconds, 1) for c in copies]} s)")
        if not same:
            print("--- parley cp stderr (tail)\n" + "\n".join(tail(c.stderr, 2000) for c in copies), flush=True)
        inner_text = open(inner_log, "rb").read().decode(errors="replace")
        check("127.0.0.1" in inner_text and "authenticated" in inner_text and inner_pw not in inner_text,
              "parleyd behind the bastion saw the login come from the bastion, and logged no password")

        # d) no secret anywhere: parley's -vvv output (all the runs) and sshd's log.
        ended = time.time()
        codes = {totp(k, t) for k in (secret, final_secret) for t in range(int(started) - 30 * 11, int(ended) + 30 * 11, 30)}
        codes |= {totp(base64.b32decode(wrong_b32), t) for t in range(int(started) - 30, int(ended) + 30, 30)}
        outputs = b"".join(x.stdout + x.stderr for x in results).decode(errors="replace")
        stop_sshd(sshd)
        log = sshd_log()
        for where, text in (("parley's -vvv output", outputs), ("sshd's log", log), ("the final sshd's log", final.log())):
            check(PASSWORD not in text and inner_pw not in text and FINAL_PASSWORD not in text,
                  f"the passwords are not in {where}")
            leaked = sorted(c for c in codes if re.search(rf"(?<!\d){c}(?!\d)", text))
            check(not leaked, f"no TOTP code is in {where}" + (f" (found {leaked})" if leaked else ""))
            check(all(s.lower() not in text.lower()
                      for s in (secret_b32, secret_hex, wrong_b32, final_b32, final_secret.hex())),
                  f"the TOTP secret (base32 or hex) is not in {where}")
        check(f"Partial publickey for {USER}" in log and f"Accepted keyboard-interactive/pam for {USER}" in log,
              "sshd logged publickey as partial, then keyboard-interactive/pam accepted (both factors used)")
    finally:
        if sshd is not None and sshd.poll() is None:
            stop_sshd(sshd)
        if inner is not None:
            inner.terminate()
            inner.wait(timeout=10)
        if final is not None:
            final.__exit__(None, None, None)
        if wrote_pam and os.path.exists(pam_file):
            os.unlink(pam_file)
        for name, created, saved in users:
            put_back_user(name, created, saved)
        if created_run_sshd:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"({time.time() - started:.1f} s)")
    return finish("sshd_pam_totp")


if __name__ == "__main__":
    sys.exit(main())

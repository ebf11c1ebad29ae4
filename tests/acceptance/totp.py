#!/usr/bin/python3
"""keyboard-interactive:totp with real OpenSSH `ssh` (pexpect) and codes from
`oathtool --totp`, using the configurations documented in docs/examples:
  - password then TOTP (password-then-totp.conf, a users.oath file);
  - publickey then TOTP with flags (users.oath);
  - publickey then TOTP from each user's ~/.google_authenticator written by the
    real `google-authenticator` (publickey-then-totp.conf; needs root: it adds a
    user and removes it at the end).
Checks a code works once, the next step's code works, an older or two-steps-ahead
code does not, the rate limit, and that no password, code or secret reaches the
trace log. Exits non-zero on any failure (run by ctest)."""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

import pexpect

from common import SSH, check, finish, keygen, mkpasswd, start_parleyd, stop

PARLEYD = sys.argv[1]
EXAMPLES = sys.argv[2]
PASSWORD = "horse-battery-totp"
GA_USER = "parleytotp"


def oathtool(key, step, base32=False):
    """The code for a time step, computed by oath-toolkit's own command."""
    args = ["/usr/bin/oathtool", "--totp", "-N", f"@{step * 30}"]
    if base32:
        args.append("-b")
    r = subprocess.run([*args, key], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def fresh_step():
    """The current 30 s step, after waiting out the last 4 s of a step so a check
    about "this step" and "the next one" cannot straddle a boundary."""
    while 30 - time.time() % 30 < 4:
        time.sleep(0.5)
    return int(time.time()) // 30


def login(port, user, code, key=None, password=PASSWORD):
    """ssh with a password (or a key), then `code` at "Verification code: ".
    Returns "in" (the command ran), "denied-before-code", or "denied"."""
    opts = ["-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "NumberOfPasswordPrompts=1",
            "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes"]
    opts += ["-i", key] if key else ["-o", "PubkeyAuthentication=no"]
    child = pexpect.spawn(SSH, [*opts, f"{user}@127.0.0.1", "echo totp-ok-$((6*7))"], timeout=20)
    try:
        if not key:
            child.expect(rb"password: ")
            child.sendline(password)
        if child.expect([b"Verification code: ", b"Permission denied", pexpect.EOF]) != 0:
            return "denied-before-code"
        child.sendline(code)
        i = child.expect([b"totp-ok-42", b"Permission denied", pexpect.EOF])
        return "in" if i == 0 else "denied"
    finally:
        child.close(force=True)


def password_then_totp(tmp, secrets):
    shutil.copy(os.path.join(EXAMPLES, "password-then-totp.conf"), tmp)
    with open(os.path.join(tmp, "users"), "w") as f:
        f.write(f"alice:{mkpasswd('yescrypt', PASSWORD)}\n")
    os.chmod(os.path.join(tmp, "users"), 0o600)
    hexkey = os.urandom(20).hex()
    secrets.append(hexkey)
    oath = os.path.join(tmp, "users.oath")
    with open(oath, "w") as f:  # as a pam_oath administrator writes it
        f.write(f"# pam_oath users\nHOTP/T30/6\talice\t-\t{hexkey}\n")
    os.chmod(oath, 0o600)
    before = open(oath).read()
    proc, port = start_parleyd(PARLEYD, tmp, ["--config", os.path.join(tmp, "password-then-totp.conf"),
                                              "--log-level", "trace"], os.path.join(tmp, "log"))
    try:
        step = fresh_step()
        now_code = oathtool(hexkey, step)
        secrets.append(now_code)
        check(login(port, "alice", now_code) == "in", "password then the current TOTP code gets in")
        check(open(oath).read() != before, "users.oath records the step used")
        check(login(port, "alice", now_code) == "denied", "the same code a second time is refused")
        next_code = oathtool(hexkey, step + 1)
        secrets.append(next_code)
        check(login(port, "alice", next_code) == "in", "the next step's code (one ahead) is accepted")
        older = oathtool(hexkey, step)
        check(login(port, "alice", older) == "denied",
              "a code older than the last one accepted is refused")
        ahead2 = oathtool(hexkey, fresh_step() + 2)
        check(login(port, "alice", ahead2) == "denied", "a code two steps ahead is refused")
        check(login(port, "alice", "000000", password="wrong") == "denied-before-code",
              "a wrong password is refused before the code is asked")
        check(proc.poll() is None, "parleyd is still running")
    finally:
        stop(proc)

    # The rate limit: two wrong codes, then even the right one is refused.
    with open(os.path.join(tmp, "limited.conf"), "w") as f:
        f.write(open(os.path.join(tmp, "password-then-totp.conf")).read()
                .replace("max_failures = 5", "max_failures = 2"))
    proc, port = start_parleyd(PARLEYD, tmp, ["--config", os.path.join(tmp, "limited.conf"),
                                              "--log-level", "trace"], os.path.join(tmp, "log"))
    try:
        step = fresh_step()
        for wrong in ("111111", "222222"):
            if wrong == oathtool(hexkey, step) or wrong == oathtool(hexkey, step + 1):
                wrong = "333333"
            login(port, "alice", wrong)
        right = oathtool(hexkey, step + 1)
        secrets.append(right)
        check(login(port, "alice", right) == "denied", "after max_failures wrong codes the right code is refused")
    finally:
        stop(proc)
    log = open(os.path.join(tmp, "log")).read()
    check("too many wrong codes" in log, "the rate limit is logged")


def publickey_then_totp_flags(tmp, secrets):
    keygen(os.path.join(tmp, "bob"))
    keys = os.path.join(tmp, "keys")
    os.makedirs(keys, exist_ok=True)
    shutil.copy(os.path.join(tmp, "bob.pub"), os.path.join(keys, "bob"))
    hexkey = os.urandom(20).hex()
    secrets.append(hexkey)
    oath = os.path.join(tmp, "bob.oath")
    with open(oath, "w") as f:
        f.write(f"HOTP/T30\tbob\t-\t{hexkey}\n")
    os.chmod(oath, 0o600)
    proc, port = start_parleyd(PARLEYD, tmp, ["--authorized-keys", os.path.join(keys, "%u"),
                                              "--totp-users-oath", oath, "--log-level", "trace",
                                              "--auth-methods", "publickey,keyboard-interactive:totp"],
                               os.path.join(tmp, "log"))
    try:
        code = oathtool(hexkey, fresh_step())
        secrets.append(code)
        check(login(port, "bob", code, key=os.path.join(tmp, "bob")) == "in",
              "publickey then the TOTP code gets in (flags, users.oath)")
        check(login(port, "bob", "", key=os.path.join(tmp, "alice-missing")) != "in",
              "without the key there is no way in")
    finally:
        stop(proc)


def publickey_then_totp_google(tmp, secrets):
    if os.geteuid() != 0:
        check(False, "the google-authenticator configuration test needs root (CI runs as root)")
        return
    subprocess.run(["userdel", "-r", GA_USER], capture_output=True)
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", GA_USER], check=True)
    try:
        pw = pwd.getpwnam(GA_USER)
        ssh_dir = os.path.join(pw.pw_dir, ".ssh")
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        keygen(os.path.join(tmp, "ga"))
        shutil.copy(os.path.join(tmp, "ga.pub"), os.path.join(ssh_dir, "authorized_keys"))
        subprocess.run(["chown", "-R", f"{GA_USER}:", ssh_dir], check=True)
        # The user runs Debian's google-authenticator themselves, as they would.
        r = subprocess.run(["su", "-s", "/bin/sh", GA_USER, "-c",
                            "google-authenticator -t -d -f -r 3 -R 30 -w 3 -q"],
                           capture_output=True, text=True)
        ga_file = os.path.join(pw.pw_dir, ".google_authenticator")
        check(r.returncode == 0 and os.path.exists(ga_file), "google-authenticator wrote ~/.google_authenticator")
        lines = open(ga_file).read().splitlines()
        base32 = lines[0].strip()
        secrets.append(base32)
        shutil.copy(os.path.join(EXAMPLES, "publickey-then-totp.conf"), tmp)
        proc, port = start_parleyd(PARLEYD, tmp, ["--config", os.path.join(tmp, "publickey-then-totp.conf"),
                                                  "--log-level", "trace"], os.path.join(tmp, "log"))
        try:
            code = oathtool(base32, fresh_step(), base32=True)
            secrets.append(code)
            check(login(port, GA_USER, code, key=os.path.join(tmp, "ga")) == "in",
                  "publickey then a code from the user's ~/.google_authenticator gets in")
            check(login(port, GA_USER, code, key=os.path.join(tmp, "ga")) == "denied",
                  "the same code again is refused")
            st = os.stat(ga_file)
            check(st.st_uid == pw.pw_uid, "~/.google_authenticator still belongs to the user")
            scratch = [l.strip() for l in lines[1:] if l.strip().isdigit() and len(l.strip()) == 8]
            check(len(scratch) >= 1, "the file has scratch codes")
            if scratch:
                secrets.append(scratch[0])
                check(login(port, GA_USER, scratch[0], key=os.path.join(tmp, "ga")) == "in",
                      "a scratch code gets in")
                check(login(port, GA_USER, scratch[0], key=os.path.join(tmp, "ga")) == "denied",
                      "the same scratch code is refused the second time")
                check(scratch[0] not in open(ga_file).read(), "the used scratch code left the file")
        finally:
            stop(proc)
    finally:
        subprocess.run(["userdel", "-r", GA_USER], capture_output=True)


def main():
    tmp = tempfile.mkdtemp()
    secrets = [PASSWORD]
    try:
        password_then_totp(tmp, secrets)
        publickey_then_totp_flags(tmp, secrets)
        publickey_then_totp_google(tmp, secrets)
        log = open(os.path.join(tmp, "log")).read()
        check("totp for alice" in log, "the trace log has the TOTP audit lines")
        leaked = [s for s in secrets if s and s in log]
        check(not leaked, f"no password, code or secret in the trace log ({len(secrets)} checked)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("totp")


if __name__ == "__main__":
    sys.exit(main())

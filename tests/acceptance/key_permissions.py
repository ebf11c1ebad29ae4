#!/usr/bin/python3
"""Issue 11: parleyd refuses a host key file that its group or others may access, as
sshd refuses one ("UNPROTECTED PRIVATE KEY FILE"), and a state directory (where the
generated host key lives) that is not its own or that others may write.

Usage: key_permissions.py PARLEYD"""
import os
import re
import subprocess
import sys
import tempfile

from common import check, finish, keygen

PARLEYD = sys.argv[1]


def run_parleyd(args, tmp):
    """Starts parleyd; returns (started, stderr). A started server is stopped again."""
    ak = os.path.join(tmp, "authorized_keys")
    if not os.path.exists(ak):
        keygen(os.path.join(tmp, "client"))
        with open(os.path.join(tmp, "client.pub")) as src, open(ak, "w") as dst:
            dst.write(src.read())
        os.chmod(ak, 0o600)
    err_path = os.path.join(tmp, "stderr")
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([PARLEYD, "--port", "0", "--authorized-keys", ak, *args],
                                stdout=subprocess.PIPE, stderr=err)
        line = proc.stdout.readline().decode()
        started = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", line) is not None
        if started:
            proc.terminate()
        try:
            status = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
    with open(err_path, errors="replace") as f:
        text = f.read()
    return started, status, text


def main():
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        key = os.path.join(tmp, "hostkey")
        keygen(key)

        # Host key files readable (or writable) by group or others: refused, as sshd does.
        for mode in (0o644, 0o640, 0o604, 0o660):
            os.chmod(key, mode)
            started, status, err = run_parleyd(["--host-key", key], tmp)
            check(not started and status != 0,
                  f"a host key file with mode {mode:04o} is refused (status {status})")
            check("UNPROTECTED PRIVATE KEY FILE" in err and key in err,
                  f"the refusal for mode {mode:04o} says why, as sshd does: {err.strip()[:160]!r}")
        os.chmod(key, 0o600)
        started, status, err = run_parleyd(["--host-key", key], tmp)
        check(started, f"a host key file with mode 0600 is used ({err.strip()[:160]!r})")

        # The state directory (the generated host key's home) must be ours and not
        # writable by group or others.
        for mode in (0o777, 0o775, 0o757):
            state = tempfile.mkdtemp(dir=tmp)
            os.chmod(state, mode)
            started, status, err = run_parleyd(["--state-dir", state], tmp)
            check(not started and status != 0,
                  f"a state directory with mode {mode:04o} is refused (status {status})")
            check("bad permissions" in err and state in err,
                  f"the refusal names the directory and its mode: {err.strip()[:160]!r}")
            check(not os.path.exists(os.path.join(state, "ssh_host_ed25519_key")),
                  f"no host key is written into a state directory with mode {mode:04o}")
        if os.geteuid() == 0:
            state = tempfile.mkdtemp(dir=tmp)
            os.chown(state, 65534, 65534)
            started, status, err = run_parleyd(["--state-dir", state], tmp)
            check(not started and status != 0 and "bad ownership" in err,
                  f"a state directory owned by someone else is refused: {err.strip()[:160]!r}")
        else:
            print("skip a state directory owned by someone else (needs root)")

        # A new state directory is created 0700 and used; a 0700 one of ours is fine.
        state = os.path.join(tmp, "new-state")
        started, status, err = run_parleyd(["--state-dir", state], tmp)
        check(started, f"a new state directory is created and used ({err.strip()[:160]!r})")
        check(os.path.isdir(state) and (os.stat(state).st_mode & 0o777) == 0o700,
              "the new state directory has mode 0700")
        check((os.stat(os.path.join(state, "ssh_host_ed25519_key")).st_mode & 0o777) == 0o600,
              "the generated host key has mode 0600")
        started, status, err = run_parleyd(["--state-dir", state], tmp)
        check(started, "the state directory and its key are used again on the next start")
        os.chmod(os.path.join(state, "ssh_host_ed25519_key"), 0o644)
        started, status, err = run_parleyd(["--state-dir", state], tmp)
        check(not started and "UNPROTECTED PRIVATE KEY FILE" in err,
              "a generated host key made readable by others is refused, not replaced")
    return finish("key_permissions")


if __name__ == "__main__":
    sys.exit(main())

"""Issue 14, the network process's sandbox: runs tests/sandbox_probe as root with this
script standing in for the monitor, and checks that after parley::sandbox::confine() every
forbidden attempt fails: opening a host key file, /etc/shadow and a user's
~/.google_authenticator is refused (EPERM), and execve of a shell, setuid(0), ptrace and
kill of the monitor, a TCP connection to a listener here and fork are killed by the
seccomp filter; that the listener saw no connection and
nobody traces this process, and that an Asio loop still echoes and accepts after confine().
Then, run as nobody, the probe must refuse (confine: not_root) and say so with a failure.
Needs root and the parleyd account (scripts/install-deps.sh): without them it fails.
Usage: sandbox_probe_test.py SANDBOX_PROBE"""
import os
import pwd
import socket
import stat
import subprocess
import sys
import tempfile

from common import check, finish, keygen, session_user

KILLED = "killed by SIGSYS"


def traced_by():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return -1


def main(probe):
    if os.geteuid() != 0:
        check(False, "runs as root (confine() needs it; CI runs the tests as root)")
        return finish("sandbox_probe")
    try:
        pwd.getpwnam("parleyd")
    except KeyError:
        check(False, "the parleyd account exists (scripts/install-deps.sh creates it)")
        return finish("sandbox_probe")
    user = session_user()

    with tempfile.TemporaryDirectory(prefix="parley-sandbox-") as tmp:
        os.chmod(tmp, 0o755)
        host_key = os.path.join(tmp, "ssh_host_ed25519_key")
        keygen(host_key)
        os.chmod(host_key, 0o600)
        # The user's TOTP secret as google-authenticator leaves it: 0400, owned by the user.
        home = os.path.join(tmp, "home", user)
        os.makedirs(home)
        otp_file = os.path.join(home, ".google_authenticator")
        with open(otp_file, "w") as f:
            f.write("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n")
        pw = pwd.getpwnam(user)
        os.chown(otp_file, pw.pw_uid, pw.pw_gid)
        os.chmod(otp_file, 0o400)
        empty_dir = os.path.join(tmp, "run", "parleyd", "empty")

        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        args = [probe, "--host-key", host_key, "--otp-file", otp_file, "--connect-port", str(port),
                "--monitor-pid", str(os.getpid()), "--empty-dir", empty_dir]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        lines = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)

        # Files are refused (EPERM), not killed: glibc opens some on its own and copes.
        for attempt in [f"open {host_key}", "open /etc/shadow", f"open {otp_file}"]:
            check(lines.get(attempt) == "EPERM", f"{attempt}: EPERM (got {lines.get(attempt)!r})")
        for attempt in ["execve /bin/sh", "setuid(0)", "ptrace(PTRACE_ATTACH, monitor)",
                        "kill(monitor, SIGTERM)", f"connect 127.0.0.1:{port}", "fork"]:
            check(lines.get(attempt) == KILLED, f"{attempt}: {KILLED} (got {lines.get(attempt)!r})")
        check(lines.get("event loop after confine") ==
              "socketpair echo ok, accepted TCP echo ok, loop ended cleanly",
              "after confine an Asio loop on two threads echoes over a socketpair and accepts")
        check(r.returncode == 0, f"the probe exits 0 (got {r.returncode})")

        listener.setblocking(False)
        try:
            listener.accept()
            check(False, "the listener saw no connection from the probe")
        except BlockingIOError:
            check(True, "the listener saw no connection from the probe")
        check(traced_by() == 0, "the monitor is traced by nobody")
        st = os.stat(empty_dir)
        check(st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o755 and not os.listdir(empty_dir),
              "the empty directory was made root-owned 0755 and is still empty")

        # The probe reports a confine() that could not happen as a failure.
        def as_nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        r = subprocess.run(args[:-2] + ["--empty-dir", os.path.join(tmp, "never")],
                           capture_output=True, text=True, timeout=60, preexec_fn=as_nobody)
        check(r.returncode == 1 and "open /etc/shadow: confine failed: not_root" in r.stdout
              and not os.path.exists(os.path.join(tmp, "never")),
              "as nobody the probe fails with confine failed: not_root and makes nothing")
    return finish("sandbox_probe")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

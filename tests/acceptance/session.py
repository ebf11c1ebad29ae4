#!/usr/bin/python3
"""Sessions against parleyd with real OpenSSH clients (ssh, tmux, pexpect), logging in
by publickey: exec output, stderr and exit status; the environment a login has; the
env allow-list; stdin streaming (5 MiB through sha256sum); death by signal; an
interactive shell under tmux with a window resize; the demo's Higher or Lower login
and welcome; MaxSessions over one multiplexed connection; 200 concurrent logins; and
that commands are not logged. Exits non-zero on any failure (run by ctest)."""
import hashlib
import os
import pwd
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time

import pexpect

from common import SSH, answer_question, check, finish, keygen, session_user, start_parleyd, stop

PARLEYD = sys.argv[1]
TMUX = "/usr/bin/tmux"
ME = pwd.getpwuid(os.getuid())
SECRET = "not-for-the-log-7f3a9c"  # appears in a command and an env value, never in the log


def ssh_args(port, key, user=ME.pw_name, opts=()):
    return [SSH, "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=error", "-p", str(port), *opts, f"{user}@127.0.0.1"]


def run(port, key, command, opts=(), stdin=None, timeout=60):
    """ssh PORT COMMAND; returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run([*ssh_args(port, key, opts=opts), command], input=stdin,
                          capture_output=True, timeout=timeout)


def tmux(sock, *args):
    return subprocess.run([TMUX, "-L", sock, *args], capture_output=True, text=True, timeout=20)


def pane(sock):
    return tmux(sock, "capture-pane", "-p", "-t", "T").stdout


def wait_pane(sock, pred, timeout=20):
    """Polls capture-pane until pred(text) holds; returns (ok, last text)."""
    end = time.time() + timeout
    text = ""
    while time.time() < end:
        text = pane(sock)
        if pred(text):
            return True, text
        time.sleep(0.2)
    return False, text


def exec_checks(port, key):
    # 1. stdout, stderr and the exit status.
    r = run(port, key, "echo hi; echo err >&2; exit 3")
    check(r.stdout == b"hi\n", f"exec: stdout is exactly 'hi\\n' (got {r.stdout!r})")
    check(b"err" in r.stderr, f"exec: stderr has 'err' (got {r.stderr!r})")
    check(r.returncode == 3, f"exec: exit status 3 (got {r.returncode})")

    # 2. The environment of a login.
    # Logged in under a name that is no account of the system: the program runs as
    # parleyd's account (as root: the session user), so USER/LOGNAME/HOME are that
    # account's, and PARLEY_USER is the login name.
    runs_as = pwd.getpwnam(session_user()) if session_user() else ME
    r = subprocess.run([*ssh_args(port, key, user="visitor"),
                        "echo $HOME; echo $USER; echo $SHELL; echo $PATH; echo $SSH_CONNECTION; "
                        "echo $LOGNAME; echo $PARLEY_USER"], capture_output=True, timeout=60)
    lines = r.stdout.decode(errors="replace").split("\n")
    lines += [""] * (7 - len(lines))
    home, user, shell, path, conn, logname, parley_user = lines[:7]
    check(home == runs_as.pw_dir, f"env: HOME is the passwd home {runs_as.pw_dir} (got {home!r})")
    check(user == runs_as.pw_name and logname == runs_as.pw_name,
          f"env: USER and LOGNAME are the account's, {runs_as.pw_name} (got {user!r}, {logname!r})")
    check(parley_user == "visitor", f"env: PARLEY_USER is the login name (got {parley_user!r})")
    check(shell.startswith("/") and len(shell) > 1, f"env: SHELL is a nonempty absolute path (got {shell!r})")
    check("/usr/bin" in path.split(":"), f"env: PATH contains /usr/bin (got {path!r})")
    f = conn.split(" ")
    check(len(f) == 4 and f[0] == "127.0.0.1" and f[1].isdigit() and 0 < int(f[1]) < 65536
          and f[2] == "127.0.0.1" and f[3] == str(port),
          f"env: SSH_CONNECTION is '127.0.0.1 <client port> 127.0.0.1 {port}' (got {conn!r})")

    # 3a. The env allow-list by default: LANG passes, FOO does not.
    # (One SetEnv with both: OpenSSH 9.2 keeps only the first SetEnv option given.)
    r = run(port, key, 'echo "[$LANG][$FOO]"', opts=["-v", "-o", f"SetEnv=LANG=C.UTF-8 FOO={SECRET}"])
    check(b'setting env FOO' in r.stderr, "env allow-list: ssh sends both LANG and FOO")
    check(r.stdout == b"[C.UTF-8][]\n", f"env allow-list by default: LANG set, FOO not (got {r.stdout!r})")

    # 4. stdin streams, with its EOF.
    r = run(port, key, "cat; echo; echo done", stdin=b"abc")
    check(r.stdout == b"abc\ndone\n", f"stdin: 'abc' then EOF through cat (got {r.stdout!r})")
    data = os.urandom(5 << 20)
    t = time.time()
    r = run(port, key, "sha256sum", stdin=data, timeout=120)
    got = r.stdout.split(b" ")[0].decode(errors="replace")
    print(f"     5 MiB through sha256sum in {time.time() - t:.2f} s", flush=True)
    check(got == hashlib.sha256(data).hexdigest(), f"stdin: 5 MiB of random bytes reach sha256sum intact (got {got!r})")

    # 5. Death by a signal: OpenSSH's ssh gets exit-signal, has no status and exits 255.
    r = run(port, key, "kill -TERM $$", opts=["-v"])
    check(r.returncode == 255, f"signal: ssh exits 255 when the command dies of SIGTERM (got {r.returncode})")
    check(b"rtype exit-signal" in r.stderr, "signal: the server sent exit-signal (ssh -v: rtype exit-signal)")

    # Keepalives: ssh's ServerAliveInterval sends keepalive@openssh.com (want reply)
    # every second; the server must answer (with failure, as OpenSSH does) or ssh
    # gives up after ServerAliveCountMax unanswered ones.
    r = run(port, key, "sleep 4; echo alive", opts=["-vvv", "-o", "ServerAliveInterval=1",
                                                   "-o", "ServerAliveCountMax=1"])
    check(r.returncode == 0 and r.stdout == b"alive\n",
          f"keepalive@openssh.com is answered: a 4 s command survives 1 s keepalives (status {r.returncode})")
    failures_seen = r.stderr.count(b"receive packet: type 82")
    check(failures_seen >= 2, f"each keepalive got REQUEST_FAILURE (82), as OpenSSH answers ({failures_seen} seen)")

    # 10 (part). A secret in the command line, to look for in the log later.
    r = run(port, key, f"true {SECRET}")
    check(r.returncode == 0, "exec: a command with a secret argument runs")


def tmux_checks(port, key, tmp):
    """6. An interactive shell under tmux, resized."""
    sock = f"parley-{os.getpid()}"
    rc_file = os.path.join(tmp, "tmux-ssh-rc")
    cmd = " ".join(f"'{a}'" for a in ssh_args(port, key, opts=["-tt"])) + f"; echo $? > '{rc_file}'"
    env = dict(os.environ, TERM="xterm")
    env.pop("TMUX", None)
    try:
        r = subprocess.run([TMUX, "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "T",
                            "-x", "80", "-y", "24", cmd], env=env, capture_output=True, text=True, timeout=20)
        check(r.returncode == 0, f"tmux: session started ({r.stderr.strip()})")
        ok, text = wait_pane(sock, lambda t: re.search(r"[#$] ?$", t.rstrip("\n"), re.M) is not None)
        check(ok, "tmux: a shell prompt appears")
        tmux(sock, "send-keys", "-t", "T", "stty size", "Enter")
        ok, text = wait_pane(sock, lambda t: re.search(r"^24 80$", t, re.M) is not None)
        check(ok, "tmux: stty size shows 24 80")
        if not ok:
            print(text)
        tmux(sock, "send-keys", "-t", "T", "clear", "Enter")
        wait_pane(sock, lambda t: "24 80" not in t, timeout=5)
        r = tmux(sock, "resize-window", "-t", "T", "-x", "100", "-y", "30")
        if r.returncode != 0:
            tmux(sock, "refresh-client", "-C", "100x30")
        tmux(sock, "send-keys", "-t", "T", "stty size", "Enter")
        ok, text = wait_pane(sock, lambda t: re.search(r"^30 100$", t, re.M) is not None)
        check(ok, "tmux: after resizing the window, stty size shows 30 100")
        if not ok:
            print(text)
        tmux(sock, "send-keys", "-t", "T", "echo $((6*7))", "Enter")
        ok, text = wait_pane(sock, lambda t: re.search(r"^42$", t, re.M) is not None)
        check(ok, "tmux: echo $((6*7)) prints 42")
        tmux(sock, "send-keys", "-t", "T", "exit", "Enter")
        end = time.time() + 20
        while time.time() < end and not os.path.exists(rc_file):
            time.sleep(0.2)
        time.sleep(0.2)
        rc = open(rc_file).read().strip() if os.path.exists(rc_file) else None
        check(rc == "0", f"tmux: after exit, the pane's ssh ends with status 0 (got {rc!r})")
    finally:
        tmux(sock, "kill-server")


def demo_checks(tmp):
    """7. The demo: Higher or Lower for admin, then the welcome and a shell: a system
    shell run as parleyd's account, or as root the built-in command shell."""
    as_root = os.geteuid() == 0
    proc, port = start_parleyd(PARLEYD, tmp, ["--demo"], os.path.join(tmp, "demo.log"))
    try:
        child = pexpect.spawn(SSH, ["-F", "/dev/null", "-tt", "-p", str(port), "-o", "StrictHostKeyChecking=no",
                                    "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
                                    "-o", "IdentityAgent=none", "-o", "LogLevel=error", "admin@127.0.0.1"],
                              timeout=20, env=dict(os.environ, TERM="dumb"))
        try:
            answer_question(child, right=True)
            welcome = ("parley command shell. Type 'help'." if as_root else
                       "Welcome to parley. You answered the question; here is your shell.")
            i = child.expect([re.escape(welcome), pexpect.EOF, pexpect.TIMEOUT])
            check(i == 0, f"demo: the right answer gets the welcome line ({welcome})")
            if as_root:
                child.send(b"echo 42\r")
            else:
                child.sendline("echo $((6*7))")
            i = child.expect([rb"\r\n42\r\n", pexpect.EOF, pexpect.TIMEOUT])
            check(i == 0, "demo: the shell after the welcome echoes 42")
            child.send(b"exit\r")
            i = child.expect([pexpect.EOF, pexpect.TIMEOUT])
            child.close()
            check(i == 0 and child.exitstatus == 0, f"demo: exit ends ssh with status 0 (got {child.exitstatus})")
        except (pexpect.EOF, pexpect.TIMEOUT) as e:
            check(False, f"demo: login and shell ({type(e).__name__}: {child.before!r})")
            child.close(force=True)
        check(proc.poll() is None, "demo: parleyd is still running")
    finally:
        stop(proc)


def max_sessions_checks(port, key, tmp):
    """8. --max-sessions 2: over one multiplexed connection the third session is refused."""
    cm = os.path.join(tmp, "cm")
    master = subprocess.run([*ssh_args(port, key, opts=["-o", "ControlMaster=yes", "-o", f"ControlPath={cm}",
                                                         "-N", "-f"])], capture_output=True, timeout=30)
    check(master.returncode == 0 and os.path.exists(cm), f"max-sessions: control master up ({master.stderr!r})")
    # The clients get port 1: if the mux refuses, ssh falls back to a direct connection,
    # and that one must fail instead of hiding the refusal.
    def client(i, sleep):
        return subprocess.Popen([*ssh_args(1, key, opts=["-o", f"ControlPath={cm}", "-o", "ControlMaster=no"]),
                                 f"sleep {sleep}; echo s{i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        procs = []
        for i in range(3):
            procs.append(client(i, 3))
            time.sleep(0.5)
        res = [(p.returncode, out, err) for p in procs for out, err in [p.communicate(timeout=30)]]
        for i in range(2):
            rc, out, err = res[i]
            check(rc == 0 and out == f"s{i}\n".encode(), f"max-sessions: session {i + 1} of 2 runs (rc {rc}, {out!r}, {err!r})")
        rc, out, err = res[2]
        check(rc != 0 and out == b"" and (b"refused" in err or b"prohibited" in err or b"open failed" in err),
              f"max-sessions: the third concurrent session is refused (rc {rc}, {err!r})")
        # The count goes down again when sessions end.
        p = client(3, 0)
        out, err = p.communicate(timeout=30)
        check(p.returncode == 0 and out == b"s3\n", f"max-sessions: after they end, a new session runs ({err!r})")
    finally:
        subprocess.run([SSH, "-F", "/dev/null", "-o", f"ControlPath={cm}", "-O", "exit", "x"],
                       capture_output=True, timeout=20)


def many_checks(port, key):
    """9. 200 concurrent logins, each with its own output and status."""
    n = 200
    t = time.time()
    procs = [subprocess.Popen([*ssh_args(port, key),
                               f"sleep 1; echo out-{i}; echo err-{i} >&2; exit $(({i} % 7))"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(n)]
    bad = []
    deadline = t + 120
    # Read all pipes at once so no ssh blocks on a full pipe.
    sel = selectors.DefaultSelector()
    bufs = {}
    for i, p in enumerate(procs):
        for name, f in (("out", p.stdout), ("err", p.stderr)):
            bufs[(i, name)] = b""
            sel.register(f, selectors.EVENT_READ, (i, name))
    while sel.get_map() and time.time() < deadline:
        for k, _ in sel.select(timeout=1):
            chunk = os.read(k.fileobj.fileno(), 65536)
            if chunk:
                bufs[k.data] += chunk
            else:
                sel.unregister(k.fileobj)
                k.fileobj.close()
    timed_out = 0
    for i, p in enumerate(procs):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            timed_out += 1
            continue
        out, err = bufs[(i, "out")], bufs[(i, "err")]
        if out != f"out-{i}\n".encode() or err != f"err-{i}\n".encode() or p.returncode != i % 7:
            bad.append((i, p.returncode, out, err))
    took = time.time() - t
    print(f"     {n} concurrent sessions took {took:.1f} s", flush=True)
    check(timed_out == 0 and took <= 120, f"200 concurrent: all finish within 120 s ({timed_out} did not)")
    check(not bad, f"200 concurrent: each has its own stdout, stderr and status ({len(bad)} wrong: {bad[:3]!r})")


def main():
    t0 = time.time()
    tmp = tempfile.mkdtemp()
    key = os.path.join(tmp, "client")
    keygen(key)
    ak = os.path.join(tmp, "authorized_keys")
    shutil.copy(key + ".pub", ak)

    log_path = os.path.join(tmp, "parleyd.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--authorized-keys", ak], log_path)
    try:
        exec_checks(port, key)
        tmux_checks(port, key, tmp)
        check(proc.poll() is None, "parleyd is still running")
    finally:
        stop(proc)

    # 10. The log at the default level: session lines, but no command text or env values.
    log = open(log_path, "rb").read().decode(errors="replace")
    execs = len(re.findall(r"session 0: exec", log))
    check(execs == 8, f"log: one 'session 0: exec' line per exec login (8; got {execs})")
    check("session 0: shell" in log, "log: a 'session 0: shell' line for the tmux login")
    check(SECRET not in log and "sha256sum" not in log and "echo hi" not in log,
          "log: no command text or env values at the default level")

    # 9. The load, with /bin/sh as the shell: 200 bashes at once would run the login's
    # ~/.bashrc 200 times at once (pyenv's rehash lock there stalls and writes to stderr).
    log_load = os.path.join(tmp, "parleyd-load.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--authorized-keys", ak, "--shell", "/bin/sh"], log_load)
    try:
        many_checks(port, key)
        check(proc.poll() is None, "parleyd is still running after 200 concurrent sessions")
    finally:
        stop(proc)
    log = open(log_load, "rb").read().decode(errors="replace")
    execs = len(re.findall(r"session 0: exec", log))
    check(execs == 200, f"log: one 'session 0: exec' line per concurrent login ({execs})")
    check("out-1" not in log, "log: no command text under load")

    # 3b and 8: another allow-list and --max-sessions 2.
    log2 = os.path.join(tmp, "parleyd2.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--authorized-keys", ak, "--accept-env", "FOO",
                                              "--max-sessions", "2"], log2)
    try:
        r = run(port, key, 'echo "[$LANG][$FOO]"', opts=["-o", "SetEnv=LANG=C.UTF-8 FOO=bar"])
        check(re.fullmatch(rb"\[[^]]*\]\[bar\]\n", r.stdout) is not None,
              f"env allow-list with --accept-env FOO: FOO passes (got {r.stdout!r})")
        max_sessions_checks(port, key, tmp)
        check(proc.poll() is None, "parleyd (max-sessions 2) is still running")
    finally:
        stop(proc)
    log = open(log2, "rb").read().decode(errors="replace")
    check("session refused: too many sessions" in log or "too many sessions" in log,
          "log: the refused session is logged")

    demo_checks(tmp)

    print(f"session: took {time.time() - t0:.1f} s")
    shutil.rmtree(tmp, ignore_errors=True)
    return finish("session")


if __name__ == "__main__":
    sys.exit(main())

"""The parley command against parleyd: a command's output and status, known_hosts
(accept-new, then a changed key refused), publickey, the account password from
the environment answered by saved_password (and nothing secret in any log at
trace level), batch mode's one-line reason for unanswered prompts, and a hostile
banner shown sanitized and marked; a connection configured by an ssh_config file alone.
Usage: parley_client.py PARLEYD PARLEY"""
import os
import signal
import subprocess
import sys
import tempfile
import time

from common import SSH, SESSION_USER, check, children, finish, keygen, mkpasswd, session_user, start_parleyd, stop

PASSWORD = "pw-Quokka-7731"


def parley(exe, port, *args, env=None, stdin=b"", timeout=30):
    e = dict(os.environ)
    e.pop("PARLEY_PASSWORD", None)
    if env:
        e.update(env)
    return subprocess.run([exe, "-p", str(port), *args], input=stdin, capture_output=True,
                          timeout=timeout, env=e)


def main():
    parleyd, exe = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="parley-client-") as tmp:
        key = os.path.join(tmp, "client")
        keygen(key)
        ak = os.path.join(tmp, "authorized_keys")
        with open(ak, "w") as f:
            f.write(open(key + ".pub").read())
        kh = os.path.join(tmp, "known_hosts")
        log = os.path.join(tmp, "parleyd.log")

        # Publickey, a command, its output and status; the host key learned (accept-new).
        proc, port = start_parleyd(parleyd, tmp, ["--authorized-keys", ak], log)
        try:
            # HashKnownHosts=no: parley reads /etc/ssh/ssh_config as ssh does, and Debian's
            # says yes; this test looks for the plain [127.0.0.1]:PORT entry.
            common = ["-i", key, "-o", f"UserKnownHostsFile={kh}", "-o", "BatchMode=yes",
                      "-o", "HashKnownHosts=no"]
            r = parley(exe, port, *common, "-o", "StrictHostKeyChecking=accept-new", "me@127.0.0.1",
                       "echo hi; echo err >&2; exit 3")
            check(r.stdout == b"hi\n", f"exec: stdout is 'hi\\n' (got {r.stdout!r})")
            check(b"err" in r.stderr, "exec: stderr carries 'err'")
            check(r.returncode == 3, f"exec: parley exits with the command's status 3 (got {r.returncode})")
            check(b"Permanently added" in r.stderr and os.path.exists(kh) and f"[127.0.0.1]:{port}" in open(kh).read(),
                  "accept-new: the host key is added to known_hosts as [127.0.0.1]:PORT")
            r = parley(exe, port, *common, "-o", "StrictHostKeyChecking=yes", "me@127.0.0.1", "cat", stdin=b"x" * 300000)
            check(r.returncode == 0 and r.stdout == b"x" * 300000,
                  "strict checking: the known key is accepted and 300 kB go through cat")
            r = parley(exe, port, *common, "-o", "StrictHostKeyChecking=yes", "me@127.0.0.1")
            check(r.returncode == 0, f"no command and no terminal: a shell reading empty stdin ends (status {r.returncode})")
            # Everything from a configuration file (issue 16): a Host alias whose HostName,
            # Port, User, key and known_hosts file take parley there, the key checked under
            # the real name and port.
            cfg = os.path.join(tmp, "config")
            with open(cfg, "w") as f:
                f.write(f"Host other\n  Port 1\nHost alias\n  HostName 127.0.0.1\n  Port {port}\n"
                        f"  User me\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n"
                        "  BatchMode yes\n  StrictHostKeyChecking yes\n  HashKnownHosts no\n")
            r = subprocess.run([exe, "-F", cfg, "alias", "echo via-config"], capture_output=True, timeout=30)
            check(r.returncode == 0 and r.stdout == b"via-config\n",
                  f"-F: a Host alias's HostName, Port, User, IdentityFile and known_hosts file are used "
                  f"({r.returncode}, {r.stderr[-200:]!r})")
            # TCPKeepAlive (issue 16): SO_KEEPALIVE on parley's socket by default, as ssh; not with "no".
            for setting, expect in (("yes", True), ("no", False)):
                run = subprocess.Popen([exe, "-p", str(port), *common, "-o", f"TCPKeepAlive={setting}",
                                        "me@127.0.0.1", "sleep 2"], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                time.sleep(1)
                ss = subprocess.run(["ss", "-Htno", "state", "established", f"dport = :{port}"],
                                    capture_output=True, text=True).stdout
                run.communicate(timeout=30)
                check(ss.strip() != "" and ("timer:(keepalive" in ss) == expect and run.returncode == 0,
                      f"TCPKeepAlive={setting}: the client socket's keep-alive timer is "
                      f"{'on' if expect else 'off'} ({ss.strip()[-80:]!r})")
            # RekeyLimit (issue 16): 1 MB each way through cat with a 64 KiB limit rekeys (what
            # is sent while a key exchange runs waits for it, so not once per 64 KiB), and the
            # data comes back whole; without it, one key exchange.
            data = os.urandom(1 << 20)
            r = parley(exe, port, *common, "-vv", "-o", "RekeyLimit=64K 1h", "me@127.0.0.1", "cat", stdin=data)
            rekeys = r.stderr.count(b"key exchange done")
            check(r.returncode == 0 and r.stdout == data and rekeys >= 2,
                  f"RekeyLimit 64K: 1 MiB through cat intact, {rekeys} key exchanges ({r.returncode})")
            r = parley(exe, port, *common, "-vv", "me@127.0.0.1", "cat", stdin=data)
            check(r.returncode == 0 and r.stdout == data and r.stderr.count(b"key exchange done") == 1,
                  f"without it: one key exchange ({r.stderr.count(b'key exchange done')})")
            # Keep-alives (ServerAliveInterval, issue 16): with ServerAliveCountMax 1 a session
            # silent for 4 s lives only if the server answers them (each answer starts the count
            # over); a server that stops (SIGSTOP) is left as ssh leaves it.
            alive = ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=1"]
            r = parley(exe, port, *common, *alive, "me@127.0.0.1", "sleep 4; echo alive")
            check(r.returncode == 0 and r.stdout == b"alive\n",
                  f"ServerAliveInterval=1, CountMax=1: a 4 s silent command completes ({r.returncode}, {r.stderr[-200:]!r})")
            run = subprocess.Popen([exe, "-p", str(port), *common, "-o", "ServerAliveInterval=1",
                                    "-o", "ServerAliveCountMax=2", "me@127.0.0.1", "sleep 60"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(2)
            frozen = [proc.pid] + children(proc.pid)
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            start = time.monotonic()
            try:
                out, err = run.communicate(timeout=20)
                took = time.monotonic() - start
            except subprocess.TimeoutExpired:
                run.kill()
                out, err = run.communicate()
                took = None
            finally:
                for pid in frozen:
                    os.kill(pid, signal.SIGCONT)
            # Issue 16's bound: within interval x count + 1 s (3 s) of the stop, plus 0.5 s for
            # the process to end and be reaped under CI's load. The last answer came at most
            # one interval before the stop, so the third unanswered check falls in 2-3 s.
            check(took is not None and run.returncode == 255 and 1.5 < took < 1 * 2 + 1 + 0.5
                  and b"Timeout, server 127.0.0.1 not responding." in err,
                  f"the server stopped: parley gives up at the third check without an answer (CountMax 2), within "
                  f"interval x count + 1 s, status 255, ssh's words ({run.returncode}, {took}, {err[-200:]!r})")
        finally:
            stop(proc)

        # -W host:port (issue 16): parley's standard input and output become a direct-tcpip
        # channel through a jump server, so OpenSSH's ssh reaches a host behind it with
        # ProxyCommand "parley -W %h:%p jump"; each hop checks its own host key and logs in.
        proc, port = start_parleyd(parleyd, tmp, ["--authorized-keys", ak], log)
        jump, jump_port = start_parleyd(parleyd, tmp, ["--authorized-keys", ak, "--allow-tcp-forwarding", "local"],
                                        log)
        try:
            r = parley(exe, jump_port, *common, "-o", "StrictHostKeyChecking=accept-new", "-W",
                       f"127.0.0.1:{port}", "me@127.0.0.1")
            check(r.returncode == 0 and r.stdout.startswith(b"SSH-2.0-parley"),
                  f"-W: the target's version line comes through the jump, status 0 ({r.returncode}, {r.stdout[:40]!r})")
            proxy = (f"{exe} -p {jump_port} -i {key} -o UserKnownHostsFile={kh} -o BatchMode=yes "
                     f"-o HashKnownHosts=no -o StrictHostKeyChecking=yes -W %h:%p me@127.0.0.1")
            r = subprocess.run([SSH, "-p", str(port), "-i", key, "-o", f"UserKnownHostsFile={kh}",
                                "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
                                "-o", f"ProxyCommand={proxy}", "me@127.0.0.1", "echo behind-the-jump"],
                               capture_output=True, timeout=30)
            check(r.returncode == 0 and r.stdout == b"behind-the-jump\n",
                  f"OpenSSH ssh through ProxyCommand 'parley -W %h:%p': a command behind the jump "
                  f"({r.returncode}, {r.stderr[-200:]!r})")
            # ProxyCommand (issue 16): parley itself, through the same jump; a proxy that fails.
            r = parley(exe, port, *common, "-o", f"ProxyCommand={proxy}", "me@127.0.0.1", "echo via-proxycommand")
            check(r.returncode == 0 and r.stdout == b"via-proxycommand\n",
                  f"parley -o ProxyCommand='parley -W %h:%p jump': a command behind the jump ({r.returncode}, "
                  f"{r.stderr[-200:]!r})")
            # ProxyJump / -J (issue 16): each hop is parley again with only -l, -p, -J, -F and -W,
            # so its settings come from the configuration file, as with ssh.
            jcfg = os.path.join(tmp, "jump-config")
            with open(jcfg, "w") as f:
                f.write(f"Host *\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n  BatchMode yes\n"
                        "  HashKnownHosts no\n  StrictHostKeyChecking accept-new\n")
            r = subprocess.run([exe, "-F", jcfg, "-J", f"me@127.0.0.1:{jump_port}", "-p", str(port), "me@127.0.0.1",
                                "echo via-J"], capture_output=True, timeout=30)
            check(r.returncode == 0 and r.stdout == b"via-J\n",
                  f"-J me@127.0.0.1:PORT: a command behind the jump ({r.returncode}, {r.stderr[-200:]!r})")
            with open(jcfg, "a") as f:
                f.write(f"Host target\n  HostName 127.0.0.1\n  Port {port}\n  User me\n"
                        f"  ProxyJump me@127.0.0.1:{jump_port},me@127.0.0.1:{jump_port}\n")
            r = subprocess.run([exe, "-F", jcfg, "target", "echo two-hops"], capture_output=True, timeout=60)
            check(r.returncode == 0 and r.stdout == b"two-hops\n",
                  f"ProxyJump with two hops in the configuration file ({r.returncode}, {r.stderr[-200:]!r})")
            r = subprocess.run([exe, "-F", jcfg, "-J", "me@127.0.0.1:1", "-p", str(port), "me@127.0.0.1", "true"],
                               capture_output=True, timeout=30)
            check(r.returncode == 255 and b"Connection refused" in r.stderr,
                  f"a jump host that is not there: its parley says why, status 255 ({r.stderr[-200:]!r})")
            r = subprocess.run([exe, "-F", jcfg, "-J", "me@127.0.0.1;touch /tmp/x", "127.0.0.1", "true"],
                               capture_output=True, timeout=30)
            check(r.returncode == 255 and b"bad ProxyJump" in r.stderr,
                  f"a ProxyJump with shell characters is refused ({r.stderr[-200:]!r})")
            r = parley(exe, port, *common, "-o", "ProxyCommand=echo 'no ssh here' >&2; exit 3", "me@127.0.0.1", "true")
            check(r.returncode == 255 and b"no ssh here" in r.stderr and b"Connection closed" in r.stderr,
                  f"a ProxyCommand that fails: its words, then parley's, status 255 ({r.stderr[-200:]!r})")
            r = parley(exe, port, *common, "-W", f"127.0.0.1:{port}", "me@127.0.0.1")
            check(r.returncode == 255 and b"open failed" in r.stderr,
                  f"-W through a server that forwards nothing: refused ({r.returncode}, {r.stderr[-120:]!r})")
            r = parley(exe, jump_port, *common, "-W", "nohostport", "me@127.0.0.1")
            check(r.returncode == 255 and b"bad stdio forwarding specification" in r.stderr,
                  f"-W without a port: refused before connecting ({r.stderr[-120:]!r})")
            r = parley(exe, jump_port, *common, "-W", "[::1]:22", "me@127.0.0.1", "true")
            check(r.returncode == 255 and b"-W cannot run a command too" in r.stderr,
                  f"-W with a command: refused ({r.stderr[-120:]!r})")
        finally:
            stop(jump)
            stop(proc)

        # ConnectionAttempts (issue 16): a second apart, as ssh. Nothing listens: three
        # attempts take two seconds and say why; a server that comes up meanwhile is reached.
        start = time.monotonic()
        r = parley(exe, port, *common, "-o", "ConnectionAttempts=3", "me@127.0.0.1", "true")
        took = time.monotonic() - start
        check(r.returncode == 255 and b"Connection refused" in r.stderr and 1.8 < took < 10,
              f"ConnectionAttempts=3 to a closed port: refused after {took:.1f} s ({r.stderr[-120:]!r})")
        start = time.monotonic()
        r = parley(exe, port, *common, "me@127.0.0.1", "true")
        check(r.returncode == 255 and time.monotonic() - start < 1.5, "one attempt by default: refused at once")
        run = subprocess.Popen([exe, "-p", str(port), *common, "-o", "ConnectionAttempts=5", "me@127.0.0.1",
                                "echo reached"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        time.sleep(1.5)
        late = subprocess.Popen([parleyd, "--port", str(port), "--host-key", os.path.join(tmp, "hostkey"),
                                 "--authorized-keys", ak, "--per-source-penalties", "no",
                                 *(["--session-user", SESSION_USER] if session_user() else [])],
                                stdout=subprocess.PIPE, stderr=open(log, "ab"))
        try:
            late.stdout.readline()
            out, err = run.communicate(timeout=30)
            check(run.returncode == 0 and out == b"reached\n",
                  f"ConnectionAttempts=5: a server that starts 1.5 s later is reached ({run.returncode}, {err[-120:]!r})")
        finally:
            stop(late)

        # The same address with another host key: refused before any secret is sent.
        other = os.path.join(tmp, "otherhost")
        keygen(other)
        log_before = os.path.getsize(log)
        proc = subprocess.Popen([parleyd, "--port", str(port), "--host-key", other, "--authorized-keys", ak],
                                stdout=subprocess.PIPE, stderr=open(log, "ab"))
        proc.stdout.readline()
        try:
            r = parley(exe, port, *common, "-o", "StrictHostKeyChecking=accept-new", "me@127.0.0.1", "true")
            check(r.returncode == 255 and b"REMOTE HOST IDENTIFICATION HAS CHANGED" in r.stderr,
                  f"a changed host key is refused with OpenSSH's warning (status {r.returncode})")
            impostor_log = open(log, "rb").read()[log_before:]
            check(b"connection open" in impostor_log and b"authenticated" not in impostor_log
                  and b"auth: user=" not in impostor_log,
                  "the impostor saw the connection but no authentication request at all")
        finally:
            stop(proc)

        # The account password from the environment, through keyboard-interactive, at trace level.
        pwfile = os.path.join(tmp, "passwords")
        with open(pwfile, "w") as f:
            f.write("alice:" + mkpasswd("yescrypt", PASSWORD) + "\n")
        trace_log = os.path.join(tmp, "parleyd-trace.log")
        proc, port = start_parleyd(parleyd, tmp, ["--password-file", pwfile, "--log-level", "trace"], trace_log)
        try:
            base = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"]
            r = parley(exe, port, "-vvv", *base, "-o", "PreferredAuthentications=keyboard-interactive",
                       "alice@127.0.0.1", "echo in as $PARLEY_USER", env={"PARLEY_PASSWORD": PASSWORD})
            check(r.returncode == 0 and r.stdout == b"in as alice\n",
                  f"PARLEY_PASSWORD answers the 'Password:' prompt (status {r.returncode}, {r.stdout!r})")
            r2 = parley(exe, port, "-vvv", *base, "-o", "PreferredAuthentications=password",
                        "alice@127.0.0.1", "true", env={"PARLEY_PASSWORD": PASSWORD})
            check(r2.returncode == 0, f"PARLEY_PASSWORD also serves the password method (status {r2.returncode})")
            r3 = parley(exe, port, *base, "-o", "PreferredAuthentications=keyboard-interactive",
                        "alice@127.0.0.1", "true", env={"PARLEY_PASSWORD": "wrong-" + PASSWORD})
            check(r3.returncode == 255 and b"Permission denied" in r3.stderr,
                  f"a wrong password: status 255 and 'Permission denied' ({r3.stderr[-200:]!r})")
        finally:
            stop(proc)
        everything = open(trace_log, "rb").read() + r.stderr + r2.stderr + r3.stderr
        check(PASSWORD.encode() not in everything, "no password in the server's trace log or parley's -vvv output")

        # Batch mode with nothing to answer the demo's question: one clear line.
        proc, port = start_parleyd(parleyd, tmp, ["--demo"], log)
        try:
            r = parley(exe, port, *base, "admin@127.0.0.1", "true")
            check(r.returncode == 255, f"batch mode, unanswered question: status 255 (got {r.returncode})")
            check(b"had no answer (batch mode)" in r.stderr and b"server asked 1 question" in r.stderr,
                  f"the reason says the question had no answer in batch mode ({r.stderr.strip()[-160:]!r})")
        finally:
            stop(proc)

        # A hostile banner: escape sequences, OSC 52, a bidi override.
        banner = "Hello\x1b[2J\x1b]52;c;ZXZpbA==\x07 \u202egnp.exe world"
        proc, port = start_parleyd(parleyd, tmp, ["--authorized-keys", ak, "--banner", banner], log)
        try:
            r = parley(exe, port, "-i", key, *base, "me@127.0.0.1", "true")
            err = r.stderr.decode(errors="replace")
            check(r.returncode == 0, "a login with a banner works")
            check("[server] Hello" in err, f"the banner is shown, marked as the server's ({err[:120]!r})")
            check("\x1b" not in err and "\u202e" not in err and "ZXZpbA" not in err,
                  "escape sequences, the OSC 52 payload and the bidi override are gone")
        finally:
            stop(proc)
        jump_with_secrets(parleyd, exe, tmp)
    return finish("parley_client")


def jump_with_secrets(parleyd, exe, tmp):
    """A jump host and a target, each asking its own password (keyboard-interactive), reached
    through ProxyJump with the passwords in a secrets file (issue 16): each hop answers with its
    own; the file must be 0600; no password reaches a log or parley's output."""
    jump_pw, target_pw = "jump-Pw-4417", "target-Pw-9020"
    files = {}
    for name, pw in (("jump", jump_pw), ("target", target_pw)):
        files[name] = os.path.join(tmp, f"passwords-{name}")
        with open(files[name], "w") as f:
            f.write("alice:" + mkpasswd("yescrypt", pw) + "\n")
    logs = [os.path.join(tmp, "secrets-jump.log"), os.path.join(tmp, "secrets-target.log")]
    jump, jump_port = start_parleyd(parleyd, tmp, ["--password-file", files["jump"], "--allow-tcp-forwarding",
                                                   "local", "--log-level", "debug"], logs[0])
    target, target_port = start_parleyd(parleyd, tmp, ["--password-file", files["target"], "--log-level", "debug"],
                                        logs[1])
    try:
        cfg = os.path.join(tmp, "secrets-config")
        with open(cfg, "w") as f:
            f.write(f"Host jumpbox\n  HostName 127.0.0.1\n  Port {jump_port}\n"
                    f"Host target\n  HostName 127.0.0.1\n  Port {target_port}\n  ProxyJump jumpbox\n"
                    f"Host *\n  User alice\n  UserKnownHostsFile {os.path.join(tmp, 'secrets-kh')}\n"
                    "  StrictHostKeyChecking accept-new\n  BatchMode yes\n"
                    "  PreferredAuthentications keyboard-interactive\n")
        secrets = os.path.join(tmp, "secrets")

        def run(text, mode=0o600):
            with open(secrets, "w") as f:
                f.write(text)
            os.chmod(secrets, mode)
            env = dict(os.environ, PARLEY_SECRETS_FILE=secrets)
            env.pop("PARLEY_PASSWORD", None)
            return subprocess.run([exe, "-F", cfg, "target", "echo two-passwords"], capture_output=True,
                                  timeout=60, env=env)

        good = f"# each hop its own\nHost jumpbox\n  Password {jump_pw}\nHost target\n  Password {target_pw}\n"
        r = run(good)
        check(r.returncode == 0 and r.stdout == b"two-passwords\n",
              f"ProxyJump with a secrets file: the jump host and the target each get their own password "
              f"({r.returncode}, {r.stderr[-200:]!r})")
        swapped = f"Host target\n  Password {jump_pw}\nHost jumpbox\n  Password {target_pw}\n"
        r = run(swapped)
        check(r.returncode == 255 and b"Permission denied" in r.stderr,
              f"the passwords swapped: the jump host refuses ({r.returncode}, {r.stderr[-160:]!r})")
        # The refused login's last lines (its close, which a separated parleyd's network
        # process sends to the monitor up to 250 ms later) come first: wait for quiet.
        size = -1
        while size != os.path.getsize(logs[0]):
            size = os.path.getsize(logs[0])
            time.sleep(0.6)
        r = run(good, 0o644)
        check(r.returncode == 255 and b"must be yours and mode 0600" in r.stderr and os.path.getsize(logs[0]) == size,
              f"a secrets file others can read is refused before connecting ({r.stderr[-160:]!r})")
        r = run("Host target\n  Pasword x\n")
        check(r.returncode == 255 and b"line 2: unknown keyword 'pasword'" in r.stderr and b"x\n" not in r.stderr,
              f"a misspelt keyword names the line, not the value ({r.stderr[-160:]!r})")
        everything = open(logs[0], "rb").read() + open(logs[1], "rb").read() + r.stderr
        check(jump_pw.encode() not in everything and target_pw.encode() not in everything,
              "no password in either server's debug log or parley's output")
    finally:
        stop(jump)
        stop(target)


if __name__ == "__main__":
    sys.exit(main())

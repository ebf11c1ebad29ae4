#!/usr/bin/python3
"""Two parleyd behind HAProxy, sharing second-factor state in Redis (docs/scale-out.md).

Starts real redis-server (an ACL user with a password, the default user off) and
real HAProxy (mode tcp, round robin, send-proxy-v2, its own source address
127.0.0.2) on loopback, and two parleyd with [state] backend = "redis" and
proxy_protocol = true: instance A privilege-separated (when run as root), B in
one process. Each has its own copy of users.oath (same secrets). Real OpenSSH
`ssh` logs in with a password then a TOTP code (oathtool), from 127.0.0.7.
Checks:
  - a code used through one instance is refused through the other;
  - 20 concurrent logins with one code, spread over both, let exactly one in;
  - the failure limit is shared: five wrong codes spread over both instances,
    then the right code is refused on both, each having seen fewer than five;
  - the log and SSH_CLIENT show the client's 127.0.0.7, not HAProxy's 127.0.0.2;
  - a PROXY header from an address not in proxy_from is refused;
  - Redis stopped: TOTP fails closed with a clear log line while publickey
    still gets in; Redis back: TOTP works again without restarting parleyd;
  - on_state_error = "deny-all" (by a reload): with Redis down even publickey is refused,
    and it gets in again once Redis is back;
  - no password, code or Redis password in any log.
Exits non-zero on any failure (run by ctest)."""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pexpect

from common import SSH, check, finish, free_port, keygen, mkpasswd, start_parleyd, stop, wait_for_port

PARLEYD = sys.argv[1]
PASSWORD = "scale-out-horse-battery"
REDIS_PASSWORD = "redis-acl-" + os.urandom(8).hex()
HAPROXY = "/usr/sbin/haproxy"
REDIS = "/usr/bin/redis-server"
CLIENT = "127.0.0.7"
BALANCER = "127.0.0.2"
USERS = ("alice", "bob", "carol", "erin")


def oathtool(key, step):
    r = subprocess.run(["/usr/bin/oathtool", "--totp", "-N", f"@{step * 30}", key],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def fresh_step(margin=8):
    """The current 30 s step, with at least `margin` seconds of it left."""
    while 30 - time.time() % 30 < margin:
        time.sleep(0.5)
    return int(time.time()) // 30


def ssh_args(port, user, key=None, bind=CLIENT, command="echo in-$((6*7)) client=$SSH_CLIENT"):
    opts = ["-F", "/dev/null", "-p", str(port), "-b", bind, "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "NumberOfPasswordPrompts=1",
            "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes"]
    opts += ["-i", key] if key else ["-o", "PubkeyAuthentication=no"]
    return [*opts, f"{user}@127.0.0.1", command]


def start_login(port, user):
    """ssh up to the "Verification code: " prompt; the child, or None if refused before it."""
    child = pexpect.spawn(SSH, ssh_args(port, user), timeout=30)
    child.expect(rb"password: ")
    child.sendline(PASSWORD)
    if child.expect([b"Verification code: ", b"Permission denied", pexpect.EOF]) != 0:
        child.close(force=True)
        return None
    return child


def finish_login(child, code):
    """Sends `code`; "in" and the SSH_CLIENT seen, or "denied"."""
    try:
        child.sendline(code)
        i = child.expect([rb"in-42 client=(\S+)", b"Permission denied", pexpect.EOF])
        return ("in", child.match.group(1).decode()) if i == 0 else ("denied", None)
    finally:
        child.close(force=True)


def login(port, user, code):
    child = start_login(port, user)
    if child is None:
        return ("denied-before-code", None)
    return finish_login(child, code)


def wait_for(cond, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.3)
    return False


def count(path, text):
    with open(path, errors="replace") as f:
        return f.read().count(text)


class Redis:
    """redis-server with an ACL user for parleyd (the default user off), no persistence."""

    def __init__(self, tmp):
        self.port = free_port()
        self.conf = os.path.join(tmp, "redis.conf")
        with open(self.conf, "w") as f:
            f.write(f"port {self.port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {tmp}\n"
                    f"user default off\nuser parleyd on >{REDIS_PASSWORD} ~parley:* &* +@all\n")
        os.chmod(self.conf, 0o600)
        self.log = os.path.join(tmp, "redis.log")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([REDIS, self.conf], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_haproxy(tmp, port, backends):
    cfg = os.path.join(tmp, "haproxy.cfg")
    servers = "".join(f"  server {name} 127.0.0.1:{p} send-proxy-v2\n" for name, p in backends)
    with open(cfg, "w") as f:
        f.write("global\n  maxconn 2000\n"
                "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n"
                f"frontend ssh\n  bind 127.0.0.1:{port}\n  default_backend parleyd\n"
                f"backend parleyd\n  balance roundrobin\n  source {BALANCER}\n{servers}")
    proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=open(os.path.join(tmp, "haproxy.log"), "ab"),
                            stderr=subprocess.STDOUT)
    wait_for_port(port, proc)
    return proc


def instance(tmp, name, hexkey, redis_port, separated):
    """One parleyd's directory (its own users.oath copy) and process; (proc, port, log)."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    oath = os.path.join(d, "users.oath")
    with open(oath, "w") as f:
        f.write("".join(f"HOTP/T30/6\t{u}\t-\t{hexkey}\n" for u in USERS))
    os.chmod(oath, 0o600)
    conf = os.path.join(d, "parleyd.conf")
    with open(conf, "w") as f:
        f.write(f"""state_dir = "state"
proxy_protocol = true
proxy_from = ["{BALANCER}"]

[auth]
password_file = "../users"
authorized_keys = "../keys/%u"
methods = ["password,keyboard-interactive:totp", "publickey"]

[totp]
users_oath = "users.oath"
max_failures = 5
failure_period = 300

[state]
backend = "redis"
address = "127.0.0.1:{redis_port}"
username = "parleyd"
password_file = "../redis.password"
timeout_ms = 500
""")
    log = os.path.join(tmp, f"{name}.log")
    args = ["--config", conf, "--log-level", "debug"]
    if os.geteuid() == 0 and not separated:
        args.append("--no-privilege-separation")
    proc, port = start_parleyd(PARLEYD, tmp, args, log)
    return proc, port, log


def proxy_v2_header(src, dst, sport, dport):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


def refused_header(port, log):
    """A PROXY v2 header from 127.0.0.9 (not in proxy_from) ends the connection, with a
    log line naming 127.0.0.9 and PROXY, and the header's address is never taken."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.9", 0)) as s:
        s.sendall(proxy_v2_header("203.0.113.5", "127.0.0.1", 4444, 22) + b"SSH-2.0-probe\r\n")
        closed = False
        try:
            while s.recv(4096):
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [l for l in open(log, errors="replace") if "127.0.0.9" in l and "PROXY" in l]
        if lines:
            break
        time.sleep(0.2)
    return closed and bool(lines) and "203.0.113.5" not in open(log, errors="replace").read()


def main():
    for exe, package in ((HAPROXY, "haproxy"), (REDIS, "redis-server"), ("/usr/bin/oathtool", "oathtool")):
        if not os.path.exists(exe):
            raise SystemExit(f"FAIL: {exe} is missing (scripts/install-deps.sh installs {package})")
    tmp = tempfile.mkdtemp(prefix="parley-scale-out-")
    os.chmod(tmp, 0o755)
    procs = []
    secrets = [PASSWORD, REDIS_PASSWORD]
    redis = Redis(tmp)
    try:
        with open(os.path.join(tmp, "users"), "w") as f:
            f.write("".join(f"{u}:{mkpasswd('yescrypt', PASSWORD)}\n" for u in USERS))
        os.chmod(os.path.join(tmp, "users"), 0o644)
        with open(os.path.join(tmp, "redis.password"), "w") as f:
            f.write(REDIS_PASSWORD + "\n")
        os.chmod(os.path.join(tmp, "redis.password"), 0o600)
        os.makedirs(os.path.join(tmp, "keys"))
        keygen(os.path.join(tmp, "erin_key"))
        shutil.copy(os.path.join(tmp, "erin_key.pub"), os.path.join(tmp, "keys", "erin"))
        hexkey = os.urandom(20).hex()
        secrets.append(hexkey)

        redis.start()
        a, a_port, a_log = instance(tmp, "a", hexkey, redis.port, separated=True)
        procs.append(a)
        b, b_port, b_log = instance(tmp, "b", hexkey, redis.port, separated=False)
        procs.append(b)
        hp_port = free_port()
        hp = start_haproxy(tmp, hp_port, [("a", a_port), ("b", b_port)])
        procs.append(hp)

        # 1. One code, two instances. Round robin sends consecutive logins to A then B.
        step = fresh_step()
        code = oathtool(hexkey, step)
        secrets.append(code)
        first = login(hp_port, "alice", code)
        check(first[0] == "in", "alice gets in through HAProxy with password then TOTP")
        check(first[1] == CLIENT, f"SSH_CLIENT names the client {CLIENT}, not HAProxy's {BALANCER} "
                                  f"(got {first[1]})")
        second = login(hp_port, "alice", code)
        check(second[0] == "denied", "the same code through HAProxy again is refused")
        a_alice = count(a_log, "totp for alice")
        b_alice = count(b_log, "totp for alice")
        check(a_alice == 1 and b_alice == 1,
              f"the two logins were served by different instances (A {a_alice}, B {b_alice})")
        check(count(a_log, "replayed") + count(b_log, "replayed") == 1,
              "the instance whose own file never saw the code refused it as replayed")
        check(count(a_log, f"{CLIENT}:") > 0 and count(b_log, f"{CLIENT}:") > 0,
              "both logs name the client's address")
        # HAProxy is named once per connection, as the balancer it came through, and never as a peer.
        named = [l.strip() for log in (a_log, b_log) for l in open(log, errors="replace")
                 if f"{BALANCER}:" in l.replace(f"through balancer {BALANCER}:", "")]
        check(not named, f"neither log names HAProxy's address as a peer ({named[:2]})")
        check(count(a_log, f"{CLIENT}:") and count(a_log, f"through balancer {BALANCER}:"),
              "the log says which balancer a client came through")

        # 2. 20 concurrent logins with one code, spread over both instances.
        step = fresh_step(margin=15)
        code = oathtool(hexkey, step)
        secrets.append(code)
        children = [None] * 20

        def reach_prompt(i):
            children[i] = start_login(hp_port, "bob")

        threads = [threading.Thread(target=reach_prompt, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(all(c is not None for c in children), "all 20 logins reach the code prompt")
        results = [None] * 20

        def answer(i):
            results[i] = finish_login(children[i], code)[0]

        threads = [threading.Thread(target=answer, args=(i,)) for i in range(20) if children[i]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(results.count("in") == 1, f"exactly one of 20 concurrent logins with one code gets in "
                                         f"({results.count('in')} did)")
        a_bob, b_bob = count(a_log, "totp for bob"), count(b_log, "totp for bob")
        check(a_bob > 0 and b_bob > 0, f"the 20 were spread over both instances (A {a_bob}, B {b_bob})")

        # 3. The failure limit is shared: five wrong codes over both, then the right one is refused.
        step = fresh_step(margin=15)
        right = oathtool(hexkey, step)
        secrets.append(right)
        near = {oathtool(hexkey, s) for s in range(step - 2, step + 3)}
        wrong = [c for c in ("111111", "222222", "333333", "444444", "555555", "666666", "777777")
                 if c not in near][:5]
        for w in wrong:
            login(hp_port, "carol", w)
        a_carol, b_carol = count(a_log, "totp for carol"), count(b_log, "totp for carol")
        check(a_carol < 5 and b_carol < 5 and a_carol + b_carol == 5,
              f"five wrong codes, each instance saw fewer than five (A {a_carol}, B {b_carol})")
        check(login(hp_port, "carol", right)[0] == "denied", "the sixth try, the right code, is refused")
        check(login(hp_port, "carol", right)[0] == "denied", "and refused on the other instance too")
        check(count(a_log, "totp for carol") > a_carol and count(b_log, "totp for carol") > b_carol,
              "both instances saw a locked try")
        check("too many wrong codes" in open(a_log).read() and "too many wrong codes" in open(b_log).read(),
              "both instances log the lockout")

        # 4. A PROXY header from an address that is not a listed balancer.
        check(refused_header(a_port, a_log), "A refuses a PROXY header from 127.0.0.9 and logs it")
        check(refused_header(b_port, b_log), "B refuses a PROXY header from 127.0.0.9 and logs it")
        check(a.poll() is None and b.poll() is None, "both instances still run")

        # 5. Redis stops: TOTP fails closed, publickey still works; Redis returns: TOTP works.
        redis.stop()
        step = fresh_step()
        code = oathtool(hexkey, step)
        secrets.append(code)
        check(login(hp_port, "alice", code)[0] == "denied", "with Redis down a right TOTP code is refused")
        check(login(hp_port, "alice", code)[0] == "denied", "on the other instance too")
        for log in (a_log, b_log):
            text = open(log).read()
            check("shared state" in text and "connection refused" in text,
                  f"{os.path.basename(log)} says the shared state could not be reached")
        for n in range(2):
            r = subprocess.run([SSH, *ssh_args(hp_port, "erin", key=os.path.join(tmp, "erin_key"))],
                               capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            check("in-42" in r.stdout, f"with Redis down publickey still gets in (login {n + 1})")
        redis.start()
        step = fresh_step()
        for n in range(2):
            code = oathtool(hexkey, step + n)
            secrets.append(code)
            check(login(hp_port, "alice", code)[0] == "in",
                  f"Redis back: TOTP works again without a restart (login {n + 1})")
        check(a.poll() is None and b.poll() is None, "both instances still run")

        # 6. on_state_error = "deny-all", by a reload of B: Redis down refuses every login there.
        conf = os.path.join(tmp, "b", "parleyd.conf")
        with open(conf, "a") as f:
            f.write('on_state_error = "deny-all"\n')
        b.send_signal(signal.SIGHUP)
        check(wait_for(lambda: "configuration reloaded" in open(b_log).read()), "B reloads with deny-all")
        erin = lambda: subprocess.run([SSH, *ssh_args(b_port, "erin", key=os.path.join(tmp, "erin_key"),
                                                      bind="127.0.0.8")],
                                      capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        check("in-42" in erin().stdout, "deny-all with Redis up: publickey gets in")
        redis.stop()
        time.sleep(2.5)  # the backend's probe (every second) sees Redis gone
        check("in-42" not in erin().stdout, "deny-all with Redis down: publickey is refused too")
        check(re.search(r"publickey for erin refused: shared state redis \S+ is not answering", open(b_log).read()),
              "B logs why: the shared state is not answering")
        redis.start()
        check(wait_for(lambda: "in-42" in erin().stdout, seconds=10), "deny-all, Redis back: publickey gets in again")
    finally:
        for p in procs:
            if p.poll() is None:
                stop(p)
        if redis.proc and redis.proc.poll() is None:
            redis.stop()
    for log in ("a.log", "b.log", "haproxy.log"):
        text = open(os.path.join(tmp, log), errors="replace").read()
        leaked = [s for s in secrets if re.search(rf"(?<![0-9A-Za-z]){re.escape(s)}(?![0-9A-Za-z])", text)]
        check(not leaked, f"no password, code, secret or Redis password in {log}")
    shutil.rmtree(tmp, ignore_errors=True)
    finish("scale_out")


if __name__ == "__main__":
    main()

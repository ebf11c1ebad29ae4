#!/usr/bin/python3
"""The parley command with an ssh-agent (OpenSSH's ssh-agent, started here with
`ssh-agent -D -a SOCK`, keys added with ssh-add) against parleyd and against a real
OpenSSH sshd: a login with no -i through $SSH_AUTH_SOCK (ed25519, then rsa with an
rsa-sha2-512 signature made by the agent), IdentityAgent=none and IdentityAgent=PATH,
IdentitiesOnly with a key file whose private half only the agent has, an empty agent
and an unreachable one (a clean "Permission denied (publickey)." and status 255),
hostile agents written here (a 4 GiB frame length, a refusal to sign) that cost
nothing but their keys, no private key in any log, and -o: unknown names refused as
ssh refuses them (status 255, nothing sent), unsupported ones named, ignored ones
accepted, algorithm lists applied.

Needs ssh-agent, ssh-add, ssh-keygen and sshd (openssh-client, openssh-server); fails,
not skips, without them. sshd runs as the current user from a temporary directory;
/run/sshd is created if missing and then removed.
Usage: parley_agent.py PARLEYD PARLEY"""
import base64
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from common import SYSTEM_OPENSSH, Sshd, SshdDidNotStart, check, finish, start_parleyd, stop

SSH_AGENT = "/usr/bin/ssh-agent"
SSH_ADD = "/usr/bin/ssh-add"
SSHD = SYSTEM_OPENSSH.sshd
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


def wait_for(pred, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def start_agent(sock):
    """OpenSSH's ssh-agent in the foreground on `sock`; None if it did not come up."""
    proc = subprocess.Popen([SSH_AGENT, "-D", "-a", sock], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_for(lambda: os.path.exists(sock)):
        proc.kill()
        proc.wait()
        return None
    return proc


def ssh_add(sock, key):
    env = dict(os.environ, SSH_AUTH_SOCK=sock)
    r = subprocess.run([SSH_ADD, key], env=env, capture_output=True, stdin=subprocess.DEVNULL)
    return r.returncode == 0


def agent_fingerprints(sock):
    env = dict(os.environ, SSH_AUTH_SOCK=sock)
    r = subprocess.run([SSH_ADD, "-l"], env=env, capture_output=True, stdin=subprocess.DEVNULL)
    return r.stdout.decode()


class Runner:
    """Runs parley with a clean environment: HOME without ~/.ssh keys, no agent
    unless given, no PARLEY_* secrets."""

    def __init__(self, exe, home):
        self.exe, self.home = exe, home
        self.outputs = []

    def __call__(self, port, *args, agent=None, timeout=30):
        env = {k: v for k, v in os.environ.items()
               if k != "SSH_AUTH_SOCK" and not k.startswith("PARLEY_")}
        env["HOME"] = self.home
        if agent is not None:
            env["SSH_AUTH_SOCK"] = agent
        argv = [self.exe, "-p", str(port), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", *args]
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as t:
            r = subprocess.CompletedProcess(argv, None, t.stdout or b"", t.stderr or b"")
        r.seconds = time.monotonic() - t0
        r.err = r.stderr.decode(errors="replace")
        self.outputs.append(r.stdout + r.stderr)
        return r


def own_lines(r):
    """stderr without the known-hosts notice (StrictHostKeyChecking=no prints it, as ssh)."""
    return [l for l in r.err.strip().splitlines() if "Permanently added" not in l]


def last_line(r):
    lines = r.err.strip().splitlines()
    return lines[-1] if lines else ""


class FakeAgent:
    """A hostile agent on a unix socket: `answer(type, payload)` returns the bytes to
    send back (or None to say nothing); it serves until stopped."""

    def __init__(self, path, answer):
        self.path, self.answer = path, answer
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.running = True
        self.requests = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.client, args=(conn,), daemon=True).start()

    def client(self, conn):
        conn.settimeout(20)
        try:
            while True:
                head = conn.recv(4, socket.MSG_WAITALL)
                if len(head) < 4:
                    return
                n = struct.unpack(">I", head)[0]
                body = conn.recv(n, socket.MSG_WAITALL)
                if not body:
                    return
                self.requests.append(body[0])
                out = self.answer(body[0], body[1:])
                if out is not None:
                    conn.sendall(out)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.running = False
        self.server.close()
        self.thread.join(timeout=5)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def sshstr(b):
    return struct.pack(">I", len(b)) + b


def pub_blob(pub_path):
    return base64.b64decode(open(pub_path).read().split()[1])


def main():
    parleyd, exe = sys.argv[1], sys.argv[2]
    for tool in (SSH_AGENT, SSH_ADD, SSHD, "/usr/bin/ssh-keygen"):
        if not os.access(tool, os.X_OK):
            check(False, f"{tool} is installed")
            return finish("parley_agent")

    with tempfile.TemporaryDirectory(prefix="parley-agent-") as tmp:
        home = os.path.join(tmp, "home")
        os.mkdir(home)
        parley = Runner(exe, home)
        # The test keys, private halves 0600 (ssh-add refuses others).
        keys = {}
        for name in ("ed25519", "rsa"):
            dst = os.path.join(tmp, "test_" + name)
            shutil.copy(os.path.join(DATA, "test_" + name), dst)
            shutil.copy(os.path.join(DATA, "test_" + name + ".pub"), dst + ".pub")
            os.chmod(dst, 0o600)
            keys[name] = dst
        # parleyd: publickey only; each user's keys in keys/USER.
        akdir = os.path.join(tmp, "keys")
        os.mkdir(akdir)
        for user, names in (("eduser", ["ed25519"]), ("rsauser", ["rsa"]), ("both", ["ed25519", "rsa"])):
            with open(os.path.join(akdir, user), "w") as f:
                for n in names:
                    f.write(open(keys[n] + ".pub").read())
        # A key file whose private half is not here (only its .pub): the agent has it.
        pubonly = os.path.join(tmp, "pubonly")
        os.mkdir(pubonly)
        shutil.copy(keys["ed25519"] + ".pub", os.path.join(pubonly, "id_ed25519.pub"))

        sock = os.path.join(tmp, "agent.sock")
        empty_sock = os.path.join(tmp, "empty.sock")
        agent = start_agent(sock)
        empty = start_agent(empty_sock)
        check(agent is not None and empty is not None, "two ssh-agents start (-D -a SOCK)")
        if agent is None or empty is None:
            return finish("parley_agent")
        log = os.path.join(tmp, "parleyd.log")
        # Step 7 forces group14 and hmac-sha2-512, offered only when configured.
        proc, port = start_parleyd(parleyd, tmp, ["--authorized-keys", os.path.join(akdir, "%u"),
                                                  "--auth-methods", "publickey",
                                                  "--kex", "mlkem768x25519-sha256,curve25519-sha256,diffie-hellman-group14-sha256",
                                                  "--macs", "hmac-sha2-256-etm@openssh.com,hmac-sha2-512"], log)
        try:
            check(ssh_add(sock, keys["ed25519"]), "ssh-add puts the ed25519 test key in the agent")

            # 1. No -i: the agent's key, a command's output and status.
            r = parley(port, "-vv", "eduser@127.0.0.1", "echo agent-ok; exit 7", agent=sock)
            check(r.stdout == b"agent-ok\n" and r.returncode == 7,
                  f"ed25519 in the agent, no -i: stdout 'agent-ok\\n', status 7 "
                  f"(got {r.stdout!r}, {r.returncode}; {last_line(r)!r})")
            ed_fp = subprocess.run(["/usr/bin/ssh-keygen", "-l", "-f", keys["ed25519"] + ".pub"],
                                   capture_output=True, check=True).stdout.decode().split()[1]
            check(f"will offer {ed_fp} (ssh-ed25519) from the agent" in r.err and "ssh-agent signed with" in r.err,
                  "-vv says which agent key is offered (by fingerprint) and that the agent signed")

            # 2. An rsa key in the agent too: the agent's rsa-sha2-512 signature is accepted.
            check(ssh_add(sock, keys["rsa"]), "ssh-add puts the rsa test key in the agent")
            check(agent_fingerprints(sock).count("SHA256:") == 2, "the agent holds two keys")
            r = parley(port, "-vv", "rsauser@127.0.0.1", "echo rsa-ok", agent=sock)
            check(r.stdout == b"rsa-ok\n" and r.returncode == 0,
                  f"rsa in the agent (offered after the ed25519 key the server refuses): logged in "
                  f"(got {r.stdout!r}, {r.returncode}; {last_line(r)!r})")
            check("ssh-agent signed with" in r.err and "(ssh-rsa) using rsa-sha2-512" in r.err,
                  "the agent was asked for an rsa-sha2-512 signature (flag SSH_AGENT_RSA_SHA2_512)")

            # 3. IdentityAgent=none: the agent is not used; IdentityAgent=PATH is.
            r = parley(port, "-o", "IdentityAgent=none", "eduser@127.0.0.1", "echo no", agent=sock)
            check(r.returncode == 255 and last_line(r) == "parley: Permission denied (publickey)." and r.stdout == b"",
                  f"IdentityAgent=none: status 255, 'Permission denied (publickey).' ({r.returncode}, {last_line(r)!r})")
            r = parley(port, "-o", f"IdentityAgent={sock}", "eduser@127.0.0.1", "echo by-path")
            check(r.returncode == 0 and r.stdout == b"by-path\n",
                  f"IdentityAgent=PATH without $SSH_AUTH_SOCK: logged in ({r.returncode}, {last_line(r)!r})")
            r = parley(port, "-o", "IdentityAgent=$PARLEY_TEST_AGENT_UNSET", "eduser@127.0.0.1", "true", agent=sock)
            check(r.returncode == 255, "IdentityAgent=$VAR with VAR unset: no agent, so no key")

            # 4. IdentitiesOnly: only agent keys that are identity files. The file here has
            # no private half (only .pub): the agent signs for it, as with ssh.
            only = os.path.join(pubonly, "id_ed25519")
            r = parley(port, "-o", "IdentitiesOnly=yes", "-i", only, "eduser@127.0.0.1", "echo only-ok", agent=sock)
            check(r.returncode == 0 and r.stdout == b"only-ok\n",
                  f"IdentitiesOnly=yes -i FILE (only FILE.pub here): the agent's copy signs ({r.returncode}, {last_line(r)!r})")
            r = parley(port, "-o", "IdentitiesOnly=yes", "-i", only, "rsauser@127.0.0.1", "echo no", agent=sock)
            check(r.returncode == 255 and "Permission denied (publickey)." in last_line(r),
                  f"IdentitiesOnly=yes: the agent's rsa key (not an identity file) is not offered ({r.returncode})")
            r = parley(port, "-o", "IdentitiesOnly=yes", "eduser@127.0.0.1", "echo no", agent=sock)
            check(r.returncode == 255, "IdentitiesOnly=yes and no identity file: no agent key is offered")

            # 5. An agent with no keys, and no agent at the named socket: a clean denial.
            r = parley(port, "eduser@127.0.0.1", "echo no", agent=empty_sock)
            check(r.returncode == 255 and own_lines(r) == ["parley: Permission denied (publickey)."],
                  f"an empty agent: status 255 and only 'parley: Permission denied (publickey).' "
                  f"({r.returncode}, {r.err.strip()!r})")
            gone = os.path.join(tmp, "no-such-agent.sock")
            r = parley(port, "eduser@127.0.0.1", "echo no", agent=gone)
            check(r.returncode == 255 and own_lines(r) == ["parley: Permission denied (publickey)."],
                  f"an unreachable agent is not an error of its own (status 255, {r.err.strip()!r})")
            r = parley(port, "-vv", "eduser@127.0.0.1", "echo no", agent=gone)
            check("[debug] no ssh-agent: connect to " + gone in r.err,
                  "... -vv says why, as a debug line")

            # 6. Hostile agents. A 4 GiB frame length: refused at once, the -i key still works.
            def huge(kind, payload):
                return b"\xff\xff\xff\xff" + b"A" * 65536
            fake = FakeAgent(os.path.join(tmp, "huge.sock"), huge)
            try:
                r = parley(port, "-vv", "-i", keys["ed25519"], "eduser@127.0.0.1", "echo still-ok",
                           agent=fake.path, timeout=20)
                check(r.returncode == 0 and r.stdout == b"still-ok\n" and r.seconds < 10,
                      f"an agent announcing a 4 GiB message: ignored, the -i key logs in "
                      f"({r.returncode}, {r.seconds:.1f} s, {last_line(r)!r})")
                check("the agent sent a message over 256 KiB" in r.err, "-vv names what the agent did")
            finally:
                fake.stop()
            # An agent that lists the ed25519 key but refuses to sign: the next key is tried.
            ed_blob = pub_blob(keys["ed25519"] + ".pub")

            def refuser(kind, payload):
                if kind == 11:
                    return frame(bytes([12]) + struct.pack(">I", 1) + sshstr(ed_blob) + sshstr(b"refusing"))
                return frame(bytes([5]))
            fake = FakeAgent(os.path.join(tmp, "refuser.sock"), refuser)
            try:
                r = parley(port, "-v", "-i", keys["rsa"], "both@127.0.0.1", "echo next-key", agent=fake.path)
                check(r.returncode == 0 and r.stdout == b"next-key\n" and "ssh-agent did not sign with" in r.err
                      and fake.requests.count(13) == 1,
                      f"PK_OK for the agent's key, the agent refuses to sign, the local rsa key logs in "
                      f"({r.returncode}, {last_line(r)!r}, requests {fake.requests})")
                r = parley(port, "-v", "eduser@127.0.0.1", "echo no", agent=fake.path)
                check(r.returncode == 255 and last_line(r) == "parley: Permission denied (publickey)."
                      and "the agent refused" in r.err and fake.requests.count(13) == 2,
                      f"with no other key: denied cleanly, status 255 ({r.returncode}, {last_line(r)!r})")
            finally:
                fake.stop()

            # 7. -o: unknown names as ssh, unsupported ones named, ignored ones accepted.
            # (The log settles first: parleyd may still be logging the connection above.)
            time.sleep(0.5)
            before = os.path.getsize(log)
            r = parley(port, "-o", "NoSuchOption=yes", "eduser@127.0.0.1", "true", agent=sock)
            check(r.returncode == 255 and r.err.strip() == "parley: command-line: line 0: Bad configuration option: nosuchoption",
                  f"an unknown -o name: status 255 and ssh's words ({r.returncode}, {r.err.strip()!r})")
            time.sleep(0.3)
            check(os.path.getsize(log) == before, "... and parley did not even connect")
            r = parley(port, "-o", "LocalCommand=true", "eduser@127.0.0.1", "true", agent=sock)
            check(r.returncode == 255 and "option localcommand is not supported by parley" in r.err,
                  f"an ssh option parley cannot honour is refused by name ({r.returncode}, {r.err.strip()!r})")
            r = parley(port, "-vv", "-o", "VisualHostKey=yes", "-o", "compression=yes", "-o", "LogLevel=ERROR",
                       "-o", "Ciphers=aes256-ctr", "-o", "MACs=hmac-sha2-512", "-o", "KexAlgorithms=diffie-hellman-group14-sha256",
                       "eduser@127.0.0.1", "echo opts-ok", agent=sock)
            check(r.returncode == 0 and r.stdout == b"opts-ok\n"
                  and "option visualhostkey is not implemented by parley: ignored" in r.err
                  and "key exchange done: diffie-hellman-group14-sha256" in r.err,
                  f"ignored options are accepted with a debug line; KexAlgorithms is applied ({r.returncode}, {last_line(r)!r})")
            r = parley(port, "-o", "Ciphers=aes256-cbc", "eduser@127.0.0.1", "true", agent=sock)
            check(r.returncode == 255 and "Ciphers: unsupported algorithm 'aes256-cbc'" in r.err,
                  f"an algorithm parley lacks is refused by name ({r.err.strip()!r})")
            r = parley(port, "-o", "Port=notaport", "eduser@127.0.0.1", "true", agent=sock)
            check(r.returncode == 255 and "Bad port 'notaport'" in r.err, "a bad Port value: status 255")
            r = parley(port, "-o", "SetEnv=LC_PARLEY_TEST=set-by-option", "-o", "RequestTTY=yes",
                       "eduser@127.0.0.1", "echo $LC_PARLEY_TEST; tty", agent=sock)
            out = r.stdout.decode(errors="replace").replace("\r", "").splitlines()
            check(r.returncode == 0 and len(out) == 2 and out[0] == "set-by-option" and out[1].startswith("/dev/pts/"),
                  f"SetEnv sends a variable and RequestTTY=yes asks for a terminal ({r.returncode}, {out!r})")
            r = parley(port, "-o", "PubkeyAuthentication=no", "eduser@127.0.0.1", "true", agent=sock)
            check(r.returncode == 255 and "Permission denied (publickey)." in last_line(r),
                  "PubkeyAuthentication=no: the agent's key is not offered")
        finally:
            stop(proc)

        # 8. A real OpenSSH sshd accepts the agent's signatures (as the current user).
        user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True).stdout.decode().strip()
        sshd_dir = os.path.join(tmp, "sshd")
        os.mkdir(sshd_dir)
        os.chmod(tmp, 0o711)
        ak = os.path.join(sshd_dir, "authorized_keys")
        with open(ak, "w") as f:
            f.write(open(keys["rsa"] + ".pub").read())
            f.write(open(keys["ed25519"] + ".pub").read())
        os.chmod(ak, 0o644)
        config = ["UsePAM no", "PubkeyAuthentication yes", "PasswordAuthentication no",
                  "KbdInteractiveAuthentication no", f"AuthorizedKeysFile {ak}", "StrictModes no",
                  "PermitRootLogin prohibit-password"]
        try:
            with Sshd(SYSTEM_OPENSSH, sshd_dir, config, log_level="VERBOSE") as sshd:
                sport = sshd.port
                # The rsa key only: the agent holds both, IdentitiesOnly picks rsa.
                r = parley(sport, "-o", "IdentitiesOnly=yes", "-i", keys["rsa"], f"{user}@127.0.0.1",
                           "echo sshd-rsa; exit 5", agent=sock)
                text = sshd.log()
                check(r.returncode == 5 and r.stdout == b"sshd-rsa\n",
                      f"sshd: the agent's rsa signature logs in ({r.returncode}, {last_line(r)!r})")
                check("Accepted publickey" in text and "RSA SHA256:" in text,
                      "sshd's log: 'Accepted publickey ... RSA SHA256:...'")
                r = parley(sport, f"{user}@127.0.0.1", "echo sshd-agent", agent=sock)
                check(r.returncode == 0 and r.stdout == b"sshd-agent\n",
                      f"sshd: no -i, the agent's first key logs in ({r.returncode}, {last_line(r)!r})")
                r = parley(sport, f"{user}@127.0.0.1", "true", agent=empty_sock)
                check(r.returncode == 255 and "Permission denied (publickey)." in last_line(r),
                      f"sshd: an empty agent is denied cleanly ({last_line(r)!r})")
        except SshdDidNotStart as e:
            check(False, f"sshd starts ({e})")
        finally:
            for a in (agent, empty):
                a.terminate()
                a.wait(timeout=10)

        # No private key in anything parley printed, at any level used above.
        everything = b"".join(parley.outputs).decode(errors="replace")
        for name in ("ed25519", "rsa"):
            body = [l for l in open(keys[name]).read().splitlines() if l and not l.startswith("-----")]
            check(not any(l in everything for l in body), f"no line of the {name} private key in parley's output")
    return finish("parley_agent")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""TCP forwarding with real OpenSSH `ssh` against parleyd, to a local echo server:
ssh -W and ssh -L (direct-tcpip) with 1 MiB and parallel transfers, refusal when
forwarding is off, --permit-open allow-lists (exact host or '*', no patterns), connect failures,
ssh -R (tcpip-forward, fixed and dynamic ports, parallel connections), refusal and
--permit-listen for -R, and the -R listener going away with its client.
Exits non-zero on any failure (run by ctest)."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from common import SSH, EchoServer, check, finish, keygen, start_parleyd, stop

PARLEYD = sys.argv[1]
KiB = 1024
MiB = 1024 * KiB


class Greeter:
    """Writes `data` to each connection on 127.0.0.1:port, then closes it without reading."""

    def __init__(self, data):
        self.data = data
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.sendall(self.data)
            except OSError:
                pass
            conn.close()

    def close(self):
        self.sock.close()


def read_all(port, timeout=30):
    """Connects to 127.0.0.1:port and reads until EOF without sending; None on failure."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    got = []
    try:
        while True:
            chunk = s.recv(256 * KiB)
            if not chunk:
                break
            got.append(chunk)
    except OSError:
        pass
    s.close()
    return b"".join(got)


def tail(err, n=200):
    """ssh's stderr without the known-hosts warning, last n characters."""
    lines = [l for l in err.splitlines() if l.strip() and not l.startswith("Warning: Permanently added")]
    return " | ".join(lines)[-n:]


def free_port():
    """A port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def echo_roundtrip(port, data, timeout=30):
    """Sends data to 127.0.0.1:port from a thread, reads until EOF; returns what came back
    (None if the connection failed)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None

    def send():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=send, daemon=True)
    t.start()
    got = []
    try:
        while True:
            chunk = s.recv(256 * KiB)
            if not chunk:
                break
            got.append(chunk)
    except OSError:
        pass
    t.join(timeout)
    s.close()
    return b"".join(got)


def parallel_roundtrips(port, n, size):
    """n connections at once, each size random bytes; True if all echo exactly."""
    payloads = [os.urandom(size) for _ in range(n)]
    results = [None] * n

    def one(i):
        results[i] = echo_roundtrip(port, payloads[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return all(results[i] == payloads[i] for i in range(n))


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


class Server:
    """parleyd with its own log file, a client key and authorized_keys."""

    def __init__(self, tmp, name, args):
        self.tmp = tmp
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.proc, self.port = start_parleyd(
            PARLEYD, tmp, ["--authorized-keys", os.path.join(tmp, "ak"), "--log-level", "info", *args],
            self.log_path)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def ssh_args(self, *extra):
        return [SSH, "-F", "/dev/null", "-i", os.path.join(self.tmp, "client"), "-o", "IdentitiesOnly=yes",
                "-o", "IdentityAgent=none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=info",
                "-p", str(self.port), *extra, "user@127.0.0.1"]

    def stdio(self, dest, data=b"", timeout=60):
        """`ssh -W dest` with data on stdin; returns (exit status, stdout, stderr)."""
        try:
            r = subprocess.run(self.ssh_args("-W", dest), input=data, capture_output=True, timeout=timeout)
            return r.returncode, r.stdout, r.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            return None, e.stdout or b"", (e.stderr or b"").decode(errors="replace")

    def background(self, *forward):
        """`ssh -N` with forwards; stderr goes to a file (see Background.stderr)."""
        return Background(self, forward)

    def stop(self):
        alive = self.proc.poll() is None
        stop(self.proc)
        return alive


class Background:
    counter = [0]

    def __init__(self, server, forward):
        Background.counter[0] += 1
        self.err_path = os.path.join(server.tmp, f"ssh{Background.counter[0]}.err")
        self.proc = subprocess.Popen(server.ssh_args("-N", *forward), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.err_path, "wb"))

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_port(self, port, timeout=15):
        """True once port accepts connections (while ssh still runs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if accepts(port):
                return True
            time.sleep(0.1)
        return False

    def wait_stderr(self, needle, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr()
            if needle in text or self.proc.poll() is not None:
                return text
            time.sleep(0.1)
        return self.stderr()

    def exit_status(self, timeout=15):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_until(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def main():
    tmp = tempfile.mkdtemp()
    keygen(os.path.join(tmp, "hostkey"))
    keygen(os.path.join(tmp, "client"))
    shutil.copy(os.path.join(tmp, "client.pub"), os.path.join(tmp, "ak"))
    echo = EchoServer()
    other = EchoServer()
    greeter = Greeter(os.urandom(300 * KiB))
    ECHO = f"127.0.0.1:{echo.port}"
    OTHER = f"127.0.0.1:{other.port}"
    started = time.monotonic()

    # 1, 2, 5: local forwarding allowed to anywhere.
    srv = Server(tmp, "local", ["--allow-tcp-forwarding", "local"])
    fwd = None
    try:
        data = os.urandom(1 * MiB)
        t0 = time.monotonic()
        rc, out, err = srv.stdio(ECHO, data)
        check(out == data, f"ssh -W: 1 MiB comes back exactly (got {len(out)} bytes, "
                           f"{time.monotonic() - t0:.1f} s)")
        check(rc == 0, f"ssh -W exits 0 after stdin closes (status {rc}{': ' + tail(err) if rc else ''})")
        log = srv.log()
        check(f"to {ECHO}" in log and "direct-tcpip " in log, "parleyd logs 'direct-tcpip N to HOST:PORT'")

        rc, out, err = srv.stdio(ECHO, b"")
        check(rc == 0 and out == b"", f"ssh -W with empty stdin exits 0 (status {rc})")

        lport = free_port()
        fwd = srv.background("-L", f"127.0.0.1:{lport}:{ECHO}")
        check(fwd.wait_port(lport), "ssh -N -L: the local port accepts connections")
        msg = b"hello through -L\n"
        check(echo_roundtrip(lport, msg) == msg, "ssh -L: a connection gets its echo")
        big = os.urandom(1 * MiB)
        check(echo_roundtrip(lport, big) == big, "ssh -L: 1 MiB echoes exactly")
        t0 = time.monotonic()
        check(parallel_roundtrips(lport, 5, 256 * KiB),
              f"ssh -L: 5 parallel connections of 256 KiB all echo ({time.monotonic() - t0:.2f} s)")
        check(fwd.proc.poll() is None, "ssh -L is still running")
        fwd.stop()
        fwd = None

        # The destination closes first: its data arrives, then EOF.
        got = srv.stdio(f"127.0.0.1:{greeter.port}", b"", timeout=30)
        check(got[0] == 0 and got[1] == greeter.data,
              f"ssh -W to a server that writes 300 KiB and closes: all of it, then exit 0 (status {got[0]}, "
              f"{len(got[1])} bytes)")
        lport = free_port()
        fwd = srv.background("-L", f"127.0.0.1:{lport}:127.0.0.1:{greeter.port}")
        ok = fwd.wait_port(lport)
        got = read_all(lport) if ok else None
        check(got == greeter.data, f"ssh -L to a server that writes and closes: all data then EOF "
                                   f"({None if got is None else len(got)} bytes)")
        fwd.stop()
        fwd = None

        closed = free_port()
        rc, out, err = srv.stdio(f"127.0.0.1:{closed}")
        check(rc not in (0, None) and "connect failed" in err,
              f"ssh -W to a closed port fails with 'connect failed' (status {rc}: {tail(err)!r})")
        check("connect failed: connect failed" not in err, "the reason is not repeated in the description")
        check("open failed: Connection refused" in srv.log(), "parleyd logs the failed connect and why")

        # -R needs 'remote'; 'local' does not grant it.
        rport = free_port()
        r = srv.background("-R", f"127.0.0.1:{rport}:{ECHO}")
        status = r.exit_status()
        r.stop()
        check(status not in (0, None) and "remote port forwarding failed" in r.stderr(),
              f"--allow-tcp-forwarding local refuses ssh -R (status {status})")
        check(srv.proc.poll() is None, "parleyd (local) is still running")
    finally:
        if fwd:
            fwd.stop()
        srv.stop()

    # 3: forwarding off (the default).
    srv = Server(tmp, "off", [])
    fwd = None
    try:
        rc, out, err = srv.stdio(ECHO, b"nope")
        check(rc not in (0, None) and ("administratively prohibited" in err or "open failed" in err),
              f"default: ssh -W is refused (status {rc}: {tail(err)!r})")
        check(out == b"", "default: nothing comes back through a refused -W")
        lport = free_port()
        fwd = srv.background("-L", f"127.0.0.1:{lport}:{ECHO}")
        check(fwd.wait_port(lport), "default: ssh -L still listens locally")
        before = echo.accepted
        back = echo_roundtrip(lport, b"should not echo")
        check(back == b"", f"default: a connection through -L is closed without echo (got {back!r})")
        check(echo.accepted == before, "default: the echo server saw no connection")
        fwd.stop()
        fwd = None
        check(f"direct-tcpip to {ECHO} refused: not permitted" in srv.log(),
              "default: parleyd logs 'direct-tcpip to HOST:PORT refused: not permitted'")

        rport = free_port()
        r = srv.background("-R", f"127.0.0.1:{rport}:{ECHO}")
        status = r.exit_status()
        r.stop()
        check(status not in (0, None) and "remote port forwarding failed" in r.stderr(),
              f"default: ssh -o ExitOnForwardFailure=yes -N -R exits non-zero (status {status}: "
              f"{tail(r.stderr())!r})")
        check(not accepts(rport), "default: nothing listens on the refused -R port")
        check(f"tcpip-forward 127.0.0.1:{rport} refused" in srv.log(), "default: parleyd logs 'tcpip-forward ... refused'")
        check(srv.proc.poll() is None, "parleyd (off) is still running")
    finally:
        if fwd:
            fwd.stop()
        srv.stop()

    # 4: allow-lists.
    srv = Server(tmp, "permit", ["--allow-tcp-forwarding", "local", "--permit-open", ECHO])
    try:
        rc, out, err = srv.stdio(ECHO, b"listed\n")
        check(rc == 0 and out == b"listed\n", f"--permit-open {ECHO}: -W to it works (status {rc})")
        rc, out, err = srv.stdio(OTHER, b"unlisted\n")
        check(rc not in (0, None) and out == b"" and ("administratively prohibited" in err or "open failed" in err),
              f"--permit-open {ECHO}: -W to {OTHER} is refused (status {rc})")
        rc, out, err = srv.stdio(f"localhost:{echo.port}", b"by name\n")
        check(rc not in (0, None) and out == b"",
              f"--permit-open {ECHO}: -W to localhost:{echo.port} (another spelling) is refused (status {rc})")
        check(f"direct-tcpip to {OTHER} refused: not permitted" in srv.log(), "the unlisted destination is logged as refused")
    finally:
        srv.stop()

    # Issue 11: as OpenSSH's PermitOpen, the host matches exactly (or is '*'), never as a
    # pattern: a name matched before DNS says nothing about where it leads.
    srv = Server(tmp, "pattern", ["--allow-tcp-forwarding", "local", "--permit-open", "127.0.0.*:*"])
    try:
        rc1, out1, _ = srv.stdio(ECHO, b"one\n")
        rc2, out2, _ = srv.stdio(OTHER, b"two\n")
        check(rc1 not in (0, None) and out1 == b"" and rc2 not in (0, None) and out2 == b"",
              f"--permit-open '127.0.0.*:*' is no pattern: both echo servers are refused (status {rc1}, {rc2})")
        check(f"direct-tcpip to {ECHO} refused: not permitted" in srv.log(),
              "the destination a pattern would have matched is logged as refused")
    finally:
        srv.stop()

    srv = Server(tmp, "portonly", ["--allow-tcp-forwarding", "local", "--permit-open", f"127.0.0.1:{other.port}",
                                   "--permit-open", f"*:{echo.port}"])
    try:
        rc1, out1, _ = srv.stdio(ECHO, b"one\n")
        rc2, out2, _ = srv.stdio(OTHER, b"two\n")
        check(rc1 == 0 and out1 == b"one\n" and rc2 == 0 and out2 == b"two\n",
              f"two --permit-open rules (one '*:{echo.port}') each allow their destination (status {rc1}, {rc2})")
    finally:
        srv.stop()

    # 6, 7: remote forwarding.
    srv = Server(tmp, "remote", ["--allow-tcp-forwarding", "remote"])
    fwd = dyn = None
    try:
        rc, out, err = srv.stdio(ECHO, b"x")
        check(rc not in (0, None) and out == b"", f"--allow-tcp-forwarding remote refuses -W (status {rc})")

        rport = free_port()
        fwd = srv.background("-R", f"127.0.0.1:{rport}:{ECHO}")
        check(fwd.wait_port(rport), f"ssh -N -R 127.0.0.1:{rport}:...: parleyd listens on {rport}")
        msg = b"hello through -R\n"
        check(echo_roundtrip(rport, msg) == msg, "ssh -R: a connection to the remote port reaches the echo server")
        big = os.urandom(1 * MiB)
        check(echo_roundtrip(rport, big) == big, "ssh -R: 1 MiB echoes exactly")
        t0 = time.monotonic()
        check(parallel_roundtrips(rport, 5, 256 * KiB),
              f"ssh -R: 5 parallel connections of 256 KiB all echo ({time.monotonic() - t0:.2f} s)")
        check(f"tcpip-forward 127.0.0.1:{rport} listening on port {rport}" in srv.log(),
              "parleyd logs 'tcpip-forward ADDR:PORT listening on port P'")

        dyn = srv.background("-R", f"0:{ECHO}")
        text = dyn.wait_stderr("Allocated port")
        port = None
        for line in text.splitlines():
            if line.startswith("Allocated port "):
                port = int(line.split()[2])
        check(port is not None and port != 0, f"ssh -R 0:...: ssh prints 'Allocated port N' (N={port})")
        if port:
            check(echo_roundtrip(port, msg) == msg, f"ssh -R 0: the allocated port {port} reaches the echo server")
            check(parallel_roundtrips(port, 3, 64 * KiB), "ssh -R 0: 3 parallel connections echo")
        dyn.stop()
        if port:
            check(wait_until(lambda: not accepts(port)), "the dynamic -R listener goes away with its client")
        dyn = None

        # A second client asking for the same port cannot take it while the first holds it.
        dup = srv.background("-R", f"127.0.0.1:{rport}:{OTHER}")
        status = dup.exit_status()
        dup.stop()
        check(status not in (0, None), f"a second ssh -R for a port in use fails (status {status})")
        check(echo_roundtrip(rport, msg) == msg, "the first -R forward still works")

        check(fwd.proc.poll() is None, "ssh -R is still running")
        fwd.stop()
        fwd = None
        check(wait_until(lambda: not accepts(rport)), "after the -R client disconnects, its port no longer accepts")

        # The client cannot reach its destination: the accepted connection is closed.
        rclosed = free_port()
        bad = srv.background("-R", f"127.0.0.1:{rclosed}:127.0.0.1:{free_port()}")
        ok = bad.wait_port(rclosed)
        back = echo_roundtrip(rclosed, b"to nowhere\n") if ok else None
        bad.stop()
        check(ok and back == b"", f"ssh -R to a closed destination: the connection to the remote port is closed "
                                  f"(got {back!r})")

        # The port can be forwarded again by a new client.
        again = srv.background("-R", f"127.0.0.1:{rport}:{OTHER}")
        ok = again.wait_port(rport) and echo_roundtrip(rport, b"again\n") == b"again\n"
        again.stop()
        check(ok, "the released port can be forwarded again by a new client")
        check(srv.proc.poll() is None, "parleyd (remote) is still running")
    finally:
        for b in (fwd, dyn):
            if b:
                b.stop()
        srv.stop()

    allowed = free_port()
    srv = Server(tmp, "listen", ["--allow-tcp-forwarding", "remote", "--permit-listen", f"127.0.0.1:{allowed}"])
    fwd = None
    try:
        denied = free_port()
        r = srv.background("-R", f"127.0.0.1:{denied}:{ECHO}")
        status = r.exit_status()
        r.stop()
        check(status not in (0, None) and "remote port forwarding failed" in r.stderr(),
              f"--permit-listen 127.0.0.1:{allowed}: -R on another port is refused (status {status})")
        fwd = srv.background("-R", f"127.0.0.1:{allowed}:{ECHO}")
        ok = fwd.wait_port(allowed) and echo_roundtrip(allowed, b"permitted\n") == b"permitted\n"
        check(ok, f"--permit-listen 127.0.0.1:{allowed}: -R on that port works")
        fwd.stop()
        fwd = None
        check(wait_until(lambda: not accepts(allowed)), "the permitted listener goes away with its client")
        check(srv.proc.poll() is None, "parleyd (listen) is still running")
    finally:
        if fwd:
            fwd.stop()
        srv.stop()

    # Issue 11: bind addresses are compared by meaning (as OpenSSH's PermitListen): a rule
    # for localhost does not admit '*' (ssh sends "", every interface), which GatewayPorts
    # would otherwise bind on every interface; a rule for 0.0.0.0 admits it.
    port = free_port()
    srv = Server(tmp, "listen-any", ["--allow-tcp-forwarding", "remote", "--gateway-ports",
                                     "--permit-listen", f"localhost:{port}"])
    try:
        r = srv.background("-R", f"*:{port}:{ECHO}")
        status = r.exit_status()
        r.stop()
        check(status not in (0, None) and "remote port forwarding failed" in r.stderr(),
              f"--permit-listen localhost:{port}: ssh -R '*:{port}:...' (every interface) is refused (status {status})")
        check(not accepts(port), "nothing listens on the refused every-interface port")
    finally:
        srv.stop()
    srv = Server(tmp, "listen-all", ["--allow-tcp-forwarding", "remote", "--gateway-ports",
                                     "--permit-listen", f"0.0.0.0:{port}"])
    fwd = None
    try:
        fwd = srv.background("-R", f"*:{port}:{ECHO}")
        ok = fwd.wait_port(port) and echo_roundtrip(port, b"every\n") == b"every\n"
        check(ok, f"--permit-listen 0.0.0.0:{port}: ssh -R '*:{port}:...' works")
    finally:
        if fwd:
            fwd.stop()
        srv.stop()

    echo.close()
    other.close()
    greeter.close()
    print(f"forwarding: {time.monotonic() - started:.1f} s")
    shutil.rmtree(tmp, ignore_errors=True)
    return finish("forwarding")


if __name__ == "__main__":
    sys.exit(main())

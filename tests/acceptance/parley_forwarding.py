"""parley's port forwarding (-L, -R, -D, -N, ExitOnForwardFailure) against a real OpenSSH
sshd (the system's, on a free 127.0.0.1 port, publickey login), as issue 16 asks:

- -L, -R and -D (SOCKS 5 with a host name, SOCKS 4 with an address, SOCKS 4a with a name)
  each carry 5 parallel connections of 1 MiB each way to an echo server, every byte
  checked by SHA-256; the same with the forwards given in the -F file instead of the
  command line;
- -R 0 reports the port the server chose, and that port forwards;
- a port that cannot be bound (-L, -D) or forwarded (-R) is a warning and the command
  runs; with ExitOnForwardFailure=yes parley exits 255 and the command never runs;
- -N holds the forwards with no session until parley is stopped;
- a forwarded connection still open when the command ends is served to its end, then
  parley exits with the command's status (as ssh);
- a SOCKS client the forward refuses (not SOCKS, a BIND request) gets its refusal and
  parley serves the next one.
Usage: parley_forwarding.py PARLEY"""
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from common import SYSTEM_OPENSSH, EchoServer, Sshd, check, finish, free_port, keygen, wait_for_port

MIB = 1024 * 1024


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def socks_connect(s, version, host, port):
    """The client's side of the handshake; True when the proxy granted the connection."""
    if version == 5:
        s.sendall(b"\x05\x01\x00")
        if recv_exact(s, 2) != b"\x05\x00":
            return False
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() + struct.pack(">H", port))
        reply = recv_exact(s, 10)
        return reply[1] == 0
    if version == "4a":
        s.sendall(b"\x04\x01" + struct.pack(">H", port) + b"\x00\x00\x00\x01user\x00" + host.encode() + b"\x00")
    else:
        s.sendall(b"\x04\x01" + struct.pack(">H", port) + socket.inet_aton(host) + b"user\x00")
    return recv_exact(s, 8)[1] == 90


def transfer(port, seed, socks=None):
    """1 MiB through 127.0.0.1:port and back: None if all came back, else why not."""
    data = hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            if socks and not socks_connect(s, *socks):
                return "the SOCKS proxy refused"
            got = bytearray()
            sender = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
            sender.start()
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            sender.join()
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        return f"{len(got)} bytes came back, not the {len(data)} sent"
    return None


def parallel(port, n=5, socks=None):
    """n transfers at once; the list of failures."""
    results = [None] * n
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, transfer(port, i, socks)))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return [r for r in results if r]


class Client:
    """parley with the test's -F file, and what it printed."""

    def __init__(self, exe, config):
        self.exe = exe
        self.config = config

    def run(self, args, command, timeout=120):
        return subprocess.run([self.exe, "-F", self.config, *args, "t", command], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=timeout)

    def start(self, args, command=None):
        return subprocess.Popen([self.exe, "-F", self.config, *args, "t", *([command] if command else [])],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)


def the_three_forwards(client, echo):
    """-L, -R and -D held by -N, 5 × 1 MiB through each."""
    lport, rport, dport = free_port(), free_port(), free_port()
    p = client.start(["-N", "-L", f"{lport}:127.0.0.1:{echo.port}", "-R", f"{rport}:127.0.0.1:{echo.port}",
                      "-D", f"127.0.0.1:{dport}"])
    try:
        up = wait_for_port(lport, p) and wait_for_port(dport, p) and wait_for_port(rport, p)
        check(up, f"-N -L {lport} -R {rport} -D {dport}: parley and the server listen")
        if not up:
            return
        for name, port, socks in (("-L", lport, None), ("-R", rport, None), ("-D SOCKS 5 (host name)", dport, (5, "localhost")),
                                  ("-D SOCKS 4 (address)", dport, (4, "127.0.0.1")),
                                  ("-D SOCKS 4a (host name)", dport, ("4a", "localhost"))):
            target = (socks[0], socks[1], echo.port) if socks else None
            bad = parallel(port, 5, target)
            check(not bad, f"{name}: 5 parallel connections of 1 MiB each way arrive whole ({bad})")
        # A client that is not SOCKS, and one asking for BIND, are refused; the next is served.
        with socket.create_connection(("127.0.0.1", dport), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            check(s.recv(100) == b"", "-D: a client that does not speak SOCKS is closed without an answer")
        with socket.create_connection(("127.0.0.1", dport), timeout=10) as s:
            s.sendall(b"\x05\x01\x00")
            recv_exact(s, 2)
            s.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")
            check(recv_exact(s, 2) == b"\x05\x07", "-D: a SOCKS 5 BIND is answered 'command not supported'")
        bad = parallel(dport, 1, (5, "127.0.0.1", echo.port))
        check(not bad, f"-D: the next SOCKS client is served ({bad})")
        check(p.poll() is None, "-N: parley is still running, with no session")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def from_the_config_file(exe, tmp, base_config, echo):
    """LocalForward, RemoteForward and DynamicForward in the file, with the session's command
    doing the transfers from the server's side (so the session ends once they are done)."""
    lport, rport, dport = free_port(), free_port(), free_port()
    config = os.path.join(tmp, "forwards.cfg")
    with open(config, "w") as f:
        f.write(open(base_config).read() + f"  LocalForward {lport} 127.0.0.1:{echo.port}\n"
                f"  RemoteForward {rport} 127.0.0.1:{echo.port}\n  DynamicForward {dport}\n"
                "  SessionType none\n")
    p = subprocess.Popen([exe, "-F", config, "t"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    try:
        up = wait_for_port(lport, p) and wait_for_port(rport, p) and wait_for_port(dport, p)
        bad = parallel(lport) + parallel(rport) + parallel(dport, 5, (5, "127.0.0.1", echo.port)) if up else ["not up"]
        check(not bad, f"LocalForward, RemoteForward, DynamicForward and SessionType none from -F: "
                       f"5 × 1 MiB each ({bad})")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def remote_port_zero(client, echo):
    p = client.start(["-N", "-R", f"0:127.0.0.1:{echo.port}"])
    line = ""
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "Allocated port" not in line:
            line = p.stderr.readline()
        port = int(line.split()[2]) if line.startswith("Allocated port ") else 0
        check(port > 0 and line.strip().endswith(f"for remote forward to 127.0.0.1:{echo.port}"),
              f"-R 0: parley prints the port the server chose ({line.strip()!r})")
        bad = parallel(port, 2) if port else ["no port"]
        check(not bad, f"-R 0: the chosen port forwards ({bad})")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def failures(client, echo):
    """Ports taken on both loopback addresses: warnings, or 255 with ExitOnForwardFailure."""
    v4 = socket.socket()
    v4.bind(("127.0.0.1", 0))
    port = v4.getsockname()[1]
    v4.listen()
    v6 = socket.socket(socket.AF_INET6)
    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        v6.bind(("::1", port))
        v6.listen()
    except OSError:
        pass  # no IPv6 loopback here: parley fails on it all the same
    try:
        for flag, spec, warning in (("-L", f"{port}:127.0.0.1:{echo.port}", "Could not request local forwarding."),
                                    ("-D", f"{port}", "Could not request dynamic forwarding."),
                                    ("-R", f"{port}:127.0.0.1:{echo.port}",
                                     f"remote port forwarding failed for listen port {port}")):
            r = client.run([flag, spec], "echo ran")
            check(r.returncode == 0 and r.stdout == "ran\n" and warning in r.stderr
                  and f"bind [127.0.0.1]:{port}" in r.stderr if flag != "-R" else r.returncode == 0 and
                  r.stdout == "ran\n" and "Warning: " + warning in r.stderr,
                  f"{flag} to a taken port: a warning and the command runs ({r.returncode}, {r.stderr.strip()!r})")
            r = client.run(["-o", "ExitOnForwardFailure=yes", flag, spec], "echo ran")
            check(r.returncode == 255 and r.stdout == "" and warning in r.stderr,
                  f"{flag} to a taken port with ExitOnForwardFailure: 255, the command never ran "
                  f"({r.returncode}, {r.stdout!r}, {r.stderr.strip()!r})")
    finally:
        v4.close()
        v6.close()


def served_to_the_end(client, echo):
    """The command ends while a forwarded connection is open: parley serves it to its end
    and exits with the command's status once it closes."""
    lport = free_port()
    p = client.start(["-L", f"{lport}:127.0.0.1:{echo.port}"], "sleep 1; exit 7")
    try:
        if not wait_for_port(lport, p):
            check(False, "-L with a command: parley listens")
            return
        s = socket.create_connection(("127.0.0.1", lport), timeout=10)
        s.sendall(b"before")
        first = recv_exact(s, 6)
        time.sleep(2)  # the command has ended
        alive = p.poll() is None
        s.sendall(b"after")
        second = recv_exact(s, 5)
        s.close()
        status = p.wait(15)
        check(first == b"before" and alive and second == b"after" and status == 7,
              f"a forwarded connection open when the command ends is served to its end; "
              f"then parley exits with the command's 7 (alive {alive}, {status})")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="parley-fwd-")
    os.chmod(tmp, 0o755)
    echo = EchoServer()
    try:
        key = os.path.join(tmp, "id")
        keygen(key)
        shutil.copy(key + ".pub", os.path.join(tmp, "authorized_keys"))
        config = [f"AuthorizedKeysFile {tmp}/authorized_keys", "StrictModes no", "AllowTcpForwarding yes",
                  "PermitRootLogin prohibit-password", "PasswordAuthentication no",
                  "KbdInteractiveAuthentication no"]
        with Sshd(SYSTEM_OPENSSH, os.path.join(tmp, "sshd"), config, log_level="VERBOSE") as sshd:
            known = os.path.join(tmp, "known_hosts")
            with open(os.path.join(tmp, "sshd", "hostkey.pub")) as f:
                kind, blob = f.read().split()[:2]
            with open(known, "w") as f:
                f.write(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
            base = os.path.join(tmp, "config")
            user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
            with open(base, "w") as f:
                f.write(f"Host t\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {user}\n  IdentityFile {key}\n"
                        f"  UserKnownHostsFile {known}\n  BatchMode yes\n  WarnWeakCrypto no\n")
            client = Client(exe, base)
            r = client.run([], "echo hello")
            check(r.returncode == 0 and r.stdout == "hello\n", f"parley logs in to sshd ({r.stderr.strip()!r})")
            the_three_forwards(client, echo)
            from_the_config_file(exe, tmp, base, echo)
            remote_port_zero(client, echo)
            failures(client, echo)
            served_to_the_end(client, echo)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("parley_forwarding")


if __name__ == "__main__":
    sys.exit(main())

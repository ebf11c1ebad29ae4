#!/usr/bin/python3
"""parleyd behind real HAProxy with the PROXY protocol (issue 18, item 4).

HAProxy (/usr/sbin/haproxy, in the foreground with -db, `mode tcp`) listens on a free
loopback port and connects to parleyd from 127.0.0.2 (`source 127.0.0.2`), sending a
PROXY header; parleyd lists 127.0.0.2 in proxy_from. Run as root in both privilege modes
(privilege-separated: the network process reads the header; --no-privilege-separation),
as an ordinary user once (one process). Each run:
- real OpenSSH ssh, bound to 127.0.0.7 (-b), logs in with a password through HAProxy
  (send-proxy-v2, then send-proxy for v1) and runs a command printing $SSH_CLIENT and
  $SSH_CONNECTION: the client is 127.0.0.7 (not HAProxy's 127.0.0.2) and the server end is
  the address ssh connected to; parleyd's log names 127.0.0.7 for the connection and the
  login and never shows 127.0.0.2 as the peer;
- a socket bound to 127.0.0.9 (not a listed balancer) sends parleyd a v2 header, another a
  v1 line: each is closed without SSH service, and the log says "refused";
- a connection from the listed 127.0.0.2 that speaks SSH without a header is closed, with
  its log line;
- a client at 127.0.0.9 speaking SSH directly is still served, and parleyd keeps running.
HAProxy missing is a failure, not a skip.
Usage: proxy_protocol.py PARLEYD"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from common import (check, failures, finish, free_port, keygen, mkpasswd, read_log, session_user, wait_for_port,
                    wait_log)

PARLEYD = sys.argv[1]
HAPROXY = "/usr/sbin/haproxy"
PASSWORD = "proxied-pass-Pp7"
CLIENT = "127.0.0.7"    # where ssh connects from
BALANCER = "127.0.0.2"  # where HAProxy connects to parleyd from
STRANGER = "127.0.0.9"  # not in proxy_from
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def parleyd_config(key, users):
    user = session_user()
    session = f'[session]\nsession_user = "{user}"\n' if user else ""
    return (f'host_keys = ["{key}"]\nproxy_protocol = true\nproxy_from = ["{BALANCER}", "10.0.0.0/8"]\n'
            f'[auth]\npassword_file = "{users}"\n'
            '[limits]\nper_source_penalties = "no"\nmax_startups = "1000"\n' + session)


def start_haproxy(tmp, parleyd_port, send_proxy):
    """HAProxy in front of parleyd; returns (process, its port) or (None, None)."""
    port = free_port()
    conf = os.path.join(tmp, f"haproxy-{send_proxy}.cfg")
    write(conf, "global\n  maxconn 64\n"
                "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n"
                f"frontend ssh_in\n  bind 127.0.0.1:{port}\n  default_backend parleyd\n"
                f"backend parleyd\n  source {BALANCER}\n  server p1 127.0.0.1:{parleyd_port} {send_proxy}\n", 0o644)
    log = open(os.path.join(tmp, f"haproxy-{send_proxy}.log"), "ab")
    proc = subprocess.Popen([HAPROXY, "-db", "-f", conf], stdout=log, stderr=log)
    if not wait_for_port(port, proc):
        proc.kill()
        return None, None
    return proc, port


def askpass_env(tmp):
    script = os.path.join(tmp, "askpass")
    write(script, f"#!/bin/sh\necho '{PASSWORD}'\n", 0o755)
    return {**os.environ, "SSH_ASKPASS": script, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}


def ssh_run(tmp, port, bind, command):
    """ssh from `bind` to 127.0.0.1:port as alice with the password; (status, stdout)."""
    args = ["/usr/bin/ssh", "-F", "/dev/null", "-b", bind, "-p", str(port), "-o", "UserKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=no", "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1", "-o", "BatchMode=no",
            "alice@127.0.0.1", command]
    r = subprocess.run(args, env=askpass_env(tmp), stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(errors="replace")


def raw_connection(port, source, first_bytes, seconds=10):
    """Connects from `source`, sends `first_bytes`, and reads until parleyd closes;
    (closed by parleyd within `seconds`, everything it sent)."""
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(seconds)
    s.connect(("127.0.0.1", port))
    received = b""
    try:
        if first_bytes:
            s.sendall(first_bytes)
        while True:
            data = s.recv(65536)
            if not data:
                return True, received
            received += data
    except ConnectionResetError:
        return True, received
    except socket.timeout:
        return False, received
    finally:
        s.close()


def proxied_login(label, tmp, log_path, port, send_proxy):
    haproxy, front = start_haproxy(tmp, port, send_proxy)
    check(haproxy is not None, f"{label}: HAProxy ({send_proxy}) starts in front of parleyd")
    if haproxy is None:
        return
    try:
        status, out = ssh_run(tmp, front, CLIENT, 'echo "CLIENT=$SSH_CLIENT"; echo "CONNECTION=$SSH_CONNECTION"')
        check(status == 0, f"{label} {send_proxy}: ssh from {CLIENT} logs in through HAProxy (status {status})")
        client = re.search(r"CLIENT=(\S+) (\d+) (\d+)", out)
        check(client is not None and client.group(1) == CLIENT,
              f"{label} {send_proxy}: $SSH_CLIENT starts with {CLIENT} (got {out.strip()!r})")
        connection = re.search(r"CONNECTION=(\S+) (\d+) (\S+) (\d+)", out)
        check(connection is not None and connection.group(3) == "127.0.0.1" and connection.group(4) == str(front),
              f"{label} {send_proxy}: $SSH_CONNECTION's server end is HAProxy's address, which ssh connected to")
        client_port = client.group(2) if client else "none"
        who = re.escape(f"{CLIENT}:{client_port}")
        check(wait_log(log_path, who + r": connection open"), f"{label} {send_proxy}: the log opens the connection as {CLIENT}")
        check(wait_log(log_path, r"auth: user='alice' method=password .* peer=" + who),
              f"{label} {send_proxy}: the log names {CLIENT} as the peer of alice's login")
        check(wait_log(log_path, who + r": through balancer " + re.escape(BALANCER)),
              f"{label} {send_proxy}: the log says which balancer it came through")
    finally:
        haproxy.terminate()
        haproxy.wait(timeout=10)


def refusals(label, log_path, port):
    v2 = V2_SIGNATURE + b"\x21\x11\x00\x0c" + bytes([10, 1, 2, 3, 127, 0, 0, 1, 0x9c, 0x40, 0, 22])
    closed, got = raw_connection(port, STRANGER, v2)
    check(closed and b"SSH-2.0-" in got and len(got) < 2048,
          f"{label}: a v2 header from {STRANGER} (not listed) is closed without SSH service")
    check(wait_log(log_path, r"PROXY header from 127\.0\.0\.9, which is not a listed balancer \(proxy_from\): refused"),
          f"{label}: ... and the log says it was refused")
    check("10.1.2.3" not in read_log(log_path), f"{label}: the address in that header is never believed")
    before = read_log(log_path).count("which is not a listed balancer")
    closed, _ = raw_connection(port, STRANGER, b"PROXY TCP4 10.9.8.7 127.0.0.1 5555 22\r\nSSH-2.0-x\r\n")
    check(closed, f"{label}: a v1 line from {STRANGER} is closed")
    check(wait_log(log_path, r"(?s)" + r"which is not a listed balancer.*" * (before + 1)),
          f"{label}: ... with its own refusal in the log")
    closed, got = raw_connection(port, BALANCER, b"SSH-2.0-OpenSSH_9.2\r\n")
    check(closed and got == b"", f"{label}: the listed {BALANCER} without a header is closed, sent nothing")
    check(wait_log(log_path, r"127\.0\.0\.2:\d+: no valid PROXY header from this balancer \(proxy_from\): "
                             r"not a PROXY protocol header: closed"),
          f"{label}: ... with a log line saying why")


def one_run(label, extra_args):
    tmp = tempfile.mkdtemp(prefix="parleyd-proxy-")
    os.chmod(tmp, 0o755)
    key = os.path.join(tmp, "hostkey")
    keygen(key)
    users = os.path.join(tmp, "users")
    write(users, f"alice:{mkpasswd('yescrypt', PASSWORD)}\n")
    conf = os.path.join(tmp, "parleyd.conf")
    write(conf, parleyd_config(key, users))
    log_path = os.path.join(tmp, "parleyd.log")
    proc = subprocess.Popen([PARLEYD, "--config", conf, "--port", "0", *extra_args], stdout=subprocess.PIPE,
                            stderr=open(log_path, "ab"))
    try:
        m = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())
        check(m is not None, f"{label}: parleyd starts with proxy_protocol = true")
        if not m:
            return
        port = int(m.group(1))
        proxied_login(label, tmp, log_path, port, "send-proxy-v2")
        proxied_login(label, tmp, log_path, port, "send-proxy")
        log = read_log(log_path)
        check(not re.search(r"127\.0\.0\.2:\d+: connection open|peer=127\.0\.0\.2", log),
              f"{label}: the log never shows HAProxy's {BALANCER} as a peer")
        refusals(label, log_path, port)
        status, out = ssh_run(tmp, port, STRANGER, "echo direct-ok")
        check(status == 0 and "direct-ok" in out, f"{label}: ssh from {STRANGER} straight to parleyd still works")
        check(proc.poll() is None, f"{label}: parleyd is still running")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if any(f.startswith(label) for f in failures):
            print(f"--- {label}: parleyd log ---\n" + read_log(log_path)[-6000:], flush=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if not os.access(HAPROXY, os.X_OK):
        check(False, f"{HAPROXY} is installed (scripts/install-deps.sh installs haproxy)")
        return finish("proxy_protocol")
    if os.geteuid() == 0:
        one_run("privilege-separated", [])
        one_run("one process", ["--no-privilege-separation"])
    else:
        one_run("not root", [])
    return finish("proxy_protocol")


if __name__ == "__main__":
    sys.exit(main())

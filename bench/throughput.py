#!/usr/bin/python3
"""Throughput of one channel: 1 GiB through a session against parleyd and
against OpenSSH's sshd in the same run, per cipher, with the same OpenSSH
client.

    /usr/bin/python3 bench/throughput.py build-rel/apps/parleyd/parleyd [--size MiB] [--runs N]

Upload is `head -c SIZE /dev/zero | ssh ... 'cat > /dev/null'`, download is
`ssh ... 'head -c SIZE /dev/zero' > /dev/null`. Each figure is the best of N
runs (the least disturbed by other work on the machine), in MiB/s of payload.
Both servers run on this machine next to the client, so the figures compare
the servers with each other, not with a network.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SSH = "/usr/bin/ssh"
SSHD = "/usr/sbin/sshd"

CIPHERS = [
    ("chacha20-poly1305@openssh.com", None),
    ("aes128-gcm@openssh.com", None),
    ("aes256-gcm@openssh.com", None),
    ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
]


def keygen(path, kind="ed25519"):
    subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", kind, "-N", "", "-f", path], check=True)


def start_parleyd(parleyd, tmp, authorized):
    key = os.path.join(tmp, "parleyd_host")
    keygen(key)
    proc = subprocess.Popen([parleyd, "--port", "0", "--host-key", key, "--authorized-keys",
                             authorized, "--log-level", "warn"],
                            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "parleyd.log"), "ab"))
    m = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())
    if not m:
        proc.kill()
        sys.exit("parleyd did not start")
    return proc, int(m.group(1))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_sshd(tmp, authorized):
    key = os.path.join(tmp, "sshd_host")
    keygen(key)
    port = free_port()
    config = os.path.join(tmp, "sshd_config")
    with open(config, "w") as f:
        f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\n"
                f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n"
                "PermitRootLogin prohibit-password\nLogLevel ERROR\nCompression no\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config],
                            stderr=open(os.path.join(tmp, "sshd.log"), "ab"))
    for _ in range(100):  # wait until it accepts
        import socket
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("sshd did not start")


def ssh_args(port, key, cipher, mac):
    args = [SSH, "-F", "/dev/null", "-i", key, "-p", str(port), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=error", "-o", "Compression=no", "-c", cipher]
    if mac:
        args += ["-m", mac]
    return args + ["root@127.0.0.1" if os.geteuid() == 0 else f"{os.environ.get('USER')}@127.0.0.1"]


def timed(cmd):
    start = time.monotonic()
    r = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.monotonic() - start
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {cmd}\n{r.stderr.decode(errors='replace')}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parleyd")
    ap.add_argument("--size", type=int, default=1024, help="MiB per transfer (default 1024)")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="parley-throughput-")
    try:
        client_key = os.path.join(tmp, "client")
        keygen(client_key)
        authorized = os.path.join(tmp, "authorized_keys")
        shutil.copy(client_key + ".pub", authorized)
        parleyd, pport = start_parleyd(a.parleyd, tmp, authorized)
        sshd, sport = start_sshd(tmp, authorized)
        size = a.size * 1024 * 1024
        print(f"{a.size} MiB per transfer, best of {a.runs}, MiB/s of payload")
        print(f"| cipher | upload parleyd | upload sshd | download parleyd | download sshd |")
        print(f"|---|---|---|---|---|")
        for cipher, mac in CIPHERS:
            row = []
            for direction in ("up", "down"):
                for port in (pport, sport):
                    base = " ".join(ssh_args(port, client_key, cipher, mac))
                    if direction == "up":
                        cmd = f"head -c {size} /dev/zero | {base} 'cat > /dev/null'"
                    else:
                        cmd = f"{base} 'head -c {size} /dev/zero' > /dev/null"
                    best = min(timed(cmd) for _ in range(a.runs))
                    row.append(a.size / best)
            name = cipher + (f" + {mac}" if mac else "")
            print(f"| {name} | {row[0]:.0f} | {row[1]:.0f} | {row[2]:.0f} | {row[3]:.0f} |", flush=True)
        parleyd.terminate()
        sshd.terminate()
        parleyd.wait(timeout=10)
        sshd.wait(timeout=10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

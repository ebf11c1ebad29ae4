#!/usr/bin/python3
"""Throughput of one channel: 1 GiB through a session against parleyd and
against OpenSSH's sshd in the same run, per cipher, with the same OpenSSH
client.

    /usr/bin/python3 bench/throughput.py build-rel/apps/parleyd/parleyd [--size MiB] [--runs N]

Upload is `head -c SIZE /dev/zero | ssh ... 'cat > /dev/null'`, download is
`ssh ... 'head -c SIZE /dev/zero' > /dev/null`. Runs alternate between the two
servers so both see the same background load. Throughput is the best of N runs
(the least disturbed), in MiB/s of payload; CPU is the median CPU time the
server spent per GiB, counting the command it ran (cat or head), which is the
same work for both. Both servers run on this machine next to the client, so the
figures compare the servers with each other, not with a network.
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


def cpu_seconds(pid):
    """CPU time of a server process and its reaped children (its sessions, and the
    commands they ran), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parleyd")
    ap.add_argument("--size", type=int, default=1024, help="MiB per transfer (default 1024)")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="parley-throughput-")
    try:
        client_key = os.path.join(tmp, "client")
        keygen(client_key)
        authorized = os.path.join(tmp, "authorized_keys")
        shutil.copy(client_key + ".pub", authorized)
        parleyd, pport = start_parleyd(a.parleyd, tmp, authorized)
        sshd, sport = start_sshd(tmp, authorized)
        servers = (("parleyd", parleyd.pid, pport), ("sshd", sshd.pid, sport))
        size = a.size * 1024 * 1024
        print(f"{a.size} MiB per transfer; runs alternate between the servers; MiB/s is the best of "
              f"{a.runs} runs, CPU the median server CPU per GiB (server and the command it ran, "
              f"cat or head: the same work for both)")
        print("| cipher | direction | parleyd MiB/s | sshd MiB/s | parleyd CPU s/GiB | sshd CPU s/GiB |")
        print("|---|---|---|---|---|---|")
        for cipher, mac in CIPHERS:
            for direction in ("upload", "download"):
                walls = {name: [] for name, _, _ in servers}
                cpus = {name: [] for name, _, _ in servers}
                for _ in range(a.runs):
                    for name, pid, port in servers:
                        base = " ".join(ssh_args(port, client_key, cipher, mac))
                        if direction == "upload":
                            cmd = f"head -c {size} /dev/zero | {base} 'cat > /dev/null'"
                        else:
                            cmd = f"{base} 'head -c {size} /dev/zero' > /dev/null"
                        before = cpu_seconds(pid)
                        walls[name].append(timed(cmd))
                        time.sleep(0.2)  # let the server reap the session
                        cpus[name].append((cpu_seconds(pid) - before) * 1024 / a.size)
                label = cipher + (f" + {mac}" if mac else "")
                p_rate, s_rate = (a.size / min(walls[n]) for n in ("parleyd", "sshd"))
                p_cpu, s_cpu = (sorted(cpus[n])[len(cpus[n]) // 2] for n in ("parleyd", "sshd"))
                print(f"| {label} | {direction} | {p_rate:.0f} | {s_rate:.0f} | {p_cpu:.2f} | {s_cpu:.2f} |",
                      flush=True)
        parleyd.terminate()
        sshd.terminate()
        parleyd.wait(timeout=10)
        sshd.wait(timeout=10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

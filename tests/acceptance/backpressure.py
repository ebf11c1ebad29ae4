#!/usr/bin/python3
"""Back-pressure with real OpenSSH `ssh` against parleyd: parleyd's memory (VmRSS) must
stay bounded when the client stops reading (1 GiB from `head -c ... /dev/zero` with ssh
stopped by SIGSTOP), when the remote program does not read its stdin (256 MiB into
`sleep 6; wc -c`), and the same two for ssh -W forwarding; then 4 concurrent `cat`
sessions of 64 MiB each way with sha256 compared. Prints the measured RSS growth.
Exits non-zero on any failure (run by ctest)."""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from common import SSH, check, finish, keygen, start_parleyd, stop

PARLEYD = sys.argv[1]
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
LIMIT = 64 * MiB  # allowed RSS growth over the baseline
measured = []  # (what, max growth in bytes) for the summary


def status_fields(pid):
    with open(f"/proc/{pid}/status") as f:
        return {name: value.strip() for name, _, value in (line.partition(":") for line in f)}


def server_pids(pid):
    """parleyd's own processes: pid and, started as root (separated), its network
    process, the child named parleyd (session programs have their own names)."""
    out = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = status_fields(entry)
                if fields.get("PPid") == str(pid) and fields.get("Name") == "parleyd":
                    out.append(int(entry))
            except OSError:
                pass
    return out


def rss(pid):
    """VmRSS of parleyd in bytes: every process of it (the network process holds
    the channels' buffers when separated)."""
    total = 0
    for p in server_pids(pid):
        try:
            total += int(status_fields(p).get("VmRSS", "0 kB").split()[0]) * KiB
        except OSError:
            pass
    return total


def sample(pid, baseline, seconds, interval=0.5):
    """Samples rss(pid) every interval for seconds; returns the max growth over baseline."""
    peak = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(interval)
        peak = max(peak, rss(pid) - baseline)
    return peak


def report(what, growth):
    measured.append((what, growth))
    print(f"     RSS growth {what}: {growth / MiB:.1f} MiB", flush=True)
    check(growth < LIMIT, f"{what}: parleyd RSS growth {growth / MiB:.1f} MiB < {LIMIT // MiB} MiB")


def watch(p, seconds=240):
    """Kills p if it is still running after seconds, so a stuck transfer fails instead of hanging."""
    t = threading.Timer(seconds, lambda: p.poll() is None and p.kill())
    t.daemon = True
    t.start()
    return p


def read_n(fd, n):
    """Reads exactly n bytes (or up to EOF) from fd, discarding them; returns the count."""
    got = 0
    while got < n:
        chunk = os.read(fd, min(MiB, n - got))
        if not chunk:
            break
        got += len(chunk)
    return got


def read_to_eof(fd):
    got = 0
    while True:
        chunk = os.read(fd, MiB)
        if not chunk:
            return got
        got += len(chunk)


def write_zeros(stream, total, done):
    """Writes total zero bytes to stream in 1 MiB pieces, closes it; done[0] = bytes written."""
    block = bytes(MiB)
    try:
        while done[0] < total:
            n = min(MiB, total - done[0])
            stream.write(block[:n])
            done[0] += n
        stream.close()
    except (BrokenPipeError, OSError):
        pass


class Source:
    """On connect, writes `total` zero bytes, then closes."""

    def __init__(self, total):
        self.total = total
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        block = bytes(MiB)
        sent = 0
        try:
            while sent < self.total:
                n = min(MiB, self.total - sent)
                conn.sendall(block[:n])
                sent += n
        except OSError:
            pass
        conn.close()


class Sink:
    """On connect, waits `delay` seconds without reading, then reads to EOF and answers
    with the byte count as text, then closes."""

    def __init__(self, delay):
        self.delay = delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        # A small receive buffer so the kernel does not soak up much.
        time.sleep(self.delay)
        got = 0
        try:
            while True:
                chunk = conn.recv(MiB)
                if not chunk:
                    break
                got += len(chunk)
            conn.sendall(f"{got}\n".encode())
        except OSError:
            pass
        conn.close()


def main():
    tmp = tempfile.mkdtemp()
    keygen(os.path.join(tmp, "hostkey"))
    keygen(os.path.join(tmp, "client"))
    shutil.copy(os.path.join(tmp, "client.pub"), os.path.join(tmp, "ak"))
    log_path = os.path.join(tmp, "parleyd.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--authorized-keys", os.path.join(tmp, "ak"), "--log-level", "info",
                                              "--allow-tcp-forwarding", "local"], log_path)
    pid = proc.pid
    base_args = [SSH, "-F", "/dev/null", "-i", os.path.join(tmp, "client"), "-o", "IdentitiesOnly=yes",
                 "-o", "IdentityAgent=none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                 "-o", "UserKnownHostsFile=/dev/null", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=error",
                 "-p", str(port), "user@127.0.0.1"]
    started = time.monotonic()
    try:
        # Warm up (first login, first session), so the baseline includes one-time allocations.
        r = subprocess.run([*base_args, "echo warm"], capture_output=True, timeout=30)
        check(r.returncode == 0 and r.stdout == b"warm\n", "warm-up: ssh runs a command")

        # 1. The client stops reading.
        total = GiB
        baseline = rss(pid)
        print(f"     parleyd baseline RSS: {baseline / MiB:.1f} MiB", flush=True)
        t0 = time.monotonic()
        ssh = watch(subprocess.Popen([*base_args, f"head -c {total} /dev/zero"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, bufsize=0))
        fd = ssh.stdout.fileno()
        got = read_n(fd, 10 * MiB)
        os.kill(ssh.pid, signal.SIGSTOP)
        growth = sample(pid, baseline, 6)
        os.kill(ssh.pid, signal.SIGCONT)
        report("with ssh stopped (SIGSTOP) during a 1 GiB download", growth)
        got += read_to_eof(fd)
        status = ssh.wait(timeout=60)
        elapsed = time.monotonic() - t0
        check(got == total, f"after SIGCONT all {total} bytes arrive (got {got})")
        check(status == 0, f"ssh 'head -c 1 GiB' exits 0 (status {status}; {elapsed:.1f} s including 6 s stopped)")

        # 2. The remote program does not read its stdin.
        total = 256 * MiB
        baseline = rss(pid)
        ssh = watch(subprocess.Popen([*base_args, "sleep 6; wc -c"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0))
        written = [0]
        writer = threading.Thread(target=write_zeros, args=(ssh.stdin, total, written), daemon=True)
        writer.start()
        time.sleep(0.5)
        growth = sample(pid, baseline, 5)
        at_peak = written[0]
        report("while 'sleep 6; wc -c' leaves 256 MiB of stdin unread", growth)
        check(at_peak < total, f"the writer is held back while the program sleeps ({at_peak / MiB:.1f} MiB written)")
        out = ssh.stdout.read()
        writer.join(60)
        status = ssh.wait(timeout=60)
        check(out.strip() == str(total).encode(), f"remote wc -c prints {total} (got {out.strip()!r})")
        check(status == 0, f"ssh 'sleep 6; wc -c' exits 0 (status {status})")

        # 2b. The same through ssh -W: the client stops reading a forwarded download ...
        total = 256 * MiB
        src = Source(total)
        baseline = rss(pid)
        ssh = watch(subprocess.Popen([*base_args[:-1], "-W", f"127.0.0.1:{src.port}", base_args[-1]],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0))
        fd = ssh.stdout.fileno()
        got = read_n(fd, 10 * MiB)
        os.kill(ssh.pid, signal.SIGSTOP)
        growth = sample(pid, baseline, 4)
        os.kill(ssh.pid, signal.SIGCONT)
        report("with ssh -W stopped (SIGSTOP) during a 256 MiB forwarded download", growth)
        got += read_to_eof(fd)
        ssh.stdin.close()
        status = ssh.wait(timeout=60)
        check(got == total, f"ssh -W: after SIGCONT all {total} bytes arrive (got {got})")
        check(status == 0, f"ssh -W download exits 0 (status {status})")
        src.sock.close()

        # ... and the destination does not read a forwarded upload.
        sink = Sink(delay=5)
        baseline = rss(pid)
        ssh = watch(subprocess.Popen([*base_args[:-1], "-W", f"127.0.0.1:{sink.port}", base_args[-1]],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0))
        written = [0]
        writer = threading.Thread(target=write_zeros, args=(ssh.stdin, total, written), daemon=True)
        writer.start()
        time.sleep(0.5)
        growth = sample(pid, baseline, 4)
        at_peak = written[0]
        report("with a forwarding destination not reading a 256 MiB upload (ssh -W)", growth)
        check(at_peak < total, f"ssh -W: the writer is held back while the destination sleeps "
                               f"({at_peak / MiB:.1f} MiB written)")
        out = ssh.stdout.read()
        writer.join(60)
        status = ssh.wait(timeout=60)
        check(out.strip() == str(total).encode(), f"ssh -W: the destination counts {total} bytes (got {out.strip()!r})")
        check(status == 0, f"ssh -W upload exits 0 (status {status})")
        sink.sock.close()

        # 3. Both directions at once: 4 concurrent `cat` sessions of 64 MiB.
        n, size = 4, 64 * MiB
        results = [None] * n
        baseline = rss(pid)
        peak = [0]
        stop_sampling = threading.Event()

        def sampler():
            while not stop_sampling.wait(0.5):
                peak[0] = max(peak[0], rss(pid) - baseline)

        def one(i):
            p = watch(subprocess.Popen([*base_args, "cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0))
            sent = hashlib.sha256()

            def feed():
                try:
                    for _ in range(size // MiB):
                        block = os.urandom(MiB)
                        sent.update(block)
                        p.stdin.write(block)
                    p.stdin.close()
                except OSError:
                    pass

            w = threading.Thread(target=feed)
            w.start()
            recv = hashlib.sha256()
            count = 0
            while True:
                chunk = os.read(p.stdout.fileno(), MiB)
                if not chunk:
                    break
                recv.update(chunk)
                count += len(chunk)
            w.join(120)
            status = p.wait(timeout=60)
            results[i] = (status, count, sent.hexdigest() == recv.hexdigest())

        t0 = time.monotonic()
        threading.Thread(target=sampler, daemon=True).start()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        stop_sampling.set()
        elapsed = time.monotonic() - t0
        for i, res in enumerate(results):
            check(res is not None and res[0] == 0 and res[1] == size and res[2],
                  f"concurrent cat {i}: {size} bytes back, sha256 matches, exit 0 (got {res})")
        print(f"     4 x 64 MiB cat both ways: {elapsed:.1f} s, RSS growth {peak[0] / MiB:.1f} MiB", flush=True)
        measured.append(("during 4 concurrent 64 MiB cat sessions (not limited)", peak[0]))
        check(proc.poll() is None, "parleyd is still running")
    finally:
        stop(proc)

    print("RSS growth summary (parleyd VmRSS over baseline):")
    for what, growth in measured:
        print(f"  {growth / MiB:6.1f} MiB  {what}")
    print(f"backpressure: {time.monotonic() - started:.1f} s")
    shutil.rmtree(tmp, ignore_errors=True)
    return finish("backpressure")


if __name__ == "__main__":
    sys.exit(main())

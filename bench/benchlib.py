"""What the server benchmarks (bench/privsep_cost.py, bench/server_cost.py) share: the CPUs the
server and the load run on, the load tools' runs (parley-load and the libssh client, both ending
in one JSON line), a server's CPU time counted by a control group of its own, and the processes
of a server, its CPU time and memory."""
import json
import os
import re
import socket
import subprocess
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpus():
    """The server's CPU and the load's: two different ones if this process may use two."""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        return None, None
    return mine[-1], mine[0]


def pinned(args, cpu):
    return args if cpu is None else ["taskset", "-c", str(cpu)] + args


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def fingerprint(key):
    """SHA256:... of an OpenSSH key file, as ssh-keygen -l prints it."""
    out = subprocess.run(["ssh-keygen", "-lf", key], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def load(tool, tool_cpu, mode, port, fp, extra):
    """Starts parley-load MODE against 127.0.0.1:PORT (JSON report), pinned to tool_cpu."""
    args = [tool, mode, f"127.0.0.1:{port}", "--host-key-fingerprint", fp, "--json"] + extra
    return subprocess.Popen(pinned(args, tool_cpu), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def libssh_load(tool, tool_cpu, port, fp, extra):
    """Starts the libssh client's logins (bench/sidebyside/libssh_load.c), pinned to tool_cpu."""
    args = [tool, f"127.0.0.1:{port}", "--host-key-fingerprint", fp, "--json"] + extra
    return subprocess.Popen(pinned(args, tool_cpu), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(run, what, timeout=600):
    """The load's JSON report; exits the benchmark if the load failed."""
    out, err = run.communicate(timeout=timeout)
    if run.returncode != 0:
        raise SystemExit(f"{what} failed: {out.strip()[-400:]} {err.strip()[-400:]}")
    return json.loads(out.strip().splitlines()[-1])


def children(pid):
    """The processes whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except OSError:
                pass
    return out


class CpuGroup:
    """A control group of its own for one server, so that its CPU time is exact: every process
    and thread it ever ran (sshd's per-connection children too, after they are gone) is counted
    by the kernel. cgroup v1's cpuacct where it is mounted, else cgroup v2's cpu.stat."""

    V1 = "/sys/fs/cgroup/cpuacct"
    V2 = "/sys/fs/cgroup"

    def __init__(self, name):
        if os.path.isfile(os.path.join(self.V1, "cpuacct.usage")):
            self.v2 = False
            self.path = os.path.join(self.V1, name)
        elif os.path.isfile(os.path.join(self.V2, "cgroup.controllers")):
            self.v2 = True
            self.path = os.path.join(self.V2, name)
        else:
            raise SystemExit("no cgroup v1 cpuacct or cgroup v2 hierarchy: cannot count a server's CPU")
        os.mkdir(self.path)

    def join(self):
        """For preexec_fn: puts the calling (child) process in the group."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def pids(self):
        with open(os.path.join(self.path, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]

    def usage(self):
        """(CPU seconds, user seconds, system seconds) the group has used so far."""
        if self.v2:
            stat = dict(line.split() for line in open(os.path.join(self.path, "cpu.stat")))
            return (int(stat["usage_usec"]) / 1e6, int(stat["user_usec"]) / 1e6, int(stat["system_usec"]) / 1e6)
        with open(os.path.join(self.path, "cpuacct.usage")) as f:
            total = int(f.read()) / 1e9
        stat = dict(line.split() for line in open(os.path.join(self.path, "cpuacct.stat")))
        return total, int(stat["user"]) / TICK, int(stat["system"]) / TICK

    def settle(self, count, seconds=10):
        """Waits until the group is down to `count` processes (sshd's children gone)."""
        deadline = time.time() + seconds
        while len(self.pids()) > count and time.time() < deadline:
            time.sleep(0.05)

    def remove(self):
        for _ in range(100):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


def server_pids(proc):
    """A server's processes: the one started (taskset and setpriv exec it) and its children
    (parleyd's network process when separated)."""
    return [proc.pid] + children(proc.pid)


def process_cpu_seconds(pid):
    """CPU time of every thread of one process, from /proc/PID/task/TID/schedstat
    (nanoseconds, user and kernel together; clock ticks would be 10 ms); 0 if it is gone."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def cpu_seconds(proc):
    """CPU time of every thread of every process of the server."""
    return sum(process_cpu_seconds(pid) for pid in server_pids(proc))


def parleyd_ready(proc, separated):
    """Reads a starting parleyd's stdout: (port, ed25519 host key fingerprint), once it
    listens, having checked that it runs as one process or separated, as asked."""
    m = re.match(r"parleyd listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().decode())
    if not m:
        proc.kill()
        raise SystemExit("parleyd did not start")
    fingerprint = None
    for _ in range(8):
        f = re.match(r"host key: ssh-ed25519 (SHA256:\S+)", proc.stdout.readline().decode())
        if f:
            fingerprint = f.group(1)
            break
    if not fingerprint:
        raise SystemExit("parleyd printed no ed25519 host key")
    time.sleep(0.3)
    if len(server_pids(proc)) != (2 if separated else 1):
        raise SystemExit(f"parleyd {'is not' if separated else 'is'} privilege-separated: not what is measured")
    return int(m.group(1)), fingerprint


def rss_bytes(proc):
    """VmRSS of every process of the server, summed."""
    total = 0
    for pid in server_pids(proc):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total

#!/usr/bin/python3
"""Server CPU per keyboard-interactive login, side by side (issue 15), in one run.

Measures, alternating over R rounds, four servers doing the same login (connect,
curve25519-sha256 with ssh-ed25519, one keyboard-interactive round asking parleyd --demo's
Higher or Lower question, disconnect):
  - parleyd as root, privilege-separated (the default as root: monitor + network process);
  - parleyd as an ordinary user (nobody, through setpriv): one process;
  - OpenSSH's sshd (Debian's /usr/sbin/sshd, run as a copy named for its own PAM service, whose
    only auth module, bench/sidebyside/pam_hol.c, asks the same question), UsePAM yes;
  - the benchmark's libssh server (bench/sidebyside/libssh_server.c, a thread per connection).
Each is pinned to one CPU with the load on the other (taskset), and loaded twice: by
parley-load (bench/load) and by the libssh client (bench/sidebyside/libssh_load.c). A server's
CPU is that of its own cgroup (cpuacct, or cgroup v2's cpu.stat): every process and thread it
ran, sshd's forked and re-executed children included, user and kernel time apart. Each round
also runs the crypto floor (bench/sidebyside/crypto_floor.cpp) pinned to the server's CPU.

Then, unless --no-breakdown, a separate short pass per server (strace and perf distort CPU, so
they are not in the timed rounds), loaded by parley-load (or --breakdown-client libssh): system
calls per login (`strace -c -f` attached to every process of the server), heap allocations per login (uprobes
on libc's malloc, calloc and realloc, counted by `perf stat` attached to the server and
inherited by its new threads and children; a sanitizer build's allocations bypass libc and are
not counted), and for parleyd a `perf record` profile's top symbols.

Usage: server_cost.py BUILD_DIR [--logins N] [--concurrency C] [--rounds R]
                      [--breakdown-logins M] [--breakdown-client parley-load|libssh]
                      [--no-breakdown] [--no-profile] [--smoke] [--json]
BUILD_DIR holds apps/parleyd/parleyd, bench/load/parley-load and bench/sidebyside/*.
Run as root (privilege separation, sshd and the cgroups need it)."""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SERVERS = ("parleyd-separated", "parleyd-user", "sshd", "libssh")
LABELS = {"parleyd-separated": "parleyd, root, privilege-separated", "parleyd-user": "parleyd, ordinary user",
          "sshd": "OpenSSH sshd 9.2 (PAM)", "libssh": "libssh 0.10 server"}
CLIENTS = ("parley-load", "libssh")
SSHD = "/usr/sbin/sshd"
PROBES = ("probe_libc:malloc", "probe_libc:calloc", "probe_libc:realloc")


class Tools:
    def __init__(self, build):
        build = os.path.abspath(build)  # sshd's PAM service names the module by its full path
        self.parleyd = os.path.join(build, "apps/parleyd/parleyd")
        self.load = os.path.join(build, "bench/load/parley-load")
        side = os.path.join(build, "bench/sidebyside")
        self.floor = os.path.join(side, "parley-crypto-floor")
        self.libssh_server = os.path.join(side, "parley-libssh-server")
        self.libssh_load = os.path.join(side, "parley-libssh-load")
        self.pam_module = os.path.join(side, "pam_parley_hol.so")
        for path in (self.parleyd, self.load, self.floor, self.libssh_server, self.libssh_load,
                     self.pam_module, SSHD):
            if not os.access(path, os.R_OK):
                raise SystemExit(f"missing peer: {path} (build the targets parleyd parley-load "
                                 "parley-crypto-floor parley-libssh-server parley-libssh-load pam_parley_hol; "
                                 "openssh-server installed)")
        for tool in ("taskset", "setpriv", "strace", "perf", "ssh-keygen"):
            if shutil.which(tool) is None:
                raise SystemExit(f"missing tool: {tool} (scripts/install-deps.sh)")


class Setup:
    """The temporary files every server needs, and sshd's PAM service (removed at the end)."""

    def __init__(self, tools):
        self.tmp = tempfile.mkdtemp(prefix="parley-server-cost-")
        os.chmod(self.tmp, 0o711)  # nobody's parleyd reads its key in here
        self.key = os.path.join(self.tmp, "hostkey")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key], check=True)
        self.fp = benchlib.fingerprint(self.key)
        self.user_key = os.path.join(self.tmp, "hostkey-nobody")
        shutil.copy(self.key, self.user_key)
        shutil.chown(self.user_key, "nobody")
        os.chmod(self.user_key, 0o600)
        # sshd's PAM service is its program name: a copy of it, named for this run.
        self.service = f"parley-bench-sshd-{os.getpid()}"
        self.pam_file = os.path.join("/etc/pam.d", self.service)
        with open(self.pam_file, "x") as f:
            f.write("# bench/server_cost.py: Higher or Lower for sshd; removed when it ends\n"
                    f"auth required {tools.pam_module}\naccount required pam_permit.so\n"
                    "session required pam_permit.so\n")
        self.sshd = os.path.join(self.tmp, self.service)
        shutil.copy2(SSHD, self.sshd)
        os.makedirs("/run/sshd", 0o755, exist_ok=True)
        self.probes_added = []

    def sshd_config(self, port):
        path = os.path.join(self.tmp, f"sshd_config-{port}")
        with open(path, "w") as f:
            f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {self.key}\nPidFile none\n"
                    "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n"
                    "PubkeyAuthentication no\nKexAlgorithms curve25519-sha256\nHostKeyAlgorithms ssh-ed25519\n"
                    "MaxStartups 100000\nLogLevel ERROR\nUseDNS no\nPermitRootLogin no\n")
        return path

    def close(self):
        if os.path.exists(self.pam_file):
            os.remove(self.pam_file)
        for probe in self.probes_added:
            subprocess.run(["perf", "probe", "-q", "-d", probe], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Server:
    """One running server in a cgroup of its own, pinned to `cpu`."""

    def __init__(self, kind, tools, setup, cpu):
        self.kind, self.group = kind, benchlib.CpuGroup(f"parley-server-cost-{os.getpid()}-{kind}")
        self.user = "nobody" if kind == "sshd" else "admin"
        parleyd = [tools.parleyd, "--demo", "--port", "0", "--per-source-penalties", "no",
                   "--max-startups", "100000", "--log-level", "warn", "--host-key"]
        if kind == "parleyd-separated":
            args = parleyd + [setup.key]
        elif kind == "parleyd-user":
            args = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"] + parleyd + [setup.user_key]
        elif kind == "sshd":
            self.port = benchlib.free_port()
            args = [setup.sshd, "-D", "-e", "-f", setup.sshd_config(self.port)]
        else:
            args = [tools.libssh_server, "--host-key", setup.key, "--port", "0"]
        self.log = open(os.path.join(setup.tmp, f"{kind}.log"), "ab")
        self.proc = subprocess.Popen(benchlib.pinned(args, cpu), stdout=subprocess.PIPE, stderr=self.log,
                                     stdin=subprocess.DEVNULL, preexec_fn=self.group.join)
        try:
            self.started()
        except BaseException:
            self.stop()
            raise

    def started(self):
        if self.kind == "sshd":
            if not benchlib.wait_for_port(self.port, self.proc):
                raise SystemExit(f"sshd did not start (log: {self.log.name})")
        else:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.proc.stdout.readline().decode())
            if not m:
                raise SystemExit(f"{self.kind} did not start (log: {self.log.name})")
            self.port = int(m.group(1))
        # At rest: parleyd separated is two processes, the others one (sshd's children for the
        # connection that saw it listening gone).
        time.sleep(0.3)
        self.idle = 2 if self.kind == "parleyd-separated" else 1
        self.group.settle(self.idle)
        if len(self.group.pids()) != self.idle:
            raise SystemExit(f"{self.kind}: {len(self.group.pids())} processes, expected {self.idle}: not what is measured")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in self.group.pids():  # what the server left behind (sshd's children)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.group.settle(0)
        self.group.remove()
        self.log.close()


def run_load(a, tools, server, client, tool_cpu, logins, concurrency):
    extra = ["--count", str(logins), "--concurrency", str(concurrency), "--user", server.user]
    if client == "parley-load":
        run = benchlib.load(tools.load, tool_cpu, "rate", server.port, a.fp, extra)
    else:
        run = benchlib.libssh_load(tools.libssh_load, tool_cpu, server.port, a.fp, extra)
    try:
        r = benchlib.result(run, f"{client} against {server.kind}")
        if r["succeeded"] != logins:
            raise SystemExit(f"{client} against {server.kind}: only {r['succeeded']} of {logins} logins succeeded")
    except SystemExit as e:
        server.log.flush()
        with open(server.log.name, errors="replace") as f:
            raise SystemExit(f"{e}\n{server.kind}'s log (tail): {f.read()[-1500:]}") from None


def cpu_per_login(a, tools, server, client, tool_cpu):
    """(total, user, system) seconds of the server's CPU per login under the client's load."""
    server.group.settle(server.idle)
    before = server.group.usage()
    run_load(a, tools, server, client, tool_cpu, a.logins, a.concurrency)
    server.group.settle(server.idle)
    after = server.group.usage()
    return [(y - x) / a.logins for x, y in zip(before, after)]


def crypto_floor(a, tools, cpu):
    args = [tools.floor, "--json", "--logins", str(a.floor_logins), "--repetitions", "5"]
    out = subprocess.run(benchlib.pinned(args, cpu), capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["floor_us"] / 1e6


def round_of(a, tools, setup, r, cpu_pair):
    server_cpu, tool_cpu = cpu_pair
    out = {"floor": crypto_floor(a, tools, server_cpu), "servers": {}}
    order = SERVERS[r % len(SERVERS):] + SERVERS[:r % len(SERVERS)]
    for kind in order:
        server = Server(kind, tools, setup, server_cpu)
        try:
            run_load(a, tools, server, "parley-load", tool_cpu, a.warm, min(a.concurrency, a.warm))
            out["servers"][kind] = {c: cpu_per_login(a, tools, server, c, tool_cpu) for c in CLIENTS}
        finally:
            server.stop()
        m = out["servers"][kind]
        print(f"round {r + 1} {kind:18} " + ", ".join(f"{m[c][0] * 1e6:6.0f} us/login ({c})" for c in CLIENTS),
              file=sys.stderr, flush=True)
    print(f"round {r + 1} crypto floor       {out['floor'] * 1e6:6.1f} us/login", file=sys.stderr, flush=True)
    return out


# ---- the breakdown: a separate pass per server, loaded by parley-load (--breakdown-client) ----

def traced(pids):
    """True once every thread of every process in `pids` has a tracer (strace attached)."""
    for pid in pids:
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/status") as f:
                    if re.search(r"^TracerPid:\s+0$", f.read(), re.M):
                        return False
        except FileNotFoundError:  # gone meanwhile: nothing left to trace
            pass
    return True


def attach_and_load(a, tools, server, tool_cpu, command):
    """Runs `command` (strace/perf attached to every process of the server) over M logins and
    stops it with SIGINT; returns nothing (the command writes its own output file)."""
    server.group.settle(server.idle)
    pids = server.group.pids()
    tracer = subprocess.Popen(command(pids), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while command(pids)[0] == "strace" and not traced(pids) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # perf: its counters are open by then
    if tracer.poll() is not None or (command(pids)[0] == "strace" and not traced(pids)):
        raise SystemExit(f"{command(pids)[0]} could not attach to {server.kind}: {tracer.stderr.read()[-400:]}")
    run_load(a, tools, server, a.breakdown_client, tool_cpu, a.breakdown_logins, a.concurrency)
    server.group.settle(len(pids))
    tracer.send_signal(signal.SIGINT)
    _, err = tracer.communicate(timeout=120)
    return err


def syscalls(a, tools, server, tool_cpu, tmp):
    out = os.path.join(tmp, f"strace-{server.kind}")
    attach_and_load(a, tools, server, tool_cpu,
                    lambda pids: ["strace", "-c", "-f", "-q", "-o", out] + [x for p in pids for x in ("-p", str(p))])
    rows = {}
    for line in open(out):
        f = line.split()
        if len(f) >= 5 and re.match(r"^\d+\.\d+$", f[0]) and f[3].isdigit():
            rows[f[-1]] = int(f[3])
    total = rows.pop("total", None)
    if total is None:
        raise SystemExit(f"strace -c gave no total for {server.kind}")
    top = sorted(rows.items(), key=lambda kv: -kv[1])[:8]
    n = a.breakdown_logins
    spawned = {"clones": sum(rows.get(k, 0) for k in ("clone", "clone3", "fork", "vfork")) / n,
               "execs": rows.get("execve", 0) / n}
    return total / n, {k: v / n for k, v in top}, spawned


def ensure_probes(setup):
    have = subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True).stdout
    libc = next((p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6")
                 if os.path.exists(p)), None)
    for probe in PROBES:
        if probe not in have:
            fn = probe.split(":")[1]
            r = subprocess.run(["perf", "probe", "-q", "-x", libc or "libc.so.6", "-a", fn], capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"perf probe on libc's {fn} failed: {r.stderr.strip()}")
            setup.probes_added.append(probe)


def allocations(a, tools, server, tool_cpu, tmp):
    out = os.path.join(tmp, f"perf-stat-{server.kind}")
    attach_and_load(a, tools, server, tool_cpu,
                    lambda pids: ["perf", "stat", "-x", ",", "-o", out, "-e", ",".join(PROBES),
                                  "-p", ",".join(map(str, pids))])
    total = 0
    for line in open(out):
        f = line.strip().split(",")
        if len(f) > 2 and f[2] in PROBES and f[0].isdigit():
            total += int(f[0])
    return total / a.breakdown_logins


def profile(a, tools, server, tool_cpu, tmp):
    data = os.path.join(tmp, f"perf-{server.kind}.data")
    attach_and_load(a, tools, server, tool_cpu,
                    lambda pids: ["perf", "record", "-q", "-F", "2999", "-o", data, "-p", ",".join(map(str, pids))])
    def report(sort, limit):
        return subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", sort,
                               "--percent-limit", limit, "-q"], capture_output=True, text=True).stdout.splitlines()
    dsos = []
    for line in report("dso", "0.5"):
        m = re.match(r"\s*(\d+\.\d+)%\s+(\S+)", line)
        if m:
            dsos.append((float(m.group(1)), "kernel" if m.group(2).startswith("[kernel") else m.group(2)))
    top = []
    for line in report("dso,symbol", "1.0"):
        m = re.match(r"\s*(\d+\.\d+)%\s+(\S+)\s+\[(.)\]\s+(.+?)(\s{2,}.*)?$", line)
        if m:
            where = "kernel" if m.group(3) == "k" else m.group(2)
            top.append((float(m.group(1)), where, m.group(4).strip()))
    return {"dsos": dsos[:8], "symbols": top[:12]}


def sanitized(binary):
    """True if `binary` was built with AddressSanitizer (its allocations bypass libc's malloc)."""
    return "libasan" in subprocess.run(["ldd", binary], capture_output=True, text=True).stdout


def breakdown(a, tools, setup, cpu_pair):
    server_cpu, tool_cpu = cpu_pair
    ensure_probes(setup)
    out = {}
    for kind in SERVERS:
        server = Server(kind, tools, setup, server_cpu)
        try:
            run_load(a, tools, server, "parley-load", tool_cpu, a.warm, min(a.concurrency, a.warm))
            calls, top, spawned = syscalls(a, tools, server, tool_cpu, setup.tmp)
            binary = {"sshd": SSHD, "libssh": tools.libssh_server}.get(kind, tools.parleyd)
            allocs = None if sanitized(binary) else allocations(a, tools, server, tool_cpu, setup.tmp)
            prof = profile(a, tools, server, tool_cpu, setup.tmp) if kind.startswith("parleyd") and a.profile else None
        finally:
            server.stop()
        out[kind] = {"syscalls_per_login": calls, "top_syscalls": top, "allocations_per_login": allocs,
                     "profile": prof, **spawned}
        print(f"breakdown {kind:18} {calls:7.1f} system calls/login, "
              f"{'n/a (sanitizer build)' if allocs is None else f'{allocs:.0f}'} allocations/login",
              file=sys.stderr, flush=True)
    return out


# ---- the report ------------------------------------------------------------------------------

def summarise(rounds):
    floor = statistics.median(r["floor"] for r in rounds)
    servers = {}
    for kind in SERVERS:
        s = {}
        for c in CLIENTS:
            per = [r["servers"][kind][c] for r in rounds]
            s[c] = {"cpu_us": statistics.median(p[0] for p in per) * 1e6,
                    "user_us": statistics.median(p[1] for p in per) * 1e6,
                    "system_us": statistics.median(p[2] for p in per) * 1e6,
                    "rounds_us": [p[0] * 1e6 for p in per]}
        servers[kind] = s
    for kind in SERVERS:
        for c in CLIENTS:
            s = servers[kind][c]
            s["x_floor"] = s["cpu_us"] / (floor * 1e6)
            s["vs_libssh"] = s["cpu_us"] / servers["libssh"][c]["cpu_us"]
    return {"floor_us": floor * 1e6, "floor_rounds_us": [r["floor"] * 1e6 for r in rounds], "servers": servers}


def table(summary):
    """The report as Markdown tables, from what summarise() and breakdown() gave."""
    f, parts = summary["floor_us"], summary["breakdown"]
    lines = [f"crypto floor (same run, median of {summary['rounds']} rounds): {f:.1f} us per login; "
             f"{summary['logins']} logins per server and client per round, {summary['concurrency']} at once", "",
             f"| server | CPU per login, parley-load | × floor | ÷ libssh | CPU per login, libssh client "
             f"| × floor | ÷ libssh | user / kernel (parley-load) |",
             "|---|---|---|---|---|---|---|---|"]
    for kind in SERVERS:
        s = summary["servers"][kind]
        p, l_ = s["parley-load"], s["libssh"]
        lines.append(f"| {LABELS[kind]} | {p['cpu_us']:.0f} µs | {p['x_floor']:.2f}× | {p['vs_libssh']:.2f} "
                     f"| {l_['cpu_us']:.0f} µs | {l_['x_floor']:.2f}× | {l_['vs_libssh']:.2f} "
                     f"| {p['user_us']:.0f} / {p['system_us']:.0f} µs |")
    if parts:
        lines += ["", "| server | system calls per login | most frequent | processes or threads started, "
                  "execve, per login | heap allocations per login |", "|---|---|---|---|---|"]
        for kind in SERVERS:
            b = parts[kind]
            top = ", ".join(f"{k} {v:.1f}" for k, v in list(b["top_syscalls"].items())[:5])
            allocs = "n/a (sanitizer build)" if b["allocations_per_login"] is None else f"{b['allocations_per_login']:.0f}"
            lines.append(f"| {LABELS[kind]} | {b['syscalls_per_login']:.1f} | {top} | {b['clones']:.2f}, "
                         f"{b['execs']:.2f} | {allocs} |")
        for kind in SERVERS:
            prof = parts[kind]["profile"]
            if prof:
                lines += ["", f"perf, {LABELS[kind]}: " + ", ".join(f"{d} {p:.0f}%" for p, d in prof["dsos"]),
                          "  top symbols (self time; libcrypto's internal ones are unnamed without its debug symbols):"]
                lines += [f"  {pct:5.1f}%  {dso:22} {sym}" for pct, dso, sym in prof["symbols"]]
    return "\n".join(lines)


def arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("build", help="the build directory (apps/parleyd, bench/load, bench/sidebyside)")
    p.add_argument("--logins", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--breakdown-logins", type=int, default=500)
    p.add_argument("--no-breakdown", action="store_true")
    p.add_argument("--breakdown-client", choices=CLIENTS, default="parley-load",
                   help="the load of the breakdown pass (default parley-load)")
    p.add_argument("--no-profile", dest="profile", action="store_false")
    p.add_argument("--smoke", action="store_true", help="few logins, one round: for the test")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    a.warm, a.floor_logins = 100, 2000
    if a.smoke:
        a.logins, a.concurrency, a.rounds, a.breakdown_logins, a.warm, a.floor_logins = 40, 8, 1, 20, 10, 200
    return a


def main():
    a = arguments()
    if os.geteuid() != 0:
        raise SystemExit("run as root: privilege separation, sshd and the cgroups need it")
    # ctest's timeout sends SIGTERM: leave through `finally`, which undoes the setup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("server_cost: terminated"))
    tools = Tools(a.build)
    cpu_pair = benchlib.cpus()
    if cpu_pair[0] is None:
        print("one CPU: servers and load share it, unpinned", file=sys.stderr)
    setup = Setup(tools)
    a.fp = setup.fp
    try:
        rounds = [round_of(a, tools, setup, r, cpu_pair) for r in range(a.rounds)]
        parts = None if a.no_breakdown else breakdown(a, tools, setup, cpu_pair)
    finally:
        setup.close()
    summary = summarise(rounds)
    summary.update({"logins": a.logins, "concurrency": a.concurrency, "rounds": a.rounds,
                    "breakdown_logins": a.breakdown_logins, "breakdown_client": a.breakdown_client,
                    "breakdown": parts})
    if a.json:
        print(json.dumps(summary))
    else:
        print(table(summary))


if __name__ == "__main__":
    sys.exit(main())

"""What the parleyd benchmarks share: starting parleyd (as root, separated or not, or as an
ordinary user), finding its processes, reading their CPU time and resident memory from /proc,
running parley-load and holding idle connections while the server's memory is read.
Used by bench/idle_memory.py and tests/acceptance/idle_connections.py. The CPUs, a server's
processes, CPU time and memory, and the load's report come from bench/benchlib.py (shared
with bench/server_cost.py and bench/privsep_cost.py) and are re-exported here."""
import argparse
import os
import pwd
import re
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, cpus, result, rss_bytes, server_pids as pids  # noqa: E402,F401


# The deployments issue 15 measures: (name, run as root, privilege-separated).
AS_ROOT_SEPARATED = ("separated", True, True)
AS_ROOT_ONE_PROCESS = ("one process", True, False)
AS_USER = ("ordinary user", False, False)


DEPLOYMENTS = {"separated": AS_ROOT_SEPARATED, "one": AS_ROOT_ONE_PROCESS, "user": AS_USER}


def deployment_arguments():
    """The command line every per-deployment benchmark starts with: PARLEYD PARLEY_LOAD,
    --rounds and --deployments (names of DEPLOYMENTS, comma-separated)."""
    p = argparse.ArgumentParser()
    p.add_argument("parleyd")
    p.add_argument("load", help="parley-load (bench/load)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--deployments", default="separated,one,user")
    return p


def chosen_deployments(a):
    return [DEPLOYMENTS[d] for d in a.deployments.split(",")]


def ordinary_user():
    """The account parleyd runs as when it is not root: nobody."""
    return pwd.getpwnam("nobody")


def host_key(directory):
    """An ed25519 host key in `directory` that an ordinary user (nobody) can read too."""
    key = os.path.join(directory, "hostkey")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    if os.geteuid() == 0:
        user = ordinary_user()
        os.chmod(directory, 0o755)
        os.chown(key, user.pw_uid, user.pw_gid)
    return key


def start(parleyd, key, server_cpu, root=True, separated=False, extra=(), log_level="warn", wait_for=None,
          nofile=None):
    """Starts parleyd --demo on an ephemeral loopback port; returns (proc, port, fingerprint,
    lines) where lines are what it printed (stdout and log) up to its host key, or up to a line
    matching the regex `wait_for`. As root with separated=False it runs as one process;
    root=False runs it as nobody (one process, as any user). `nofile` = (soft, hard) sets its
    open-file limits before it starts."""
    args = [parleyd, "--demo", "--port", "0", "--host-key", key, "--per-source-penalties", "no",
            "--max-startups", "100000", "--log-level", log_level] + list(extra)
    if root and not separated:
        args.append("--no-privilege-separation")
    if not root:
        user = ordinary_user()
        args = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"] + args
    if server_cpu is not None:
        args = ["taskset", "-c", str(server_cpu)] + args
    limits = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)) if nofile else None
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=limits)
    lines, port, fingerprint = [], None, None
    for _ in range(40):
        line = proc.stdout.readline().decode()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        m = re.search(r"parleyd listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
        f = re.match(r"host key: ssh-ed25519 (SHA256:\S+)", line)
        if f:
            fingerprint = f.group(1)
        if fingerprint and (wait_for is None or re.search(wait_for, line)):
            break
    if port is None or fingerprint is None or (wait_for and not (lines and re.search(wait_for, lines[-1]))):
        proc.kill()
        raise SystemExit("parleyd did not start: " + " | ".join(lines))
    # Read on in the background so a full pipe never stops the server.
    drain = subprocess.Popen(["cat"], stdin=proc.stdout, stdout=subprocess.DEVNULL)
    proc.stdout.close()
    proc.drain = drain
    time.sleep(0.3)
    expected = 2 if root and separated else 1
    if len(pids(proc)) != expected:
        raise SystemExit(f"parleyd runs {len(pids(proc))} processes, {expected} expected: not what is measured")
    return proc, port, fingerprint, lines


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)
    proc.drain.wait(timeout=10)


def load(tool, tool_cpu, mode, port, fingerprint, extra):
    args = [tool, mode, f"127.0.0.1:{port}", "--host-key-fingerprint", fingerprint, "--json"] + list(extra)
    if tool_cpu is not None:
        args = ["taskset", "-c", str(tool_cpu)] + args
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True)


def settled_rss(proc, first_wait=2.0, step=0.25, tries=20):
    """The server's RSS once it stops growing (every connection logged in)."""
    time.sleep(first_wait)
    last = rss_bytes(proc)
    for _ in range(tries):
        time.sleep(step)
        now = rss_bytes(proc)
        if now == last:
            break
        last = now
    return last


def hold(proc, tool, tool_cpu, port, fp, count, concurrency=100, while_held=None, extra=()):
    """Holds `count` authenticated idle connections (parley-load hold, ended by closing its
    stdin once the server's RSS has settled and `while_held(proc)` has run), checks that every
    one answered a channel request at the end, and returns (RSS growth per connection in
    bytes, while_held's value, the tool's JSON result)."""
    rss0 = rss_bytes(proc)
    run = load(tool, tool_cpu, "hold", port, fp, ["--count", str(count), "--concurrency", str(concurrency),
                                                  "--check", "channel", *extra])
    # Logged in at a few hundred per second: wait until the server holds them all.
    deadline = time.monotonic() + 60 + count / 100
    while connections(port) < count and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.5)
    held_rss = settled_rss(proc)
    extra = while_held(proc) if while_held else None
    r = result(run, "hold")  # closes its stdin, which ends the hold: every connection is checked, then closed
    if r.get("held") != count or r.get("answered") != count:
        raise SystemExit(f"hold: {r.get('held')} held, {r.get('answered')} answered of {count}: {r}")
    return (held_rss - rss0) / count, extra, r


def connections(port):
    """Established TCP connections on the server's side of `port`."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"sport = :{port}"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())

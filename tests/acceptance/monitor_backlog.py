#!/usr/bin/python3
"""A burst of logins that outruns the monitor's socketpair, against parleyd separated (as
root). The kernel queues few datagrams on a SOCK_SEQPACKET socketpair (net.unix.max_dgram_qlen,
10 here), so at concurrency 200 the monitor's replies and the network process's requests
both find the other's socket full. Each side must then wait for room and send the rest in
order; before, the monitor took the first full socket for a dead network process and the
whole server exited mid-burst (the load tool counted connect_refused by the thousand).
Checks: every login of the burst succeeds, both processes are still there, and a login after
the burst still works.

Usage: monitor_backlog.py PARLEYD PARLEY_LOAD"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check, children, finish, start_parleyd, stop  # noqa: E402

PARLEYD, LOAD = sys.argv[1], sys.argv[2]


def fingerprint(pub):
    out = subprocess.run(["/usr/bin/ssh-keygen", "-lf", pub], capture_output=True, check=True).stdout
    return out.decode().split()[1]


def rate(target, fp, count, concurrency):
    r = subprocess.run([LOAD, "rate", target, "--host-key-fingerprint", fp, "--count", str(count),
                        "--concurrency", str(concurrency), "--json"],
                       capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    line = (r.stdout.decode().strip().splitlines() or ["{}"])[-1]
    print(f"  parley-load rate --count {count} --concurrency {concurrency} -> {r.returncode} {line}", flush=True)
    return r.returncode, json.loads(line)


def main():
    if os.geteuid() != 0:
        check(False, "monitor_backlog.py must run as root (CI does): separation needs it")
        return finish("monitor_backlog")
    with open("/proc/sys/net/unix/max_dgram_qlen") as f:
        qlen = int(f.read())
    print(f"  net.unix.max_dgram_qlen = {qlen}")
    tmp = tempfile.mkdtemp(prefix="parley-backlog-")
    log = os.path.join(tmp, "parleyd.log")
    proc, port = start_parleyd(PARLEYD, tmp, ["--demo", "--max-startups", "100000"], log)
    target = f"127.0.0.1:{port}"
    fp = fingerprint(os.path.join(tmp, "hostkey.pub"))
    try:
        check(len(children(proc.pid)) == 1, "parleyd runs separated (one network process)")
        # Many more logins in flight than the socketpair queues, several times over.
        count = max(1000, 40 * qlen)
        rc, r = rate(target, fp, count, 200)
        check(rc == 0 and r.get("succeeded") == count and r.get("failed") == 0,
              f"{count} logins at concurrency 200 all succeed through the monitor")
        check(proc.poll() is None and len(children(proc.pid)) == 1,
              "the monitor and the network process are both still running after the burst")
        rc, r = rate(target, fp, 5, 1)
        check(rc == 0 and r.get("succeeded") == 5, "logins after the burst still succeed")
        with open(log, errors="replace") as f:
            text = f.read()
        check("network process has gone" not in text and "exited with status" not in text,
              "neither process reported the other gone while serving (the log before the stop)")
    finally:
        stop(proc)
    return finish("monitor_backlog")


if __name__ == "__main__":
    sys.exit(main())

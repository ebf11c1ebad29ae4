#!/usr/bin/python3
"""First, that the benchmark's own peers do the work it claims: sshd (through the PAM module)
and the libssh server, like parleyd --demo, let in an asyncssh client answering Higher or
Lower rightly and refuse one answering wrongly; the libssh server holds logged-in connections
and answers a session channel's request (parley-load hold --check channel). Then bench/server_cost.py in its smoke mode
(few logins, one round), against the real servers:
parleyd (root, privilege-separated, and as nobody), OpenSSH's sshd with the Higher or Lower
PAM module, and the benchmark's libssh server, each loaded by parley-load and by the libssh
client. Checks that the run ends well and that every figure it reports is there and plausible:
the crypto floor; for every server and both clients a CPU per login above the floor (a login
does at least its cryptography) and below 100 ms; a breakdown with system calls per login,
heap allocations per login where the server's allocations go through libc (sshd's always do;
a sanitizer build's do not), and a perf profile for parleyd. A missing peer fails the run.
Needs root. Usage: server_cost.py BUILD_DIR"""
import json
import os
import re
import subprocess
import sys

import asyncio

import asyncssh

from common import check, finish

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")
SCRIPT = os.path.join(BENCH, "server_cost.py")
SERVERS = ("parleyd-separated", "parleyd-user", "sshd", "libssh")
sys.path.insert(0, BENCH)
import server_cost  # noqa: E402


def kbdint(port, user, right):
    """A keyboard-interactive login with asyncssh answering the Higher or Lower question rightly
    or wrongly (the smaller number); True if the server accepted it."""
    class Client(asyncssh.SSHClient):
        asked = 0

        def kbdint_auth_requested(self):
            return ""

        def kbdint_challenge_received(self, name, instructions, lang, prompts):
            if not prompts:
                return []  # sshd's PAM rounds end with an empty request
            self.asked += 1
            if self.asked > 1:
                return None  # asked again: the answer was refused; stop here
            answers = []
            for text, _echo in prompts:
                m = re.search(r"What is the highest number: (\d+) or (\d+)\? $", text)
                if not m:
                    return ["?"]
                a, b = int(m.group(1)), int(m.group(2))
                answers.append(str(max(a, b) if right else min(a, b)))
            return answers

    async def login():
        try:
            conn, _ = await asyncio.wait_for(asyncssh.create_connection(
                Client, "127.0.0.1", port, username=user, known_hosts=None, client_keys=None,
                password=None, preferred_auth="keyboard-interactive", kex_algs=["curve25519-sha256"]), 20)
        except (asyncssh.PermissionDenied, asyncssh.DisconnectError):
            return False
        conn.close()
        await conn.wait_closed()
        return True
    return asyncio.run(login())


def peers_ask_the_question(build):
    """The benchmark's own peers do the work the benchmark claims: sshd through the PAM module
    and the libssh server ask Higher or Lower and refuse a wrong answer, as parleyd --demo does."""
    tools = server_cost.Tools(build)
    setup = server_cost.Setup(tools)
    try:
        for kind in ("sshd", "libssh", "parleyd-user"):
            server = server_cost.Server(kind, tools, setup, None)
            try:
                check(kbdint(server.port, server.user, True), f"{kind}: the right Higher or Lower answer logs in")
                check(not kbdint(server.port, server.user, False), f"{kind}: a wrong answer is refused")
                if kind == "libssh":
                    hold = subprocess.run([tools.load, "hold", f"127.0.0.1:{server.port}", "--host-key-fingerprint",
                                           setup.fp, "--count", "5", "--hold-seconds", "1", "--check", "channel",
                                           "--json"], capture_output=True, text=True, timeout=60)
                    r = json.loads(hold.stdout.strip().splitlines()[-1]) if hold.stdout.strip() else {}
                    ok = hold.returncode == 0 and r.get("held") == 5 and r.get("answered") == 5
                    check(ok, "libssh: parley-load hold --check channel: 5 held, each opening a session channel "
                              "whose request is answered" + ("" if ok else f" ({hold.stdout.strip()[-300:]})"))
            finally:
                server.stop()
    finally:
        setup.close()


def main():
    build = sys.argv[1]
    peers_ask_the_question(build)
    r = subprocess.run(["/usr/bin/python3", SCRIPT, build, "--smoke", "--json"], capture_output=True,
                       text=True, timeout=280)
    print(r.stderr.strip()[-3000:], flush=True)
    check(r.returncode == 0, f"server_cost.py --smoke ends well (status {r.returncode})")
    if r.returncode != 0:
        return finish("server_cost")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    floor = out.get("floor_us") or 0
    check(5 < floor < 5000, f"the crypto floor is measured: {floor:.1f} us per login")
    for kind in SERVERS:
        for client in ("parley-load", "libssh"):
            s = out["servers"].get(kind, {}).get(client, {})
            cpu = s.get("cpu_us", 0)
            check(floor < cpu < 100_000, f"{kind}, loaded by {client}: {cpu:.0f} us CPU per login, "
                                         f"above the floor ({floor:.0f} us) and below 100 ms")
            check(s.get("user_us", -1) >= 0 and s.get("system_us", -1) >= 0 and "vs_libssh" in s,
                  f"{kind}, {client}: user and kernel time and the ratio to libssh are reported")
        b = (out.get("breakdown") or {}).get(kind, {})
        calls = b.get("syscalls_per_login", 0)
        check(10 < calls < 20_000, f"{kind}: {calls:.1f} system calls per login (strace -c)")
        allocs = b.get("allocations_per_login")
        if kind == "sshd" or allocs is not None:
            check(allocs is not None and allocs > 10, f"{kind}: {allocs} heap allocations per login (libc uprobes)")
        if kind.startswith("parleyd"):
            check(bool((b.get("profile") or {}).get("dsos")), f"{kind}: a perf profile (time per library, top symbols)")
    return finish("server_cost")


if __name__ == "__main__":
    sys.exit(main())

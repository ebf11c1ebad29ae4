#!/usr/bin/python3
"""An AsyncSSH server for parley's client interop test (asyncssh_client_interop_test).

Run it with Debian's /usr/bin/python3 (python3-asyncssh):

    /usr/bin/python3 asyncssh_kbdint_server.py [PORT]

It listens on 127.0.0.1:PORT (0 or no argument: any free port), with a fresh
Ed25519 host key, and prints two lines on stdout once ready:

    host key ssh-ed25519 AAAA...
    listening on PORT

Only keyboard-interactive authentication is offered, as a three-round
challenge for user "alice":

    round 1: name "Welcome", instruction "Please read this notice.", no prompts
    round 2: "Password: " (no echo)               -> "s3cret"
    round 3: "Verification code: " (no echo)      -> "123456"
             "Favourite colour: " (echo)          -> "blue"

Any wrong answer (or a wrong number of answers) fails the attempt. After login,
exec "greet" writes "hello USER\\n" and exits 7; exec "cat" copies stdin to
stdout until EOF and exits 0; anything else exits 127. Channels get a 64 KiB
receive window, so large input exercises the client's flow control.

Logs go to stderr. Answers are never logged (only how many there were).
"""

import asyncio
import sys
import warnings

# Debian's cryptography warns about Blowfish, CAST5, ... when asyncssh imports them.
warnings.filterwarnings("ignore")

import asyncssh  # noqa: E402

USER = "alice"
PASSWORD = "s3cret"
CODE = "123456"
COLOUR = "blue"

ROUNDS = [
    # (name, instruction, lang, prompts), and the answers that round expects.
    (("Welcome", "Please read this notice.", "", []), []),
    (("", "", "", [("Password: ", False)]), [PASSWORD]),
    (("", "", "", [("Verification code: ", False), ("Favourite colour: ", True)]), [CODE, COLOUR]),
]


def log(*args):
    print("asyncssh_kbdint_server:", *args, file=sys.stderr, flush=True)


class KbdIntServer(asyncssh.SSHServer):
    """One per connection: keeps the round of the attempt in progress."""

    def __init__(self):
        self._round = 0  # index into ROUNDS of the challenge last sent
        self._ok = False

    def connection_made(self, conn):
        log("connection from", conn.get_extra_info("peername"))

    def connection_lost(self, exc):
        log("connection lost:", exc if exc else "closed")

    def begin_auth(self, username):
        log("begin_auth for", repr(username))
        return True

    def public_key_auth_supported(self):
        return False

    def password_auth_supported(self):
        return False

    def kbdint_auth_supported(self):
        return True

    def get_kbdint_challenge(self, username, lang, submethods):
        log("keyboard-interactive attempt for", repr(username))
        if username != USER:
            return False
        self._round = 0
        return ROUNDS[0][0]

    def validate_kbdint_response(self, username, responses):
        expected = ROUNDS[self._round][1]
        number = self._round + 1
        if username != USER or list(responses) != expected:
            log(f"round {number}: {len(responses)} answer(s), rejected")
            return False
        log(f"round {number}: {len(responses)} answer(s), accepted")
        self._round += 1
        if self._round == len(ROUNDS):
            log("authenticated", repr(username))
            return True
        return ROUNDS[self._round][0]


async def handle_process(process):
    user = process.get_extra_info("username")
    command = process.command
    log("exec", repr(command), "for", repr(user))
    if command == "greet":
        process.stdout.write(f"hello {user}\n".encode())
        process.exit(7)
    elif command == "cat":
        total = 0
        while True:
            data = await process.stdin.read(65536)
            if not data:
                break
            total += len(data)
            process.stdout.write(data)
            await process.stdout.drain()
        log("cat copied", total, "bytes")
        process.exit(0)
    else:
        process.stderr.write(f"unknown command: {command!r}\n".encode())
        process.exit(127)


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(
        KbdIntServer,
        "127.0.0.1",
        port,
        server_host_keys=[host_key],
        process_factory=handle_process,
        encoding=None,  # bytes: "cat" must copy binary data unchanged
        login_timeout=30,
        # A 64 KiB receive window, so a client sending 1 MiB to "cat" must wait
        # for window adjusts (AsyncSSH's default of 2 MiB would take it at once).
        window=64 * 1024,
    )
    port = server.sockets[0].getsockname()[1]
    public = host_key.export_public_key("openssh").decode().split()
    print("host key", public[0], public[1], flush=True)
    print(f"listening on {port}", flush=True)
    log("listening on", port, "asyncssh", asyncssh.__version__)
    await asyncio.get_running_loop().create_future()  # serve until killed


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass

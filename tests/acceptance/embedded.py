"""The embedding API with real OpenSSH: examples/command_shell_server.cpp serves
sessions from the application itself (a built-in command shell, no process).
Usage: embedded.py EXAMPLE_COMMAND_SHELL_SERVER"""
import re
import socket
import subprocess
import sys

import pexpect

from common import SSH, answer_question, check, finish


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ssh(port, *extra):
    args = ["-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=error", *extra]
    return pexpect.spawn(SSH, args, timeout=20)


def main():
    example = sys.argv[1]
    port = free_port()
    server = subprocess.Popen([example, str(port)], stdout=subprocess.PIPE)
    check(re.match(rb"listening on 127\.0\.0\.1:\d+", server.stdout.readline()) is not None,
          "the example server starts")
    try:
        # An interactive session on a terminal: the shell echoes and edits the line.
        child = ssh(port, "-tt", "admin@127.0.0.1")
        answer_question(child, True)
        check(child.expect([b"parley command shell", pexpect.EOF, pexpect.TIMEOUT]) == 0,
              "the built-in shell greets the user")
        child.expect(b"admin> ")
        child.send(b"whoami\r")
        check(child.expect([b"\r\nadmin\r\n", pexpect.TIMEOUT]) == 0, "whoami answers admin")
        child.expect(b"admin> ")
        child.send(b"echo helo\x7flo\r")  # with a backspace
        check(child.expect([b"\r\nhello\r\n", pexpect.TIMEOUT]) == 0, "echo with line editing")
        child.expect(b"admin> ")
        child.send(b"width\r")
        check(child.expect([b"\r\n80\r\n", pexpect.TIMEOUT]) == 0,
              "the terminal width from pty-req reaches the handler")
        child.expect(b"admin> ")
        child.send(b"exit 4\r")
        child.expect(pexpect.EOF)
        child.close()
        check(child.exitstatus == 4, f"exit 4 ends the session with status 4 (got {child.exitstatus})")

        # exec: one command, its output and status, no terminal.
        for command, output, status in ((b"echo hi there", b"hi there", 0), (b"exit 5", None, 5),
                                        (b"frobnicate", b"frobnicate: unknown command", 127)):
            child = ssh(port, "admin@127.0.0.1", command.decode())
            answer_question(child, True)
            child.expect(pexpect.EOF)
            text = child.before
            child.close()
            if output is not None:
                check(output in text, f"exec '{command.decode()}' prints {output.decode()!r}")
            check(child.exitstatus == status,
                  f"exec '{command.decode()}' exits {status} (got {child.exitstatus})")
    finally:
        server.kill()
        server.wait()
    return finish("embedded")


if __name__ == "__main__":
    sys.exit(main())

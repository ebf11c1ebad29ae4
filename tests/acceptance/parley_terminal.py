#!/usr/bin/python3
"""Issue 11, item 5: `parley` at a real terminal behaves as `ssh` does. parley runs in a
tmux pane and is driven with keys sent as a person types them (Enter is CR, as a
terminal sends it), against parleyd (Higher or Lower) and against real OpenSSH sshd
(a test user's password), each without a command (a shell with a pty) and with a
command, with and without -t. Checked from the pane itself (capture-pane):

- authentication prompts start at the left margin, and Enter submits the answer;
- the shell runs a command, and `exit` ends parley with status 0;
- `parley HOST CMD` exits with the command's status within 1 s of the command's end;
- `stty -g` in the pane afterwards equals `stty -g` before, also when parley is killed
  by SIGTERM or SIGHUP in the middle of a session.

Needs root (a private sshd on a free loopback port; the test user is created with
useradd + chpasswd and removed at the end) and tmux.
Usage: parley_terminal.py PARLEYD PARLEY"""
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from common import SYSTEM_OPENSSH, Sshd, SshdDidNotStart, check, finish, remove_user, session_user, start_parleyd, stop

SSHD = SYSTEM_OPENSSH.sshd
USER = "parleyterm"
PASSWORD = "pw-Bilby-" + secrets.token_hex(4)
# capture-pane drops trailing blanks: the prompt's final space is not on the screen.
QUESTION = re.compile(r"What is the highest number: (\d+) or (\d+)\?")
TMUX = ["/usr/bin/tmux", "-L", f"parley-terminal-{os.getpid()}", "-f", "/dev/null"]
PANE = "t"


def tmux(*args):
    return subprocess.run(TMUX + list(args), capture_output=True, timeout=10)


def type_line(text):
    """Types `text` key by key (literal), then Enter (CR)."""
    tmux("send-keys", "-t", PANE, "-l", text)
    tmux("send-keys", "-t", PANE, "Enter")


# The current case's status file: its name is on the typed command line, and only
# what the pane shows after that line belongs to the case.
MARKER = [None]


def screen():
    """The pane with its history since the current case's command line, one string per
    line (wrapped lines joined)."""
    lines = tmux("capture-pane", "-p", "-J", "-t", PANE, "-S", "-1000").stdout.decode(errors="replace").split("\n")
    if MARKER[0] is not None:
        starts = [i for i, line in enumerate(lines) if MARKER[0] in line]
        if starts:
            lines = lines[starts[-1] + 1:]
    return lines


def show_pane():
    print("--- pane\n" + "\n".join(line for line in screen() if line.strip())[-3000:], flush=True)


def wait_for(pattern, seconds=15):
    """The first match of `pattern` (regex) on the pane within `seconds`, else None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in screen():
            m = re.search(pattern, line)
            if m:
                return m
        time.sleep(0.05)
    return None


def line_with(text):
    for line in screen():
        if text in line:
            return line
    return None


def fresh_pane():
    type_line("clear")
    time.sleep(0.3)
    tmux("clear-history", "-t", PANE)


def wait_file(path, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path) and open(path).read().endswith("\n"):
            return open(path).read()
        time.sleep(0.05)
    return None


def pane_children():
    """pids whose parent is the pane's shell (parley while it runs)."""
    shell = int(tmux("display-message", "-p", "-t", PANE, "#{pane_pid}").stdout.decode().strip())
    found = []
    for stat in os.listdir("/proc"):
        if not stat.isdigit():
            continue
        try:
            fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == shell:
            found.append(int(stat))
    return found


class Case:
    def __init__(self, tmp, name):
        self.name = name
        self.before = os.path.join(tmp, name + ".before")
        self.after = os.path.join(tmp, name + ".after")
        self.status = os.path.join(tmp, name + ".status")

    def start(self, parley_line):
        """Types: stty -g > before; PARLEY; echo status and time > file; stty -g > after."""
        fresh_pane()
        MARKER[0] = self.status
        type_line(f"stty -g > {self.before}; {parley_line}; "
                  f"echo \"EXIT=$? END=$(date +%s.%N)\" > {self.status}; stty -g > {self.after}")

    def left_margin(self, *texts):
        for text in texts:
            line = line_with(text)
            check(line is not None and line.startswith(text),
                  f"{self.name}: '{text.strip()}' starts at the left margin (line: {line!r})")

    def finish(self, want_status, cmd_end=None):
        status = wait_file(self.status)
        m = re.match(r"EXIT=(\d+) END=([\d.]+)", status or "")
        check(m is not None and int(m.group(1)) == want_status,
              f"{self.name}: parley ends with status {want_status} (got {status!r})")
        if m and cmd_end is not None:
            delay = float(m.group(2)) - cmd_end
            check(delay < 1.0, f"{self.name}: parley exits within 1 s of the command's end ({delay:.2f} s)")
        before, after = wait_file(self.before), wait_file(self.after)
        check(before is not None and before == after,
              f"{self.name}: stty -g after equals stty -g before ({before!r} vs {after!r})")
        if not m:
            show_pane()
            tmux("send-keys", "-t", PANE, "C-c")
            time.sleep(0.5)


def answer_higher_or_lower(case):
    m = wait_for(QUESTION.pattern)
    check(m is not None, f"{case.name}: the Higher or Lower question is shown")
    if m is None:
        show_pane()
        return False
    case.left_margin("[server] Higher or Lower", "[server] What is the highest number")
    type_line(str(max(int(m.group(1)), int(m.group(2)))))
    return True


def type_password(case, prompt):
    m = wait_for(re.escape(prompt.rstrip()))
    check(m is not None, f"{case.name}: the password prompt is shown")
    if m is None:
        show_pane()
        return False
    case.left_margin(prompt.rstrip())
    type_line(PASSWORD)
    return True


def remote_command(case):
    """Types a command for the remote shell (once it has had time to start) and waits
    for its output."""
    time.sleep(1.5)
    type_line("echo remote-$((6*7))")
    ok = wait_for(r"^remote-42") is not None
    check(ok, f"{case.name}: the remote shell runs a command")
    if not ok:
        show_pane()


def shell_session(case, parley_line, login):
    """No command: log in, run a command in the remote shell, `exit`."""
    case.start(parley_line)
    if login(case):
        remote_command(case)
        type_line("exit")
    case.finish(0)


def command_session(case, parley_line, login):
    """A command that prints when it ends, then exits 3."""
    case.start(parley_line)
    if login(case):
        m = wait_for(r"CMDEND=([\d.]+)")
        check(m is not None, f"{case.name}: the command's output is shown")
        case.finish(3, float(m.group(1)) if m else None)
    else:
        case.finish(3)


def killed_session(case, parley_line, login, sig):
    """A shell session whose parley is killed by `sig`: the terminal is put back."""
    case.start(parley_line)
    if login(case):
        remote_command(case)
        for pid in pane_children():
            os.kill(pid, sig)
    case.finish(128 + sig)


def run_cases(exe, tmp, port, user, login, label):
    kh = os.path.join(tmp, f"known_hosts-{label}")
    base = (f"{exe} -p {port} -o UserKnownHostsFile={kh} -o GlobalKnownHostsFile=/dev/null "
            f"-o StrictHostKeyChecking=accept-new -o PubkeyAuthentication=no -o IdentityAgent=none {user}@127.0.0.1")
    command = "'sleep 0.5; echo CMDEND=$(date +%s.%N); exit 3'"
    shell_session(Case(tmp, f"{label}-shell"), base, login)
    command_session(Case(tmp, f"{label}-command"), f"{base} {command}", login)
    command_session(Case(tmp, f"{label}-command-t"), f"{exe} -t {base[len(exe) + 1:]} {command}", login)
    return base


def main():
    parleyd, exe = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("parley_terminal: terminated"))
    if os.geteuid() != 0 or not os.access(SSHD, os.X_OK) or not os.access(TMUX[0], os.X_OK):
        check(False, "root, /usr/sbin/sshd and tmux are available")
        return finish("parley_terminal")
    tmp = tempfile.mkdtemp(prefix="parley-terminal-")
    os.chmod(tmp, 0o711)
    created_user = False
    parleyd_proc = None
    try:
        # The terminal: a plain shell in a tmux pane, as a person's.
        env_line = f"env -i HOME={tmp} PATH=/usr/bin:/bin TERM=xterm PS1='$ ' /bin/bash --norc --noprofile"
        r = tmux("new-session", "-d", "-s", PANE, "-x", "160", "-y", "48", env_line)
        if r.returncode != 0:
            check(False, f"tmux starts ({r.stderr!r})")
            return finish("parley_terminal")

        # parleyd with Higher or Lower.
        log = os.path.join(tmp, "parleyd.log")
        # Higher or Lower for one account with a real shell (as root, sessions run as
        # the account that logs in: the tests' session user; otherwise as us), so the
        # remote commands below run in /bin/sh, not in the demo's built-in shell.
        hl_user = session_user() or pwd.getpwuid(os.getuid()).pw_name
        parleyd_proc, port = start_parleyd(parleyd, tmp, ["--auth-methods", "keyboard-interactive:higher-or-lower",
                                                          "--user", hl_user, "--log-level", "debug"], log)

        def higher_or_lower(case):
            return answer_higher_or_lower(case)

        base = run_cases(exe, tmp, port, hl_user, higher_or_lower, "parleyd")
        killed_session(Case(tmp, "parleyd-sigterm"), base, higher_or_lower, signal.SIGTERM)
        killed_session(Case(tmp, "parleyd-sighup"), base, higher_or_lower, signal.SIGHUP)

        # Real OpenSSH sshd, a test user's password.
        home = os.path.join(tmp, "home")
        if subprocess.run(["id", USER], capture_output=True).returncode == 0:
            check(False, f"the test user {USER} does not exist yet")
            return finish("parley_terminal")
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", "-d", home, USER], check=True)
        created_user = True
        os.mkdir(home, 0o755)
        shutil.chown(home, USER)
        subprocess.run(["chpasswd"], input=f"{USER}:{PASSWORD}\n".encode(), check=True)
        config = ["UsePAM no", "KbdInteractiveAuthentication no", "PasswordAuthentication yes",
                  "PubkeyAuthentication no", "PermitRootLogin no"]

        def password(case):
            return type_password(case, f"{USER}@127.0.0.1's password: ")

        try:
            with Sshd(SYSTEM_OPENSSH, os.path.join(tmp, "sshd"), config, log_level="VERBOSE") as sshd:
                run_cases(exe, tmp, sshd.port, USER, password, "sshd")
            check(PASSWORD not in sshd.log(), "the password is not in sshd's log")
        except SshdDidNotStart as e:
            check(False, f"sshd starts ({e})")
    finally:
        tmux("kill-server")
        if parleyd_proc is not None:
            stop(parleyd_proc)
        if created_user:
            remove_user(USER)
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("parley_terminal")


if __name__ == "__main__":
    sys.exit(main())

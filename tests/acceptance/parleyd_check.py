"""parleyd -t (issue 17): checks a configuration and what it names as a start would, then
exits without listening or writing anything.

- a complete configuration (TOML file with a host key and a password file of crypt(3)
  hashes): status 0, nothing printed, no port taken;
- the demo with a state directory that has no key yet: 0, and the directory is not made
  (the first real start makes the key);
- each broken one refused with its reason and no output on stdout: a TOML error (FILE:LINE),
  an unknown key (FILE:LINE), no way to log in, a host key file that cannot be read, a
  plain-text password (FILE:LINE), a missing password file, a bad --auth-methods;
- parleyd -T prints the effective configuration: flags over the file, relative paths resolved,
  built-in defaults filled in, unset settings named in a comment; its output read back as the
  configuration prints the same again (also for a banner that needs quoting); a broken
  configuration prints nothing on stdout and the error with FILE:LINE;
- the shipped example configuration's syntax (docs/parleyd.conf.example) is valid: its
  errors, if any, are only about files it names that this machine lacks.
Usage: parleyd_check.py PARLEYD"""
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib

from common import SESSION_USER, check, finish, keygen, mkpasswd, session_user

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "parleyd.conf.example")


def run(parleyd, *args, cwd=None):
    return subprocess.run([parleyd, "-t", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60, cwd=cwd)


def main():
    parleyd = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="parleyd-check-")
    try:
        key = os.path.join(tmp, "host_key")
        keygen(key)
        with open(os.path.join(tmp, "passwords"), "w") as f:
            f.write("alice:" + mkpasswd("yescrypt", "correct horse") + "\n")
        good = os.path.join(tmp, "good.toml")
        with open(good, "w") as f:
            f.write('port = 2222\nhost_keys = ["host_key"]\nstate_dir = "state"\n\n[auth]\npassword_file = "passwords"\n')
            if os.geteuid() == 0:  # as root, alice (no account here) needs an account to run as
                session_user()
                f.write(f'\n[session]\nsession_user = "{SESSION_USER}"\n')
        r = run(parleyd, "--config", good)
        check(r.returncode == 0 and r.stdout == "" and r.stderr == "",
              f"a complete configuration: 0, nothing printed ({r.returncode}, {r.stdout!r}, {r.stderr!r})")
        check(not os.path.exists(os.path.join(tmp, "state")), "... and nothing was written")

        state = os.path.join(tmp, "fresh-state")
        r = run(parleyd, "--demo", "--state-dir", state)
        check(r.returncode == 0 and r.stderr == "" and not os.path.exists(state),
              f"the demo with no host key yet: 0, the state directory not made ({r.returncode}, {r.stderr!r})")

        def refused(what, args, needle):
            r = run(parleyd, *args, cwd=tmp)
            check(r.returncode != 0 and needle in r.stderr and r.stdout == "",
                  f"{what}: refused, saying {needle!r} ({r.returncode}, {r.stderr.strip()!r})")

        with open(os.path.join(tmp, "syntax.toml"), "w") as f:
            f.write('port = 2222\nlisten = "127.0.0.1\n')
        refused("a TOML syntax error", ["--config", "syntax.toml"], "syntax.toml:2")
        with open(os.path.join(tmp, "unknown.toml"), "w") as f:
            f.write('port = 2222\n\n[auth]\npasword_file = "passwords"\n')
        refused("an unknown key", ["--config", "unknown.toml"], "unknown.toml:4")
        refused("no way to log in", ["--host-key", key], "no way to log in")
        refused("a host key that cannot be read", ["--demo", "--host-key", os.path.join(tmp, "missing_key")],
                "missing_key")
        with open(os.path.join(tmp, "plain"), "w") as f:
            f.write("bob:hunter2\n")
        refused("a plain-text password", ["--host-key", key, "--password-file", "plain"], "plain:1")
        refused("a missing password file", ["--host-key", key, "--password-file", "nope"], "nope")
        refused("a bad --auth-methods", ["--host-key", key, "--password-file", "passwords", "--auth-methods",
                                         "publickey,carrier-pigeon"], "carrier-pigeon")

        # parleyd -T: the effective configuration, which reads back to itself.
        def dump(*args, cwd=tmp):
            return subprocess.run([parleyd, "-T", *args], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=60, cwd=cwd)
        r = dump("--config", good, "--port", "2022", "--max-sessions", "3")
        out = r.stdout
        check(r.returncode == 0 and r.stderr == "", f"-T on a complete configuration: 0 ({r.returncode}, {r.stderr!r})")
        try:
            shown = tomllib.loads(out)
        except tomllib.TOMLDecodeError as e:
            shown = {}
            check(False, f"-T prints TOML ({e})")
        check(shown.get("port") == 2022 and shown.get("session", {}).get("max_sessions") == 3,
              "-T shows the flags over the file (port, max_sessions)")
        check(shown.get("auth", {}).get("password_file") == os.path.join(tmp, "passwords"),
              "-T shows the file's relative paths resolved")
        check(shown.get("limits", {}).get("max_startups") == "10:30:100"
              and shown.get("pam", {}).get("max_conversations") == 64
              and shown.get("algorithms", {}).get("kex", [None])[0] == "mlkem768x25519-sha256",
              "-T fills in built-in defaults (max_startups, PAM's conversations, the algorithm lists)")
        check("#   auth.authorized_keys" in out and "authorized_keys" not in shown.get("auth", {}),
              "-T names what is not set in a comment, not as a value")
        again = os.path.join(tmp, "dumped.toml")
        with open(again, "w") as f:
            f.write(out)
        r2 = dump("--config", again)
        check(r2.returncode == 0 and r2.stdout == out, "-T's output, read back as the configuration, gives the same -T")
        r = dump("--config", "syntax.toml")
        check(r.returncode != 0 and r.stdout == "" and "syntax.toml:2" in r.stderr,
              f"-T on a broken configuration: refused with FILE:LINE, nothing on stdout ({r.stderr.strip()!r})")
        with open(os.path.join(tmp, "tricky.toml"), "w") as f:
            f.write('banner = "say \\"hi\\"\\nand \\\\ bye"\ndemo = true\n')
        r = dump("--config", "tricky.toml")
        again2 = os.path.join(tmp, "tricky-dumped.toml")
        with open(again2, "w") as f:
            f.write(r.stdout)
        r3 = dump("--config", again2)
        check(r.returncode == 0 and r3.stdout == r.stdout
              and tomllib.loads(r.stdout).get("banner") == 'say "hi"\nand \\ bye',
              f"-T quotes a banner with quotes, a newline and a backslash so it reads back ({r.stderr!r})")

        # The shipped example: no syntax or key error; only files this machine lacks may be named.
        r = run(parleyd, "--config", os.path.abspath(EXAMPLE))
        check(r.returncode == 0 or ("cannot" in r.stderr and "parleyd.conf.example:" not in r.stderr),
              f"docs/parleyd.conf.example parses ({r.returncode}, {r.stderr.strip()!r})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("parleyd_check")


if __name__ == "__main__":
    sys.exit(main())

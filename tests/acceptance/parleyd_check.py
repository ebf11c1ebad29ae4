"""parleyd -t (issue 17): checks a configuration and what it names as a start would, then
exits without listening or writing anything.

- a complete configuration (TOML file with a host key and a password file of crypt(3)
  hashes): status 0, nothing printed, no port taken;
- the demo with a state directory that has no key yet: 0, and the directory is not made
  (the first real start makes the key);
- each broken one refused with its reason and no output on stdout: a TOML error (FILE:LINE),
  an unknown key (FILE:LINE), no way to log in, a host key file that cannot be read, a
  plain-text password (FILE:LINE), a missing password file, a bad --auth-methods;
- the shipped example configuration's syntax (docs/parleyd.conf.example) is valid: its
  errors, if any, are only about files it names that this machine lacks.
Usage: parleyd_check.py PARLEYD"""
import os
import shutil
import subprocess
import sys
import tempfile

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

        # The shipped example: no syntax or key error; only files this machine lacks may be named.
        r = run(parleyd, "--config", os.path.abspath(EXAMPLE))
        check(r.returncode == 0 or ("cannot" in r.stderr and "parleyd.conf.example:" not in r.stderr),
              f"docs/parleyd.conf.example parses ({r.returncode}, {r.stderr.strip()!r})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("parleyd_check")


if __name__ == "__main__":
    sys.exit(main())

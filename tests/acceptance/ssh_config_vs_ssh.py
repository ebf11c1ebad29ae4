"""parley's ssh_config against OpenSSH's own reading of it: each snippet of the table
(Host patterns, negation, Match, Include, tokens, first value wins, key=value, quoting,
case) goes through `ssh -G -F SNIPPET HOST` (Debian's /usr/bin/ssh: -G connects nowhere)
and `parley -G -F SNIPPET HOST`, and every option parley reads must print the same value.

Options whose built-in default is parley's own (its identity files, known_hosts file,
SendEnv LANG and its algorithm lists) are compared whenever the snippet sets them: when
ssh prints its default for them (what `ssh -G -F /dev/null HOST` prints), the snippet did
not touch them. parley's own options (PasswordPromptRule, WarnWeakCrypto) are not ssh's.
Snippets ssh refuses must be refused by parley too, naming the file and line.
Usage: ssh_config_vs_ssh.py PARLEY"""
import os
import shutil
import subprocess
import sys
import tempfile

from common import check, finish

SSH = "/usr/bin/ssh"
PARLEY_ONLY = {"passwordpromptrule", "warnweakcrypto"}
OWN_DEFAULTS = {"identityfile", "userknownhostsfile", "sendenv", "ciphers", "hostkeyalgorithms",
                "kexalgorithms", "macs"}

# (name, host, {file: text}, extra command-line arguments). "config" is the -F file;
# {d} is the snippet's directory, {rel} a directory under ~/.ssh for relative Includes.
CASES = [
    ("host exact", "foo", {"config": "Host foo\n  User alice\n  Port 2200\n"}, []),
    ("host no match", "bar", {"config": "Host foo\n  User alice\n  Port 2200\n"}, []),
    ("host star", "a.example.com", {"config": "Host *.example.com\n  User w\n"}, []),
    ("host question", "db1", {"config": "Host db?\n  Port 3000\n"}, []),
    ("host question too long", "db12", {"config": "Host db?\n  Port 3000\n"}, []),
    ("negation wins", "bastion", {"config": "Host * !bastion\n  User inner\n"}, []),
    ("negation other host", "web", {"config": "Host * !bastion\n  User inner\n"}, []),
    ("negation first", "bastion", {"config": "Host !bastion *\n  User x\n"}, []),
    ("space list", "b", {"config": "Host a b c\n  User list\n"}, []),
    ("comma in Host is literal", "a", {"config": "Host a,b\n  User comma\n"}, []),
    ("Host is case-sensitive", "foo", {"config": "Host FOO\n  User upper\n"}, []),
    ("host typed in capitals", "FOO", {"config": "Host foo\n  User lower\nHost FOO\n  Port 2201\n"}, []),
    ("first value wins across blocks", "foo",
     {"config": "Host foo\n  User first\nHost *\n  User second\n  Port 2202\n"}, []),
    ("first value wins in a block", "foo", {"config": "Port 2300\nPort 2400\nUser u1\nUser u2\n"}, []),
    ("key=value", "foo", {"config": "Port=2500\nUser = eq\nBatchMode= yes\n"}, []),
    ("keywords any case", "foo", {"config": "pOrT 2600\nUSER Caps\nhostname MiXed.Example\n"}, []),
    ("tabs and equals", "foo", {"config": "\tPort\t=\t4000\n\tUser\tt\n"}, []),
    ("double quotes", "foo", {"config": 'User "quoted user"\n'}, []),
    ("single quotes", "foo", {"config": "IdentityFile '/tmp/a b'\nIdentityFile /tmp/c\\ d\n"}, []),
    ("quoted SetEnv", "foo", {"config": 'SetEnv "A=x y" B=z\n'}, []),
    ("comments", "foo", {"config": "# full line\nUser c # trailing\n  Port 2700 #x\n"}, []),
    ("Host line comment", "foo", {"config": "Host foo # comment\n  User hc\n"}, []),
    ("HostName %h", "foo", {"config": "Host foo\n  HostName %h.internal.example\n"}, []),
    ("HostName lower-cased", "foo", {"config": "HostName Real.Example.COM\n"}, []),
    ("HostName address kept", "foo", {"config": "HostName 127.0.0.1\n"}, []),
    ("Match host sees HostName", "foo",
     {"config": "Host foo\n  HostName real.example\nMatch host real.example\n  User matched\n"}, []),
    ("Match originalhost", "foo",
     {"config": "Host foo\n  HostName real\nMatch originalhost foo\n  Port 2800\n"}, []),
    ("Match user from User", "foo", {"config": "User bob\nMatch user bob\n  Port 2900\n"}, []),
    ("Match user from user@host", "carol@foo", {"config": "Match user carol\n  Port 3000\n"}, []),
    ("Match user is case-sensitive", "foo", {"config": "Match user ROOT\n  Port 4200\n"}, []),
    ("Match localuser", "foo", {"config": "Match localuser root\n  Port 3100\n"}, []),
    ("Match negated localuser", "foo", {"config": "Match !localuser root\n  Port 3101\n"}, []),
    ("Match all", "foo", {"config": "Host nomatch\n  Port 1\nMatch all\n  Port 3200\n"}, []),
    ("Match host list with negation", "foo", {"config": "Match host !foo,*\n  User neg\n"}, []),
    ("Match host list other", "bar", {"config": "Match host !foo,*\n  User neg\n"}, []),
    ("Match host case-insensitive", "foo", {"config": "Match host FOO\n  Port 4300\n"}, []),
    ("Match two criteria", "foo", {"config": "Match host foo user root\n  Port 4100\n"}, []),
    ("Match final second pass", "foo",
     {"config": "Match final\n  User fin\nHost foo\n  Port 3300\n"}, []),
    ("final pass matches Host on HostName", "foo",
     {"config": "Host foo\n  HostName bar.example\nHost bar.example\n  User viafinal\n"
                "Match final\n  Port 3400\n"}, []),
    ("Match canonical without a second pass", "foo", {"config": "Match canonical\n  User canon\n"}, []),
    ("Match !final", "foo", {"config": "Match !final\n  User notfinal\n"}, []),
    ("Match exec true", "foo", {"config": "Match exec true\n  Port 3500\n"}, ["--allow-match-exec"]),
    ("Match exec false", "foo", {"config": "Match exec false\n  Port 3501\n"}, ["--allow-match-exec"]),
    ("Match exec tokens", "foo", {"config": 'Match exec "test %h = foo -a %n = foo"\n  Port 3502\n'},
     ["--allow-match-exec"]),
    ("Include absolute", "foo", {"config": "Include {d}/inc1\nPort 3600\n", "inc1": "User inc\n"}, []),
    ("Include glob sorted", "foo",
     {"config": "Include {d}/conf.d/*.conf\n", "conf.d/b.conf": "User bee\n",
      "conf.d/a.conf": "User ay\nPort 3601\n"}, []),
    ("Include in a block that does not apply", "foo",
     {"config": "Host other\n  Include {d}/inc2\n", "inc2": "User no\nHost *\n  Port 1\n"}, []),
    ("Include keeps the including block", "foo",
     {"config": "Host foo\n  Include {d}/inc3\n  Port 3700\nHost bar\n  User b\n",
      "inc3": "Host zzz\n  User z\n"}, []),
    ("Include relative to ~/.ssh", "foo", {"config": "Include {rel}/x.conf\n", "@rel/x.conf": "User rel\n"}, []),
    ("Include missing file", "foo", {"config": "Include {d}/nonexistent\nPort 3800\n"}, []),
    ("Include nested", "foo",
     {"config": "Include {d}/n1\n", "n1": "Include {d}/n2\nPort 3801\n", "n2": "User nested\n"}, []),
    ("CanonicalizeHostname asks for the final pass", "foo",
     {"config": "CanonicalizeHostname yes\nMatch canonical\n  User canon\nHost foo\n  SendEnv A\n"
                "  IdentityFile /x\nMatch final\n  Port 3\n"}, []),
    ("final pass adds SendEnv again, IdentityFile once", "foo",
     {"config": "SendEnv B\nIdentityFile /y\nMatch final\n  Port 4\n"}, []),
    ("known_hosts files none, ConnectTimeout 0", "foo",
     {"config": "UserKnownHostsFile none\nGlobalKnownHostsFile none\nConnectTimeout 0\n"}, []),
    ("-i before IdentityFile", "foo", {"config": "IdentityFile /z\nIdentityFile {d}/key\n", "key": "x\n"},
     ["-i", "{d}/key"]),
    ("IgnoreUnknown", "foo", {"config": "IgnoreUnknown Foo*,Bar\nFooOption 1\nBar x\nPort 3900\n"}, []),
    ("IdentityFile adds up", "foo",
     {"config": "Host foo\n  IdentityFile ~/.ssh/%h_key\n  IdentityFile /k/%r\nIdentityFile /k/%r\n"}, []),
    ("UserKnownHostsFile tokens", "foo",
     {"config": "UserKnownHostsFile ~/kh/%h %d/%u %n_%p_%r_%L_%l %%\nPort 2022\n"}, []),
    ("UserKnownHostsFile first line", "foo", {"config": "UserKnownHostsFile /a\nUserKnownHostsFile /b\n"}, []),
    ("GlobalKnownHostsFile first line", "foo",
     {"config": "GlobalKnownHostsFile /g1 /g2\nGlobalKnownHostsFile /g3\n"}, []),
    ("SendEnv adds up and takes back", "foo", {"config": "SendEnv A B C*\nSendEnv -B X\n"}, []),
    ("SetEnv first line", "foo", {"config": "SetEnv A=1 B=2\nSetEnv C=3\n"}, []),
    ("flags", "foo",
     {"config": "BatchMode yes\nHashKnownHosts true\nIdentitiesOnly yes\n"
                "PasswordAuthentication no\nPubkeyAuthentication no\n"}, []),
    ("ChallengeResponse is KbdInteractive", "foo",
     {"config": "KbdInteractiveAuthentication no\nChallengeResponseAuthentication yes\n"}, []),
    ("KbdInteractive after its alias", "foo",
     {"config": "ChallengeResponseAuthentication no\nKbdInteractiveAuthentication yes\n"}, []),
    ("StrictHostKeyChecking accept-new", "foo", {"config": "StrictHostKeyChecking accept-new\n"}, []),
    ("StrictHostKeyChecking off", "foo", {"config": "StrictHostKeyChecking off\n"}, []),
    ("RequestTTY force", "foo", {"config": "RequestTTY force\n"}, []),
    ("RequestTTY no", "foo", {"config": "RequestTTY no\n"}, []),
    ("LogLevel VERBOSE", "foo", {"config": "LogLevel VERBOSE\n"}, []),
    ("LogLevel debug1", "foo", {"config": "LogLevel debug1\n"}, []),
    ("ConnectTimeout 1m30s", "foo", {"config": "ConnectTimeout 1m30s\n"}, []),
    ("ServerAliveInterval 1m, ServerAliveCountMax 7", "foo",
     {"config": "ServerAliveInterval 1m\nServerAliveCountMax 7\n"}, []),
    ("ServerAliveInterval none, ServerAliveCountMax 0", "foo",
     {"config": "ServerAliveInterval none\nServerAliveCountMax 0\n"}, []),
    ("RekeyLimit 2M 30m", "foo", {"config": "RekeyLimit 2M 30m\n"}, []),
    ("ProxyCommand as written, quotes and tokens kept", "foo",
     {"config": "ProxyCommand sh -c \"nc %h %p\"  # %r\n"}, []),
    ("ProxyCommand none", "foo", {"config": "ProxyCommand none\n"}, []),
    ("ProxyJump chain as written", "foo", {"config": "ProxyJump a@b:2222,[::1]:22,c\n"}, []),
    ("-J over the file's ProxyJump", "foo", {"config": "ProxyJump c\n"}, ["-J", "x@y:5"]),
    ("ProxyJump before ProxyCommand wins", "foo", {"config": "ProxyJump j\nProxyCommand nc %h %p\n"}, []),
    ("TCPKeepAlive no, ConnectionAttempts 3", "foo", {"config": "TCPKeepAlive no\nConnectionAttempts 3\n"}, []),
    ("RekeyLimit size only, units", "foo", {"config": "RekeyLimit 500k\n"}, []),
    ("RekeyLimit default none", "foo", {"config": "RekeyLimit default none\n"}, []),
    ("RekeyLimit 5G", "foo", {"config": "RekeyLimit 5G\n"}, []),
    ("ServerAliveInterval from -o over the file", "foo",
     {"config": "ServerAliveInterval 30\n"}, ["-o", "ServerAliveInterval=5"]),
    ("NumberOfPasswordPrompts", "foo", {"config": "NumberOfPasswordPrompts 5\n"}, []),
    ("algorithm lists", "foo",
     {"config": "Ciphers aes256-gcm@openssh.com,chacha20-poly1305@openssh.com\n"
                "KexAlgorithms curve25519-sha256\nMACs hmac-sha2-256-etm@openssh.com\n"
                "HostKeyAlgorithms ssh-ed25519,rsa-sha2-512\n"}, []),
    ("PreferredAuthentications", "foo", {"config": "PreferredAuthentications keyboard-interactive,password\n"}, []),
    ("IdentityAgent path with tokens", "foo", {"config": "IdentityAgent ~/agent.%h\n"}, []),
    ("IdentityAgent none", "foo", {"config": "IdentityAgent none\n"}, []),
    ("IdentityAgent SSH_AUTH_SOCK", "foo", {"config": "IdentityAgent SSH_AUTH_SOCK\n"}, []),
    ("-o beats the file", "foo", {"config": "User cfg\nPort 2300\n"}, ["-o", "User=cli", "-o", "Port=2023"]),
    ("-l beats the file", "foo", {"config": "User cfg\n"}, ["-l", "dash-l"]),
    ("-o User counts for Match user", "foo", {"config": "Match user cli\n  Port 2024\n"}, ["-o", "User=cli"]),
    ("-o HostName counts for Match host", "foo",
     {"config": "Match host elsewhere\n  Port 2025\n"}, ["-o", "HostName=elsewhere"]),
    ("forwards add up, command line first, repeats once", "foo",
     {"config": "LocalForward 8080 h:80\nRemoteForward 9000 l:22\nDynamicForward 1080\nHost foo\n"
                "  LocalForward 8081 [::1]:81\n  LocalForward 8080 h:80\n"},
     ["-L", "1:a:2", "-D", "*:1090", "-R", "0:x:22", "-L", "1:a:2"]),
    ("forward addresses: brackets, empty, service names", "foo",
     {"config": "LocalForward :8080 h:http\nDynamicForward [127.0.0.1]:1081\nRemoteForward *:0 x:ssh\n"},
     ["-L", "[::1]:8082:[::1]:82", "-o", "LocalForward=localhost:8083 [h]:83"]),
    ("GatewayPorts, ExitOnForwardFailure, SessionType: first value wins", "foo",
     {"config": "GatewayPorts yes\nGatewayPorts no\nExitOnForwardFailure yes\nSessionType none\n"}, []),
    ("ClearAllForwardings drops the command line's forwards too", "foo",
     {"config": "ClearAllForwardings yes\nLocalForward 8080 h:80\n"}, ["-L", "1:a:2", "-D", "1080"]),
    ("-N is SessionType none", "foo", {"config": "SessionType default\n"}, ["-N"]),
    ("-W clears the forwards and sets ExitOnForwardFailure", "foo",
     {"config": "LocalForward 8080 h:80\nRequestTTY yes\n"}, ["-W", "h:1"]),
    ("-W under the file's ClearAllForwardings and ExitOnForwardFailure", "foo",
     {"config": "ClearAllForwardings no\nLocalForward 8080 h:80\nExitOnForwardFailure no\n"}, ["-W", "h:1"]),
    ("-N -t asks for a terminal", "foo", {"config": "RequestTTY no\n"}, ["-N", "-t"]),
    ("-T over the file's RequestTTY", "foo", {"config": "RequestTTY force\n"}, ["-T"]),
]

# Snippets ssh refuses: parley must refuse them too, naming the file and line.
REFUSED = [
    ("unknown option", {"config": "Port 22\nNoSuchOption yes\n"}, "line 2"),
    ("RekeyLimit too small", {"config": "RekeyLimit 10\n"}, "line 1"),
    ("TCPKeepAlive maybe", {"config": "TCPKeepAlive maybe\n"}, "line 1"),
    ("ConnectionAttempts x", {"config": "ConnectionAttempts x\n"}, "line 1"),
    ("RekeyLimit time default (ssh takes none or a time)", {"config": "RekeyLimit 5G default\n"}, "line 1"),
    ("RekeyLimit with three arguments", {"config": "Port 1\nRekeyLimit 1G 1h x\n"}, "line 2"),
    ("RekeyLimit with a bad unit", {"config": "RekeyLimit 1X\n"}, "line 1"),
    ("negative ServerAliveInterval", {"config": "ServerAliveInterval -5\n"}, "line 1"),
    ("negative ServerAliveCountMax", {"config": "\nServerAliveCountMax -1\n"}, "line 2"),
    ("unclosed quote", {"config": 'User "alice\n'}, "line 1"),
    ("bad port", {"config": "Host other\n  Port notaport\n"}, "line 2"),
    ("bad flag in a block that does not apply", {"config": "Host other\n  BatchMode maybe\n"}, "line 2"),
    ("missing argument", {"config": "User\n"}, "line 1"),
    ("extra argument", {"config": "Port 22 23\n"}, "line 1"),
    ("Match without criteria", {"config": "Match host\n"}, "line 1"),
    ("unsupported Match attribute", {"config": "Match color blue\n"}, "line 1"),
    ("Match all combined", {"config": "Match all host foo\n"}, "line 1"),
    ("recursive Include", {"config": "Include {d}/config\n"}, "Too many recursive"),
    ("unknown option in an included file", {"config": "Include {d}/bad\n", "bad": "\n\nBogus 1\n"}, "line 3"),
    ("LocalForward without a target", {"config": "LocalForward 8080\n"}, "line 1"),
    ("LocalForward to port 0", {"config": "\nLocalForward 0 h:80\n"}, "line 2"),
    ("RemoteForward with an extra argument", {"config": "RemoteForward 9000 h:80 x\n"}, "line 1"),
    ("DynamicForward with a bad port", {"config": "DynamicForward h:x\n"}, "line 1"),
    ("ExitOnForwardFailure maybe", {"config": "ExitOnForwardFailure maybe\n"}, "line 1"),
    ("SessionType bad", {"config": "SessionType bad\n"}, "line 1"),
    ("world-writable included file", {"config": "Include {d}/open\n", "open+w": "Port 2\n"},
     "Bad owner or permissions"),
]


def write_case(base, files, rel):
    d = tempfile.mkdtemp(dir=base)
    for name, text in files.items():
        path = os.path.join(rel, name[5:]) if name.startswith("@rel/") else os.path.join(d, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text.replace("{d}", d).replace("{rel}", os.path.basename(rel)))
        os.chmod(path, 0o644)
        if path.endswith("+w"):  # writable by others: ssh refuses an included file like this
            os.rename(path, path[:-2])
            os.chmod(path[:-2], 0o666)
    return os.path.join(d, "config")


def dump(argv):
    r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    values = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition(" ")
        values.setdefault(key.lower(), []).append(value)
    return r.returncode, values, r.stderr.strip()


def compare(name, parley, config, host, extra, baseline):
    extra = [a.replace("{d}", os.path.dirname(config)) for a in extra]
    ssh_extra = [a for a in extra if a != "--allow-match-exec"]
    s_rc, s, s_err = dump([SSH, "-G", "-F", config, *ssh_extra, host])
    p_rc, p, p_err = dump([parley, "-G", "-F", config, *extra, host])
    if s_rc != 0 or p_rc != 0:
        check(False, f"{name}: both print (ssh {s_rc}: {s_err!r}; parley {p_rc}: {p_err!r})")
        return
    keys = sorted(set(p) - PARLEY_ONLY)
    differ = []
    for key in keys:
        if key in OWN_DEFAULTS and s.get(key) == baseline.get(key):
            continue  # not set by the snippet: parley's own default applies
        if s.get(key, []) != p.get(key, []):
            differ.append(f"{key}: ssh {s.get(key)} parley {p.get(key)}")
    check(not differ and len(keys) >= 20,
          f"{name}: parley -G prints what ssh -G prints for {len(keys)} options"
          + ("" if not differ else " -- " + "; ".join(differ)))


def main():
    parley = sys.argv[1]
    if not os.access(SSH, os.X_OK):
        check(False, f"{SSH} is installed (openssh-client)")
        return finish("ssh_config_vs_ssh")
    base = tempfile.mkdtemp(prefix="parley-sshcfg-")
    ssh_dir = os.path.join(os.path.expanduser("~"), ".ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    rel = tempfile.mkdtemp(prefix="parley-sshcfg-", dir=ssh_dir)
    try:
        check(len(CASES) >= 40, f"the table holds {len(CASES)} snippets (at least 40)")
        baselines = {}
        for name, host, files, extra in CASES:
            h = host.split("@")[-1]
            if h not in baselines:
                baselines[h] = dump([SSH, "-G", "-F", "/dev/null", h])[1]
            compare(name, parley, write_case(base, files, rel), host, extra, baselines[h])
        for name, files, where in REFUSED:
            config = write_case(base, files, rel)
            s_rc, _, s_err = dump([SSH, "-G", "-F", config, "foo"])
            p_rc, _, p_err = dump([parley, "-G", "-F", config, "foo"])
            check(s_rc == 255 and p_rc == 255 and where in p_err and "/" in p_err,
                  f"refused: {name}: ssh {s_rc}, parley {p_rc} saying {p_err!r}")
        # Match exec runs nothing unless the command line allows it (ssh would run it).
        marker = os.path.join(base, "ran")
        config = write_case(base, {"config": f"Match exec \"touch {marker}\"\n  Port 1\n"}, rel)
        p_rc, _, p_err = dump([parley, "-G", "-F", config, "foo"])
        check(p_rc == 255 and "--allow-match-exec" in p_err and "line 1" in p_err
              and not os.path.exists(marker),
              f"Match exec without --allow-match-exec: refused, nothing run ({p_err!r})")
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(rel, ignore_errors=True)
    return finish("ssh_config_vs_ssh")


if __name__ == "__main__":
    sys.exit(main())

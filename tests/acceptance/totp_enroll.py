"""Issue 6 acceptance: `parleyd totp enroll USER` stores a new TOTP secret and shows it
once as an otpauth:// URI, a QR code drawn in the terminal and scratch codes.

The QR code printed to the terminal is read back into modules, rendered as a PBM image
(x4, with its quiet zone) and decoded with zbarimg: it must decode to the printed URI.
qrencode's own PNG of the URI is decoded the same way as a control, and qrencode's own
terminal drawing must equal parleyd's byte for byte. oathtool computes codes from the
URI's secret and from the stored key: they must agree. A second enrolment without
--force must fail and leave the file as it was; with --log-level trace nothing of the
secret may reach the log (stderr).

Usage: totp_enroll.py PARLEYD
"""
import base64
import hashlib
import hmac
import os
import pwd
import shutil
import struct
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check, finish  # noqa: E402

TOOLS = ["zbarimg", "qrencode", "oathtool"]
FIXED_TIME = "2024-05-01 12:00:00 UTC"
FIXED_UNIX = 1714564800
SCALE = 4


def need_tools():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise SystemExit("totp_enroll: missing tools: " + ", ".join(missing) +
                         " (apt-get install zbar-tools qrencode oathtool)")


def run(parleyd, *args):
    return subprocess.run([parleyd, *args], capture_output=True, text=True, timeout=60)


def section(stdout):
    """Splits parleyd's enrolment output: URI, base32 secret, QR lines, scratch codes."""
    lines = stdout.split("\n")
    out = {"uri": None, "secret": None, "qr": [], "scratch": []}
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("URI: "):
            out["uri"] = line[len("URI: "):]
        elif line.startswith("Secret (base32): "):
            out["secret"] = line[len("Secret (base32): "):]
        elif line.startswith("QR code ("):
            i += 1
            while i < len(lines) and lines[i] != "":
                out["qr"].append(lines[i])
                i += 1
        elif line.startswith("Scratch codes ("):
            i += 1
            while i < len(lines) and lines[i].startswith("  "):
                out["scratch"].append(lines[i].strip())
                i += 1
            continue
        i += 1
    return out


def modules_from_utf8(lines, dark_ink):
    """Half-block drawing -> rows of dark (True) / light modules, two rows a line."""
    glyphs = {" ": (False, False), "\u2580": (True, False), "\u2584": (False, True),
              "\u2588": (True, True)}
    rows = []
    for line in lines:
        top, bottom = [], []
        for ch in line:
            if ch not in glyphs:
                raise ValueError(f"unexpected character {ch!r} in the QR drawing")
            t, b = glyphs[ch]
            top.append(t == dark_ink)
            bottom.append(b == dark_ink)
        rows += [top, bottom]
    return rows


def modules_from_ascii(lines, dark_ink):
    rows = []
    for line in lines:
        if len(line) % 2:
            raise ValueError("odd ASCII QR line")
        row = []
        for k in range(0, len(line), 2):
            pair = line[k:k + 2]
            if pair not in ("##", "  "):
                raise ValueError(f"unexpected {pair!r} in the ASCII QR drawing")
            row.append((pair == "##") == dark_ink)
        rows.append(row)
    return rows


def write_pbm(path, rows):
    """Plain PBM (P1), 1 = black, every module SCALE x SCALE pixels."""
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError("ragged QR drawing")
    with open(path, "w") as f:
        f.write(f"P1\n{width * SCALE} {len(rows) * SCALE}\n")
        for r in rows:
            line = " ".join("1" if dark else "0" for dark in r for _ in range(SCALE))
            for _ in range(SCALE):
                f.write(line + "\n")


def zbar(path):
    r = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        return None
    return r.stdout[:-1] if r.stdout.endswith("\n") else r.stdout


def decode_drawing(tmp, name, qr_lines, utf8, dark_ink):
    rows = (modules_from_utf8 if utf8 else modules_from_ascii)(qr_lines, dark_ink)
    path = os.path.join(tmp, name + ".pbm")
    write_pbm(path, rows)
    return zbar(path), rows


def quiet_zone_ok(rows):
    """At least 4 light modules on every side."""
    if len(rows) < 9:
        return False
    edges = rows[:4] + rows[-4:] + [r[:4] + r[-4:] for r in rows]
    return not any(any(r) for r in edges)


def b32decode(text):
    return base64.b32decode(text + "=" * (-len(text) % 8))


def totp(key, unix_time, digits=6, period=30):
    mac = hmac.new(key, struct.pack(">Q", unix_time // period), hashlib.sha1).digest()
    offset = mac[-1] & 15
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def oathtool(*args):
    r = subprocess.run(["oathtool", "--totp", "--now", FIXED_TIME, *args], capture_output=True,
                       text=True, timeout=60)
    return r.stdout.strip() if r.returncode == 0 else None


def users_oath_line(path, user):
    with open(path) as f:
        lines = [l.split() for l in f if l.strip() and not l.startswith("#")]
    mine = [l for l in lines if len(l) >= 4 and l[1] == user]
    return mine


def check_scratch_codes(tag, codes):
    check(len(codes) == 5 and len(set(codes)) == 5
          and all(len(c) == 8 and c.isdigit() and c[0] != "0" for c in codes),
          f"{tag}: 5 distinct 8-digit scratch codes ({len(codes)})")


def scratch_codes_hashed(path, user, codes):
    """users.oath.scratch: USER SALT SHA256(SALT || CODE) lines, hex; no code in clear."""
    with open(path) as f:
        text = f.read()
    if any(c in text for c in codes):
        return False
    entries = [l.split() for l in text.split("\n") if l.strip() and not l.startswith("#")]
    hashes = {(e[1], e[2]) for e in entries if len(e) == 3 and e[0] == user}
    found = 0
    for code in codes:
        for salt, digest in hashes:
            if hashlib.sha256(bytes.fromhex(salt) + code.encode()).hexdigest() == digest.lower():
                found += 1
                break
    return found == len(codes) == len(hashes)


def check_no_secret_in(log, what, secrets):
    leaked = [s for s in secrets if s and s in log]
    check(not leaked, f"{what}: nothing of the secret in the log (stderr at trace)")


def check_enrolment(tmp, tag, r, issuer, account, utf8=True, dark_ink=False):
    """The checks shared by every successful enrolment; returns the parsed output."""
    check(r.returncode == 0, f"{tag}: enrol exits 0 (stderr: {r.stderr.strip()[:300]!r})")
    out = section(r.stdout)
    uri = out["uri"]
    check(uri is not None and uri.startswith("otpauth://totp/"), f"{tag}: prints an otpauth URI")
    if uri is None:
        return out
    check("shown only this once" in r.stdout, f"{tag}: warns that the secret is shown once")
    parsed = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qs(parsed.query, strict_parsing=True)
    label = urllib.parse.unquote(parsed.path[1:])
    check(label == f"{issuer}:{account}", f"{tag}: label is ISSUER:ACCOUNT ({label!r})")
    check(query.get("issuer") == [issuer], f"{tag}: issuer parameter")
    check(query.get("algorithm") == ["SHA1"] and query.get("digits") == ["6"]
          and query.get("period") == ["30"], f"{tag}: SHA1, 6 digits, 30 s")
    secret = query.get("secret", [""])[0]
    check(secret == out["secret"], f"{tag}: the base32 line is the URI's secret")
    check("=" not in secret and len(b32decode(secret)) == 20,
          f"{tag}: 160-bit secret, base32 without padding")

    decoded, rows = decode_drawing(tmp, tag, out["qr"], utf8, dark_ink)
    check(decoded == uri, f"{tag}: the terminal QR code decodes (zbarimg) to the printed URI")
    check(quiet_zone_ok(rows), f"{tag}: the QR drawing has a 4-module quiet zone")
    # qrencode draws the same modules the same way.
    # qrencode's UTF8 and ASCIIi draw light modules, UTF8i and ASCII dark ones.
    kind = {(True, False): "UTF8", (True, True): "UTF8i", (False, False): "ASCIIi",
            (False, True): "ASCII"}[(utf8, dark_ink)]
    ref = subprocess.run(["qrencode", "-l", "M", "-t", kind, uri], capture_output=True,
                         text=True, timeout=60)
    check(ref.returncode == 0 and ref.stdout.rstrip("\n").split("\n") == out["qr"],
          f"{tag}: the drawing equals `qrencode -l M -t {kind}` byte for byte")
    # Control: qrencode's own PNG decodes the same way.
    png = os.path.join(tmp, tag + "-control.png")
    subprocess.run(["qrencode", "-l", "M", "-o", png, uri], check=True, timeout=60)
    check(zbar(png) == uri, f"{tag}: control: qrencode's PNG of the URI decodes to it too")

    code = oathtool("-b", secret)
    check(code is not None and code == totp(b32decode(secret), FIXED_UNIX),
          f"{tag}: oathtool and RFC 6238 agree on the URI secret's code ({code})")
    out["key"] = b32decode(secret)
    out["code"] = code
    return out


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    parleyd = os.path.abspath(sys.argv[1])
    need_tools()
    tmp = tempfile.mkdtemp(prefix="parley-totp-enroll-")
    try:
        # --- users.oath ------------------------------------------------------------------
        oath = os.path.join(tmp, "users.oath")
        issuer = "ACME Co & Sons: ünit"
        r = run(parleyd, "--log-level", "trace", "totp", "enroll", "alice", "--users-oath", oath,
                "--issuer", issuer)
        out = check_enrolment(tmp, "users.oath", r, issuer, "alice")
        check("%20Co%20%26%20Sons%3A%20%C3%BCnit" in (out["uri"] or ""),
              "users.oath: issuer percent-encoded in the URI")
        check_scratch_codes("users.oath", out["scratch"])
        sidecar = oath + ".scratch"
        check(os.path.exists(sidecar) and scratch_codes_hashed(sidecar, "alice", out["scratch"]),
              "users.oath: the scratch codes are kept, hashed, in users.oath.scratch")
        mine = users_oath_line(oath, "alice") if os.path.exists(oath) else []
        check(len(mine) == 1, "users.oath: one line for alice")
        if mine and "key" in out:
            hex_key = mine[0][3].lower()
            check(hex_key == out["key"].hex(), "users.oath: the file holds the URI's secret (hex)")
            check(oathtool(hex_key) == out["code"],
                  "users.oath: oathtool on the stored key gives the URI's code")
            check(mine[0][0].upper().startswith("HOTP/T30"), "users.oath: a TOTP (T30) entry")
            check(os.stat(oath).st_mode & 0o077 == 0, "users.oath: not readable by others")
            check_no_secret_in(r.stderr, "users.oath",
                               [out["uri"], out["secret"], hex_key, hex_key.upper(), *out["scratch"]])

        # A second enrolment: refused, and the file is left as it was.
        with open(oath, "rb") as f:
            before = f.read()
        ino = os.stat(oath).st_ino
        r2 = run(parleyd, "totp", "enroll", "alice", "--users-oath", oath, "--log-level", "trace")
        check(r2.returncode != 0, "users.oath: a second enrolment without --force fails")
        check("already has a TOTP secret" in r2.stderr and oath in r2.stderr and "--force" in r2.stderr,
              f"users.oath: ... saying so ({r2.stderr.strip()!r})")
        check("otpauth://" not in r2.stdout, "users.oath: ... and shows no new secret")
        with open(oath, "rb") as f:
            check(f.read() == before and os.stat(oath).st_ino == ino,
                  "users.oath: ... and leaves the file unchanged")
        check(os.path.exists(sidecar) and scratch_codes_hashed(sidecar, "alice", out["scratch"]),
              "users.oath: ... and alice's scratch codes")

        # Another user beside alice; then --force replaces alice's secret only.
        r3 = run(parleyd, "totp", "enroll", "bob", "--users-oath", oath, "--issuer", "parley")
        bob = check_enrolment(tmp, "users.oath-bob", r3, "parley", "bob")
        check(users_oath_line(oath, "alice") == mine, "users.oath: bob's enrolment keeps alice's line")
        r4 = run(parleyd, "totp", "enroll", "alice", "--users-oath", oath, "--issuer", "parley",
                 "--force")
        forced = check_enrolment(tmp, "users.oath-force", r4, "parley", "alice")
        again = users_oath_line(oath, "alice")
        check(len(again) == 1 and "key" in forced and again[0][3].lower() == forced["key"].hex()
              and forced["key"] != out.get("key"),
              "users.oath: --force replaces alice's secret with the new one")
        check(scratch_codes_hashed(sidecar, "alice", forced.get("scratch", [])),
              "users.oath: ... and her scratch codes (the old ones are gone)")
        bob_line = users_oath_line(oath, "bob")
        check(len(bob_line) == 1 and "key" in bob and bob_line[0][3].lower() == bob["key"].hex(),
              "users.oath: ... and keeps bob's")

        # The store from parleyd's configuration file ([totp] users_oath).
        conf = os.path.join(tmp, "parleyd.conf")
        conf_oath = os.path.join(tmp, "conf.oath")
        with open(conf, "w") as f:
            f.write(f'[totp]\nusers_oath = "{conf_oath}"\n')
        r5 = run(parleyd, "--config", conf, "totp", "enroll", "carol", "--issuer", "parley")
        carol = check_enrolment(tmp, "config", r5, "parley", "carol")
        line = users_oath_line(conf_oath, "carol") if os.path.exists(conf_oath) else []
        check(len(line) == 1 and "key" in carol and line[0][3].lower() == carol["key"].hex(),
              "config: [totp] users_oath is where the secret goes")

        # --- google-authenticator files --------------------------------------------------
        # The store looks the user up when it runs as root (it writes with the user's
        # identity), so this part enrols the user running the test.
        me = pwd.getpwuid(os.getuid()).pw_name
        pattern = os.path.join(tmp, "%u.ga")
        ga = os.path.join(tmp, me + ".ga")
        r6 = run(parleyd, "totp", "enroll", me, "--google-authenticator", pattern, "--issuer",
                 "parley", "--ascii", "--light-background", "--log-level", "trace")
        gout = check_enrolment(tmp, "google-authenticator", r6, "parley", me, utf8=False,
                               dark_ink=True)
        codes = gout["scratch"]
        check_scratch_codes("google-authenticator", codes)
        check(os.path.exists(ga), f"google-authenticator: %u.ga expanded to {me}.ga")
        if os.path.exists(ga):
            with open(ga) as f:
                ga_lines = f.read().split("\n")
            check(ga_lines[0] == gout["secret"], "google-authenticator: first line is the secret")
            check(all(c in ga_lines for c in codes), "google-authenticator: the file keeps the scratch codes")
            check(any(l.startswith('" TOTP_AUTH') for l in ga_lines),
                  "google-authenticator: a TOTP_AUTH file")
            check(os.stat(ga).st_mode & 0o077 == 0, "google-authenticator: not readable by others")
            check_no_secret_in(r6.stderr, "google-authenticator",
                               [gout["uri"], gout["secret"], *codes])
            with open(ga, "rb") as f:
                before = f.read()
            r7 = run(parleyd, "totp", "enroll", me, "--google-authenticator", pattern)
            check(r7.returncode != 0 and "already has a TOTP secret" in r7.stderr and ga in r7.stderr,
                  f"google-authenticator: a second enrolment without --force fails ({r7.stderr.strip()!r})")
            with open(ga, "rb") as f:
                check(f.read() == before, "google-authenticator: ... and leaves the file unchanged")

        # --force, drawn in UTF-8 for a light terminal.
        r8 = run(parleyd, "totp", "enroll", me, "--google-authenticator", pattern, "--issuer",
                 "parley", "--light-background", "--force")
        forced_ga = check_enrolment(tmp, "google-authenticator-force", r8, "parley", me, utf8=True,
                                    dark_ink=True)
        if os.path.exists(ga):
            with open(ga) as f:
                check(f.read().split("\n")[0] == forced_ga["secret"] != gout["secret"],
                      "google-authenticator: --force replaces the secret")

        # --- errors ------------------------------------------------------------------------
        r9 = run(parleyd, "totp", "enroll", "erin")
        check(r9.returncode == 2 and "no TOTP store" in r9.stderr,
              f"no store: usage error ({r9.stderr.strip()!r})")
        r10 = run(parleyd, "totp", "enroll", "a/b", "--users-oath", oath)
        check(r10.returncode == 2 and "user name" in r10.stderr,
              f"a user name with '/': usage error ({r10.stderr.strip()!r})")
        r11 = run(parleyd, "totp", "enroll", "erin", "--users-oath", oath, "--google-authenticator")
        check(r11.returncode == 2, "--users-oath and --google-authenticator together: usage error")
        bad = os.path.join(tmp, "bad.oath")
        with open(bad, "w") as f:
            f.write("HOTP/T30/6 frank - 3132333435363738393031323334353637383930\n"
                    "this line is not a users.oath entry\n")
        os.chmod(bad, 0o600)
        with open(bad, "rb") as f:
            bad_before = f.read()
        r12 = run(parleyd, "totp", "enroll", "erin", "--users-oath", bad)
        check(r12.returncode == 1 and f"{bad}:2" in r12.stderr,
              f"a corrupt users.oath: error naming file and line ({r12.stderr.strip()!r})")
        check("otpauth://" not in r12.stdout, "a corrupt users.oath: no secret shown")
        with open(bad, "rb") as f:
            check(f.read() == bad_before, "a corrupt users.oath: file unchanged")
        missing_dir = os.path.join(tmp, "no-such-dir", "users.oath")
        r13 = run(parleyd, "totp", "enroll", "erin", "--users-oath", missing_dir)
        check(r13.returncode == 1 and "no-such-dir" in r13.stderr and "otpauth://" not in r13.stdout,
              f"an unwritable place: error naming the file ({r13.stderr.strip()!r})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("totp_enroll")


if __name__ == "__main__":
    sys.exit(main())

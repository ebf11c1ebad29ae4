#!/usr/bin/python3
"""man_pages_options: the manual pages document exactly what the programs accept.

    man_pages_options.py PARLEYD PARLEY SOURCE_DIR

Compared, each failure naming every item that is in one list and not the other:

1. Options. Every long and short option `--help` prints, against the options the page
   documents (the bold option names that start a definition in the section):
     parleyd --help              parleyd(8)  OPTIONS
     parleyd totp enroll --help  parleyd(8)  TOTP ENROLMENT
     parley --help               parley(1)   OPTIONS
     parley cp --help            parley(1)   COPYING FILES
2. parleyd.conf(5): the tables and keys the page documents against the ones parleyd's
   configuration parser has (the key tables of apps/parleyd/config.cpp, cross-checked
   against docs/parleyd.conf.example so a broken extraction fails rather than passes);
   then every documented key is given to `parleyd -t --config` in its table and must not
   be called unknown (a made-up key must be, or the probe proves nothing). If parleyd has
   --dump-config, every key its output shows must be documented too.
3. parley(1) SSH_CONFIG KEYWORDS: the keywords the page lists against the ones parley's
   ssh_config reader knows (src/client/ssh_config_syntax.cpp, aliases included); then
   each one is given to `parley -F none -G -o KEYWORD=...`: those the page lists as read
   must not be unknown or refused, those it lists as ignored must be accepted, and those
   it lists as refused must be refused as unsupported (a made-up keyword must be a "Bad
   configuration option").

Before the real comparison, the option comparison runs once on a copy of parley(1) with
one documented option taken out, and must report it: the test must be able to fail.
"""
import os
import re
import subprocess
import sys
import tempfile

failures = []


def fail(message):
    failures.append(message)
    print("FAIL: " + message)


def ok(message):
    print("ok: " + message)


def run(argv, **kw):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, **kw)
    except OSError as e:  # a program not built: a failure to read, not a traceback
        fail(f"cannot run {argv[0]}: {e}")
        return subprocess.CompletedProcess(argv, 127, "", str(e))


# ---- option names

OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)")


def help_options(argv):
    """The option names CLI11's --help lists. An option line starts with its names
    (indented by two), then the type, default and "Excludes: ..."; the description
    starts at column 30, or on the next line (indented 30) when the names are longer."""
    r = run(argv)
    if r.returncode != 0:
        fail(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
        return set()
    names = set()
    lines = r.stdout.splitlines()
    for line, following in zip(lines, lines[1:] + [""]):
        if not re.match(r"^ {1,6}-", line):
            continue
        head = line if following.startswith(" " * 30) else line[:30]
        # CLI11 writes "Excludes: --other" and "Needs: --other" after the names.
        names.update(OPTION.findall(re.split(r" (?:Excludes|Needs):", head)[0]))
    if not names:
        fail(f"{' '.join(argv)} printed no options:\n{r.stdout}")
    return names


def scd_sections(text):
    """{heading: [lines]} for each '# ' section of an scdoc page ('##' subsections stay
    inside their section)."""
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("# "):
            current = line[2:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


def page_options(text, heading):
    """The options a section documents: bold option names on definition lines (the
    unindented lines that start with a bold option, whose text follows indented)."""
    lines = scd_sections(text).get(heading)
    if lines is None:
        fail(f"the page has no '# {heading}' section")
        return set()
    names = set()
    for line, following in zip(lines, lines[1:] + [""]):
        if line.startswith("*-") and following.startswith("\t"):
            names.update(re.findall(r"\*(--?[A-Za-z][A-Za-z0-9-]*)", line))
    return names


def differences(in_help, in_page, page_name):
    """What is in one list and not the other, as phrases (none: they agree)."""
    parts = []
    if in_help - in_page:
        parts.append(f"in --help but not in {page_name}: {' '.join(sorted(in_help - in_page))}")
    if in_page - in_help:
        parts.append(f"in {page_name} but not in --help: {' '.join(sorted(in_page - in_help))}")
    return parts


def compare(what, in_help, in_page, page_name):
    """One failure naming every option in one list and not the other."""
    parts = differences(in_help, in_page, page_name)
    if parts:
        fail(f"{what}: " + "; ".join(parts))
    else:
        ok(f"{what}: {len(in_help)} options, the same in --help and {page_name}")


# ---- parleyd.conf keys

def page_conf_keys(text):
    """{table: {keys}} as parleyd.conf(5) documents them; '' is the top level."""
    keys = {}
    for heading, lines in scd_sections(text).items():
        if heading == "TOP-LEVEL KEYS":
            table = ""
        else:
            m = re.fullmatch(r"\[([a-z_]+)\]", heading)
            if not m:
                continue
            table = m.group(1)
        found = keys.setdefault(table, set())
        for line in lines:
            m = re.match(r"^\*([a-z_]+)\* =", line)
            if m:
                found.add(m.group(1))
    return keys


def parser_conf_keys(config_cpp):
    """{table: {keys}} from the key tables of apps/parleyd/config.cpp: each
    `static std::span<const Key> NAME_keys()` function lists its table's keys as
    {"key", handler}; top_keys() is the top level, where the tables are keys too."""
    text = open(config_cpp).read()
    keys = {}
    for m in re.finditer(r"static std::span<const Key> (\w+)_keys\(\) \{(.*?)return keys;", text, re.S):
        name, body = m.group(1), m.group(2)
        keys["" if name == "top" else name] = set(re.findall(r'\{"([a-z_]+)",', body))
    tables = set(keys) - {""}
    if "" not in keys or len(tables) < 5 or not all(keys.values()):
        fail(f"could not read the key tables of {config_cpp} (found {sorted(keys)}): "
             "update parser_conf_keys() in this test")
        return {}
    top = keys[""]
    if not tables <= top:
        fail(f"tables {sorted(tables - top)} of {config_cpp} are not keys of top_keys()")
    keys[""] = top - tables
    return keys


def example_conf_keys(example):
    """{table: {keys}} set (not commented out) in docs/parleyd.conf.example."""
    keys, table = {"": set()}, ""
    for line in open(example):
        m = re.match(r"^\[([a-z_]+)\]\s*$", line)
        if m:
            table = m.group(1)
            keys.setdefault(table, set())
            continue
        m = re.match(r"^([a-z_]+)\s*=", line)
        if m:
            keys.setdefault(table, set()).add(m.group(1))
    return keys


def flatten(keys):
    return {(t, k) for t, ks in keys.items() for k in ks}


def shown(pairs):
    return " ".join(sorted(f"[{t}] {k}" if t else k for t, k in pairs))


def probe_conf_key(parleyd, tmp, table, key):
    """parleyd -t's answer to a file holding only `key` (with an inline table as the
    value, of the wrong type for any real key) in `table`: its stderr."""
    path = os.path.join(tmp, "probe.conf")
    with open(path, "w") as f:
        if table:
            f.write(f"[{table}]\n")
        f.write(f"{key} = {{}}\n")
    r = run([parleyd, "-t", "--config", path])
    return r.stderr


def check_conf(parleyd, source_dir, page_text, help_names):
    documented = page_conf_keys(page_text)
    parser = parser_conf_keys(os.path.join(source_dir, "apps/parleyd/config.cpp"))
    if not parser:
        return
    example = example_conf_keys(os.path.join(source_dir, "docs/parleyd.conf.example"))
    stray = flatten(example) - flatten(parser)
    if stray:
        fail(f"keys set in docs/parleyd.conf.example that the extraction from config.cpp "
             f"missed (fix the extraction): {shown(stray)}")
    missing_tables = sorted(set(parser) - set(documented))
    extra_tables = sorted(set(documented) - set(parser))
    if missing_tables or extra_tables:
        fail(f"parleyd.conf(5) tables: not documented: {missing_tables}; documented but not "
             f"parsed: {extra_tables}")
    missing = flatten(parser) - flatten(documented)
    extra = flatten(documented) - flatten(parser)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"accepted by the parser but not in parleyd.conf(5): {shown(missing)}")
        if extra:
            parts.append(f"in parleyd.conf(5) but not in the parser's tables: {shown(extra)}")
        fail("parleyd.conf keys: " + "; ".join(parts))
    else:
        ok(f"parleyd.conf(5): {len(flatten(parser))} keys in {len(parser) - 1} tables and the "
           "top level, the same as config.cpp's tables")

    with tempfile.TemporaryDirectory() as tmp:
        control = probe_conf_key(parleyd, tmp, "auth", "no_such_key_for_man_test")
        if "unknown key" not in control and "unknown table" not in control:
            fail(f"parleyd -t does not call a made-up key unknown, so the probe proves nothing: "
                 f"{control.strip()!r}")
            return
        unknown = []
        for table, key in sorted(flatten(documented)):
            err = probe_conf_key(parleyd, tmp, table, key)
            if "unknown key" in err or "unknown table" in err or not err.strip():
                unknown.append(f"[{table}] {key}: {err.strip()!r}" if table else f"{key}: {err.strip()!r}")
        if unknown:
            fail("keys parleyd.conf(5) documents that parleyd -t does not accept: " + "; ".join(unknown))
        else:
            ok(f"parleyd -t --config knows each of the {len(flatten(documented))} documented keys "
               "(and calls a made-up one unknown)")

        if "--dump-config" not in help_names:
            print("note: parleyd has no --dump-config yet: its output was not compared "
                  "(the option comparison above reports -T/--dump-config as missing from --help)")
            return
        conf = os.path.join(tmp, "dump.conf")
        with open(conf, "w") as f:
            f.write(f'demo = true\nstate_dir = "{tmp}/state"\n')
        r = run([parleyd, "-T", "--config", conf])
        if r.returncode != 0:
            fail(f"parleyd -T --config (demo) exited {r.returncode}: {r.stderr.strip()}")
            return
        dumped, table = set(), ""
        for line in r.stdout.splitlines():
            m = re.match(r"^\s*\[([a-z_.]+)\]\s*$", line)
            if m:
                table = m.group(1)
                continue
            m = re.match(r"^\s*([a-z_]+)\s*=", line)
            if m:
                dumped.add((table, m.group(1)))
        if not dumped:
            fail(f"parleyd -T printed no keys: {r.stdout!r}")
        elif dumped - flatten(documented):
            fail(f"keys parleyd -T prints that parleyd.conf(5) does not document: "
                 f"{shown(dumped - flatten(documented))}")
        else:
            ok(f"parleyd -T: each of the {len(dumped)} keys it prints is documented")


# ---- ssh_config keywords

def page_keywords(text):
    """{'read'|'ignored'|'refused': {lowercase keywords}} from parley(1)'s SSH_CONFIG
    KEYWORDS: read ones on definition lines, the others anywhere in their subsection."""
    lines = scd_sections(text).get("SSH_CONFIG KEYWORDS")
    if lines is None:
        fail("parley(1) has no '# SSH_CONFIG KEYWORDS' section")
        return {}
    kinds, kind = {"read": set(), "ignored": set(), "refused": set()}, None
    headings = {"## Read by parley": "read", "## Accepted and ignored": "ignored", "## Refused": "refused"}
    for line, following in zip(lines, lines[1:] + [""]):
        if line.startswith("## "):
            kind = headings.get(line.strip())
            if kind is None:
                fail(f"parley(1): unexpected subsection {line.strip()!r} in SSH_CONFIG KEYWORDS")
            continue
        # Read keywords are the definition lines (their text follows, indented).
        if kind is None or (kind == "read" and (line.startswith("\t") or not following.startswith("\t"))):
            continue
        for word in re.findall(r"\*([A-Za-z][A-Za-z0-9]*)\*", line):
            if kind == "read" or word[0].isupper():
                kinds[kind].add(word.lower())
    for kind, words in kinds.items():
        if not words:
            fail(f"parley(1) lists no {kind} ssh_config keywords")
    return kinds


def source_keywords(syntax_cpp):
    """Every keyword parley's ssh_config reader knows: the names of keywords() and
    aliases() in src/client/ssh_config_syntax.cpp."""
    text = open(syntax_cpp).read()
    names = set()
    for function in ("keywords", "aliases"):
        m = re.search(function + r"\(\) \{(.*?)\n\}", text, re.S)
        if not m:
            fail(f"no {function}() in {syntax_cpp}: update source_keywords() in this test")
            return set()
        names |= set(re.findall(r'"([a-z0-9]+)"', m.group(1)))
    if len(names) < 50:
        fail(f"only {len(names)} keywords read from {syntax_cpp}: update source_keywords()")
    return names


def probe_keyword(parley, keyword):
    r = run([parley, "-F", "none", "-G", "-o", f"{keyword}=x", "man-test.invalid"])
    return r.returncode, r.stderr.strip()


def check_keywords(parley, source_dir, page_text):
    kinds = page_keywords(page_text)
    if not kinds:
        return
    documented = set().union(*kinds.values())
    twice = [k for k in documented if sum(k in v for v in kinds.values()) > 1]
    if twice:
        fail(f"parley(1) lists keywords under two kinds: {sorted(twice)}")
    known = source_keywords(os.path.join(source_dir, "src/client/ssh_config_syntax.cpp"))
    if known:
        missing, extra = sorted(known - documented), sorted(documented - known)
        if missing or extra:
            fail(f"ssh_config keywords: known to parley but not in parley(1): {missing}; in parley(1) "
                 f"but unknown to parley: {extra}")
        else:
            ok(f"parley(1) lists the {len(known)} ssh_config keywords parley knows")

    code, err = probe_keyword(parley, "NoSuchKeywordForManTest")
    if "Bad configuration option" not in err:
        fail(f"parley -G does not refuse a made-up keyword, so the probe proves nothing: {err!r}")
        return
    wrong = []
    for keyword in sorted(documented):
        code, err = probe_keyword(parley, keyword)
        unknown = "Bad configuration option" in err
        refused = "not supported by parley" in err
        if keyword in kinds["refused"] and not refused:
            wrong.append(f"{keyword} (listed as refused): {code} {err!r}")
        elif keyword in kinds["ignored"] and code != 0:
            wrong.append(f"{keyword} (listed as ignored): {code} {err!r}")
        elif keyword in kinds["read"] and (unknown or refused):
            wrong.append(f"{keyword} (listed as read): {code} {err!r}")
    if wrong:
        fail("parley -G -o disagrees with parley(1): " + "; ".join(wrong))
    else:
        ok(f"parley -G -o treats each of the {len(documented)} keywords as parley(1) says "
           "(read, ignored or refused)")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: man_pages_options.py PARLEYD PARLEY SOURCE_DIR")
    parleyd, parley, source_dir = sys.argv[1:]
    man = os.path.join(source_dir, "man")
    parleyd_page = open(os.path.join(man, "parleyd.8.scd")).read()
    conf_page = open(os.path.join(man, "parleyd.conf.5.scd")).read()
    parley_page = open(os.path.join(man, "parley.1.scd")).read()

    parley_help = help_options([parley, "--help"])
    # The comparison must be able to fail: take one documented option out of a copy.
    dropped = "--allow-match-exec"
    mutilated = re.sub(r"^\*--allow-match-exec\*\n(\t.*\n)+\n", "", parley_page, flags=re.M)
    reported = differences(parley_help, page_options(mutilated, "OPTIONS"), "the copy")
    if mutilated == parley_page or not any(dropped in part for part in reported):
        fail(f"self-test: a copy of parley(1) without {dropped} was not reported")
    else:
        ok(f"self-test: a copy of parley(1) without {dropped} is reported: {'; '.join(reported)}")

    parleyd_help = help_options([parleyd, "--help"])
    compare("parleyd", parleyd_help, page_options(parleyd_page, "OPTIONS"), "parleyd(8)")
    compare("parleyd totp enroll", help_options([parleyd, "totp", "enroll", "--help"]),
            page_options(parleyd_page, "TOTP ENROLMENT"), "parleyd(8) TOTP ENROLMENT")
    compare("parley", parley_help, page_options(parley_page, "OPTIONS"), "parley(1)")
    compare("parley cp", help_options([parley, "cp", "--help"]),
            page_options(parley_page, "COPYING FILES"), "parley(1) COPYING FILES")

    check_conf(parleyd, source_dir, conf_page, parleyd_help)
    check_keywords(parley, source_dir, parley_page)

    if failures:
        print(f"man_pages_options: {len(failures)} failure(s)")
        sys.exit(1)
    print("man_pages_options: the pages and the programs agree")


if __name__ == "__main__":
    main()

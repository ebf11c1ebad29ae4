#!/usr/bin/env bash
# The Debian packages on this machine (docs/install.md): installs DEB_DIR's four
# packages with dpkg -i, checks the units with systemd-analyze verify, runs
# parleyd -t on the shipped configuration, starts the installed parleyd with the
# unit's ExecStart= line (no systemd here: its StateDirectory=/RuntimeDirectory=
# are made as systemd makes them), logs in with real ssh by password through PAM
# as a user made for the test (deb_login.py), stops parleyd, purges the packages
# and checks nothing they installed or made is left but the parleyd account.
# Usage: deb_test.sh DEB_DIR. Exits non-zero on any failure; a missing tool fails.
# dpkg's state is the machine's: a trap purges the packages whatever happens.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
debs=$(realpath "${1:?usage: deb_test.sh DEB_DIR}")
for tool in dpkg useradd userdel chpasswd getent systemd-analyze ss /usr/bin/ssh /usr/bin/python3 openssl; do
  command -v "$tool" > /dev/null || { echo "deb_test: $tool is missing" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "deb_test: must run as root (dpkg -i)" >&2; exit 1; }
packages=(parleyd parley libparley-dev libparley0)
user=parley-deb-test
port=2022

failed=0 passed=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; passed=$((passed + 1)); else echo "FAIL $what"; failed=$((failed + 1)); fi
}

tmp=$(mktemp -d /tmp/parley-deb-test.XXXXXX)
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2> /dev/null; then
    kill "$server_pid"; wait "$server_pid" 2> /dev/null || true
  fi
  for p in "${packages[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -qv 'not-installed'; then
      dpkg --purge "$p" > /dev/null 2>&1 || echo "deb_test: could not purge $p" >&2
    fi
  done
  if getent passwd "$user" > /dev/null; then userdel -r "$user" > /dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -qv 'not-installed'; then
    echo "deb_test: $p is installed (or its configuration is) already; purge it first" >&2
    trap - EXIT; exit 1
  fi
done
if ss -Hltn "sport = :$port" | grep -q .; then
  echo "deb_test: port $port (the shipped configuration's) is in use" >&2; exit 1
fi
# What exists before, to find what the packages leave behind.
watched=(/etc /usr /lib /opt /var/lib /run/parleyd)
snapshot() {  # (find fails on a watched path that does not exist)
  { find "${watched[@]}" -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/lib/ucf \) -prune \
      -o -print 2> /dev/null || true; } | sort
}
snapshot > "$tmp/before"
account_before=no
if getent passwd parleyd > /dev/null; then account_before=yes; fi

# The account is there already on a machine install-deps.sh prepared, so postinst's
# creating it runs here with stand-ins: getent finds no parleyd, useradd records its
# arguments, which must be install-deps.sh's.
mkdir -p "$tmp/control" "$tmp/stubs"
dpkg-deb -e "$(ls "$debs"/parleyd_*.deb)" "$tmp/control"
printf '#!/bin/sh\nexit 2\n' > "$tmp/stubs/getent"
printf '#!/bin/sh\necho "useradd $*" > %s/useradd.args\n' "$tmp" > "$tmp/stubs/useradd"
printf '#!/bin/sh\nexit 0\n' > "$tmp/stubs/deb-systemd-helper"
chmod +x "$tmp"/stubs/*
PATH=$tmp/stubs:$PATH sh "$tmp/control/postinst" configure > /dev/null
expected=$(grep -o 'useradd --system [^$]*parleyd' "$root/scripts/install-deps.sh")
check "postinst creates a missing parleyd account as install-deps.sh does ($expected)" \
  test "$(cat "$tmp/useradd.args" 2> /dev/null)" = "$expected"

files=()
for p in "${packages[@]}"; do files+=("$(ls "$debs"/"${p}"_*.deb)"); done
check "dpkg -i installs ${packages[*]}" dpkg -i "${files[@]}"
check "the parleyd system account exists (postinst; there before: $account_before)" \
  bash -c "getent passwd parleyd | grep -q ':/usr/sbin/nologin$'"
check "/etc/parley/parleyd.conf and /etc/pam.d/parleyd are conffiles" \
  bash -c "dpkg-query -W -f='\${Conffiles}' parleyd | grep -q /etc/parley/parleyd.conf &&
           dpkg-query -W -f='\${Conffiles}' parleyd | grep -q /etc/pam.d/parleyd"
unit=/lib/systemd/system/parleyd.service
check "systemd-analyze verify parleyd.service" bash -c "systemd-analyze verify $unit > $tmp/verify.log 2>&1"
mkdir -p "$tmp/units/parleyd.service.d"
cp "$unit" "$tmp/units/" && cp /usr/share/doc/parleyd/examples/parleyd-strict.conf "$tmp/units/parleyd.service.d/"
check "systemd-analyze verify with the strict drop-in" \
  bash -c "SYSTEMD_UNIT_PATH=$tmp/units: systemd-analyze verify $tmp/units/parleyd.service >> $tmp/verify.log 2>&1"
cat "$tmp/verify.log"
# systemd only warns of a misspelt or misplaced setting; both units must have none.
check "systemd-analyze: no unknown or ignored setting" bash -c "! grep -Ei 'unknown|ignoring|invalid' $tmp/verify.log"
check "parleyd -t on the shipped configuration: status 0, nothing printed" \
  bash -c "out=\$(/usr/sbin/parleyd -t --config /etc/parley/parleyd.conf 2>&1) && [[ -z \$out ]] || { echo \"\$out\"; false; }"

# The unit's ExecStart= line, started as systemd would (no systemd runs here).
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
check "the unit has one ExecStart= line, /usr/sbin/parleyd ($exec_start)" test "${exec_start%% *}" = /usr/sbin/parleyd
mkdir -p -m 0700 /var/lib/parleyd
mkdir -p -m 0755 /run/parleyd
read -r -a argv <<< "$exec_start"
STATE_DIRECTORY=/var/lib/parleyd RUNTIME_DIRECTORY=/run/parleyd "${argv[@]}" \
  > "$tmp/parleyd.out" 2> "$tmp/parleyd.log" &
server_pid=$!
for _ in $(seq 100); do
  grep -q 'listening on' "$tmp/parleyd.out" 2> /dev/null && break
  kill -0 "$server_pid" 2> /dev/null || break
  sleep 0.1
done
check "the installed parleyd listens on 0.0.0.0:$port" grep -q "parleyd listening on 0.0.0.0:$port" "$tmp/parleyd.out"
check "it made its host key in /var/lib/parleyd" test -f /var/lib/parleyd/ssh_host_ed25519_key

# A user with a password (a throwaway value, never printed), logged in through PAM.
useradd --create-home --shell /bin/bash "$user"
PARLEY_TEST_PASSWORD=$(openssl rand -hex 12)
export PARLEY_TEST_PASSWORD
echo "$user:$PARLEY_TEST_PASSWORD" | chpasswd
check "ssh by password through PAM; the session is $user's" \
  /usr/bin/python3 "$root/tests/packaging/deb_login.py" "$port" "$user"
check "parleyd logged no password" bash -c "! grep -qF -- \"\$PARLEY_TEST_PASSWORD\" '$tmp/parleyd.log' '$tmp/parleyd.out'"
unset PARLEY_TEST_PASSWORD

kill "$server_pid"
for _ in $(seq 100); do kill -0 "$server_pid" 2> /dev/null || break; sleep 0.1; done
status=0
if kill -0 "$server_pid" 2> /dev/null; then status=running; else wait "$server_pid" || status=$?; fi
check "parleyd stops on SIGTERM within 10 s (status $status)" test "$status" != running
server_pid=
echo "--- parleyd's log"; tail -n 20 "$tmp/parleyd.log"; echo "---"

for p in "${packages[@]}"; do dpkg -L "$p"; done | sort -u > "$tmp/package-files"
check "dpkg --purge ${packages[*]}" dpkg --purge "${packages[@]}"
for p in "${packages[@]}"; do
  check "$p is purged" bash -c "! dpkg-query -W -f='\${Status}' $p 2> /dev/null | grep -qv not-installed"
done
# Files (not the shared directories) the packages held, and what the packages made.
leftover=$(while read -r f; do if [[ -e $f && ! -d $f ]]; then echo "$f"; fi; done < "$tmp/package-files")
check "no file the packages installed remains${leftover:+: $leftover}" test -z "$leftover"
check "/etc/parley, /var/lib/parleyd, /run/parleyd are gone" \
  bash -c "! test -e /etc/parley -o -e /var/lib/parleyd -o -e /run/parleyd"
check "the unit's enablement is gone" \
  bash -c "! ls /etc/systemd/system/*/parleyd.service /etc/systemd/system/parleyd.service 2> /dev/null | grep -q ."
snapshot > "$tmp/after"
# (useradd's backups of the account files, /etc/subuid- and the like, come from the test's user.)
comm -13 "$tmp/before" "$tmp/after" | grep -Ev "^/home/$user|^/etc/(passwd|group|shadow|gshadow|subuid|subgid)-\$" \
  > "$tmp/new" || true
check "nothing new in ${watched[*]} after the purge$(head -n 5 "$tmp/new" | tr '\n' ' ' | sed 's/^./: &/')" test ! -s "$tmp/new"
check "the parleyd account stays (Debian policy)" bash -c "getent passwd parleyd > /dev/null"

echo "deb_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

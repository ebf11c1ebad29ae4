#!/usr/bin/env bash
# Installs the Debian 12 packages parley needs to build, test and benchmark, creates the parleyd
# system account (the network process's user, src/sandbox), then unpacks OpenSSH 10.0 from
# bookworm-backports into a private directory for the post-quantum tests.
# Idempotent: packages already present are skipped; run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  g++ clang-16 libclang-rt-16-dev
  libssl-dev libasio-dev libcrypt-dev libseccomp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libspdlog-dev libfmt-dev libtomlplusplus-dev libssh-dev
  openssh-client openssh-server
  python3 python3-pexpect python3-asyncssh python3-paramiko whois
  liboath-dev oathtool libpam-oath
  libqrencode-dev qrencode zbar-tools imagemagick
  libpam0g-dev libpam-wrapper libpamtest0-dev python3-pypamtest libpam-google-authenticator
  tmux procps ssh-audit universal-ctags strace linux-perf ccache
  libsystemd-dev scdoc man-db groff-base lintian dpkg-dev fakeroot
  libhiredis-dev redis-server redis-tools haproxy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The account parleyd's network process runs as when parleyd starts as root (src/sandbox):
# no home of its own (its root is the empty directory), no shell.
if ! id parleyd > /dev/null 2>&1; then
  $SUDO useradd --system --no-create-home --home-dir /run/parleyd/empty --shell /usr/sbin/nologin parleyd
  echo "install-deps: created the system account parleyd"
fi

# sshd (the system's and OpenSSH 10's) refuses to start without its privilege separation
# directory. Debian's packaging makes it at boot through systemd; a machine without a booted
# systemd (a container, CI) does not have it after openssh-server is installed.
$SUDO mkdir -p -m 0755 /run/sshd

# OpenSSH 10.0 (ssh and sshd with mlkem768x25519-sha256), the packages of bookworm-backports
# unpacked with dpkg-deb -x into one directory, beside the system's 9.2: nothing is installed.
# apt runs with a private configuration (its own sources file, lists and cache in a temporary
# directory), so the system's apt sources and state stay as they are. The tests find the
# directory through PARLEY_OPENSSH10 (tests/acceptance/common.py, openssh10_dir()).
OPENSSH10_DIR=${PARLEY_OPENSSH10:-/opt/parley-peers/openssh-10.0}
OPENSSH10_VERSION='1:10.0p1-*'  # an apt version pattern; the stamp file holds the exact one
stamp="$OPENSSH10_DIR/.parley-openssh-version"

openssh10_works() {  # $1: directory holding usr/bin/ssh, usr/sbin/sshd, usr/lib/openssh/*
  local d=$1 f
  [[ $("$d/usr/bin/ssh" -V 2>&1) == OpenSSH_10.0* ]] || return 1
  [[ $("$d/usr/sbin/sshd" -V 2>&1) == OpenSSH_10.0* ]] || return 1
  for f in usr/bin/ssh usr/bin/ssh-keygen usr/sbin/sshd usr/lib/openssh/sshd-session usr/lib/openssh/sshd-auth; do
    [[ -x $d/$f ]] || return 1
    if ldd "$d/$f" 2>&1 | grep 'not found' > /dev/null; then return 1; fi
  done
}

openssh10_config_ok() {  # sshd -t with the options pointing sshd at its private helpers
  local d=$1 t rc=0
  t=$(mktemp -d)
  "$d/usr/bin/ssh-keygen" -q -t ed25519 -N '' -f "$t/hostkey"
  printf 'HostKey %s\nSshdSessionPath %s\nSshdAuthPath %s\nPidFile none\n' "$t/hostkey" \
    "$d/usr/lib/openssh/sshd-session" "$d/usr/lib/openssh/sshd-auth" > "$t/sshd_config"
  "$d/usr/sbin/sshd" -t -f "$t/sshd_config" || rc=1
  rm -rf "$t"
  return $rc
}

# shellcheck disable=SC2053  # the version is a glob pattern on purpose
if [[ -f $stamp && $(cat "$stamp") == $OPENSSH10_VERSION ]] && openssh10_works "$OPENSSH10_DIR"; then
  echo "install-deps: OpenSSH $(cat "$stamp") already unpacked in $OPENSSH10_DIR"
else
  work=$($SUDO mktemp -d /tmp/parley-openssh10.XXXXXX)
  trap '$SUDO rm -rf "$work"' EXIT
  $SUDO chmod 0755 "$work"
  $SUDO mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root" "$work/preferences.d"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main" \
    | $SUDO tee "$work/sources.list" > /dev/null
  apt_private=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=-
               -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
               -o Dir::Etc::preferences=/dev/null -o "Dir::Etc::preferencesparts=$work/preferences.d")
  $SUDO apt-get "${apt_private[@]}" update -q
  version=$(apt-cache "${apt_private[@]}" madison openssh-server \
              | awk -F' [|] ' -v pat="${OPENSSH10_VERSION%\*}" 'index($2, pat) == 1 { print $2; exit }')
  if [[ -z $version ]]; then
    echo "install-deps: bookworm-backports has no openssh-server $OPENSSH10_VERSION" >&2
    exit 1
  fi
  # apt downloads as the _apt user when it can write the directory.
  if id _apt > /dev/null 2>&1; then $SUDO chown _apt "$work/debs"; fi
  (cd "$work/debs" && $SUDO apt-get "${apt_private[@]}" download -q \
     "openssh-client=$version" "openssh-server=$version")
  for deb in "$work"/debs/*.deb; do $SUDO dpkg-deb -x "$deb" "$work/root"; done
  if ! openssh10_works "$work/root" || ! openssh10_config_ok "$work/root"; then
    echo "install-deps: the unpacked OpenSSH $version does not run here" >&2
    exit 1
  fi
  echo "$version" | $SUDO tee "$work/root/.parley-openssh-version" > /dev/null
  $SUDO mkdir -p "$(dirname "$OPENSSH10_DIR")"
  $SUDO rm -rf "$OPENSSH10_DIR"
  $SUDO mv "$work/root" "$OPENSSH10_DIR"
  echo "install-deps: OpenSSH $version unpacked in $OPENSSH10_DIR ($("$OPENSSH10_DIR/usr/bin/ssh" -V 2>&1))"
fi

# The system's OpenSSH is still Debian 12's.
if [[ $(/usr/bin/ssh -V 2>&1) != OpenSSH_9.2* ]]; then
  echo "install-deps: /usr/bin/ssh is not OpenSSH 9.2 any more: $(/usr/bin/ssh -V 2>&1)" >&2
  exit 1
fi

#!/usr/bin/env bash
# Installs the Debian 12 packages parley needs to build, test and benchmark.
# Idempotent: packages already present are skipped; run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  g++ clang-16 libclang-rt-16-dev
  libssl-dev libasio-dev libcrypt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  openssh-client openssh-server
  python3 python3-pexpect python3-asyncssh python3-paramiko whois
  liboath-dev oathtool libpam-oath
  libqrencode-dev qrencode zbar-tools imagemagick
  libpam0g-dev libpam-wrapper libpamtest0-dev python3-pypamtest libpam-google-authenticator
  tmux procps
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# The layering check can fail: it passes a clean miniature tree and fails each
# deliberate violation (a layer including one above it, a core including <thread>
# or reading the clock, OpenSSL outside crypto), naming the offending file.
set -u
check=$(dirname "$0")/layering_check.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

tree() {  # a clean miniature tree in $tmp/$1
  mkdir -p "$tmp/$1/src/wire" "$tmp/$1/src/transport" "$tmp/$1/src/userauth" "$tmp/$1/src/crypto/include"
  echo '#include "parley/wire/bytes.hpp"' > "$tmp/$1/src/transport/transport.cpp"
  echo '#include "parley/transport/transport.hpp"' > "$tmp/$1/src/userauth/server_auth.cpp"
}

expect() {  # expect NAME pass|fail [TEXT the report must contain]
  local out rc
  out=$(bash "$check" "$tmp/$1" 2>&1); rc=$?
  if [[ $2 == pass && $rc -ne 0 ]] || [[ $2 == fail && $rc -eq 0 ]] ||
     [[ -n ${3:-} && $out != *"$3"* ]]; then
    echo "FAIL: $1: expected $2 ${3:+naming '$3'}; got status $rc:"; echo "$out"; failures=$((failures + 1))
  else
    echo "ok   $1: $2"
  fi
}

tree clean
expect clean pass

tree upward
echo '#include "parley/userauth/server_auth.hpp"' >> "$tmp/upward/src/transport/transport.cpp"
expect upward fail "src/transport includes the higher layer 'userauth'"

tree thread
echo '#include <thread>' > "$tmp/thread/src/wire/reader.cpp"
expect thread fail "src/wire/reader.cpp"

tree clock
echo 'auto t = std::chrono::steady_clock::now();' > "$tmp/clock/src/transport/timer.cpp"
expect clock fail "a clock read or a sleep in the sans-I/O core src/transport"

tree openssl
echo '#include <openssl/evp.h>' > "$tmp/openssl/src/transport/hash.cpp"
expect openssl fail "OpenSSL included outside src/crypto"

tree link
echo 'target_link_libraries(parley_transport PUBLIC parley_wire parley_userauth)' > "$tmp/link/src/transport/CMakeLists.txt"
expect link fail "src/transport links the higher layer 'parley_userauth'"

tree unknown
mkdir -p "$tmp/unknown/src/gadgets"
expect unknown fail "src/gadgets is a layer layering_check.sh does not know"

echo "layering_check_test: $((7 - failures)) passed, $failures failed"
exit $((failures > 0))

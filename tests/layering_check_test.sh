#!/usr/bin/env bash
# The layering check can fail: it passes a clean miniature tree and fails each
# deliberate violation (a layer including one above it, a core including <thread>,
# liboath or termios, opening a file or reading the clock, a core linking liboath,
# OpenSSL outside crypto), naming the offending file.
set -u
check=$(dirname "$0")/layering_check.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
cases=0

tree() {  # a clean miniature tree in $tmp/$1
  mkdir -p "$tmp/$1/src/wire" "$tmp/$1/src/transport" "$tmp/$1/src/userauth" "$tmp/$1/src/session" \
           "$tmp/$1/src/client" "$tmp/$1/src/crypto/include"
  echo '#include "parley/wire/bytes.hpp"' > "$tmp/$1/src/transport/transport.cpp"
  echo '#include "parley/transport/transport.hpp"' > "$tmp/$1/src/userauth/server_auth.cpp"
  echo '#include "parley/userauth/server_auth.hpp"' > "$tmp/$1/src/session/server_connection.cpp"
  printf '#include "parley/session/client_connection.hpp"\n#include <termios.h>\n#include <thread>\n' \
    > "$tmp/$1/src/client/responders.cpp"
}

expect() {  # expect NAME pass|fail [TEXT the report must contain]
  local out rc
  cases=$((cases + 1))
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

tree userauth_up
echo '#include "parley/client/responders.hpp"' >> "$tmp/userauth_up/src/userauth/server_auth.cpp"
expect userauth_up fail "src/userauth includes the higher layer 'client'"

tree liboath
echo '#include <liboath/oath.h>' > "$tmp/liboath/src/userauth/totp.cpp"
expect liboath fail "src/userauth/totp.cpp"

tree termios
echo '#include <termios.h>' > "$tmp/termios/src/userauth/tty.cpp"
expect termios fail "I/O, threads, OTP or PAM in the sans-I/O core src/userauth"

tree file_read
echo 'int fd = ::open(path.c_str(), O_RDONLY);' > "$tmp/file_read/src/userauth/authorized_keys.cpp"
expect file_read fail "a file or account read in the sans-I/O core src/userauth"

tree sleep
echo 'std::this_thread::sleep_until(next_step);' > "$tmp/sleep/src/userauth/client_auth.cpp"
expect sleep fail "a clock read or a sleep in the sans-I/O core src/userauth"

tree link_oath
echo 'target_link_libraries(parley_userauth PRIVATE PkgConfig::OATH)' > "$tmp/link_oath/src/userauth/CMakeLists.txt"
expect link_oath fail "the sans-I/O core src/userauth links a thread, OTP, PAM or crypt library"

tree session_thread
echo '#include <thread>' > "$tmp/session_thread/src/session/server_connection.cpp"
expect session_thread fail "I/O, threads, OTP or PAM in the sans-I/O core src/session"
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

# privsep is a core except channel.cpp, its socket code, and executor.*, its hands.
tree privsep_channel
mkdir -p "$tmp/privsep_channel/src/privsep"
printf '#include <sys/socket.h>\nint n = ::sendmsg(fd, &msg, 0);\n' > "$tmp/privsep_channel/src/privsep/channel.cpp"
expect privsep_channel pass

tree privsep_executor
mkdir -p "$tmp/privsep_executor/src/privsep"
printf '#include <unistd.h>\nint fd = ::socket(AF_INET, SOCK_STREAM, 0);\n' > "$tmp/privsep_executor/src/privsep/executor.cpp"
expect privsep_executor pass

tree privsep_socket
mkdir -p "$tmp/privsep_socket/src/privsep"
echo '#include <sys/socket.h>' > "$tmp/privsep_socket/src/privsep/monitor.cpp"
expect privsep_socket fail "a socket in the monitor core src/privsep"

tree privsep_thread
mkdir -p "$tmp/privsep_thread/src/privsep"
echo '#include <thread>' > "$tmp/privsep_thread/src/privsep/monitor.cpp"
expect privsep_thread fail "I/O, threads, OTP or PAM in the sans-I/O core src/privsep"

tree privsep_up
mkdir -p "$tmp/privsep_up/src/privsep"
# It may use the policy functions of session and login's start_session, not the driver.
echo '#include "parley/driver/server.hpp"' > "$tmp/privsep_up/src/privsep/monitor.cpp"
expect privsep_up fail "src/privsep includes the higher layer 'driver'"

tree unknown
mkdir -p "$tmp/unknown/src/gadgets"
expect unknown fail "src/gadgets is a layer layering_check.sh does not know"

echo "layering_check_test: $((cases - failures)) passed, $failures failed"
exit $((failures > 0))

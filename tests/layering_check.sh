#!/usr/bin/env bash
# Enforces the layering of STYLE.md and docs/architecture.md. Exits non-zero naming
# each offending line:
#  - only src/crypto includes OpenSSL, and its public headers name no OpenSSL type;
#  - only src/driver (and apps/tests that drive sockets) includes Asio;
#  - each layer under src/ includes only its own headers and those of the layers
#    below it, and its CMake target links only those (the table below), so no
#    layer reaches up;
#  - the sans-I/O cores (wire, state, transport, connection, userauth, session, privsep)
#    include no thread, file, stream, terminal, OTP or PAM library, open or read no
#    file, read no clock and sleep, and their CMake targets link no such library;
#  - privsep's monitor core also uses no socket: only src/privsep/channel.cpp, the
#    one file that moves its frames and descriptors over the socketpair
#    (sendmsg/recvmsg with SCM_RIGHTS), and src/privsep/executor.*, which carries
#    out the monitor's decisions with processes and sockets, may; both are
#    exempt from these checks.
# Usage: layering_check.sh [ROOT]; tests/layering_check_test.sh checks that it fails.
set -u
root=${1:-.}
status=0
report() { echo "$1"; echo "$2"; status=1; }

bad=$(grep -rnE '#\s*include\s*[<"]openssl/' "$root/src" "$root/apps" 2>/dev/null | grep -v "^$root/src/crypto/" || true)
[[ -n $bad ]] && report "OpenSSL included outside src/crypto:" "$bad"
bad=$(grep -rnE '#\s*include\s*[<"]asio' "$root/src" 2>/dev/null | grep -v "^$root/src/driver/" || true)
[[ -n $bad ]] && report "Asio included outside src/driver:" "$bad"
# The public headers of crypto must not leak OpenSSL types to the cores.
if [[ -d $root/src/crypto/include ]]; then
  bad=$(grep -rnE 'EVP_|OSSL_|BIGNUM|openssl' "$root/src/crypto/include" || true)
  [[ -n $bad ]] && report "OpenSSL names in crypto's public headers:" "$bad"
fi

# Which parley layers each layer may include (itself included). Lower layers first.
declare -A allowed=(
  [wire]="wire"
  [crypto]="wire crypto"
  [state]="wire crypto state"
  [transport]="wire crypto transport"
  [connection]="wire crypto transport connection"
  [userauth]="wire crypto transport userauth"
  [session]="wire crypto transport connection userauth session"
  [passwd]="wire crypto passwd"
  [login]="wire login"
  [otp]="wire crypto state transport userauth login otp"
  [pam]="wire crypto transport userauth login pam"
  [privsep]="wire crypto transport connection userauth session login privsep"
  [client]="wire crypto transport connection userauth session login otp client"
  [sandbox]="wire sandbox"
  [driver]="wire crypto state transport connection userauth session passwd login otp pam client privsep driver"
)
for dir in "$root"/src/*/; do
  layer=$(basename "$dir")
  if [[ -z ${allowed[$layer]+x} ]]; then
    report "src/$layer is a layer layering_check.sh does not know:" "add it to the table"
    continue
  fi
  while IFS= read -r hit; do
    [[ -z $hit ]] && continue
    used=$(sed -E 's/.*#\s*include\s*"parley\/([a-z_]+)\/.*/\1/' <<<"$hit")
    if ! grep -qw -- "$used" <<<"${allowed[$layer]}"; then
      report "src/$layer includes the higher layer '$used':" "$hit"
    fi
  done < <(grep -rnE '#\s*include\s*"parley/[a-z_]+/' "$dir" || true)
  # And the libraries its CMake target links.
  [[ -f $dir/CMakeLists.txt ]] || continue
  for used in $(grep -oE 'parley_[a-z_]+' "$dir/CMakeLists.txt" | sed 's/^parley_//' | sort -u); do
    if ! grep -qw -- "$used" <<<"${allowed[$layer]}"; then
      report "src/$layer links the higher layer 'parley_$used':" "$dir/CMakeLists.txt"
    fi
  done
done

# privsep's channel.cpp is its socket code (see above), and executor.{hpp,cpp}
# its hands: the monitor's decisions (start a session's program as the user,
# connect, listen) need processes, pidfds and sockets, so they are carried out
# there, outside the Monitor core; the rest of privsep is a core.
exempt() { [[ $1 == privsep ]] && echo "--exclude=channel.cpp --exclude=executor.cpp --exclude=executor.hpp"; }
for layer in wire state transport connection userauth session privsep; do
  [[ -d $root/src/$layer ]] || continue
  if [[ $layer == privsep ]]; then
    bad=$(grep -rnE $(exempt "$layer") '#\s*include\s*<(sys/socket\.h|sys/un\.h|sys/uio\.h|unistd\.h)>|(^|[^A-Za-z0-9_])::(socket|socketpair|sendmsg|recvmsg|send|recv|write|close)\(' \
          "$root/src/$layer" || true)
    [[ -n $bad ]] && report "a socket in the monitor core src/privsep (only channel.cpp moves bytes):" "$bad"
  fi
  bad=$(grep -rnE $(exempt "$layer") '#\s*include\s*<(thread|fstream|iostream|filesystem|termios\.h|fcntl\.h|sys/stat\.h|pwd\.h|liboath/oath\.h|security/pam_appl\.h)>' \
        "$root/src/$layer" || true)
  [[ -n $bad ]] && report "I/O, threads, OTP or PAM in the sans-I/O core src/$layer:" "$bad"
  bad=$(grep -rnE $(exempt "$layer") '(^|[^A-Za-z0-9_])::(open|openat|fopen|read|stat|fstat|lstat|opendir|getpwnam|getpwnam_r)\(|\bfopen\(' \
        "$root/src/$layer" || true)
  [[ -n $bad ]] && report "a file or account read in the sans-I/O core src/$layer (callers hand in what they read):" "$bad"
  bad=$(grep -rnE $(exempt "$layer") '(steady_clock|system_clock|high_resolution_clock)::now\(|sleep_for|sleep_until|\bsleep\(|\busleep\(|clock_gettime|gettimeofday|\btime\((nullptr|NULL|0)\)' \
        "$root/src/$layer" || true)
  [[ -n $bad ]] && report "a clock read or a sleep in the sans-I/O core src/$layer (time is passed in):" "$bad"
  if [[ -f $root/src/$layer/CMakeLists.txt ]]; then
    bad=$(grep -nE 'OATH|QRENCODE|PAM_|pam|Threads::|CRYPT_' "$root/src/$layer/CMakeLists.txt" || true)
    [[ -n $bad ]] && report "the sans-I/O core src/$layer links a thread, OTP, PAM or crypt library:" "$bad"
  fi
done

if [[ $status -eq 0 ]]; then echo "layering ok"; fi
exit $status

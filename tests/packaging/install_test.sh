#!/usr/bin/env bash
# The library as a package (docs/install.md): installs BUILD_DIR (a Release build of
# the whole tree) into a temporary prefix with cmake --install, then checks
#   - what is installed: the libraries (libparley.so.0 with its SONAME, libparley.a),
#     headers, parleyConfig.cmake + parleyConfigVersion.cmake, parley.pc, parleyd and
#     parley, and none of parleyd_probe, tests, benchmarks or examples;
#   - nm -D --defined-only of libparley.so: parley's own symbols only;
#   - every installed header compiles alone (g++ -std=c++23 -fsyntax-only), and none
#     includes Asio, toml++, spdlog, fmt, OpenSSL, hiredis or another private dependency;
#   - examples/consumer builds against the prefix with find_package(parley) and with
#     pkg-config, and each build serves Higher or Lower to real ssh (consumer_login.py).
# Usage: install_test.sh BUILD_DIR. Exits non-zero on any failure; a missing tool fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath "${1:?usage: install_test.sh BUILD_DIR}")
for tool in cmake ninja nm readelf ldd pkg-config g++ /usr/bin/ssh /usr/bin/python3; do
  command -v "$tool" > /dev/null || { echo "install_test: $tool is missing" >&2; exit 1; }
done

failed=0 passed=0
check() {  # check DESCRIPTION COMMAND...: runs the command, records ok/FAIL
  local what=$1; shift
  if "$@"; then echo "ok   $what"; passed=$((passed + 1)); else echo "FAIL $what"; failed=$((failed + 1)); fi
}

tmp=$(mktemp -d /tmp/parley-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
# The system component (/etc, /lib/systemd: absolute paths) is the Debian package's only.
for component in libs dev server client; do
  cmake --install "$build" --prefix "$prefix" --component "$component" > "$tmp/install-$component.log"
done
(cd "$prefix" && find . -type f -o -type l | sed 's|^\./||' | sort) > "$tmp/files"

so=$(grep -E '/libparley\.so\.0$' "$tmp/files" | head -n 1 || true)
libdir=$prefix/$(dirname "${so:-lib/none}")
check "libparley.so.0 installed ($so)" test -n "$so"
check "libparley.so (the dev symlink) and libparley.a beside it" \
  test -L "$libdir/libparley.so" -a -f "$libdir/libparley.a"
check "SONAME libparley.so.0" grep -q 'Library soname: \[libparley.so.0\]' <(readelf -d "$libdir/libparley.so.0")
check "parleyConfig.cmake and parleyConfigVersion.cmake" \
  test -f "$libdir/cmake/parley/parleyConfig.cmake" -a -f "$libdir/cmake/parley/parleyConfigVersion.cmake"
check "parley.pc with the prefix installed to" grep -qx "prefix=$prefix" "$libdir/pkgconfig/parley.pc"
check "parleyd in sbin, parley in bin" test -x "$prefix/sbin/parleyd" -a -x "$prefix/bin/parley"
check "no probe, test, benchmark or example installed" \
  bash -c "! grep -Ei 'probe|test|bench|example|fuzz' '$tmp/files'"

# Exported symbols: parley's namespace and its types' RTTI, vtables and thunks.
nm -D --defined-only -C "$libdir/libparley.so.0" | cut -c 20- > "$tmp/symbols"
allowed='^(parley::|(typeinfo|typeinfo name|vtable|VTT|construction vtable|guard variable) for parley::|(non-virtual|virtual) thunk to parley::|PARLEY_0$)'
grep -Ev "$allowed" "$tmp/symbols" > "$tmp/foreign" || true
echo "libparley.so.0 exports $(wc -l < "$tmp/symbols") symbols, $(wc -l < "$tmp/foreign") outside parley::"
head -n 5 "$tmp/foreign"
check "nm -D: only parley:: symbols (and parley types' typeinfo/vtables)" test ! -s "$tmp/foreign"
check "nm -D: the API is there (parley::driver::Server::start, typeinfo for parley::userauth::SyncProvider)" \
  bash -c "grep -q '^parley::driver::Server::start' '$tmp/symbols' &&
           grep -q '^typeinfo for parley::userauth::SyncProvider' '$tmp/symbols'"
check "nm -D: no Asio, fmt or toml++ symbol of their own" bash -c "! grep -Eq '^(asio|fmt|toml|spdlog|CLI)::' '$tmp/symbols'"
# parley's driver internals (parley::driver::detail) that take Asio types are
# parley's symbols all the same; say how many.
echo "($(grep -c 'asio::' "$tmp/symbols" || true) exported parley:: functions take Asio types: driver internals)"

# Every header alone, against the installed include directory only.
headers=$(cd "$prefix/include" && find parley -name '*.hpp' | sort)
echo "$(echo "$headers" | wc -l) installed headers"
check "no installed header includes a private dependency" \
  bash -c "! grep -rEn '#include *[<\"](asio|toml\+\+|spdlog|fmt|openssl|seccomp|security/|liboath|qrencode|hiredis|crypt\.h|CLI)' '$prefix/include'"
echo "$headers" | xargs -P 2 -I{} sh -c \
  'echo "#include \"{}\"" | g++ -std=c++23 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -I"$1" -x c++ - \
     > "$2/header-$(echo {} | tr / _).log" 2>&1 || echo {}' _ "$prefix/include" "$tmp" > "$tmp/bad-headers"
cat "$tmp"/header-*.log | head -n 20
check "every installed header compiles alone (-std=c++23 -fsyntax-only)" test ! -s "$tmp/bad-headers"
sed 's/^/  does not compile alone: /' "$tmp/bad-headers"

# examples/consumer, out of tree, both ways; each serves Higher or Lower to real ssh.
consumer() {  # consumer NAME CMAKE-ARGS...
  local name=$1; shift
  cmake -S "$root/examples/consumer" -B "$tmp/$name" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" \
    > "$tmp/$name.log" 2>&1 && cmake --build "$tmp/$name" >> "$tmp/$name.log" 2>&1 \
    || { tail -n 30 "$tmp/$name.log"; return 1; }
}
check "examples/consumer builds with find_package(parley)" consumer find_package -DCMAKE_PREFIX_PATH="$prefix"
check "find_package found the prefix's parley" grep -q "parley_DIR:PATH=$libdir/cmake/parley" "$tmp/find_package/CMakeCache.txt"
check "examples/consumer builds with pkg-config" \
  env PKG_CONFIG_PATH="$libdir/pkgconfig" bash -c "$(declare -f consumer); tmp=$tmp root=$root consumer pkg-config -DCONSUMER_USE_PKGCONFIG=ON"
check "pkg-config found the prefix's parley.pc" grep -q "PARLEY_PREFIX:INTERNAL=$prefix" "$tmp/pkg-config/CMakeCache.txt"
for name in find_package pkg-config; do
  check "$name build: Higher or Lower with real ssh" \
    /usr/bin/python3 "$root/tests/packaging/consumer_login.py" "$tmp/$name/higher_or_lower" "$libdir"
done

echo "install_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

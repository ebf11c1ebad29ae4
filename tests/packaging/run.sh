#!/usr/bin/env bash
# CI's packaging step (scripts/test.sh, after ctest; docs/install.md): one Release
# build (build/package, configured for the prefix /usr with Debian's hardening
# flags) serves the install test and the Debian packages:
#   1. install_test.sh: cmake --install into a temporary prefix, the symbol and
#      header checks, examples/consumer both ways, logins with real ssh;
#   2. build_debs.sh: cpack -G DEB, lintian (no E: line);
#   3. deb_test.sh: dpkg -i, parleyd -t, parleyd started as the unit says, a PAM
#      password login with real ssh, dpkg --purge leaving nothing behind.
# Exits non-zero if any step fails; a missing tool fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${PARLEY_PACKAGE_BUILD:-build/package}
start=$SECONDS
for tool in cmake ninja dpkg-buildflags; do
  command -v "$tool" > /dev/null || { echo "packaging: $tool is missing" >&2; exit 1; }
done

# Debian's build flags (hardening: fortify, stack protector, relro, bindnow), without
# its -g -O2 (Release's -O3 applies; the packages ship no debug symbols).
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all DEB_CXXFLAGS_MAINT_STRIP='-g -O2' \
        dpkg-buildflags --export=sh 2> /dev/null)"
launcher=()
if command -v ccache > /dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARLEY_TESTS=OFF -DPARLEY_BENCH=OFF \
  -DCMAKE_INSTALL_PREFIX=/usr "${launcher[@]}" \
  -DCMAKE_CXX_FLAGS="$CPPFLAGS $CXXFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS" \
  -DCMAKE_SHARED_LINKER_FLAGS="$LDFLAGS" > "$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
# Only what is installed (parleyd_probe and the examples are not: building them would
# cost minutes). A new installed target must be added here, or cmake --install fails.
cmake --build "$build" -j "$(nproc)" --target parley_shared parley_static parleyd parley man_pages
echo "packaging: build done after $((SECONDS - start)) s"

bash tests/packaging/install_test.sh "$build"
echo "packaging: install test done after $((SECONDS - start)) s"
bash tests/packaging/build_debs.sh "$build"
echo "packaging: Debian packages built after $((SECONDS - start)) s"
bash tests/packaging/deb_test.sh "$build/debs"
echo "packaging: all passed in $((SECONDS - start)) s"

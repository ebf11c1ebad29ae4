#!/usr/bin/env bash
# Builds the Debian packages of BUILD_DIR (configured with the prefix /usr and built)
# into BUILD_DIR/debs with CPack's DEB generator, then runs lintian on them: any E:
# line fails; warnings are printed. Usage: build_debs.sh BUILD_DIR
set -euo pipefail
build=$(realpath "${1:?usage: build_debs.sh BUILD_DIR}")
for tool in cpack dpkg-deb dpkg-shlibdeps fakeroot lintian; do
  command -v "$tool" > /dev/null || { echo "build_debs: $tool is missing" >&2; exit 1; }
done
grep -qx 'CMAKE_INSTALL_PREFIX:PATH=/usr' "$build/CMakeCache.txt" \
  || { echo "build_debs: $build must be configured with -DCMAKE_INSTALL_PREFIX=/usr" >&2; exit 1; }

rm -rf "$build/debs" "$build/_CPack_Packages"
(cd "$build" && cpack -G DEB -B "$build/debs" > "$build/cpack.log" 2>&1) || { cat "$build/cpack.log"; exit 1; }
rm -rf "$build/debs/_CPack_Packages"
ls -l "$build"/debs/*.deb
for deb in "$build"/debs/*.deb; do
  echo "== $(basename "$deb")"
  dpkg-deb --field "$deb" Package Version Depends Recommends Section
done

# lintian as root needs --allow-root; it checks the binary packages (there is no source
# package). Its status is 1 when it found errors, 2 or more when it could not run.
rc=0
lintian --allow-root --tag-display-limit 0 "$build"/debs/*.deb > "$build/lintian.log" 2>&1 || rc=$?
cat "$build/lintian.log"
if ((rc > 1)); then echo "build_debs: lintian did not run (status $rc)" >&2; exit 1; fi
errors=$(grep -c '^E: ' "$build/lintian.log" || true)
warnings=$(grep -c '^W: ' "$build/lintian.log" || true)
echo "build_debs: lintian: $errors errors, $warnings warnings"
[[ $errors -eq 0 && $rc -eq 0 ]]

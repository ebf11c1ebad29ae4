#!/usr/bin/env bash
# Enforces the layering of STYLE.md: only src/crypto includes OpenSSL headers and
# only src/driver (and apps/tests that drive sockets) include Asio. Exits non-zero
# naming each offending line.
set -u
root=${1:-.}
status=0
bad=$(grep -rnE '#\s*include\s*[<"]openssl/' "$root/src" "$root/apps" | grep -v "^$root/src/crypto/" || true)
if [[ -n $bad ]]; then echo "OpenSSL included outside src/crypto:"; echo "$bad"; status=1; fi
bad=$(grep -rnE '#\s*include\s*[<"]asio' "$root/src" | grep -v "^$root/src/driver/" || true)
if [[ -n $bad ]]; then echo "Asio included outside src/driver:"; echo "$bad"; status=1; fi
# The public headers of crypto must not leak OpenSSL types to the cores.
bad=$(grep -rnE 'EVP_|OSSL_|BIGNUM|openssl' "$root/src/crypto/include" || true)
if [[ -n $bad ]]; then echo "OpenSSL names in crypto's public headers:"; echo "$bad"; status=1; fi
if [[ $status -eq 0 ]]; then echo "layering ok"; fi
exit $status

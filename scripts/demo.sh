#!/usr/bin/env bash
# Installs what is missing, builds parley (release), and runs the demo server
# (parleyd --demo, listening on 127.0.0.1:2222). Extra arguments go to parleyd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARLEY_TESTS=OFF -DPARLEY_BENCH=OFF
cmake --build build/release --target parleyd -j "$(nproc)"
exec build/release/apps/parleyd/parleyd --demo "$@"

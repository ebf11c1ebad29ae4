#!/usr/bin/env bash
# Installs what is missing, builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer (warnings are errors), runs every test under ctest,
# then builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS (60).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

jobs=$(nproc)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPARLEY_WERROR=ON -DPARLEY_SANITIZE=ON -DPARLEY_BENCH=ON
cmake --build build/asan -j "$jobs"
ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 900

# Fuzzing: a separate clang build of the fuzz targets only.
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CC=clang-16 CXX=clang++-16 cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPARLEY_FUZZ=ON -DPARLEY_BENCH=OFF -DPARLEY_TESTS=ON
cmake --build build/fuzz -j "$jobs" --target fuzz_packet_decoder fuzz_server_connection fuzz_channels
mkdir -p build/fuzz/corpus/packet build/fuzz/corpus/server build/fuzz/corpus/channels
failed=0
for t in packet_decoder:packet server_connection:server channels:channels; do
  name=${t%%:*}; corpus=${t##*:}
  echo "fuzz_$name: ${FUZZ_SECONDS}s"
  if ! build/fuzz/tests/fuzz/fuzz_$name -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
      build/fuzz/corpus/$corpus tests/fuzz/seeds/$corpus > build/fuzz/fuzz_$name.log 2>&1; then
    echo "fuzz_$name found a crash:"; tail -n 60 build/fuzz/fuzz_$name.log; failed=1
  else
    grep -E '^stat::number_of_executed_units|Done [0-9]+ runs' build/fuzz/fuzz_$name.log || true
  fi
done
if [[ $failed -ne 0 ]]; then echo "fuzzing: 0 passed, 1 failed"; exit 1; fi
echo "fuzzing: 3 passed, 0 failed"

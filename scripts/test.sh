#!/usr/bin/env bash
# Installs what is missing, builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer (warnings are errors), runs every test under ctest,
# then the packaging tests (tests/packaging/run.sh: a Release build, cmake --install,
# the Debian packages), then builds the libFuzzer targets with clang and runs them within FUZZ_BUDGET (180 s in all).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

jobs=$(nproc)
# ccache (from install-deps.sh) for the three builds: CI builds a fresh clone, and the objects
# of sources already built once, in any clone, are reused. CCACHE_BASEDIR makes paths under this
# tree relative in what ccache hashes, and CCACHE_NOHASHDIR leaves out the working directory,
# which it would otherwise hash for -g objects: a reused object's debug information names the
# tree that first built it, which nothing here reads. The three builds take about 1 GiB.
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-16G}
launcher=-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPARLEY_WERROR=ON -DPARLEY_SANITIZE=ON -DPARLEY_BENCH=ON "$launcher"
cmake --build build/asan -j "$jobs"
ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 900

# Packaging (docs/install.md): one Release build (build/package) installed into a temporary
# prefix, examples/consumer built against it both ways, and the Debian packages built,
# linted, installed, logged into with real ssh and purged (tests/packaging/run.sh).
bash tests/packaging/run.sh

# Fuzzing: a separate clang build of the fuzz targets only. One budget
# (FUZZ_BUDGET seconds, default 180) is shared by all targets, so adding a
# target does not lengthen CI; FUZZ_SECONDS, if set, is the time per target.
targets=(packet_decoder:packet server_connection:server channels:channels kex:kex session:session
         decoders:decoders monitor_decoder:monitor ssh_config:ssh_config sftp:sftp proxy_header:proxy)
FUZZ_BUDGET=${FUZZ_BUDGET:-180}
FUZZ_SECONDS=${FUZZ_SECONDS:-$((FUZZ_BUDGET / ${#targets[@]}))}
CC=clang-16 CXX=clang++-16 cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPARLEY_FUZZ=ON -DPARLEY_BENCH=OFF -DPARLEY_TESTS=ON "$launcher"
cmake --build build/fuzz -j "$jobs" --target $(printf 'fuzz_%s ' "${targets[@]%%:*}")
failed=0
for t in "${targets[@]}"; do
  name=${t%%:*}; corpus=${t##*:}
  mkdir -p build/fuzz/corpus/$corpus
  echo "fuzz_$name: ${FUZZ_SECONDS}s"
  if ! build/fuzz/tests/fuzz/fuzz_$name -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
      build/fuzz/corpus/$corpus tests/fuzz/seeds/$corpus > build/fuzz/fuzz_$name.log 2>&1; then
    echo "fuzz_$name found a crash:"; tail -n 60 build/fuzz/fuzz_$name.log; failed=$((failed + 1))
  else
    grep -E '^stat::number_of_executed_units|Done [0-9]+ runs|^reach:' build/fuzz/fuzz_$name.log || true
  fi
done
echo "fuzzing: $((${#targets[@]} - failed)) passed, $failed failed"
if [[ $failed -ne 0 ]]; then exit 1; fi

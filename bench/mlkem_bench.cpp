// ML-KEM-768 (FIPS 203) key generation, encapsulation and decapsulation: one
// operation per iteration, keys and randomness from SystemRandom as in a real
// key exchange (the RNG's cost is included; it is small beside the KEM's).

#include <benchmark/benchmark.h>

#include "parley/crypto/mlkem.hpp"
#include "parley/crypto/random.hpp"

namespace {

using namespace parley::crypto;
namespace kem = parley::crypto::mlkem768;

void BM_MlKem768_KeyGen(benchmark::State& state) {
  SystemRandom rng;
  for (auto _ : state) {
    auto pair = kem::generate(rng);
    if (!pair) {
      state.SkipWithError("generate failed");
      break;
    }
    benchmark::DoNotOptimize(pair->ek.data());
  }
}
BENCHMARK(BM_MlKem768_KeyGen);

void BM_MlKem768_Encaps(benchmark::State& state) {
  SystemRandom rng;
  const auto pair = kem::generate(rng);
  if (!pair) {
    state.SkipWithError("generate failed");
    return;
  }
  for (auto _ : state) {
    auto enc = kem::encapsulate(pair->ek, rng);
    if (!enc) {
      state.SkipWithError("encapsulate failed");
      break;
    }
    benchmark::DoNotOptimize(enc->ciphertext.data());
  }
}
BENCHMARK(BM_MlKem768_Encaps);

void BM_MlKem768_Decaps(benchmark::State& state) {
  SystemRandom rng;
  const auto pair = kem::generate(rng);
  if (!pair) {
    state.SkipWithError("generate failed");
    return;
  }
  const auto enc = kem::encapsulate(pair->ek, rng);
  if (!enc) {
    state.SkipWithError("encapsulate failed");
    return;
  }
  for (auto _ : state) {
    auto key = kem::decapsulate(pair->dk, enc->ciphertext);
    if (!key || !(*key == enc->shared)) {
      state.SkipWithError("decapsulate failed");
      break;
    }
    benchmark::DoNotOptimize(key->view().data());
  }
}
BENCHMARK(BM_MlKem768_Decaps);

}  // namespace

BENCHMARK_MAIN();

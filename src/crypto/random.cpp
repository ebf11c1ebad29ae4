#include "parley/crypto/random.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "parley/crypto/hash.hpp"

namespace parley::crypto {

std::uint32_t Random::uniform(std::uint32_t bound) {
  if (bound <= 1) return 0;  // bound 0 violates the precondition; 1 has one answer
  // Rejection sampling: (2^32 - bound) % bound == 2^32 mod bound, so [limit, 2^32)
  // holds a whole number of copies of [0, bound) and r % bound is unbiased.
  // Fewer than half of the draws are rejected for any bound.
  const std::uint32_t limit = (0u - bound) % bound;
  for (;;) {
    std::array<std::uint8_t, 4> b;
    fill(b);
    const std::uint32_t r =
        static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
        static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
    if (r >= limit) return r % bound;
  }
}

void SystemRandom::fill(std::span<std::uint8_t> out) {
  // RAND_bytes takes an int length, so feed it in chunks.
  while (!out.empty()) {
    const std::size_t n = std::min<std::size_t>(out.size(), INT_MAX);
    // A failing OS RNG leaves no safe way to continue (keys and nonces would be
    // predictable), so this is fatal, as in OpenSSH's arc4random wrapper.
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
      std::fputs("parley: RAND_bytes failed; aborting\n", stderr);
      std::abort();
    }
    out = out.subspan(n);
  }
}

void DeterministicRandom::fill(std::span<std::uint8_t> out) {
  // Block i of the stream is SHA-256(le64(seed) || le64(i)); every fill starts at
  // a fresh block, so the output depends only on the seed and the fill sizes.
  while (!out.empty()) {
    std::array<std::uint8_t, 16> input;
    for (std::size_t i = 0; i < 8; ++i) {
      input[i] = static_cast<std::uint8_t>(seed_ >> (8 * i));
      input[8 + i] = static_cast<std::uint8_t>(counter_ >> (8 * i));
    }
    ++counter_;
    const Bytes block = digest(HashAlg::sha256, input);
    const std::size_t n = std::min(out.size(), block.size());
    std::copy_n(block.begin(), n, out.begin());
    out = out.subspan(n);
  }
}

}  // namespace parley::crypto

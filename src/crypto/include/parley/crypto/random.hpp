// Randomness is injected into the protocol cores through this interface.
#pragma once

#include <cstdint>
#include <span>

namespace parley::crypto {

/// A source of random bytes. Cores never call a global RNG; they use the one they are given.
class Random {
 public:
  virtual ~Random() = default;
  /// Fills `out` with random bytes. Must not fail (implementations abort if the OS RNG does).
  virtual void fill(std::span<std::uint8_t> out) = 0;
  /// A uniformly random integer in [0, bound) (bound > 0), without modulo bias.
  std::uint32_t uniform(std::uint32_t bound);
};

/// The OS CSPRNG through OpenSSL's RAND_bytes. Thread-safe.
class SystemRandom final : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override;
};

/// A deterministic stream (SHA-256 of seed || counter) for tests and transcript replay.
/// Never use it for real keys.
class DeterministicRandom final : public Random {
 public:
  explicit DeterministicRandom(std::uint64_t seed) : seed_(seed) {}
  void fill(std::span<std::uint8_t> out) override;

 private:
  std::uint64_t seed_;
  std::uint64_t counter_ = 0;
};

}  // namespace parley::crypto

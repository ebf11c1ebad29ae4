// Hash functions (SHA-2 through libcrypto; algorithms fetched once per process).
#pragma once

#include <cstdint>
#include <memory>

#include "parley/wire/bytes.hpp"

namespace parley::crypto {

enum class HashAlg : std::uint8_t { sha256, sha512 };

std::size_t digest_size(HashAlg alg);

/// An incremental hash.
class Hasher {
 public:
  explicit Hasher(HashAlg alg);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  Hasher& update(BytesView data);
  /// Finishes and returns the digest; the Hasher is reset for reuse.
  Bytes finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One-shot digest.
Bytes digest(HashAlg alg, BytesView data);

}  // namespace parley::crypto

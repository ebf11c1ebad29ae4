// Key-exchange primitives: X25519 (RFC 8731), ECDH P-256 (RFC 5656),
// finite-field DH groups 14 and 16 (RFC 8268 / RFC 3526).
#pragma once

#include <cstdint>
#include <expected>
#include <memory>

#include "parley/crypto/error.hpp"
#include "parley/crypto/random.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::crypto {

enum class KexGroup : std::uint8_t { x25519, nistp256, dh_group14, dh_group16 };

/// An ephemeral key pair for one key exchange.
class KexKeyPair {
 public:
  virtual ~KexKeyPair() = default;

  /// Generates a key pair, taking the private value from `rng`.
  static std::expected<std::unique_ptr<KexKeyPair>, CryptoError> generate(KexGroup group,
                                                                          Random& rng);

  /// Our public value as it goes on the wire: 32 raw bytes (X25519), an
  /// uncompressed SEC1 point (P-256), or the unsigned big-endian magnitude of
  /// e/f (DH; the caller encodes it as an mpint).
  virtual BytesView public_value() const = 0;

  /// Derives the shared secret K from the peer's public value (same encoding as
  /// ours) as an unsigned big-endian magnitude; the caller encodes it as an
  /// mpint for hashing. Fails on a value out of range, off the curve, or one
  /// giving a degenerate secret.
  virtual std::expected<SecretBytes, CryptoError> derive(BytesView peer_public) = 0;
};

}  // namespace parley::crypto

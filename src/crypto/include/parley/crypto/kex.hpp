// Key-exchange primitives: X25519 (RFC 8731), ECDH P-256 (RFC 5656),
// finite-field DH groups 14 and 16 (RFC 8268 / RFC 3526), and the hybrid of
// ML-KEM-768 with X25519 (mlkem768x25519-sha256,
// draft-ietf-sshm-mlkem-hybrid-kex, as OpenSSH 10 encodes it).
#pragma once

#include <cstdint>
#include <expected>
#include <memory>

#include "parley/crypto/error.hpp"
#include "parley/crypto/random.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::crypto {

enum class KexGroup : std::uint8_t { x25519, nistp256, dh_group14, dh_group16, mlkem768_x25519 };

/// The wire sizes of the hybrid's values: C_INIT = ek (1184) || X25519 (32),
/// S_REPLY = ciphertext (1088) || X25519 (32).
inline constexpr std::size_t mlkem768_x25519_init_size = 1184 + 32;
inline constexpr std::size_t mlkem768_x25519_reply_size = 1088 + 32;

/// An ephemeral key pair for one key exchange: the initiator's (client's)
/// side of every method, and the responder's side of the Diffie-Hellman ones.
class KexKeyPair {
 public:
  virtual ~KexKeyPair() = default;

  /// Generates a key pair, taking the private value from `rng`.
  static std::expected<std::unique_ptr<KexKeyPair>, CryptoError> generate(KexGroup group,
                                                                          Random& rng);

  /// Our public value as it goes on the wire: 32 raw bytes (X25519), an
  /// uncompressed SEC1 point (P-256), the unsigned big-endian magnitude of
  /// e/f (DH; the caller encodes it as an mpint), or C_INIT (the hybrid).
  virtual BytesView public_value() const = 0;

  /// Derives the shared secret K from the peer's public value (same encoding as
  /// ours; for the hybrid, the server's S_REPLY). For the Diffie-Hellman
  /// methods K is an unsigned big-endian magnitude the caller encodes as an
  /// mpint; for the hybrid it is the 32-byte SHA-256(K_PQ || K_CL) the caller
  /// encodes as a string. Fails on a value of the wrong length, out of range,
  /// off the curve, or one giving a degenerate (e.g. all-zero X25519) secret.
  virtual std::expected<SecretBytes, CryptoError> derive(BytesView peer_public) = 0;
};

/// The responder's (server's) half of one key exchange.
struct KexResponse {
  Bytes reply;         // our value on the wire: the public value, or S_REPLY
  SecretBytes shared;  // K, as KexKeyPair::derive returns it
};

/// Answers the initiator's value: for the Diffie-Hellman methods a fresh key
/// pair and its derivation; for the hybrid, an ML-KEM-768 encapsulation to the
/// client's key (refused unless it passes FIPS 203's §7.2 check) and a fresh
/// X25519 pair. Fails exactly where KexKeyPair::derive would.
std::expected<KexResponse, CryptoError> kex_respond(KexGroup group, BytesView peer_public,
                                                    Random& rng);

}  // namespace parley::crypto

// SSH public and private keys: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa with
// rsa-sha2-256/512 signatures (RFC 8709, RFC 5656, RFC 8332).
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/error.hpp"
#include "parley/crypto/random.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::crypto {

enum class KeyType : std::uint8_t { ed25519, ecdsa_p256, rsa };
enum class SignatureAlg : std::uint8_t { ssh_ed25519, ecdsa_sha2_nistp256, rsa_sha2_512, rsa_sha2_256 };

std::string_view name(SignatureAlg alg);
std::optional<SignatureAlg> signature_alg_from_name(std::string_view name);
/// The key type name inside blobs: "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa".
std::string_view key_type_name(KeyType t);
/// The key type a signature algorithm needs.
KeyType key_type_for(SignatureAlg alg);

/// A public key, immutable and cheap to copy (shared).
class PublicKey {
 public:
  /// Parses an SSH public key blob (RFC 4253 §6.6). RSA keys under 2048 bits are refused.
  static std::expected<PublicKey, CryptoError> from_blob(BytesView blob);
  /// Parses an OpenSSH one-line public key ("ssh-ed25519 AAAA... comment").
  static std::expected<PublicKey, CryptoError> from_openssh(std::string_view line);

  KeyType type() const;
  const Bytes& blob() const;
  /// Verifies an SSH signature blob (string alg-name, string sig) over `data`,
  /// requiring the blob's algorithm to be `alg` and `alg` to suit this key.
  bool verify(SignatureAlg alg, BytesView signature_blob, BytesView data) const;
  /// "SHA256:" + unpadded base64 of SHA-256(blob), as ssh-keygen -l prints it.
  std::string fingerprint() const;
  /// "type base64 [comment]" as in authorized_keys / .pub files.
  std::string to_openssh(std::string_view comment = {}) const;

  friend bool operator==(const PublicKey& a, const PublicKey& b) { return a.blob() == b.blob(); }

  struct Impl;

 private:
  explicit PublicKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend class PrivateKey;
};

/// A private key, immutable and cheap to copy (shared); loaded once per process.
class PrivateKey {
 public:
  /// Parses an unencrypted "-----BEGIN OPENSSH PRIVATE KEY-----" file as
  /// ssh-keygen writes it. Encrypted keys give CryptoError::encrypted_key.
  static std::expected<PrivateKey, CryptoError> from_openssh(std::string_view text);
  static PrivateKey generate_ed25519(Random& rng);

  /// The OpenSSH private key file text (unencrypted), as ssh-keygen would write it.
  std::string to_openssh(std::string_view comment, Random& rng) const;

  const PublicKey& public_key() const;
  KeyType type() const { return public_key().type(); }
  /// Signature algorithms this key can make, preferred first
  /// (RSA: rsa-sha2-512, rsa-sha2-256).
  std::vector<SignatureAlg> signature_algs() const;
  /// Makes an SSH signature blob (string alg-name, string sig) over `data`.
  /// `alg` must be one of signature_algs().
  Bytes sign(SignatureAlg alg, BytesView data) const;

  struct Impl;

 private:
  PrivateKey(std::shared_ptr<const Impl> impl, PublicKey pub)
      : impl_(std::move(impl)), public_(std::move(pub)) {}
  std::shared_ptr<const Impl> impl_;
  PublicKey public_;
};

/// Standard base64 (with padding) and its decoder (whitespace ignored; nullopt if malformed).
std::string base64_encode(BytesView data, bool pad = true);
std::optional<Bytes> base64_decode(std::string_view text);

}  // namespace parley::crypto

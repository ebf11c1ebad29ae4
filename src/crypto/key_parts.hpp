// What keys.cpp (key blobs, signatures) and private_key_format.cpp (the
// openssh-key-v1 file format) share. Private to src/crypto.
#pragma once

#include <cstddef>
#include <string_view>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/secret.hpp"
#include "ossl_ptr.hpp"

namespace parley::crypto {

struct PrivateKey::Impl {
  ossl::PkeyPtr pkey;
  // The key-specific fields of the openssh-key-v1 private section (after the
  // key type, before the comment), kept verbatim so to_openssh() writes back
  // exactly what was read.
  SecretBytes private_fields;
};

namespace key_parts {

constexpr std::string_view nistp256_id = "nistp256";  // RFC 5656 §6.1
constexpr std::size_t ed25519_key_size = 32;
constexpr std::size_t ed25519_sig_size = 64;
constexpr std::size_t p256_scalar_size = 32;
constexpr std::size_t p256_point_size = 1 + 2 * p256_scalar_size;

/// An EVP_PKEY of `type` ("RSA", "EC") from the parameters in `bld`; nullptr
/// if libcrypto refuses them.
ossl::PkeyPtr pkey_from_builder(const char* type, OSSL_PARAM_BLD* bld, int selection);
/// A BIGNUM from a big-endian magnitude; `secret` ones are allocated in secure
/// memory and flagged for constant-time use. nullptr if libcrypto fails.
ossl::BnPtr bn_from(BytesView magnitude, bool secret);

}  // namespace key_parts
}  // namespace parley::crypto

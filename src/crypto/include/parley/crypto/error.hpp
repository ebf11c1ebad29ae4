// Errors from the crypto layer.
#pragma once

#include <cstdint>
#include <string_view>

namespace parley::crypto {

enum class CryptoError : std::uint8_t {
  invalid_public_value,   // a peer's key-exchange value is out of range or not on the curve
  invalid_shared_secret,  // the derived secret is degenerate (e.g. all-zero X25519 output)
  malformed_key,          // a key blob or key file could not be parsed
  unsupported_key_type,   // a key of a type parley does not support
  encrypted_key,          // a passphrase-protected private key file
  bad_signature,          // a signature blob is malformed or does not verify
  io_error,               // a key file could not be read or written
  internal,               // libcrypto failed where it should not
};

std::string_view to_string(CryptoError e);

}  // namespace parley::crypto

#include "parley/crypto/error.hpp"

namespace parley::crypto {

std::string_view to_string(CryptoError e) {
  switch (e) {
    case CryptoError::invalid_public_value: return "invalid public value";
    case CryptoError::invalid_shared_secret: return "invalid shared secret";
    case CryptoError::malformed_key: return "malformed key";
    case CryptoError::unsupported_key_type: return "unsupported key type";
    case CryptoError::encrypted_key: return "encrypted key";
    case CryptoError::bad_signature: return "bad signature";
    case CryptoError::io_error: return "I/O error";
    case CryptoError::internal: return "internal libcrypto error";
  }
  // Only reachable with a value cast from outside the enumeration.
  return "unknown crypto error";
}

}  // namespace parley::crypto

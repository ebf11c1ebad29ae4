// SSH key derivation (RFC 4253 §7.2) through libcrypto's SSHKDF.
#pragma once

#include "parley/crypto/hash.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::crypto {

/// HASH(K || H || letter || session_id), extended to `length` bytes.
/// `shared_secret_mpint` is K already encoded as an SSH mpint (with its length prefix).
SecretBytes derive_ssh_key(HashAlg alg, BytesView shared_secret_mpint, BytesView exchange_hash,
                           char letter, BytesView session_id, std::size_t length);

}  // namespace parley::crypto

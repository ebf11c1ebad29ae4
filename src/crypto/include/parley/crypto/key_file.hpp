// Private key files on disk.
#pragma once

#include <expected>
#include <filesystem>
#include <string>

#include "parley/crypto/keys.hpp"

namespace parley::crypto {

/// What went wrong with a key file, with the path and reason in `message`.
struct KeyFileError {
  CryptoError code;
  std::string message;
};

/// Loads an unencrypted OpenSSH private key file. A file whose mode gives its
/// group or others any access is refused, as OpenSSH refuses it
/// ("UNPROTECTED PRIVATE KEY FILE"), for host keys and identities alike.
std::expected<PrivateKey, KeyFileError> load_private_key(const std::filesystem::path& path);

/// Writes `key` in OpenSSH format with mode 0600, atomically: a temporary file in
/// the same directory, fsync, rename. A failure never leaves a partial file at `path`.
/// Also writes `path`.pub.
std::expected<void, KeyFileError> save_private_key(const std::filesystem::path& path,
                                                   const PrivateKey& key, std::string_view comment,
                                                   Random& rng);

/// Loads `path` (refused as load_private_key() refuses it), or if it does not exist generates an
/// Ed25519 key and saves it there.
std::expected<PrivateKey, KeyFileError> load_or_generate_host_key(const std::filesystem::path& path,
                                                                  Random& rng);

}  // namespace parley::crypto

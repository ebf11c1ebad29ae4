// authorized_keys files in OpenSSH's format (sshd(8) "AUTHORIZED_KEYS FILE FORMAT").
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/keys.hpp"

namespace parley::auth {

struct AuthorizedKeys {
  std::vector<crypto::PublicKey> keys;
  /// Lines that were not used, each "LINE: reason" (never the key material).
  std::vector<std::string> problems;
};

/// Parses authorized_keys text: one key per line ("type base64 [comment]"),
/// '#' comments and blank lines ignored. Lines with options (from=, command=,
/// restrict, ...) are not used and reported: parley does not enforce options
/// yet, and a key whose owner restricted it must not be accepted unrestricted.
AuthorizedKeys parse_authorized_keys(std::string_view text);

/// Reads and parses a file; a missing or unreadable file gives no keys and one problem.
AuthorizedKeys load_authorized_keys(const std::filesystem::path& path);

}  // namespace parley::auth

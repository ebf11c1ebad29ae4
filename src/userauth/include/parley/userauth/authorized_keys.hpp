// authorized_keys text in OpenSSH's format (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"),
// handed in by the caller that read the file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/keys.hpp"

namespace parley::userauth {

struct AuthorizedKeys {
  std::vector<crypto::PublicKey> keys;
  /// Lines that were not used, each "LINE: reason" (never the key material).
  std::vector<std::string> problems;
};

/// Parses authorized_keys text: one key per line ("type base64 [comment]"),
/// '#' comments and blank lines ignored. Lines with options (from=, command=,
/// restrict, ...) are not used and reported: parley does not enforce options
/// yet, and a key whose owner restricted it must not be accepted unrestricted.
/// Problems read "LINE: reason", or "SOURCE:LINE: reason" given a `source`
/// (the path the caller read the text from: parley::login::
/// read_authorized_keys_file() reads the file as sshd's StrictModes does).
AuthorizedKeys parse_authorized_keys(std::string_view text, std::string_view source = {});

}  // namespace parley::userauth

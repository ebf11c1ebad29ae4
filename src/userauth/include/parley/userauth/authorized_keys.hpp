// authorized_keys files in OpenSSH's format (sshd(8) "AUTHORIZED_KEYS FILE FORMAT").
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
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
AuthorizedKeys parse_authorized_keys(std::string_view text);

/// Whose authorized_keys file is read, for sshd's StrictModes checks.
struct KeyFileOwner {
  uid_t uid = 0;               // the user the keys log in as
  std::filesystem::path home;  // their home directory (empty: none)
};

/// The largest authorized_keys file read (OpenSSH reads line by line; parley
/// reads the whole file, so it bounds it: 1 MiB is thousands of keys).
inline constexpr std::size_t max_authorized_keys_bytes = 1 << 20;

/// Reads and parses a file as sshd does with StrictModes: it is opened with
/// O_NONBLOCK|O_NOFOLLOW (a FIFO does not block, a symlink as the last
/// component is refused), must be a regular file of at most
/// max_authorized_keys_bytes, owned by root or `owner.uid` and not writable by
/// group or others; so must every directory above it, up to and including
/// `owner.home` when the file is under it, else up to "/" (OpenSSH's
/// auth_secure_path). A root-owned sticky directory (/tmp) is accepted on the
/// way: nobody else can rename or remove what it holds. Anything refused gives
/// no keys and one problem naming why. It may block: call it off the I/O thread.
AuthorizedKeys load_authorized_keys(const std::filesystem::path& path, const KeyFileOwner& owner);

}  // namespace parley::userauth

// Reading a user's authorized_keys file as sshd does with StrictModes. Only the
// reading: parley::userauth::parse_authorized_keys() parses what is read here,
// so the authentication core never opens a file.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <expected>
#include <filesystem>
#include <string>

namespace parley::login {

/// Whose authorized_keys file is read, for sshd's StrictModes checks.
struct KeyFileOwner {
  uid_t uid = 0;               // the user the keys log in as
  std::filesystem::path home;  // their home directory (empty: none)
};

/// The largest authorized_keys file read (OpenSSH reads line by line; parley
/// reads the whole file, so it bounds it: 1 MiB is thousands of keys).
inline constexpr std::size_t max_authorized_keys_bytes = 1 << 20;

/// Reads a file as sshd does with StrictModes: it is opened with
/// O_NONBLOCK|O_NOFOLLOW (a FIFO does not block, a symlink as the last
/// component is refused), must be a regular file of at most
/// max_authorized_keys_bytes, owned by root or `owner.uid` and not writable by
/// group or others; so must every directory above it, up to and including
/// `owner.home` when the file is under it, else up to "/" (OpenSSH's
/// auth_secure_path). A root-owned sticky directory (/tmp) is accepted on the
/// way: nobody else can rename or remove what it holds. The value is the
/// file's text; the error is one line "PATH: why; not used". It may block:
/// call it off the I/O thread.
std::expected<std::string, std::string> read_authorized_keys_file(const std::filesystem::path& path,
                                                                  const KeyFileOwner& owner);

}  // namespace parley::login

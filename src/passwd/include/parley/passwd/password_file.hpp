// Password files: `user:hash` lines of crypt(3) hashes, checked with libxcrypt.
#pragma once

#include <cstddef>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/secret.hpp"

namespace parley::passwd {

/// A problem in a password file: which file, which line and what is wrong. The
/// reason never quotes a password or a hash, so it is safe to log.
struct PasswordFileError {
  std::string file;
  /// 1-based line of the offending entry; 0 for a problem with the file as a
  /// whole (it cannot be read, or its permissions are unsafe).
  std::size_t line = 0;
  std::string reason;

  /// "FILE:LINE: REASON", or "FILE: REASON" when `line` is 0.
  std::string message() const;
};

/// A parsed password file. The format is one `user:hash` entry per line, where
/// the hash is a crypt(3) string as mkpasswd(1) writes it: yescrypt ("$y$"),
/// sha512crypt ("$6$"), sha256crypt ("$5$") or bcrypt ("$2b$"). Lines whose first
/// non-blank character is '#' and blank lines are ignored. Anything else is
/// refused with the line it is on: plain-text passwords, obsolete schemes (DES,
/// MD5 "$1$", ...), malformed or truncated hashes, duplicate users, and user names
/// outside [A-Za-z0-9._-] or longer than 64 characters.
///
/// Hashes are held in wiped-on-destruction storage and never printed. Once
/// built, a PasswordFile is immutable, so verify() may be called from several
/// threads at once.
class PasswordFile {
 public:
  /// Reads and parses `path`. Also refuses a file that is not a regular file or
  /// is group- or world-writable (anyone who can write it can add a user).
  static std::expected<PasswordFile, PasswordFileError> load(const std::filesystem::path& path);

  /// Parses file contents already in memory; `name_for_errors` is used as the
  /// file name in errors. The caller still owns `text` (and should wipe it).
  static std::expected<PasswordFile, PasswordFileError> parse(std::string_view text,
                                                              std::string_view name_for_errors);

  /// True if the file has an entry for `user`.
  bool has_user(std::string_view user) const;

  /// The user names in the file, sorted.
  std::vector<std::string> users() const;

  /// True only if `user` has an entry and `password` hashes to it. Runs
  /// crypt_rn(3) in all cases: for an unknown user it hashes against a fixed
  /// dummy setting of the same scheme and cost as the file's first entry
  /// (yescrypt for an empty file), so the time taken does not reveal which users
  /// exist. A password containing a NUL byte never matches (crypt(3) would
  /// silently cut it there). Blocks for as long as the hash takes.
  bool verify(std::string_view user, const crypto::SecretBytes& password) const;

 private:
  PasswordFile() = default;

  /// user -> hash, stored with a terminating NUL so it can be handed to crypt_rn.
  std::map<std::string, crypto::SecretBytes, std::less<>> hashes_;
  /// The crypt(3) setting used for unknown users (a public, fixed salt).
  std::string dummy_setting_;
};

}  // namespace parley::passwd

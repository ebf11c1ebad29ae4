// Where TOTP secrets live: one interface, two formats.
//   - users.oath, as pam_oath (liboath's usersfile) reads and updates it, so an
//     existing pam_oath deployment works unchanged;
//   - per-user ~/.google_authenticator files as google-authenticator-libpam
//     writes them (secret, options, scratch codes).
// redeem() is the only way a code is checked: it re-reads the user's record
// under a lock, accepts a code only for a time step later than the last one
// accepted (compare-and-set), and writes the new state with an atomic file
// replace before it answers. If the state cannot be saved, the code is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/random.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/otp/totp.hpp"

namespace parley::otp {

/// A problem with a store's file: which file, which line, what is wrong. Never
/// quotes a secret or a code.
struct StoreError {
  std::string file;
  std::size_t line = 0;  // 1-based; 0: the file as a whole (unreadable, unsafe owner...)
  std::string reason;
  /// "FILE:LINE: REASON", or "FILE: REASON" when `line` is 0.
  std::string message() const;
};

/// What redeem() decided.
enum class Verdict {
  accepted,          // a current code (within the window), now recorded as used
  accepted_scratch,  // a single-use scratch code, now removed
  wrong,             // no such code in the window (or no such scratch code)
  replayed,          // right code, but for a step at or before the last accepted one
  rate_limited,      // the store's own rate limit (google-authenticator RATE_LIMIT)
  no_secret,         // the user has no TOTP secret in this store
};

/// Accepted or not.
inline bool accepted(Verdict v) { return v == Verdict::accepted || v == Verdict::accepted_scratch; }

/// How codes are checked.
struct Policy {
  /// Time steps accepted on each side of the current one (1: ±30 s). A store
  /// whose file sets its own window (google-authenticator WINDOW_SIZE) uses that.
  unsigned window = 1;
};

/// A new secret for enrolment.
struct Enrollment {
  TotpSecret secret;
  /// Single-use 8-digit codes (google-authenticator's format). Stores that
  /// keep them store them; the caller prints them once.
  std::vector<std::string> scratch_codes;
};

class TotpStore {
 public:
  virtual ~TotpStore() = default;
  /// "users.oath /etc/users.oath", "google-authenticator %h/.google_authenticator".
  virtual std::string describe() const = 0;

  /// Checks `code` (what the user typed) for `user` at `unix_time`; an accepted
  /// code is recorded before this returns. Blocks on file I/O and locks: call it
  /// off the I/O threads. Thread-safe, and safe against other processes that
  /// follow the same file's locking (pam_oath for users.oath). An error (file
  /// unreadable, corrupt, cannot be saved) means: refuse the login.
  virtual std::expected<Verdict, StoreError> redeem(std::string_view user,
                                                    const crypto::SecretBytes& code,
                                                    std::int64_t unix_time, const Policy& policy) = 0;

  /// Stores a new secret for `user`, replacing any old one (atomic replace).
  virtual std::expected<void, StoreError> enroll(std::string_view user, const Enrollment& enrollment) = 0;
};

/// pam_oath's users.oath file at `path` (one file for every user).
std::unique_ptr<TotpStore> users_oath_store(std::filesystem::path path, crypto::Random& rng);

/// google-authenticator files: `pattern` with "%h" the user's home directory and
/// "%u" the user name (default "%h/.google_authenticator"). When parleyd runs as
/// root it reads and writes them with the user's file-system identity, never as
/// root in a directory the user controls.
std::unique_ptr<TotpStore> google_authenticator_store(std::string pattern, crypto::Random& rng);

}  // namespace parley::otp

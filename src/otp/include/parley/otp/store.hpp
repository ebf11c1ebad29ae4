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
#include "parley/state/shared_state.hpp"

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
  /// At most 100 is used.
  unsigned window = 1;
  /// Replay state shared with other parleyd instances (docs/scale-out.md);
  /// null: this store's own file only. When set, a code the store would accept
  /// is also claimed there, after the file's own checks and before the file is
  /// updated: the step a TOTP code belongs to (compare-and-set on the user's
  /// last step) or a scratch code's digest. A claim another instance made
  /// first makes the code `replayed` (a used scratch code is removed from the
  /// file all the same); a backend that cannot answer is a StoreError, so the
  /// code is refused (fail closed), never accepted on the file alone.
  std::shared_ptr<state::SharedState> shared;
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

/// pam_oath's users.oath file at `path` (one file for every user), in
/// liboath's "usersfile" format, one token a line, '#' comments:
///   TYPE USER PASSWORD SECRET_HEX [COUNTER [LAST_OTP [TIME]]]
/// TYPE is liboath's: HOTP/T30[/6|7|8] and HOTP/T60[/6|7|8] are TOTP (SHA-1,
/// 30 or 60 s); HOTP, HOTP/E[/6|7|8] are event-based HOTP, which this store
/// does not check: a user with only such lines has no_secret. SECRET_HEX is at
/// most 32 bytes (liboath's limit). PASSWORD must be "-" (none) or "+"
/// (checked elsewhere): a line that wants a password typed before the code is
/// an error, since the store cannot check it.
///
/// redeem(): the user's TOTP lines are tried in order. A code is replayed if it
/// equals the line's LAST_OTP (liboath's rule) or belongs to a step at or
/// before the step LAST_OTP was accepted for (the latest step whose code is
/// LAST_OTP, searched around the TIME column and around now). An accepted code
/// rewrites the line exactly as liboath's update does (tab-separated, COUNTER
/// plus the code's distance from now, LAST_OTP the code, TIME the local time
/// "%Y-%m-%dT%H:%M:%SL"), so pam_oath refuses the code too; every other line
/// is kept byte for byte. The new file replaces the old by rename, with the
/// old file's mode and owner.
///
/// Locking follows Debian's liboath 2.6.7 (with the CVE-2024-47191 fix, as
/// upstream 2.6.12): "<path>.lock" is created exclusively and fcntl-locked for
/// the whole read-check-write, and removed afterwards; while it exists the
/// store waits (at most 10 s, then an error: a lock file left by a crash is
/// reported, never removed). pam_oath fails a login at once while parleyd
/// holds it. liboath itself reads the file before it locks, so a pam_oath
/// login that read the file before parleyd replaced it can still accept the
/// same code: that race is liboath's own (two pam_oath logins have it too).
///
/// Scratch codes: users.oath has none, so they live in "<path>.scratch",
/// which pam_oath never reads: "USER SALT HASH" lines, hex, HASH =
/// SHA-256(SALT || CODE). Hashing only keeps the codes out of sight: 8 digits
/// do not resist a search, so the file stays mode 0600 like users.oath. A code
/// of 8 digits that is not a current TOTP code is looked up there (only for
/// users with a TOTP line) and removed once used.
///
/// Every line is checked on every call: a file that does not parse (unknown
/// TYPE, missing or extra columns, bad hex, counter, code or time, a NUL byte,
/// a last line without its newline, i.e. truncated) is refused whole with the
/// file and line, and left as it is. A missing users.oath is an error.
///
/// enroll(): SHA-1, 6-8 digits, 30 or 60 s, a key of 1-32 bytes (anything
/// else is an error); the user's TOTP lines are replaced by one
/// "HOTP/T30/6\tUSER\t-\tHEX" line where the first one was (or at the end);
/// the user's HOTP lines stay. A new file gets mode 0600.
std::unique_ptr<TotpStore> users_oath_store(std::filesystem::path path, crypto::Random& rng);

/// google-authenticator files: `pattern` with "%h" the user's home directory and
/// "%u" the user name, "%%" a '%' (also the PAM module's "~", "${HOME}" and
/// "${USER}"); empty means "%h/.google_authenticator". User names that are not
/// safe in a path ('/', "..", a leading '-', anything but letters, digits and
/// . _ - @ + $) are an error; a user unknown to getpwnam() has no_secret.
///
/// When parleyd runs as root it reads and writes the file with the user's
/// file-system identity (setfsuid/setfsgid on the calling thread only, put
/// back before returning), never as root in a directory the user controls; the
/// file is opened with O_NOFOLLOW and must be owned by the user (when not
/// root: by the current user), at most mode 0600 (the PAM module's default
/// allowed_perm) and at most 64 KiB, as the module demands. The daemon's
/// supplementary groups stay as they are.
///
/// The format is the module's (google-authenticator-libpam 20191231): line 1
/// the base32 secret (6-digit HMAC-SHA1 codes); lines `" OPTION [VALUE]`;
/// 8-digit scratch codes. Options read: TOTP_AUTH (required; HOTP_COUNTER or
/// OTP_DISABLED means no_secret), WINDOW_SIZE N (N steps: -(N-1)/2..N/2, as the
/// module; without it Policy::window each way), STEP_SIZE, TIME_SKEW (applied;
/// the module's skew learning, RESETTING_TIME_SKEW, is not done but kept), and
/// RATE_LIMIT N M (every attempt is recorded first, as the module does, and
/// the N+1st within M seconds is rate_limited, even with a right code). A
/// used scratch code is removed. An accepted code's step is added to
/// DISALLOW_REUSE, dropping steps outside the window as the module does; the
/// store refuses the steps listed and any step before the latest one, and
/// adds DISALLOW_REUSE (right after the secret, where the module puts a new
/// option) to a file that lacks it, since a code is never accepted twice.
/// LASTn (grace period) lines are kept. Unknown options, a bad value, an option
/// given twice, a line that is neither, a NUL byte or a truncated last line:
/// an error with file and line, the file untouched.
///
/// Updates are written as the module writes them (an option's line replaced
/// in place, or inserted after line 1) to a temporary file beside it and
/// renamed over the file, keeping its mode (0400 or 0600). Stores and parleyd processes
/// serialize on an flock(2) of the file; the module does not lock, but checks
/// before its rename that the file is the one it read (inode, size, mtime), and
/// so does this store, refusing (an error) if it changed.
///
/// enroll() writes what `google-authenticator -t -d -r 3 -R 30 -w 3` writes
/// (RATE_LIMIT 3 30, WINDOW_SIZE 3, STEP_SIZE if not 30, DISALLOW_REUSE,
/// TOTP_AUTH, the scratch codes), mode 0400, owned by the user; SHA-1, 6
/// digits, 1-60 s steps and a key of at least 10 bytes only.
std::unique_ptr<TotpStore> google_authenticator_store(std::string pattern, crypto::Random& rng);

/// The users.oath text `text` checked as users_oath_store() checks the file on
/// every call (every line; the first bad one is the error, as "NAME:LINE:
/// reason"), without touching a file: the number of token lines. The store
/// reads the file and hands its text to the same parser.
std::expected<std::size_t, StoreError> parse_users_oath(std::string_view text,
                                                        std::string_view name = "users.oath");

/// The same for the "<users.oath>.scratch" sidecar: the number of scratch entries.
std::expected<std::size_t, StoreError> parse_users_oath_scratch(std::string_view text,
                                                                std::string_view name = "users.oath.scratch");

/// A google-authenticator file's text checked as google_authenticator_store()
/// checks it, without touching a file: its TOTP secret and time step.
std::expected<TotpSecret, StoreError> parse_google_authenticator(
    std::string_view text, std::string_view name = ".google_authenticator");

}  // namespace parley::otp

// Private to parley_otp: what the users.oath and google-authenticator stores
// share (errors, text that held secrets, word splitting, bounded locking,
// atomic replacement, code matching). Not installed, not for other layers.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <mutex>
#include <span>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/file_io.hpp"
#include "parley/crypto/random.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/otp/store.hpp"
#include "parley/otp/totp.hpp"
#include "parley/wire/lines.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::otp::detail {

namespace fs = std::filesystem;

/// The widest window a store searches (google-authenticator's WINDOW_SIZE
/// allows at most 100 steps); a larger Policy::window is capped to this.
inline constexpr unsigned max_window = 100;

/// How long a store waits for another process's lock before failing closed.
inline constexpr int lock_wait_ms = 10000;

StoreError error_at(const fs::path& file, std::size_t line, std::string reason);

/// Claims, in policy.shared, the step `step` of `secret` that `user`'s code
/// matched: true if it is `user`'s latest step anywhere (now recorded), false
/// if another instance accepted it or a later one. No shared state: true.
std::expected<bool, StoreError> claim_shared_step(const Policy& policy, std::string_view user,
                                                  const TotpSecret& secret, std::int64_t step);
/// Claims `user`'s scratch code `code` in policy.shared (by a digest, never
/// the code): true the first time anywhere. No shared state: true.
std::expected<bool, StoreError> claim_shared_scratch(const Policy& policy, std::string_view user, BytesView code);
/// "WHAT: strerror(err)" for the file as a whole.
StoreError system_error(const fs::path& file, std::string_view what, int err);

/// A std::string holding file text with secrets in it: its whole buffer is
/// wiped when it is destroyed or moved from. Reserve enough up front
/// (reserve()) so that appending never reallocates, which would leave an
/// unwiped copy behind.
class SecretText {
 public:
  SecretText() = default;
  SecretText(SecretText&& other) noexcept;
  SecretText& operator=(SecretText&& other) noexcept;
  SecretText(const SecretText&) = delete;
  SecretText& operator=(const SecretText&) = delete;
  ~SecretText() { wipe(); }

  void reserve(std::size_t n) { text_.reserve(n); }
  std::string& str() { return text_; }
  std::string_view view() const { return text_; }
  void append(std::string_view s) { text_.append(s); }

 private:
  void wipe();
  std::string text_;
};

/// Makes a Random safe to share between threads (a store's callers may run
/// in parallel; crypto::Random implementations need not be thread-safe).
class SerializedRandom final : public crypto::Random {
 public:
  explicit SerializedRandom(crypto::Random& inner) : inner_(inner) {}
  void fill(std::span<std::uint8_t> out) override {
    std::lock_guard lock(mutex_);
    inner_.fill(out);
  }

 private:
  crypto::Random& inner_;
  std::mutex mutex_;
};

/// Overwrites and clears a std::string (its whole capacity).
void wipe_string(std::string& s);

using wire::Line;
using wire::split_lines;

/// Splits on spaces, tabs and carriage returns (liboath's strtok set).
std::vector<std::string_view> split_words(std::string_view text);
/// The words of a line of a store file (split_words), after the checks every
/// line gets: no NUL byte, and a line ending unless the line is blank (a
/// truncated write leaves a last line without one). Empty for a blank line.
std::expected<std::vector<std::string_view>, StoreError> checked_words(const fs::path& path, const Line& line);

bool all_digits(std::string_view s);
bool all_digits(BytesView s);
/// A non-negative decimal integer without sign or spaces, at most 18 digits.
std::optional<std::int64_t> parse_count(std::string_view s);
/// An optionally signed decimal integer, at most 18 digits.
std::optional<std::int64_t> parse_signed(std::string_view s);

/// A regular file opened for reading, its metadata, and its whole text.
struct ReadFile {
  UniqueFd fd;
  struct stat st {};
  SecretText text;
};

/// Opens `path` for reading (never blocking on a FIFO; with O_NOFOLLOW if
/// `no_follow`), refuses anything but a regular file of at most `max_size`
/// bytes. nullopt in the value: the file does not exist.
std::expected<std::optional<ReadFile>, StoreError> open_regular(const fs::path& path, bool no_follow,
                                                                std::size_t max_size);
/// Reads the rest of what open_regular() opened (from offset 0).
std::expected<void, StoreError> read_all(const fs::path& path, ReadFile& file, std::size_t max_size);

/// Waits (at most lock_wait_ms) for an exclusive flock(2) on `fd`.
std::expected<void, StoreError> flock_exclusive(const fs::path& path, int fd);

/// How replace_atomically() writes.
struct ReplaceOptions {
  mode_t mode = 0600;
  /// Give the new file this owner (fchown) when it is not who creates it.
  std::optional<crypto::FileOwner> owner;
  /// Called after the new file is written and synced, right before the
  /// rename: an error aborts the replacement (the temporary file is removed).
  std::function<std::expected<void, StoreError>()> before_rename;
};

/// crypto::TempFile (a fresh file beside `path`, O_EXCL|O_NOFOLLOW, exactly
/// `mode`, synced) with the store's owner and last-moment check, renamed over
/// `path`; then the directory is synced. On failure nothing but the temporary
/// file was touched, and it is removed.
std::expected<void, StoreError> replace_atomically(const fs::path& path, std::string_view data,
                                                   const ReplaceOptions& options, crypto::Random& rng);

/// The code as text, for the constant-time comparisons against file text.
bool equal_text(const crypto::SecretBytes& code, std::string_view text);

/// Decodes an even-length hex string into SecretBytes; nullopt if it is not.
std::optional<crypto::SecretBytes> decode_hex(std::string_view hex);

/// An 8-digit scratch code with no leading zero (google-authenticator's form).
bool valid_scratch_code(std::string_view code);

}  // namespace parley::otp::detail

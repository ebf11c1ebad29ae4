// StoreError and what the two secret stores share (store_io.hpp).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "parley/crypto/file_io.hpp"
#include "parley/crypto/hash.hpp"
#include "parley/otp/store.hpp"
#include "store_io.hpp"

namespace parley::otp {

std::string StoreError::message() const {
  if (line == 0) return file + ": " + reason;
  return file + ":" + std::to_string(line) + ": " + reason;
}

namespace detail {

StoreError error_at(const fs::path& file, std::size_t line, std::string reason) {
  return StoreError{file.string(), line, std::move(reason)};
}

StoreError system_error(const fs::path& file, std::string_view what, int err) {
  return StoreError{file.string(), 0, std::string(what) + ": " + std::strerror(err)};
}

void wipe_string(std::string& s) {
  // Writing past size() is not allowed, so grow to the capacity first (never a
  // reallocation) and wipe everything the buffer can hold.
  s.resize(s.capacity());
  crypto::secure_wipe(s.data(), s.size());
  s.clear();
}

void SecretText::wipe() { wipe_string(text_); }

SecretText::SecretText(SecretText&& other) noexcept : text_(std::move(other.text_)) {
  // A short string is copied out of the source's own buffer, not moved.
  other.wipe();
}

SecretText& SecretText::operator=(SecretText&& other) noexcept {
  if (this != &other) {
    wipe();
    text_ = std::move(other.text_);
    other.wipe();
  }
  return *this;
}

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t pos = 0;
  constexpr std::string_view space = " \t\r\n";
  while (true) {
    pos = text.find_first_not_of(space, pos);
    if (pos == std::string_view::npos) break;
    std::size_t end = text.find_first_of(space, pos);
    if (end == std::string_view::npos) end = text.size();
    words.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return words;
}

std::expected<std::vector<std::string_view>, StoreError> checked_words(const fs::path& path, const Line& line) {
  if (line.text.find('\0') != std::string_view::npos)
    return std::unexpected(error_at(path, line.number, "contains a NUL byte"));
  auto words = split_words(line.text);
  if (!line.terminated && !words.empty())
    return std::unexpected(error_at(path, line.number, "the last line has no line ending (file truncated?)"));
  return words;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool all_digits(BytesView s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](std::uint8_t c) { return c >= '0' && c <= '9'; });
}

std::optional<std::int64_t> parse_count(std::string_view s) {
  if (!all_digits(s) || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

std::optional<std::int64_t> parse_signed(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  auto v = parse_count(s);
  if (!v) return std::nullopt;
  return negative ? -*v : *v;
}

std::expected<std::optional<ReadFile>, StoreError> open_regular(const fs::path& path, bool no_follow,
                                                                std::size_t max_size) {
  // O_NONBLOCK: a FIFO put in the file's place must not hang the thread.
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  if (no_follow) flags |= O_NOFOLLOW;
  ReadFile file;
  file.fd = UniqueFd(::open(path.c_str(), flags));
  if (file.fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) return std::optional<ReadFile>();
    if (err == ELOOP && no_follow) return std::unexpected(error_at(path, 0, "is a symbolic link (refused)"));
    return std::unexpected(system_error(path, "cannot open", err));
  }
  if (::fstat(file.fd.get(), &file.st) != 0) return std::unexpected(system_error(path, "cannot stat", errno));
  if (!S_ISREG(file.st.st_mode)) return std::unexpected(error_at(path, 0, "not a regular file"));
  if (static_cast<std::uint64_t>(file.st.st_size) > max_size)
    return std::unexpected(error_at(path, 0, "too large (more than " + std::to_string(max_size) + " bytes)"));
  return std::optional<ReadFile>(std::move(file));
}

std::expected<void, StoreError> read_all(const fs::path& path, ReadFile& file, std::size_t max_size) {
  if (::lseek(file.fd.get(), 0, SEEK_SET) < 0) return std::unexpected(system_error(path, "cannot seek", errno));
  // One allocation for the whole text; one more byte to notice growth.
  const auto size = static_cast<std::size_t>(file.st.st_size);
  if (size > max_size) return std::unexpected(error_at(path, 0, "too large"));
  std::string& text = file.text.str();
  text.assign(size + 1, '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(file.fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(system_error(path, "cannot read", errno));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  if (done > size) return std::unexpected(error_at(path, 0, "grew while being read"));
  // Shrinking keeps the buffer: the bytes past the end are wiped with it later.
  crypto::secure_wipe(text.data() + done, text.size() - done);
  text.resize(done);
  return {};
}

std::expected<void, StoreError> flock_exclusive(const fs::path& path, int fd) {
  // Polled rather than blocking, so that a process that never lets go makes
  // logins fail (closed) instead of hanging a worker thread for ever.
  auto wait = std::chrono::microseconds(500);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(lock_wait_ms);
  while (true) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return {};
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK) return std::unexpected(system_error(path, "cannot lock", err));
    if (std::chrono::steady_clock::now() >= deadline)
      return std::unexpected(error_at(path, 0, "still locked by another process; giving up"));
    std::this_thread::sleep_for(wait);
    wait = std::min<std::chrono::microseconds>(wait * 2, std::chrono::milliseconds(20));
  }
}

std::expected<void, StoreError> replace_atomically(const fs::path& path, std::string_view data,
                                                   const ReplaceOptions& options, crypto::Random& rng) {
  auto failed = [&](const crypto::FileError& e) { return std::unexpected(error_at(path, 0, e.describe(path))); };
  auto tmp = crypto::TempFile::write(path, data, options.mode, rng, options.owner);
  if (!tmp) return failed(tmp.error());
  if (options.before_rename) {
    if (auto check = options.before_rename(); !check) return check;
  }
  if (auto r = tmp->commit(path); !r) return failed(r.error());
  if (auto synced = crypto::sync_directory(crypto::directory_of(path)); !synced) return failed(synced.error());
  return {};
}

bool equal_text(const crypto::SecretBytes& code, std::string_view text) {
  return crypto::constant_time_equal(code.view(), as_bytes(text));
}

std::optional<crypto::SecretBytes> decode_hex(std::string_view hex) {
  if (hex.empty() || hex.size() % 2 != 0) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  crypto::SecretBytes out(hex.size() / 2);
  auto bytes = out.mutable_view();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int hi = value(hex[2 * i]);
    const int lo = value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;  // `out` wipes itself
    bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

bool valid_scratch_code(std::string_view code) {
  return code.size() == 8 && all_digits(code) && code.front() != '0';
}

namespace {

// "shared state: redis 127.0.0.1:6379: timed out after 500 ms".
StoreError shared_error(const state::StateError& e) { return StoreError{"shared state", 0, e.what}; }

}  // namespace

std::expected<bool, StoreError> claim_shared_step(const Policy& policy, std::string_view user,
                                                  const TotpSecret& secret, std::int64_t step) {
  if (!policy.shared) return true;
  const std::int64_t period = secret.period.count();
  // Kept as long as any code of this step can still be in a window, however
  // wide (max_window on each side), then left to expire.
  const std::chrono::seconds keep((2 * static_cast<std::int64_t>(max_window) + 2) * period);
  auto claimed = policy.shared->claim_totp_step(user, step * period, keep);
  if (!claimed) return std::unexpected(shared_error(claimed.error()));
  return *claimed;
}

std::expected<bool, StoreError> claim_shared_scratch(const Policy& policy, std::string_view user, BytesView code) {
  if (!policy.shared) return true;
  // Named by SHA-256(user NUL code): eight digits do not resist a search, but
  // the backend only ever holds codes that are already spent.
  crypto::Hasher h(crypto::HashAlg::sha256);
  h.update(as_bytes(user));
  const std::uint8_t nul = 0;
  h.update(BytesView(&nul, 1));
  h.update(code);
  auto claimed = policy.shared->claim_scratch_code(user, to_hex(h.finish()));
  if (!claimed) return std::unexpected(shared_error(claimed.error()));
  return *claimed;
}

}  // namespace detail
}  // namespace parley::otp

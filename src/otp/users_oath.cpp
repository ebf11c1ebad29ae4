// pam_oath's users.oath (liboath's "usersfile"), read and updated the way
// liboath 2.6 does it (liboath/usersfile.c), so that pam_oath and parleyd can
// share one file. See store.hpp for the format and the choices made here.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <mutex>
#include <thread>
#include <utility>

#include "parley/crypto/hash.hpp"
#include "parley/otp/store.hpp"
#include "store_io.hpp"

namespace parley::otp {
namespace {

using namespace detail;

constexpr std::size_t max_users_file_size = 16u << 20;
/// liboath decodes the secret into a 32-byte buffer and fails on longer ones.
constexpr std::size_t max_key_bytes = 32;
/// Steps searched on each side of liboath's TIMESTAMP column for the step its
/// LAST_OTP was accepted for: pam_oath's window (its `window=` option, 5 by
/// default) or ours, whichever is larger, up to this.
constexpr std::int64_t recorded_step_search = 20;
constexpr std::string_view timestamp_format = "%Y-%m-%dT%H:%M:%SL";  // liboath's TIME_FORMAT_STRING
constexpr std::size_t salt_bytes = 16;

struct TokenType {
  unsigned digits = 6;
  unsigned period = 0;  // 0: event-based HOTP
};

/// liboath's parse_type(), exactly: other spellings are not token lines.
std::optional<TokenType> parse_type(std::string_view t) {
  if (t == "HOTP/E/6" || t == "HOTP/E" || t == "HOTP") return TokenType{6, 0};
  if (t == "HOTP/E/7") return TokenType{7, 0};
  if (t == "HOTP/E/8") return TokenType{8, 0};
  for (unsigned period : {30u, 60u}) {
    const std::string base = "HOTP/T" + std::to_string(period);
    if (t == base || t == base + "/6") return TokenType{6, period};
    if (t == base + "/7") return TokenType{7, period};
    if (t == base + "/8") return TokenType{8, period};
  }
  return std::nullopt;
}

/// "YYYY-MM-DDTHH:MM:SSL" in local time, as liboath reads it (mktime).
std::optional<std::int64_t> parse_timestamp(std::string_view s) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
      s[19] != 'L')
    return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    auto v = parse_count(s.substr(at, n));
    if (!v) return std::nullopt;
    return static_cast<int>(*v);
  };
  const auto year = num(0, 4), month = num(5, 2), day = num(8, 2), hour = num(11, 2), minute = num(14, 2),
             second = num(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  tm.tm_isdst = -1;
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<std::int64_t>(t);
}

std::optional<std::string> format_timestamp(std::int64_t unix_time) {
  const auto t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  if (::localtime_r(&t, &tm) == nullptr) return std::nullopt;
  char buf[32] = {};
  const std::size_t n = std::strftime(buf, sizeof buf, std::string(timestamp_format).c_str(), &tm);
  if (n != 20) return std::nullopt;
  return std::string(buf, n);
}

/// A token line: TYPE USER PASSWORD SECRET [MOVING_FACTOR [LAST_OTP [TIMESTAMP]]].
struct Entry {
  std::size_t line = 0;  // index into the lines
  TokenType type;
  std::string_view type_text, user, password, secret_hex;
  std::optional<std::int64_t> moving_factor;
  std::optional<std::string_view> last_otp;
  std::optional<std::int64_t> timestamp;
};

struct UsersFile {
  std::vector<Line> lines;
  std::vector<Entry> entries;
};

bool word_char_ok(char c) { return static_cast<unsigned char>(c) > ' ' && c != 0x7f; }

using Words = std::vector<std::string_view>;
using Checked = std::expected<void, StoreError>;

/// Splits `text` into lines and calls `each(index, line, words)` for every
/// line that is not blank or a '#' comment, after checked_words(); stops at
/// the first error, checked_words()'s or each's. The lines, for rewriting.
template <class Each>
std::expected<std::vector<Line>, StoreError> for_each_record(const fs::path& path, std::string_view text,
                                                             Each each) {
  std::vector<Line> lines = split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto words = checked_words(path, lines[i]);
    if (!words) return std::unexpected(words.error());
    if (words->empty() || words->front().front() == '#') continue;
    if (auto done = each(i, lines[i], *words); !done) return std::unexpected(done.error());
  }
  return lines;
}

/// Every line is checked, not only the user's: a file that does not parse is
/// refused whole (and left as it is), naming the first bad line.
std::expected<UsersFile, StoreError> parse_users_file(const fs::path& path, std::string_view text) {
  UsersFile file;
  auto lines = for_each_record(path, text, [&](std::size_t i, const Line& line, const Words& words) -> Checked {
    const auto type = parse_type(words[0]);
    if (!type)
      return std::unexpected(error_at(path, line.number,
                                      "unknown token type (liboath reads HOTP, HOTP/E[/6-8], "
                                      "HOTP/T30[/6-8] and HOTP/T60[/6-8]; comments start with '#')"));
    if (words.size() < 4)
      return std::unexpected(error_at(path, line.number, "missing columns: TYPE USER PASSWORD SECRET are required"));
    if (words.size() > 7)
      return std::unexpected(error_at(path, line.number,
                                      "too many columns (TYPE USER PASSWORD SECRET [COUNTER [LAST_OTP [TIME]]])"));
    Entry e;
    e.line = i;
    e.type = *type;
    e.type_text = words[0];
    e.user = words[1];
    e.password = words[2];
    e.secret_hex = words[3];
    auto key = decode_hex(e.secret_hex);
    if (!key) return std::unexpected(error_at(path, line.number, "the secret is not hexadecimal (an even number of 0-9a-f)"));
    if (key->size() > max_key_bytes)
      return std::unexpected(error_at(path, line.number, "the secret is longer than the 32 bytes liboath reads"));
    if (words.size() > 4) {
      e.moving_factor = parse_count(words[4]);
      if (!e.moving_factor) return std::unexpected(error_at(path, line.number, "the moving factor is not a number"));
    }
    if (words.size() > 5) {
      if (!all_digits(words[5]) || words[5].size() > 10)
        return std::unexpected(error_at(path, line.number, "the last one-time password column is not a code"));
      e.last_otp = words[5];
    }
    if (words.size() > 6) {
      e.timestamp = parse_timestamp(words[6]);
      if (!e.timestamp)
        return std::unexpected(error_at(path, line.number, "the time column is not liboath's YYYY-MM-DDTHH:MM:SSL"));
    }
    file.entries.push_back(e);
    return {};
  });
  if (!lines) return std::unexpected(lines.error());
  file.lines = std::move(*lines);
  return file;
}

/// A user name that can stand in a users.oath column.
bool usable_user(std::string_view user) {
  return !user.empty() && user.size() <= 256 && user.front() != '#' && std::all_of(user.begin(), user.end(), word_char_ok);
}

// ---------------------------------------------------------------------------
// The scratch-code sidecar: "<users.oath>.scratch", lines "USER SALT HASH"
// (hex; HASH = SHA-256(SALT || CODE)), '#' comments.

struct ScratchEntry {
  std::size_t line = 0;
  std::string_view user;
  Bytes salt;
  Bytes hash;
};

struct ScratchFile {
  std::vector<Line> lines;
  std::vector<ScratchEntry> entries;
};

std::expected<ScratchFile, StoreError> parse_scratch_file(const fs::path& path, std::string_view text) {
  ScratchFile file;
  auto lines = for_each_record(path, text, [&](std::size_t i, const Line& line, const Words& words) -> Checked {
    if (words.size() != 3) return std::unexpected(error_at(path, line.number, "expected USER SALT HASH"));
    auto salt = decode_hex(words[1]);
    auto hash = decode_hex(words[2]);
    if (!salt || salt->size() != salt_bytes)
      return std::unexpected(error_at(path, line.number, "the salt is not 16 bytes of hex"));
    if (!hash || hash->size() != 32)
      return std::unexpected(error_at(path, line.number, "the hash is not 32 bytes of hex (SHA-256)"));
    const auto s = salt->view();
    const auto h = hash->view();
    file.entries.push_back({i, words[0], Bytes(s.begin(), s.end()), Bytes(h.begin(), h.end())});
    return {};
  });
  if (!lines) return std::unexpected(lines.error());
  file.lines = std::move(*lines);
  return file;
}

Bytes scratch_hash(BytesView salt, BytesView code) {
  crypto::Hasher h(crypto::HashAlg::sha256);
  h.update(salt);
  h.update(code);
  return h.finish();
}

constexpr std::string_view scratch_header =
    "# parley: single-use scratch codes for the users.oath beside this file (pam_oath does not\n"
    "# read it). USER SALT SHA256(SALT || CODE), hex. Keep it mode 0600 like users.oath.\n";

// ---------------------------------------------------------------------------

class UsersOathStore final : public TotpStore {
 public:
  UsersOathStore(fs::path path, crypto::Random& rng) : path_(std::move(path)), rng_(rng) {
    lock_path_ = path_;
    lock_path_ += ".lock";
    scratch_path_ = path_;
    scratch_path_ += ".scratch";
  }

  std::string describe() const override { return "users.oath " + path_.string(); }

  std::expected<Verdict, StoreError> redeem(std::string_view user, const crypto::SecretBytes& code,
                                            std::int64_t unix_time, const Policy& policy) override {
    std::lock_guard guard(mutex_);
    auto lock = lock_users_file();
    if (!lock) return std::unexpected(lock.error());
    auto opened = open_checked(path_);
    if (!opened) return std::unexpected(opened.error());
    if (!*opened) return std::unexpected(error_at(path_, 0, "cannot open: no such file"));
    ReadFile& file = **opened;
    auto parsed = parse_users_file(path_, file.text.view());
    if (!parsed) return std::unexpected(parsed.error());
    if (!usable_user(user)) return Verdict::no_secret;

    std::vector<const Entry*> mine;
    for (const Entry& e : parsed->entries)
      if (e.user == user && e.type.period != 0) mine.push_back(&e);
    if (mine.empty()) return Verdict::no_secret;  // unknown, or HOTP (event) tokens only
    for (const Entry* e : mine) {
      if (e->password != "-" && e->password != "+")
        return std::unexpected(error_at(path_, parsed->lines[e->line].number,
                                        "this line asks for a password before the code, which parley "
                                        "cannot check (use '-', or '+' for a password checked elsewhere)"));
    }

    const auto window = static_cast<std::int64_t>(std::min(policy.window, max_window));
    for (const Entry* e : mine) {
      // liboath: a code equal to the one recorded is a replay, whatever its step.
      if (e->last_otp && equal_text(code, *e->last_otp)) return Verdict::replayed;
      TotpSecret secret{*decode_hex(e->secret_hex), TotpAlgorithm::sha1, e->type.digits,
                        std::chrono::seconds(e->type.period)};
      const std::int64_t now = time_step(secret, unix_time);
      if (now < 0) continue;
      const auto step = match_code_between(secret, code, now - window, now + window);
      if (!step) continue;
      if (const auto last = recorded_step(*e, secret, now, window); last && *step <= *last) return Verdict::replayed;
      auto claimed = claim_shared_step(policy, user, secret, *step);
      if (!claimed) return std::unexpected(claimed.error());
      if (!*claimed) return Verdict::replayed;  // accepted first by another instance
      auto saved = record(file, *parsed, *e, code, *step, now, unix_time);
      if (!saved) return std::unexpected(saved.error());
      return Verdict::accepted;
    }
    if (code.size() == 8 && all_digits(code.view())) {
      auto scratch = use_scratch_code(user, code, policy);
      if (!scratch) return std::unexpected(scratch.error());
      if (*scratch) return **scratch;
    }
    return Verdict::wrong;
  }

  std::expected<void, StoreError> enroll(std::string_view user, const Enrollment& enrollment) override {
    if (auto problem = enrollment_problem(user, enrollment)) return std::unexpected(*problem);

    std::lock_guard guard(mutex_);
    auto lock = lock_users_file();
    if (!lock) return std::unexpected(lock.error());
    auto opened = open_checked(path_);
    if (!opened) return std::unexpected(opened.error());
    std::string_view old_text;
    ReplaceOptions options;
    options.mode = 0600;
    if (*opened) {
      old_text = (*opened)->text.view();
      options.mode = (*opened)->st.st_mode & 07777;
      options.owner = crypto::FileOwner{(*opened)->st.st_uid, (*opened)->st.st_gid};
    }
    auto parsed = parse_users_file(path_, old_text);
    if (!parsed) return std::unexpected(parsed.error());
    const SecretText text = with_user_line(*parsed, old_text.size(), user, enrollment.secret);

    // Scratch codes first: if users.oath then cannot be written, the old
    // sidecar is put back.
    auto old_scratch = open_checked(scratch_path_);
    if (!old_scratch) return std::unexpected(old_scratch.error());
    std::string_view old_scratch_text = *old_scratch ? (*old_scratch)->text.view() : std::string_view();
    auto scratch = parse_scratch_file(scratch_path_, old_scratch_text);
    if (!scratch) return std::unexpected(scratch.error());
    bool had_codes = false;
    for (const auto& e : scratch->entries) had_codes = had_codes || e.user == user;
    const bool scratch_changes = had_codes || !enrollment.scratch_codes.empty();
    const ReplaceOptions scratch_options = sidecar_options(options, *old_scratch);
    if (scratch_changes) {
      const std::string new_scratch =
          with_user_codes(*scratch, !*old_scratch, user, enrollment.scratch_codes);
      auto written = replace_atomically(scratch_path_, new_scratch, scratch_options, rng_);
      if (!written) return std::unexpected(written.error());
    }
    auto written = replace_atomically(path_, text.view(), options, rng_);
    if (!written) {
      if (scratch_changes) {
        // Best effort: the old codes go with the old secret.
        if (*old_scratch)
          static_cast<void>(replace_atomically(scratch_path_, old_scratch_text, scratch_options, rng_));
        else
          ::unlink(scratch_path_.c_str());
      }
      return std::unexpected(written.error());
    }
    return {};
  }

 private:
  /// Why this enrolment cannot be written to users.oath, if it cannot.
  std::optional<StoreError> enrollment_problem(std::string_view user, const Enrollment& enrollment) const {
    const TotpSecret& s = enrollment.secret;
    if (!usable_user(user))
      return error_at(path_, 0, "the user name cannot stand in users.oath (empty, '#' or a space)");
    if (s.algorithm != TotpAlgorithm::sha1)
      return error_at(path_, 0, "users.oath holds HMAC-SHA1 secrets only (liboath's format has no "
                                "algorithm column); use SHA1 or the google-authenticator store");
    if (s.period.count() != 30 && s.period.count() != 60)
      return error_at(path_, 0, "users.oath knows 30 and 60 second time steps only");
    if (s.digits < 6 || s.digits > 8) return error_at(path_, 0, "codes must have 6 to 8 digits");
    if (s.key.empty() || s.key.size() > max_key_bytes)
      return error_at(path_, 0, "the key must be 1 to 32 bytes (liboath's limit)");
    for (std::size_t i = 0; i < enrollment.scratch_codes.size(); ++i)
      if (!valid_scratch_code(enrollment.scratch_codes[i]))
        return error_at(path_, 0, "scratch code " + std::to_string(i + 1) +
                                      " is not 8 digits without a leading zero");
    return std::nullopt;
  }

  /// The file with the user's new TOTP line in place of their first one; the
  /// user's other TOTP lines go; HOTP (event) lines, the user's too, stay.
  static SecretText with_user_line(const UsersFile& parsed, std::size_t old_size, std::string_view user,
                                   const TotpSecret& s) {
    SecretText line;
    line.reserve(64 + user.size() + 2 * s.key.size());
    line.append("HOTP/T" + std::to_string(s.period.count()) + "/" + std::to_string(s.digits) + "\t");
    line.append(user);
    line.append("\t-\t");
    static constexpr char hex[] = "0123456789abcdef";
    for (std::uint8_t b : s.key.view()) {
      const char pair[2] = {hex[b >> 4], hex[b & 15]};
      line.append(std::string_view(pair, 2));
    }
    line.append("\n");

    SecretText text;
    text.reserve(old_size + line.view().size() + 2);
    bool placed = false;
    std::size_t next_entry = 0;
    for (std::size_t i = 0; i < parsed.lines.size(); ++i) {
      const Entry* e = nullptr;
      if (next_entry < parsed.entries.size() && parsed.entries[next_entry].line == i) e = &parsed.entries[next_entry++];
      if (e && e->user == user && e->type.period != 0) {
        if (!placed) text.append(line.view());
        placed = true;
        continue;
      }
      text.append(parsed.lines[i].raw);
    }
    if (!placed) {
      if (!text.view().empty() && text.view().back() != '\n') text.append("\n");
      text.append(line.view());
    }
    return text;
  }

  /// The sidecar with the user's old codes replaced by `codes`, salted and
  /// hashed; a new sidecar (`fresh`) starts with the header.
  std::string with_user_codes(const ScratchFile& scratch, bool fresh, std::string_view user,
                              const std::vector<std::string>& codes) {
    std::string out;
    if (fresh) out = scratch_header;
    std::size_t next = 0;
    for (std::size_t i = 0; i < scratch.lines.size(); ++i) {
      if (next < scratch.entries.size() && scratch.entries[next].line == i) {
        if (scratch.entries[next++].user == user) continue;
      }
      out += scratch.lines[i].raw;
    }
    for (const std::string& c : codes) {
      Bytes salt(salt_bytes);
      rng_.fill(salt);
      out += std::string(user) + "\t" + to_hex(salt) + "\t" + to_hex(scratch_hash(salt, as_bytes(c))) + "\n";
    }
    return out;
  }

  /// The sidecar keeps its own mode and owner; a new one gets users.oath's.
  static ReplaceOptions sidecar_options(const ReplaceOptions& users_file, const std::optional<ReadFile>& old) {
    ReplaceOptions o = users_file;
    o.mode = 0600;
    if (old) {
      o.mode = old->st.st_mode & 07777;
      o.owner = crypto::FileOwner{old->st.st_uid, old->st.st_gid};
    }
    return o;
  }

  /// Held while users.oath (and its sidecar) is read, decided on and
  /// replaced: liboath's lock file, which the lock removes when it goes.
  class LockFile {
   public:
    LockFile(fs::path path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
    LockFile(LockFile&& other) noexcept : path_(std::exchange(other.path_, {})), fd_(std::move(other.fd_)) {}
    LockFile& operator=(LockFile&&) = delete;
    int fd() const { return fd_.get(); }
    ~LockFile() {
      // Removed before the fcntl lock goes, so nobody can lock a file that is
      // still the lock file after we let go.
      if (!path_.empty()) ::unlink(path_.c_str());
    }

   private:
    fs::path path_;
    UniqueFd fd_;
  };

  /// liboath's lock, as Debian's liboath 2.6.7 (with the CVE-2024-47191 fix,
  /// like upstream 2.6.12) takes it: "<usersfile>.lock" created exclusively
  /// (O_CREAT|O_EXCL: its existence is the lock; liboath fails at once if it
  /// exists), then write-locked with fcntl, and removed when done. Older
  /// liboath opens an existing lock file and waits on the fcntl lock, which
  /// the open-file-description lock taken here also makes it do (an OFD lock
  /// conflicts with a classic one, and with other stores in this process).
  /// While the file exists we wait (polling, at most lock_wait_ms): a lock
  /// file left by a crash is reported, never removed.
  std::expected<LockFile, StoreError> lock_users_file() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(lock_wait_ms);
    auto wait = std::chrono::microseconds(500);
    auto pause = [&]() -> bool {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(wait);
      wait = std::min<std::chrono::microseconds>(wait * 2, std::chrono::milliseconds(20));
      return true;
    };
    while (true) {
      UniqueFd fd(::open(lock_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
      if (fd.get() < 0) {
        const int err = errno;
        if (err != EEXIST) return std::unexpected(system_error(lock_path_, "cannot create the lock file", err));
        struct stat st {};
        if (::lstat(lock_path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
          return std::unexpected(error_at(lock_path_, 0, "the lock file is not a regular file"));
        if (!pause())
          return std::unexpected(error_at(lock_path_, 0,
                                          "exists for too long: another update is stuck, or it was left by a crash "
                                          "(remove it if no pam_oath or parleyd update is running)"));
        continue;
      }
      LockFile lock(lock_path_, std::move(fd));  // removed again if what follows fails
      struct flock l {};
      l.l_type = F_WRLCK;
      l.l_whence = SEEK_SET;
      while (::fcntl(lock.fd(), F_OFD_SETLK, &l) != 0) {
        const int err = errno;
        if (err == EINTR) continue;
        if (err != EAGAIN && err != EACCES) return std::unexpected(system_error(lock_path_, "cannot lock", err));
        if (!pause()) return std::unexpected(error_at(lock_path_, 0, "still locked by another process; giving up"));
      }
      return lock;
    }
  }

  /// Opens and reads a file of this store; refuses one that others may write.
  std::expected<std::optional<ReadFile>, StoreError> open_checked(const fs::path& path) {
    auto opened = open_regular(path, false, max_users_file_size);
    if (!opened || !*opened) return opened;
    if (((*opened)->st.st_mode & S_IWOTH) != 0)
      return std::unexpected(error_at(path, 0, "is writable by others (refused)"));
    if (auto r = read_all(path, **opened, max_users_file_size); !r) return std::unexpected(r.error());
    return opened;
  }

  /// The step liboath (or this store) last accepted for the line: the latest
  /// step whose code is LAST_OTP, near the TIMESTAMP column and near now.
  static std::optional<std::int64_t> recorded_step(const Entry& e, const TotpSecret& secret, std::int64_t now,
                                                   std::int64_t window) {
    if (!e.last_otp) return std::nullopt;
    const crypto::SecretBytes last(as_bytes(*e.last_otp));
    std::optional<std::int64_t> found = match_code_between(secret, last, now - window, now + window);
    if (e.timestamp) {
      const std::int64_t at = time_step(secret, *e.timestamp);
      const std::int64_t reach = std::max(window, recorded_step_search);
      if (at >= 0) {
        if (auto s = match_code_between(secret, last, at - reach, at + reach); s && (!found || *s > *found)) found = s;
      }
    }
    return found;
  }

  /// Rewrites the user's line as liboath's update_usersfile2() does:
  /// TYPE USER PASSWORD SECRET COUNTER LAST_OTP TIME, tab-separated.
  std::expected<void, StoreError> record(const ReadFile& file, const UsersFile& parsed, const Entry& e,
                                         const crypto::SecretBytes& code, std::int64_t step, std::int64_t now,
                                         std::int64_t unix_time) {
    const auto timestamp = format_timestamp(unix_time);
    if (!timestamp) return std::unexpected(error_at(path_, 0, "cannot format the time of this login"));
    // liboath adds the position in the window to the counter (unused for TOTP).
    const std::int64_t counter = e.moving_factor.value_or(0) + (step > now ? step - now : now - step);
    SecretText text;
    text.reserve(file.text.view().size() + 128);
    for (std::size_t i = 0; i < parsed.lines.size(); ++i) {
      if (i != e.line) {
        text.append(parsed.lines[i].raw);
        continue;
      }
      text.append(e.type_text);
      text.append("\t");
      text.append(e.user);
      text.append("\t");
      text.append(e.password);
      text.append("\t");
      text.append(e.secret_hex);
      text.append("\t" + std::to_string(counter) + "\t");
      text.append(as_chars(code.view()));
      text.append("\t" + *timestamp + "\n");
    }
    ReplaceOptions options;
    options.mode = file.st.st_mode & 07777;
    options.owner = crypto::FileOwner{file.st.st_uid, file.st.st_gid};
    return replace_atomically(path_, text.view(), options, rng_);
  }

  /// Looks the code up among the user's scratch codes and removes it if found:
  /// accepted_scratch, or replayed if another instance took it first
  /// (Policy::shared); nothing if it is not one of them.
  std::expected<std::optional<Verdict>, StoreError> use_scratch_code(std::string_view user,
                                                                     const crypto::SecretBytes& code,
                                                                     const Policy& policy) {
    auto opened = open_checked(scratch_path_);
    if (!opened) return std::unexpected(opened.error());
    if (!*opened) return std::nullopt;
    auto parsed = parse_scratch_file(scratch_path_, (*opened)->text.view());
    if (!parsed) return std::unexpected(parsed.error());
    std::optional<std::size_t> hit;
    for (const ScratchEntry& e : parsed->entries) {
      if (e.user != user) continue;
      const Bytes h = scratch_hash(e.salt, code.view());
      if (crypto::constant_time_equal(h, e.hash)) hit = e.line;  // no early exit
    }
    if (!hit) return std::nullopt;
    auto claimed = claim_shared_scratch(policy, user, code.view());
    if (!claimed) return std::unexpected(claimed.error());
    std::string text;
    for (std::size_t i = 0; i < parsed->lines.size(); ++i)
      if (i != *hit) text += parsed->lines[i].raw;
    ReplaceOptions options;
    options.mode = (*opened)->st.st_mode & 07777;
    options.owner = crypto::FileOwner{(*opened)->st.st_uid, (*opened)->st.st_gid};
    if (auto w = replace_atomically(scratch_path_, text, options, rng_); !w) return std::unexpected(w.error());
    return *claimed ? Verdict::accepted_scratch : Verdict::replayed;
  }

  fs::path path_;
  fs::path lock_path_;
  fs::path scratch_path_;
  crypto::Random& rng_;  // used under mutex_ only
  std::mutex mutex_;
};

}  // namespace

std::unique_ptr<TotpStore> users_oath_store(std::filesystem::path path, crypto::Random& rng) {
  return std::make_unique<UsersOathStore>(std::move(path), rng);
}

std::expected<std::size_t, StoreError> parse_users_oath(std::string_view text, std::string_view name) {
  auto file = parse_users_file(std::filesystem::path(name), text);
  if (!file) return std::unexpected(std::move(file.error()));
  return file->entries.size();
}

std::expected<std::size_t, StoreError> parse_users_oath_scratch(std::string_view text, std::string_view name) {
  auto file = parse_scratch_file(std::filesystem::path(name), text);
  if (!file) return std::unexpected(std::move(file.error()));
  return file->entries.size();
}

}  // namespace parley::otp

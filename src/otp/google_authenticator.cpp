// Per-user ~/.google_authenticator files, read and updated the way
// google-authenticator-libpam's PAM module (20191231) does it, under the
// user's file-system identity when parleyd runs as root. See store.hpp.
#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <utility>
#include <mutex>

#include "parley/otp/base32.hpp"
#include "parley/login/system_user.hpp"
#include "parley/otp/store.hpp"
#include "store_io.hpp"

namespace parley::otp {
namespace {

using namespace detail;

/// The PAM module refuses files larger than this.
constexpr std::size_t max_file_size = 64 * 1024;
/// The PAM module's default allowed_perm: nothing beyond rw for the owner.
constexpr mode_t allowed_perm = 0600;

/// A user name that is safe to put into a path: no '/', not "." or "..", no
/// leading '-', only the characters user names are made of.
bool safe_user_name(std::string_view u) {
  if (u.empty() || u.size() > 256 || u == "." || u == ".." || u.front() == '-') return false;
  return std::all_of(u.begin(), u.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '@' || c == '+' || c == '$';
  });
}

struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

std::expected<std::optional<Account>, StoreError> look_up(const std::string& pattern, const std::string& user) {
  auto found = login::find_system_user(user);
  if (!found) return std::unexpected(system_error(pattern, "cannot look the user up", found.error()));
  if (!*found) return std::optional<Account>();
  return std::optional<Account>(Account{(*found)->uid, (*found)->gid, (*found)->home});
}

bool needs_home(std::string_view pattern) {
  return pattern.find("%h") != std::string_view::npos || pattern.find("${HOME}") != std::string_view::npos ||
         pattern.starts_with("~");
}

/// "%h" the home directory, "%u" the user, "%%" a '%'; also the PAM module's
/// spellings "~" (at the start), "${HOME}" and "${USER}".
std::expected<fs::path, StoreError> expand(const std::string& pattern, std::string_view user,
                                           const std::optional<Account>& account) {
  std::string out;
  auto home = [&]() -> std::expected<std::string, StoreError> {
    if (!account || account->home.empty() || account->home.front() != '/')
      return std::unexpected(error_at(pattern, 0, "the user has no absolute home directory"));
    return account->home;
  };
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const std::string_view rest = std::string_view(pattern).substr(i);
    if (i == 0 && rest.starts_with("~")) {
      auto h = home();
      if (!h) return std::unexpected(h.error());
      out += *h;
    } else if (rest.starts_with("%h") || rest.starts_with("${HOME}")) {
      auto h = home();
      if (!h) return std::unexpected(h.error());
      out += *h;
      i += rest[0] == '%' ? 1 : 6;
    } else if (rest.starts_with("%u") || rest.starts_with("${USER}")) {
      out += user;
      i += rest[0] == '%' ? 1 : 6;
    } else if (rest.starts_with("%%")) {
      out += '%';
      i += 1;
    } else if (rest[0] == '%') {
      return std::unexpected(error_at(pattern, 0, "unknown %-sequence in the file pattern (%h, %u and %% are known)"));
    } else {
      out += rest[0];
    }
  }
  if (out.empty() || out.front() != '/') return std::unexpected(error_at(pattern, 0, "the file pattern must give an absolute path"));
  return fs::path(out);
}

/// The calling thread's file-system identity switched to a user's (Linux
/// setfsuid/setfsgid, which act on the calling thread only), so every file
/// operation until destruction has the user's rights and no more (a root
/// fsuid's DAC override is dropped with it). Only when running as root.
class FsIdentity {
 public:
  static std::expected<FsIdentity, StoreError> become(const fs::path& file, uid_t uid, gid_t gid) {
    FsIdentity id;
    if (::geteuid() != 0 || uid == 0) return id;
    // setfsgid/setfsuid return the previous id, even on failure: call again to learn the result.
    const int old_gid = ::setfsgid(gid);
    if (::setfsgid(gid) != static_cast<int>(gid)) {
      ::setfsgid(static_cast<gid_t>(old_gid));
      return std::unexpected(error_at(file, 0, "cannot take the user's file-system group id"));
    }
    const int old_uid = ::setfsuid(uid);
    if (::setfsuid(uid) != static_cast<int>(uid)) {
      ::setfsuid(static_cast<uid_t>(old_uid));
      ::setfsgid(static_cast<gid_t>(old_gid));
      return std::unexpected(error_at(file, 0, "cannot take the user's file-system user id"));
    }
    id.old_uid_ = old_uid;
    id.old_gid_ = old_gid;
    id.active_ = true;
    return id;
  }
  FsIdentity(FsIdentity&& other) noexcept
      : active_(std::exchange(other.active_, false)), old_uid_(other.old_uid_), old_gid_(other.old_gid_) {}
  FsIdentity& operator=(FsIdentity&&) = delete;
  FsIdentity(const FsIdentity&) = delete;
  FsIdentity& operator=(const FsIdentity&) = delete;
  ~FsIdentity() {
    if (!active_) return;
    ::setfsuid(static_cast<uid_t>(old_uid_));
    ::setfsgid(static_cast<gid_t>(old_gid_));
    // A worker thread left with a user's identity would open the next user's
    // files as this one: that must not go on.
    if (::setfsuid(static_cast<uid_t>(old_uid_)) != old_uid_ || ::setfsgid(static_cast<gid_t>(old_gid_)) != old_gid_)
      std::abort();
  }

 private:
  FsIdentity() = default;
  bool active_ = false;
  int old_uid_ = 0;
  int old_gid_ = 0;
};

// ---------------------------------------------------------------------------
// The file: line 1 the base32 secret; lines `" OPTION [VALUE]`; 8-digit
// scratch codes. Checked strictly, every line.

struct Option {
  std::size_t line = 0;  // index
  std::vector<std::string_view> words;
};

struct GaFile {
  std::vector<Line> lines;
  TotpSecret secret;
  std::optional<Option> rate_limit, window_size, disallow_reuse, totp_auth, hotp_counter, step_size, time_skew,
      otp_disabled;
  std::vector<std::size_t> scratch;  // line indexes
};

bool option_name_ok(std::string_view n) {
  return !n.empty() && n.size() <= 32 &&
         std::all_of(n.begin(), n.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

/// Where an option line's value goes in `file`, after checking its values as
/// the PAM module reads them; nullptr for the module's own bookkeeping (skew
/// learning, grace period), which is kept as it is. The error names the option.
std::expected<std::optional<Option>*, std::string> option_slot(GaFile& file, std::string_view name,
                                                               const std::vector<std::string_view>& words) {
  auto bad = [&](std::string_view what) { return std::unexpected(std::string(name) + ": " + std::string(what)); };
  auto one_number = [&](std::int64_t lo, std::int64_t hi) -> bool {
    if (words.size() != 1) return false;
    auto v = parse_count(words[0]);
    return v && *v >= lo && *v <= hi;
  };
  if (name == "RATE_LIMIT") {
    auto n = words.size() >= 2 ? parse_count(words[0]) : std::nullopt;
    auto m = words.size() >= 2 ? parse_count(words[1]) : std::nullopt;
    if (!n || !m || *n < 1 || *n > 100 || *m < 1 || *m > 3600)
      return bad("expected N (1-100) M (1-3600) and time stamps");
    for (std::size_t k = 2; k < words.size(); ++k)
      if (auto t = parse_count(words[k]); !t || *t > 0xffffffffLL) return bad("a time stamp is not a number");
    return &file.rate_limit;
  }
  if (name == "WINDOW_SIZE") {
    if (!one_number(1, 100)) return bad("expected a number from 1 to 100");
    return &file.window_size;
  }
  if (name == "STEP_SIZE") {
    if (!one_number(1, 60)) return bad("expected a number from 1 to 60");
    return &file.step_size;
  }
  if (name == "DISALLOW_REUSE") {
    for (auto w : words)
      if (auto t = parse_count(w); !t || *t > 0x7fffffffLL) return bad("a time step is not a number");
    return &file.disallow_reuse;
  }
  if (name == "TOTP_AUTH" || name == "OTP_DISABLED") {
    if (!words.empty()) return bad("takes no value");
    return name == "TOTP_AUTH" ? &file.totp_auth : &file.otp_disabled;
  }
  if (name == "HOTP_COUNTER") {
    if (!one_number(0, 0x7fffffffffffLL)) return bad("expected a number");
    return &file.hotp_counter;
  }
  if (name == "TIME_SKEW") {
    if (words.size() != 1 || !parse_signed(words[0])) return bad("expected a number of steps");
    return &file.time_skew;
  }
  if (name == "RESETTING_TIME_SKEW" ||
      (name.size() == 5 && name.starts_with("LAST") && name[4] >= '0' && name[4] <= '9'))
    return nullptr;
  return std::unexpected("unknown option " + std::string(name));
}

std::expected<GaFile, StoreError> parse_ga_file(const fs::path& path, std::string_view text) {
  GaFile file;
  file.lines = split_lines(text);
  if (file.lines.empty()) return std::unexpected(error_at(path, 0, "is empty (no secret)"));
  for (const Line& line : file.lines)
    if (auto checked = checked_words(path, line); !checked) return std::unexpected(checked.error());
  const std::string_view first = file.lines[0].text;
  const bool base32 = !first.empty() && std::all_of(first.begin(), first.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
  });
  if (!base32) return std::unexpected(error_at(path, 1, "the first line is not a base32 secret (A-Z, 2-7)"));
  auto secret = otp::parse_totp_secret(first);
  if (!secret) return std::unexpected(error_at(path, 1, secret.error()));
  file.secret = std::move(*secret);
  file.secret.algorithm = TotpAlgorithm::sha1;  // the PAM module knows no other
  file.secret.digits = 6;
  file.secret.period = std::chrono::seconds(30);

  for (std::size_t i = 1; i < file.lines.size(); ++i) {
    const Line& line = file.lines[i];
    if (split_words(line.text).empty()) continue;  // blank lines: the module skips them
    if (line.text.front() != '"') {
      if (!valid_scratch_code(line.text))
        return std::unexpected(error_at(path, line.number, "neither an option line nor an 8-digit scratch code"));
      file.scratch.push_back(i);
      continue;
    }
    if (line.text.size() < 3 || line.text[1] != ' ')
      return std::unexpected(error_at(path, line.number, "an option line must start with '\" ' and a name"));
    auto words = split_words(line.text.substr(2));
    const std::string_view name = words.empty() ? std::string_view() : words[0];
    if (!option_name_ok(name)) return std::unexpected(error_at(path, line.number, "malformed option name"));
    words.erase(words.begin());
    auto slot = option_slot(file, name, words);
    if (!slot) return std::unexpected(error_at(path, line.number, slot.error()));
    if (*slot == nullptr) continue;  // the module's own bookkeeping: kept as it is
    if (**slot) return std::unexpected(error_at(path, line.number, std::string(name) + " given twice"));
    **slot = Option{i, std::move(words)};
  }
  if (file.step_size) file.secret.period = std::chrono::seconds(*parse_count(file.step_size->words[0]));
  return file;
}

std::string join_numbers(std::string head, const std::vector<std::int64_t>& values) {
  for (std::int64_t v : values) {
    if (!head.empty()) head += ' ';
    head += std::to_string(v);
  }
  return head;
}

// ---------------------------------------------------------------------------

class GoogleAuthenticatorStore final : public TotpStore {
 public:
  GoogleAuthenticatorStore(std::string pattern, crypto::Random& rng)
      : pattern_(pattern.empty() ? std::string("%h/.google_authenticator") : std::move(pattern)), rng_(rng) {}

  std::string describe() const override { return "google-authenticator " + pattern_; }

  std::expected<Verdict, StoreError> redeem(std::string_view user, const crypto::SecretBytes& code,
                                            std::int64_t unix_time, const Policy& policy) override {
    auto where = locate(user);
    if (!where) return std::unexpected(where.error());
    if (!*where) return Verdict::no_secret;
    const Target& target = **where;
    std::lock_guard guard(stripe(user));
    auto identity = FsIdentity::become(target.path, target.uid, target.gid);
    if (!identity) return std::unexpected(identity.error());
    // Every file operation below runs with the user's file-system identity.
    auto opened = open_locked(target);
    if (!opened) return std::unexpected(opened.error());
    if (!*opened) return Verdict::no_secret;
    ReadFile& file = **opened;
    auto parsed = parse_ga_file(target.path, file.text.view());
    if (!parsed) return std::unexpected(parsed.error());
    const GaFile& ga = *parsed;
    // HOTP_COUNTER wins over TOTP_AUTH (FILEFORMAT); counter-based files are
    // not for this store, and neither are files with OTP turned off.
    if (ga.hotp_counter || !ga.totp_auth || ga.otp_disabled) return Verdict::no_secret;

    Update update;
    std::optional<Verdict> verdict;
    if (ga.rate_limit) {
      // As the module: every attempt counts, checked before the code.
      const auto& w = ga.rate_limit->words;
      const std::int64_t attempts = *parse_count(w[0]);
      const std::int64_t interval = *parse_count(w[1]);
      std::vector<std::int64_t> stamps{unix_time};
      for (std::size_t k = 2; k < w.size(); ++k) stamps.push_back(*parse_count(w[k]));
      std::sort(stamps.begin(), stamps.end());
      std::ptrdiff_t start = 0, stop = -1;
      for (std::ptrdiff_t k = 0; k < static_cast<std::ptrdiff_t>(stamps.size()); ++k) {
        if (stamps[k] < unix_time - interval) {
          start = k + 1;
        } else if (stamps[k] > unix_time) {
          break;
        }
        stop = k;
      }
      if (stop - start + 1 > attempts) {
        verdict = Verdict::rate_limited;
        start = stop - attempts + 1;
      }
      update.rate_limit = join_numbers(std::to_string(attempts) + " " + std::to_string(interval),
                                       std::vector<std::int64_t>(stamps.begin() + start, stamps.begin() + stop + 1));
    }
    if (!verdict && code.size() == 8 && all_digits(code.view())) {
      std::optional<std::size_t> hit;
      for (std::size_t line : ga.scratch)  // every one compared: no early exit
        if (equal_text(code, ga.lines[line].text)) hit = line;
      if (hit) {
        update.drop_line = hit;
        verdict = Verdict::accepted_scratch;
      }
    }
    if (!verdict && code.size() == 6) verdict = check_code(ga, code, unix_time, policy, update);
    if (!verdict) verdict = Verdict::wrong;
    if (accepted(*verdict) && policy.shared) {
      // Another instance may have taken the code first (Policy::shared); the
      // file is updated all the same, since the code is spent either way.
      auto claimed = *verdict == Verdict::accepted
                         ? claim_shared_step(policy, user, ga.secret, *update.accepted_step)
                         : claim_shared_scratch(policy, user, code.view());
      if (!claimed) return std::unexpected(claimed.error());
      if (!*claimed) verdict = Verdict::replayed;
    }

    if (update.any()) {
      if (auto w = write_back(target.path, file, ga, update); !w) return std::unexpected(w.error());
    }
    return *verdict;
  }

  std::expected<void, StoreError> enroll(std::string_view user, const Enrollment& enrollment) override {
    const TotpSecret& s = enrollment.secret;
    if (s.algorithm != TotpAlgorithm::sha1 || s.digits != 6)
      return std::unexpected(error_at(pattern_, 0, "google-authenticator files hold 6-digit HMAC-SHA1 secrets only"));
    if (s.period.count() < 1 || s.period.count() > 60)
      return std::unexpected(error_at(pattern_, 0, "google-authenticator time steps are 1 to 60 seconds"));
    if (s.key.size() < 10) return std::unexpected(error_at(pattern_, 0, "the key must be at least 10 bytes (80 bits)"));
    for (std::size_t i = 0; i < enrollment.scratch_codes.size(); ++i)
      if (!valid_scratch_code(enrollment.scratch_codes[i]))
        return std::unexpected(error_at(pattern_, 0, "scratch code " + std::to_string(i + 1) +
                                                         " is not 8 digits without a leading zero"));
    auto where = locate(user);
    if (!where) return std::unexpected(where.error());
    if (!*where) return std::unexpected(error_at(pattern_, 0, "no such user"));
    const Target& target = **where;

    // What `google-authenticator -t -d -r 3 -R 30 -w 3` writes, in its order.
    SecretText text;
    text.reserve(256 + 9 * enrollment.scratch_codes.size());
    {
      std::string b32 = otp::base32_encode(s.key.view());
      text.append(b32);
      wipe_string(b32);
    }
    text.append("\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n");
    if (s.period.count() != 30) text.append("\" STEP_SIZE " + std::to_string(s.period.count()) + "\n");
    text.append("\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
    for (const std::string& c : enrollment.scratch_codes) {
      text.append(c);
      text.append("\n");
    }

    std::lock_guard guard(stripe(user));
    auto identity = FsIdentity::become(target.path, target.uid, target.gid);
    if (!identity) return std::unexpected(identity.error());
    // An existing file is locked while it is replaced, so that a login
    // running now finishes first (or sees the new file); not read.
    UniqueFd old(::open(target.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    struct stat st {};
    if (old.get() >= 0 && ::fstat(old.get(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (auto l = flock_exclusive(target.path, old.get()); !l) return std::unexpected(l.error());
    }
    ReplaceOptions options;
    options.mode = 0400;
    return replace_atomically(target.path, text.view(), options, rng_);
  }

 private:
  struct Target {
    fs::path path;
    uid_t uid = 0;  // whose file it must be
    gid_t gid = 0;
  };

  /// What redeem() changes: the RATE_LIMIT and DISALLOW_REUSE values, a used scratch code.
  struct Update {
    std::optional<std::string> rate_limit;
    std::optional<std::string> disallow_reuse;
    std::optional<std::size_t> drop_line;
    std::optional<std::int64_t> accepted_step;  // the step of an accepted TOTP code
    bool any() const { return rate_limit || disallow_reuse || drop_line; }
  };

  std::mutex& stripe(std::string_view user) { return stripes_[std::hash<std::string_view>{}(user) % stripes_.size()]; }

  /// The user's file and owner; nullopt: no such user (so no secret).
  std::expected<std::optional<Target>, StoreError> locate(std::string_view user) {
    if (!safe_user_name(user)) return std::unexpected(error_at(pattern_, 0, "the user name is not safe in a path (refused)"));
    const std::string name(user);
    const bool root = ::geteuid() == 0;
    std::optional<Account> account;
    if (root || needs_home(pattern_)) {
      auto found = look_up(pattern_, name);
      if (!found) return std::unexpected(found.error());
      if (!*found) return std::optional<Target>();
      account = std::move(*found);
    }
    auto path = expand(pattern_, user, account);
    if (!path) return std::unexpected(path.error());
    Target t;
    t.path = std::move(*path);
    // As root the file must be the user's; otherwise it must be our own.
    t.uid = root ? account->uid : ::geteuid();
    t.gid = root ? account->gid : ::getegid();
    return std::optional<Target>(std::move(t));
  }

  /// Opens the file (never through a symbolic link), checks it as the PAM
  /// module does (owner, permissions, size), takes an flock(2) on it so that
  /// other stores and parleyd processes wait, and reads it. The module itself
  /// does not lock; it checks, before its rename, that the file is still the
  /// one it read, and so does write_back().
  std::expected<std::optional<ReadFile>, StoreError> open_locked(const Target& target) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      // Looked at first for a clear reason (a file of root's, 0400, cannot
      // even be opened with the user's identity); checked again on the
      // descriptor below, which is what counts.
      struct stat seen {};
      if (::lstat(target.path.c_str(), &seen) == 0) {
        if (S_ISLNK(seen.st_mode)) return std::unexpected(error_at(target.path, 0, "is a symbolic link (refused)"));
        if (S_ISREG(seen.st_mode) && seen.st_uid != target.uid)
          return std::unexpected(
              error_at(target.path, 0, "must be owned by the user (uid " + std::to_string(target.uid) + ")"));
      }
      auto opened = open_regular(target.path, true, max_file_size);
      if (!opened || !*opened) return opened;
      ReadFile& file = **opened;
      if (file.st.st_uid != target.uid)
        return std::unexpected(error_at(target.path, 0, "must be owned by the user (uid " + std::to_string(target.uid) + ")"));
      if ((file.st.st_mode & 03777 & ~allowed_perm) != 0)
        return std::unexpected(error_at(target.path, 0, "permissions are more permissive than 0600 (refused)"));
      if (file.st.st_size < 1) return std::unexpected(error_at(target.path, 0, "is empty (no secret)"));
      if (auto l = flock_exclusive(target.path, file.fd.get()); !l) return std::unexpected(l.error());
      struct stat now {};
      if (::lstat(target.path.c_str(), &now) != 0) {
        if (errno == ENOENT) continue;
        return std::unexpected(system_error(target.path, "cannot stat", errno));
      }
      if (now.st_dev != file.st.st_dev || now.st_ino != file.st.st_ino) continue;  // replaced while we waited
      // Metadata again, under the lock (another store may have just renamed its file here).
      if (::fstat(file.fd.get(), &file.st) != 0) return std::unexpected(system_error(target.path, "cannot stat", errno));
      if (auto r = read_all(target.path, file, max_file_size); !r) return std::unexpected(r.error());
      return opened;
    }
    return std::unexpected(error_at(target.path, 0, "keeps being replaced; giving up"));
  }

  /// The TOTP check, with the file's WINDOW_SIZE, STEP_SIZE, TIME_SKEW and
  /// DISALLOW_REUSE as the module reads them.
  std::optional<Verdict> check_code(const GaFile& ga, const crypto::SecretBytes& code, std::int64_t unix_time,
                                    const Policy& policy, Update& update) {
    const std::int64_t tm = time_step(ga.secret, unix_time);
    if (tm < 0) return std::nullopt;
    const std::int64_t skew = ga.time_skew ? *parse_signed(ga.time_skew->words[0]) : 0;
    // WINDOW_SIZE N means N steps: -(N-1)/2 .. N/2 around now (the module's loop).
    std::int64_t before = 0, after = 0, size = 0;
    if (ga.window_size) {
      size = *parse_count(ga.window_size->words[0]);
      before = (size - 1) / 2;
      after = size / 2;
    } else {
      before = after = std::min(policy.window, max_window);
      size = before + after + 1;
    }
    const auto step = match_code_between(ga.secret, code, tm + skew - before, tm + skew + after);
    if (!step) return std::nullopt;
    std::vector<std::int64_t> blocked;
    if (ga.disallow_reuse)
      for (auto w : ga.disallow_reuse->words) blocked.push_back(*parse_count(w));
    // The module refuses the steps listed; compare-and-set also refuses any
    // step before the latest one accepted.
    for (std::int64_t b : blocked)
      if (b >= *step) return Verdict::replayed;
    // Kept as the module keeps them: those within the window of this step.
    std::vector<std::int64_t> kept;
    for (std::int64_t b : blocked)
      if (!(b - *step >= size || *step - b >= size)) kept.push_back(b);
    kept.push_back(*step);
    update.disallow_reuse = join_numbers("", kept);
    update.accepted_step = *step;
    return Verdict::accepted;
  }

  /// The file with the changes made as the module's set_cfg_value() makes
  /// them (the option's line replaced in place, or inserted right after the
  /// secret's line), written through a temporary file and a rename.
  std::expected<void, StoreError> write_back(const fs::path& path, const ReadFile& file, const GaFile& ga,
                                             const Update& update) {
    SecretText text;
    text.reserve(file.text.view().size() + 64 + (update.rate_limit ? update.rate_limit->size() : 0) +
                 (update.disallow_reuse ? update.disallow_reuse->size() : 0));
    auto option_line = [&](std::string_view name, const std::string& value) {
      text.append("\" ");
      text.append(name);
      text.append(" ");
      text.append(value);
      text.append("\n");
    };
    for (std::size_t i = 0; i < ga.lines.size(); ++i) {
      if (update.drop_line && *update.drop_line == i) continue;
      if (update.rate_limit && ga.rate_limit && ga.rate_limit->line == i) {
        option_line("RATE_LIMIT", *update.rate_limit);
      } else if (update.disallow_reuse && ga.disallow_reuse && ga.disallow_reuse->line == i) {
        option_line("DISALLOW_REUSE", *update.disallow_reuse);
      } else {
        text.append(ga.lines[i].raw);
      }
      if (i == 0 && update.disallow_reuse && !ga.disallow_reuse) option_line("DISALLOW_REUSE", *update.disallow_reuse);
    }
    ReplaceOptions options;
    options.mode = file.st.st_mode & 07777;
    const struct stat read_st = file.st;
    options.before_rename = [&path, read_st]() -> std::expected<void, StoreError> {
      struct stat now {};
      if (::lstat(path.c_str(), &now) != 0) return std::unexpected(system_error(path, "cannot stat", errno));
      if (now.st_ino != read_st.st_ino || now.st_dev != read_st.st_dev || now.st_size != read_st.st_size ||
          now.st_mtim.tv_sec != read_st.st_mtim.tv_sec || now.st_mtim.tv_nsec != read_st.st_mtim.tv_nsec)
        return std::unexpected(error_at(path, 0, "changed while it was being updated (refused)"));
      return {};
    };
    return replace_atomically(path, text.view(), options, rng_);
  }

  std::string pattern_;
  SerializedRandom rng_;  // stripes run in parallel
  std::array<std::mutex, 16> stripes_;
};

}  // namespace

std::unique_ptr<TotpStore> google_authenticator_store(std::string pattern, crypto::Random& rng) {
  return std::make_unique<GoogleAuthenticatorStore>(std::move(pattern), rng);
}

std::expected<TotpSecret, StoreError> parse_google_authenticator(std::string_view text, std::string_view name) {
  auto file = parse_ga_file(std::filesystem::path(name), text);
  if (!file) return std::unexpected(std::move(file.error()));
  return std::move(file->secret);
}

}  // namespace parley::otp

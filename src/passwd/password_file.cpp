// Password files: parsing `user:hash` lines and verifying passwords with
// libxcrypt's crypt_rn(3). Hash formats are those of crypt(5) (libxcrypt).
#include "parley/passwd/password_file.hpp"
#include "parley/wire/unique_fd.hpp"

#include <crypt.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

#include "parley/wire/bytes.hpp"
#include "parley/wire/lines.hpp"

namespace parley::passwd {
namespace {

// Upper bounds on hash cost: mkpasswd's defaults are 5000 sha-crypt rounds and
// bcrypt cost 05; these allow far stronger settings (about a second per check
// here) while refusing a typo such as cost 31, which would take hours.
constexpr unsigned long max_sha_crypt_rounds = 5'000'000;
constexpr std::string_view max_bcrypt_cost = "15";

namespace fs = std::filesystem;

// A password file holds one short line per user; this only stops a wrong path
// (a log, a disk image) from being read into memory whole.
constexpr off_t max_file_size = 4 << 20;
constexpr std::size_t max_user_length = 64;

// Fixed salts for the dummy setting hashed for unknown users. They are public
// and never compared against anything, but they must be valid for their scheme:
// with an invalid salt crypt_rn fails at once and an unknown user answers
// faster than a known one. crypt(5): yescrypt and bcrypt salts are 22 base-64
// characters for 128 bits, so the last character carries only 2 bits (yescrypt
// encodes little-endian and needs one of "./01" there; bcrypt big-endian, one of
// ".Oeu"); sha-crypt salts are at most 16 characters.
constexpr std::string_view dummy_yescrypt_salt = "parleyDummySaltUnknow.";
constexpr std::string_view dummy_sha_salt = "parley.dummy.slt";
constexpr std::string_view dummy_bcrypt_salt = "parleyDummySaltUnknowu";
// For an empty file: yescrypt with "j9T", the cost mkpasswd -m yescrypt and
// libxcrypt's crypt_gensalt(3) use by default.
constexpr std::string_view default_yescrypt_params = "j9T";

/// The schemes accepted: crypt(5) lists them as suitable for new hashes.
enum class Scheme { yescrypt, sha512crypt, sha256crypt, bcrypt };

/// A stored hash that passed the format check, with the parts needed to build a
/// dummy setting of the same scheme and cost.
struct HashFormat {
  Scheme scheme;
  std::string_view prefix;  // "$y$", "$6$", "$5$", "$2b$" or "$2y$"
  std::string_view cost;    // yescrypt params, "rounds=N" (may be empty) or bcrypt cost
};

std::expected<HashFormat, std::string> check_hash(std::string_view hash);
std::string dummy_setting_for(const HashFormat& format);
std::optional<std::string> check_user(std::string_view user);
const char* c_str(const crypto::SecretBytes& s);

using Fd = parley::UniqueFd;

/// crypt_rn's 32 KiB scratch area on the heap (too big for a thread's stack to
/// take lightly). It holds intermediate state derived from the password, so it
/// is wiped before it is freed.
class CryptScratch {
 public:
  // crypt(3): the crypt_data must be zeroed before its first use; value
  // initialisation does that.
  CryptScratch() : data_(std::make_unique<crypt_data>()) {}
  ~CryptScratch() { crypto::secure_wipe(data_.get(), sizeof(crypt_data)); }
  CryptScratch(const CryptScratch&) = delete;
  CryptScratch& operator=(const CryptScratch&) = delete;
  crypt_data* get() { return data_.get(); }

 private:
  std::unique_ptr<crypt_data> data_;
};

PasswordFileError file_error(const fs::path& path, std::string reason) {
  return {path.string(), 0, std::move(reason)};
}

}  // namespace

std::string PasswordFileError::message() const {
  if (line == 0) return file + ": " + reason;
  return file + ":" + std::to_string(line) + ": " + reason;
}

std::expected<PasswordFile, PasswordFileError> PasswordFile::load(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    return std::unexpected(
        file_error(path, "cannot open: " + std::generic_category().message(errno)));
  }
  // The checks run on the descriptor that is read, so the file cannot be
  // swapped between the check and the read.
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return std::unexpected(
        file_error(path, "cannot stat: " + std::generic_category().message(errno)));
  }
  if (!S_ISREG(st.st_mode)) return std::unexpected(file_error(path, "not a regular file"));
  // Whoever can write the file can add a user with a password of their choice;
  // the same reasoning as sshd_config(5) StrictModes for authorized_keys.
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return std::unexpected(
        file_error(path, "is group- or world-writable; refusing it (chmod go-w, then reload)"));
  }
  if (st.st_size > max_file_size) {
    return std::unexpected(file_error(path, "too large for a password file"));
  }

  // One buffer of the final size, wiped on destruction: the contents are hashes.
  // The extra byte detects a file that grew after fstat.
  const auto size = static_cast<std::size_t>(st.st_size);
  crypto::SecretBytes buffer(size + 1);
  std::size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = ::read(fd.get(), buffer.mutable_view().data() + done, buffer.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return std::unexpected(
          file_error(path, "cannot read: " + std::generic_category().message(errno)));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  if (done > size) return std::unexpected(file_error(path, "changed while being read"));
  return parse(as_chars(buffer.view().first(done)), path.string());
}

std::expected<PasswordFile, PasswordFileError> PasswordFile::parse(
    std::string_view text, std::string_view name_for_errors) {
  PasswordFile result;
  std::map<std::string, std::size_t, std::less<>> first_line;  // user -> line, for duplicates
  std::optional<HashFormat> first_format;
  const auto fail = [&](std::size_t line, std::string reason) {
    return std::unexpected(
        PasswordFileError{std::string(name_for_errors), line, std::move(reason)});
  };

  for (const wire::Line& numbered : wire::split_lines(text)) {
    const std::string_view line = numbered.text;
    const std::size_t line_number = numbered.number;

    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;

    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return fail(line_number, "expected user:hash, found no ':'");
    }
    const std::string_view user = line.substr(0, colon);
    const std::string_view hash = line.substr(colon + 1);
    if (auto problem = check_user(user)) return fail(line_number, std::move(*problem));
    // crypt(5): hashes never contain ':', so a second one means another format
    // (shadow(5) lines carry aging fields after the hash).
    if (hash.find(':') != std::string_view::npos) {
      return fail(line_number,
                  "expected user:hash, found more than one ':' (shadow(5) lines "
                  "are not accepted)");
    }
    auto format = check_hash(hash);
    if (!format) return fail(line_number, std::move(format.error()));
    // Stored NUL-terminated for crypt_rn; the SecretBytes is zeroed on creation.
    crypto::SecretBytes stored(hash.size() + 1);
    std::memcpy(stored.mutable_view().data(), hash.data(), hash.size());
    // crypt_checksalt(3): the format is right, but this libxcrypt may have been
    // built with the method disabled, and then no password would ever match.
    // CRYPT_SALT_METHOD_LEGACY is not a refusal here: the scheme list above is
    // the policy, and Debian's libxcrypt files sha256crypt, which crypt(5)
    // calls acceptable for new hashes, under legacy.
    switch (crypt_checksalt(c_str(stored))) {
      case CRYPT_SALT_INVALID:
        return fail(line_number, "hash is malformed (libxcrypt does not accept its setting)");
      case CRYPT_SALT_METHOD_DISABLED:
        return fail(line_number, "hash scheme is disabled in this system's libxcrypt");
      default:
        break;
    }
    if (const auto seen = first_line.find(user); seen != first_line.end()) {
      return fail(line_number, "duplicate user '" + std::string(user) + "' (first on line " +
                                   std::to_string(seen->second) + ")");
    }

    first_line.emplace(user, line_number);
    if (!first_format) first_format = *format;
    result.hashes_.emplace(std::string(user), std::move(stored));
  }

  result.dummy_setting_ =
      first_format ? dummy_setting_for(*first_format)
                   : dummy_setting_for({Scheme::yescrypt, "$y$", default_yescrypt_params});
  return result;
}

bool PasswordFile::has_user(std::string_view user) const {
  return hashes_.contains(user);
}

std::vector<std::string> PasswordFile::users() const {
  std::vector<std::string> names;
  for (const auto& [name, hash] : hashes_) names.push_back(name);
  return names;
}

bool PasswordFile::verify(std::string_view user, const crypto::SecretBytes& password) const {
  const auto entry = hashes_.find(user);
  const bool known = entry != hashes_.end();
  const char* setting = known ? c_str(entry->second) : dummy_setting_.c_str();

  // crypt_rn takes a C string: a NUL-terminated copy that wipes itself. A
  // password with a NUL in it would be hashed only up to the NUL, so it is
  // hashed anyway (the same work as any other attempt) but never accepted.
  crypto::SecretBytes phrase(password.size() + 1);
  if (!password.empty()) {
    std::memcpy(phrase.mutable_view().data(), password.view().data(), password.size());
  }
  const bool has_nul =
      !password.empty() && std::memchr(password.view().data(), '\0', password.size()) != nullptr;

  // crypt_rn, unlike crypt and crypt_r, returns NULL on failure rather than a
  // "*0" token that could be mistaken for a hash (crypt(3)). It also fails at
  // once for a phrase longer than CRYPT_MAX_PASSPHRASE_SIZE; that fast answer
  // tells the caller only what it already knows (how long its password was).
  CryptScratch scratch;
  const char* out = crypt_rn(reinterpret_cast<const char*>(phrase.view().data()), setting,
                             scratch.get(), sizeof(crypt_data));
  if (out == nullptr) return false;
  // The result's length depends only on the scheme; its contents are compared
  // in constant time so a near miss takes as long as a far one.
  const BytesView computed = as_bytes(std::string_view(out));
  const BytesView stored =
      known ? entry->second.view().first(entry->second.size() - 1) : BytesView{};
  const bool match = crypto::constant_time_equal(computed, stored);
  return known && !has_nul && match;
}

namespace {

bool is_b64(char c) {
  // The base-64 alphabet of crypt(5): "./0-9A-Za-z".
  return c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

bool all_b64(std::string_view s) {
  for (const char c : s) {
    if (!is_b64(c)) return false;
  }
  return true;
}

bool all_digits(std::string_view s) {
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

/// Splits `s` at its first '$': the part before and the rest, or nullopt.
std::optional<std::pair<std::string_view, std::string_view>> split_dollar(std::string_view s) {
  const std::size_t d = s.find('$');
  if (d == std::string_view::npos) return std::nullopt;
  return std::pair{s.substr(0, d), s.substr(d + 1)};
}

constexpr std::string_view refused_hint = "; re-hash it with mkpasswd -m yescrypt";

/// Why `hash` (the text after ':') is not a hash this file accepts. Messages
/// name the scheme at most, never any of the hash or password text.
std::string reject_reason(std::string_view hash) {
  if (hash.empty()) return "empty hash: accounts without a password are refused";
  if (hash.starts_with('!') || hash.starts_with('*')) {
    return "locked-account marker ('!' or '*') instead of a hash: remove the line instead";
  }
  // crypt(5) lists these as too weak for new hashes.
  struct Obsolete {
    std::string_view prefix;
    std::string_view name;
  };
  constexpr Obsolete obsolete[] = {
      {"$1$", "MD5-crypt ($1$)"},
      {"$md5", "SunMD5"},
      {"$sha1", "sha1crypt"},
      {"$3$", "NT hash ($3$)"},
      {"$2a$", "bcrypt $2a$ (crypt_blowfish bug compatibility)"},
      {"$2x$", "bcrypt $2x$ (crypt_blowfish bug compatibility)"},
  };
  for (const auto& [prefix, name] : obsolete) {
    if (hash.starts_with(prefix)) {
      return std::string(name) + " is obsolete and refused" + std::string(refused_hint);
    }
  }
  if (hash.starts_with('$')) {
    return "unsupported hash scheme (accepted: yescrypt $y$, sha512crypt $6$, sha256crypt $5$, "
           "bcrypt $2b$)";
  }
  // Traditional DES is 13 base-64 characters, bigcrypt 13 plus 11 per block,
  // BSDI extended DES '_' and 19 more. A plain-text password can look the same;
  // both are refused, and the message says so.
  const bool des_like = all_b64(hash) && hash.size() >= 13 && (hash.size() - 13) % 11 == 0;
  const bool bsdi_like = hash.size() == 20 && hash.starts_with('_') && all_b64(hash.substr(1));
  if (des_like || bsdi_like) {
    return "DES-based crypt hash is obsolete and refused (or this is a plain text password, "
           "which is refused too)" +
           std::string(refused_hint);
  }
  return "not a crypt(3) hash: plain text passwords are refused" + std::string(refused_hint);
}

/// Checks `hash` against the crypt(5) format of an accepted scheme. A stored
/// hash that is truncated or mangled would never verify (crypt_rn ignores what
/// follows the salt), so it is refused here instead of failing every login.
std::expected<HashFormat, std::string> check_hash(std::string_view hash) {
  const bool accepted = hash.starts_with("$y$") || hash.starts_with("$6$") ||
                        hash.starts_with("$5$") || hash.starts_with("$2b$") ||
                        hash.starts_with("$2y$");
  if (!accepted) return std::unexpected(reject_reason(hash));
  // crypt(5): hashes are printable ASCII without whitespace. Checked once the
  // text looks like a hash, so that a plain-text password with a space in it
  // is still called one.
  for (const char c : hash) {
    if (c <= ' ' || c > '~') {
      return std::unexpected("hash contains whitespace or a control or non-ASCII character");
    }
  }
  const auto malformed = [](std::string_view scheme) {
    return std::unexpected(std::string(scheme) + " hash is malformed or truncated");
  };

  if (hash.starts_with("$y$")) {
    // \$y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{,86}\$[./A-Za-z0-9]{43}
    const auto params = split_dollar(hash.substr(3));
    const auto salt = params ? split_dollar(params->second) : std::nullopt;
    if (!salt || params->first.empty() || !all_b64(params->first) || salt->first.size() > 86 ||
        !all_b64(salt->first) || salt->second.size() != 43 || !all_b64(salt->second)) {
      return malformed("yescrypt");
    }
    return HashFormat{Scheme::yescrypt, "$y$", params->first};
  }
  if (hash.starts_with("$6$") || hash.starts_with("$5$")) {
    // \$6\$(rounds=[1-9][0-9]+\$)?[^$:\n]{1,16}\$[./0-9A-Za-z]{86}, and {43} for $5$.
    const bool sha512 = hash[1] == '6';
    const std::string_view name = sha512 ? "sha512crypt" : "sha256crypt";
    std::string_view rest = hash.substr(3);
    std::string_view rounds;
    if (rest.starts_with("rounds=")) {
      const auto field = split_dollar(rest);
      if (!field) return malformed(name);
      const std::string_view digits = field->first.substr(7);
      // Drepper's "Unix crypt using SHA-256 and SHA-512" clamps rounds to
      // [1000, 999999999] and writes the clamped value into its output, so a
      // stored value outside that range can never match.
      unsigned long value = 0;
      if (!all_digits(digits) || digits.size() > 9 || digits.front() == '0') return malformed(name);
      std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (value < 1000) return malformed(name);
      // A hash is checked on every login: a cost far above the usual makes each
      // login (and each failed guess at one) stall the worker pool.
      if (value > max_sha_crypt_rounds)
        return std::unexpected(std::string(name) + " rounds " + std::string(digits) +
                               " would stall every login (at most " +
                               std::to_string(max_sha_crypt_rounds) + ")");
      rounds = field->first;
      rest = field->second;
    }
    const auto salt = split_dollar(rest);
    if (!salt || salt->first.empty() || salt->first.size() > 16 ||
        salt->second.size() != (sha512 ? 86u : 43u) || !all_b64(salt->second)) {
      return malformed(name);
    }
    return HashFormat{sha512 ? Scheme::sha512crypt : Scheme::sha256crypt, hash.substr(0, 3),
                      rounds};
  }
  if (hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
    // \$2[by]\$[0-9]{2}\$[./A-Za-z0-9]{53}, cost 04 to 31; crypt(5) says $2y$
    // is the same scheme as $2b$ under another name.
    const std::string_view cost = hash.substr(4, 2);
    if (hash.size() != 60 || !all_digits(cost) || cost < "04" || cost > "31" || hash[6] != '$' ||
        !all_b64(hash.substr(7))) {
      return malformed("bcrypt");
    }
    if (cost > max_bcrypt_cost)  // two digits: compares as a number
      return std::unexpected("bcrypt cost " + std::string(cost) + " would stall every login (at most " +
                             std::string(max_bcrypt_cost) + ")");
    return HashFormat{Scheme::bcrypt, hash.substr(0, 4), cost};
  }
  return std::unexpected(reject_reason(hash));  // not reached: `accepted` covers every branch
}

/// A setting of `format`'s scheme and cost with a fixed salt, so that hashing
/// an unknown user's password costs what hashing a real one does.
std::string dummy_setting_for(const HashFormat& format) {
  std::string setting(format.prefix);
  switch (format.scheme) {
    case Scheme::yescrypt:
      setting.append(format.cost).append("$").append(dummy_yescrypt_salt);
      break;
    case Scheme::sha512crypt:
    case Scheme::sha256crypt:
      if (!format.cost.empty()) setting.append(format.cost).append("$");
      setting.append(dummy_sha_salt);
      break;
    case Scheme::bcrypt:
      setting.append(format.cost).append("$").append(dummy_bcrypt_salt);
      break;
  }
  return setting;
}

/// Why `user` is not an acceptable user name, or nullopt. A bad name is not
/// quoted: it may hold control characters, or be a password typed in the wrong
/// field.
std::optional<std::string> check_user(std::string_view user) {
  if (user.empty()) return "empty user name";
  if (user.size() > max_user_length) {
    return "user name longer than " + std::to_string(max_user_length) + " characters";
  }
  for (const char c : user) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return "user name has a character outside [A-Za-z0-9._-]";
  }
  return std::nullopt;
}

const char* c_str(const crypto::SecretBytes& s) {
  return reinterpret_cast<const char*>(s.view().data());
}

}  // namespace

}  // namespace parley::passwd

#include "parley/client/responders.hpp"

#include "parley/wire/text.hpp"
#include "parley/wire/unique_fd.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <initializer_list>
#include <mutex>
#include <thread>

#include "parley/userauth/server_text.hpp"

namespace parley::client {
namespace {

using crypto::SecretBytes;
using userauth::HostIdentity;
using userauth::Prompt;
using userauth::mark_server_text;
using userauth::sanitize_server_text;
using userauth::UserInfoRequest;
using wire::trim;
using Slots = std::vector<std::optional<SecretBytes>>;

// Bounds for server text shown to the user or matched against.
constexpr std::size_t kMaxNameShown = 256;
constexpr std::size_t kMaxInstructionShown = 8 * 1024;
constexpr std::size_t kMaxPromptShown = 1024;
constexpr std::size_t kMaxPromptMatched = 4096;
constexpr std::size_t kMaxTtyLine = 4096;

// ---------------------------------------------------------------------------
// Text helpers (ASCII case folding: every word matched below is ASCII).

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

bool word_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || u >= 0x80;
}

/// Whether lower-cased `text` holds one of `words` as a whole word (letters,
/// digits and non-ASCII bytes form words), so "code" does not match "decoder".
template <std::size_t N>
bool has_word(std::string_view text, const std::array<std::string_view, N>& words) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (!word_char(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && word_char(text[j])) ++j;
    const std::string_view word = text.substr(i, j - i);
    if (std::find(words.begin(), words.end(), word) != words.end()) return true;
    i = j;
  }
  return false;
}

bool has_any(std::string_view text, std::initializer_list<std::string_view> parts) {
  return std::any_of(parts.begin(), parts.end(),
                     [&](std::string_view p) { return contains(text, p); });
}

/// The prompt as matched by totp() and rules(): what the user would be shown,
/// without the marks, so hidden characters cannot steer a match.
std::string visible_prompt(const Prompt& prompt) {
  return std::string(trim(sanitize_server_text(prompt.text, kMaxPromptMatched, false)));
}

// ---------------------------------------------------------------------------
// seed_password

/// Seed 000: "password" or "passcode" anywhere, any case, gets the password;
/// everything else an empty answer.
class SeedPassword final : public PromptResponder {
 public:
  explicit SeedPassword(SecretBytes password) : password_(std::move(password)) {}

  void answer(const UserInfoRequest& request, Slots& answers) override {
    for (std::size_t i = 0; i < answers.size() && i < request.prompts.size(); ++i) {
      if (answers[i]) continue;
      const std::string text = ascii_lower(request.prompts[i].text);
      answers[i] =
          contains(text, "password") || contains(text, "passcode") ? password_ : SecretBytes();
    }
  }
  std::string_view name() const override { return "seed-password"; }

 private:
  SecretBytes password_;
};

// ---------------------------------------------------------------------------
// saved_password

// Words that make a prompt ask for something other than the account password.
constexpr std::array<std::string_view, 30> kNotAccountPassword = {
    "otp",   "totp",     "hotp",   "oath",   "token",      "code",    "verification", "verify",
    "pin",   "passcode", "new",    "retype", "again",      "confirm", "current",      "old",
    "email", "mail",     "bank",   "vpn",    "wifi",       "wi",      "fi",           "sms",
    "2fa",   "mfa",      "secret", "key",    "passphrase", "service"};

/// One word naming the user or host in an account-password prompt.
bool subject_ok(std::string_view x) {
  if (x.empty() || std::any_of(x.begin(), x.end(), wire::is_space)) return false;
  // "user@host": the host is the server's name for itself, whatever it is.
  if (contains(x, "@")) return true;
  return !has_word(x, kNotAccountPassword);
}

bool account_password_prompt(const Prompt& prompt) {
  if (prompt.echo) return false;
  // A prompt with escapes, controls or invisible characters shows something
  // other than what it says; sanitizing would change it.
  if (sanitize_server_text(prompt.text, prompt.text.size(), false) != prompt.text) return false;
  std::string text = ascii_lower(trim(prompt.text));
  if (!text.empty() && text.back() == ':') text.pop_back();
  const std::string_view t = trim(text);
  if (has_any(t, {"one-time", "one time", "onetime"})) return false;

  static constexpr std::array<std::string_view, 7> kExact = {
      "password",       "enter password",   "enter your password", "your password",
      "login password", "account password", "user password"};
  if (std::find(kExact.begin(), kExact.end(), t) != kExact.end()) return true;

  constexpr std::string_view kPossessive = "'s password";  // "user@host's password"
  if (t.ends_with(kPossessive)) return subject_ok(t.substr(0, t.size() - kPossessive.size()));
  constexpr std::string_view kBracketed = ") password";  // "(user@host) password"
  if (t.starts_with("(") && t.ends_with(kBracketed))
    return subject_ok(t.substr(1, t.size() - 1 - kBracketed.size()));
  for (std::string_view prefix : {"password for ", "[sudo] password for "}) {
    if (t.starts_with(prefix)) return subject_ok(t.substr(prefix.size()));
  }
  return false;
}

class SavedPassword final : public PromptResponder {
 public:
  explicit SavedPassword(SecretBytes password) : password_(std::move(password)) {}

  void answer(const UserInfoRequest& request, Slots& answers) override {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < answers.size() && i < request.prompts.size(); ++i) {
      if (answers[i] || !account_password_prompt(request.prompts[i])) continue;
      // Asked again: the server refused it; replaying only adds a failure.
      if (sent_) return;
      answers[i] = password_;
      sent_ = true;
    }
  }
  std::string_view name() const override { return "saved-password"; }

 private:
  std::mutex mutex_;
  SecretBytes password_;
  bool sent_ = false;
};

// ---------------------------------------------------------------------------
// totp

constexpr std::array<std::string_view, 9> kCodeWords = {
    "otp", "totp", "oath", "token", "tokencode", "passcode", "2fa", "mfa", "authenticator"};
// A code other than the current TOTP, or not a code at all.
constexpr std::array<std::string_view, 10> kNotTotpWords = {
    "pin", "backup", "recovery", "scratch", "sms", "email", "emailed", "mail", "sent", "texted"};

bool code_prompt(const Prompt& prompt) {
  const std::string text = ascii_lower(visible_prompt(prompt));
  // "Password & verification code" wants both in one answer; "one-time
  // password" is a code, not the account password.
  std::string rest = text;
  for (std::string_view otp : {"one-time password", "one time password", "onetime password"}) {
    for (auto at = rest.find(otp); at != std::string::npos; at = rest.find(otp))
      rest.erase(at, otp.size());
  }
  if (contains(rest, "password") || has_word(text, kNotTotpWords)) return false;
  return has_word(text, kCodeWords) ||
         has_any(text, {"verification code", "one-time", "one time", "onetime", "security code",
                        "authentication code", "auth code", "two-factor", "two factor"});
}

class Totp final : public PromptResponder {
 public:
  Totp(TotpSecret secret, TotpClock clock, TotpSleep sleep)
      : secret_(std::move(secret)), clock_(std::move(clock)), sleep_(std::move(sleep)) {}

  void answer(const UserInfoRequest& request, Slots& answers) override {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < answers.size() && i < request.prompts.size(); ++i) {
      if (answers[i] || !code_prompt(request.prompts[i])) continue;
      if (auto code = next_code()) answers[i] = std::move(*code);
    }
  }
  std::string_view name() const override { return "totp"; }

 private:
  // A clock that does not reach the next step after this many waits is broken;
  // leave the prompt unanswered rather than spin.
  static constexpr int kMaxWaits = 4;

  std::int64_t step_now() const {
    if (!clock_) return -1;
    const auto seconds = clock_().time_since_epoch().count();
    return seconds < 0 ? -1 : seconds / secret_.period.count();
  }

  std::optional<SecretBytes> next_code() {
    if (!otp::totp_usable(secret_)) return std::nullopt;
    std::int64_t step = step_now();
    if (step < 0) return std::nullopt;
    if (last_step_ && step <= *last_step_) {
      // RFC 6238 §5.2: a verifier accepts each step once; a second code from
      // the same step would be refused, so wait for the next one.
      const std::int64_t next = *last_step_ + 1;
      for (int waits = 0; waits < kMaxWaits && step < next; ++waits) {
        if (!sleep_) return std::nullopt;
        sleep_(std::chrono::sys_seconds(std::chrono::seconds(next * secret_.period.count())));
        step = step_now();
      }
      if (step < next) return std::nullopt;
    }
    auto code = otp::totp_code(secret_, step * secret_.period.count());
    if (code) last_step_ = step;
    return code;
  }

  std::mutex mutex_;
  TotpSecret secret_;
  TotpClock clock_;
  TotpSleep sleep_;
  std::optional<std::int64_t> last_step_;
};

// ---------------------------------------------------------------------------
// terminal

class Terminal final : public PromptResponder {
 public:
  explicit Terminal(TerminalIo& io, std::unique_ptr<TerminalIo> owned = nullptr)
      : owned_(std::move(owned)), io_(io) {}

  void answer(const UserInfoRequest& request, Slots& answers) override {
    const std::size_t count = std::min(answers.size(), request.prompts.size());
    const bool to_ask =
        std::any_of(answers.begin(), answers.begin() + static_cast<std::ptrdiff_t>(count),
                    [](const auto& a) { return !a.has_value(); });
    // RFC 4256 §3.2: name and instruction are shown even with no prompts.
    if (!to_ask && !request.prompts.empty()) return;
    show_header(request);
    for (std::size_t i = 0; i < count; ++i) {
      if (answers[i]) continue;
      const Prompt& prompt = request.prompts[i];
      const std::string text = sanitize_server_text(prompt.text, kMaxPromptShown, false);
      io_.write(text.empty() ? std::string("[server] ") : mark_server_text(text));
      auto line = io_.read_line(prompt.echo);
      if (!line) return;  // no terminal or end of input: the rest stay unanswered
      answers[i] = std::move(*line);
    }
  }
  std::string_view name() const override { return "terminal"; }

 private:
  void show_header(const UserInfoRequest& request) {
    std::string header;
    if (const auto name = sanitize_server_text(request.name, kMaxNameShown, false);
        !trim(name).empty())
      header += mark_server_text(name) + "\n";
    if (const auto text = sanitize_server_text(request.instruction, kMaxInstructionShown, true);
        !trim(text).empty()) {
      header += mark_server_text(text);
      if (header.back() != '\n') header += '\n';
    }
    if (!header.empty()) io_.write(header);
  }

  std::unique_ptr<TerminalIo> owned_;
  TerminalIo& io_;
};

// ---------------------------------------------------------------------------
// rules

bool host_matches(const std::string& pattern, const HostIdentity& host) {
  constexpr auto fold = wire::GlobCase::fold;
  return wire::glob_match(pattern, host.host, fold) ||
         wire::glob_match(pattern, host.host + ":" + std::to_string(host.port), fold);
}

bool prompt_matches(const std::string& pattern, const std::string& prompt) {
  if (pattern.empty()) return false;
  if (pattern.find_first_of("*?[") != std::string::npos)
    return wire::glob_match(pattern, prompt, wire::GlobCase::fold);
  return contains(ascii_lower(prompt), ascii_lower(pattern));
}

class Rules final : public PromptResponder {
 public:
  explicit Rules(std::vector<Rule> rules) : rules_(std::move(rules)) {}

  void answer(const UserInfoRequest& request, Slots& answers) override {
    for (std::size_t i = 0; i < answers.size() && i < request.prompts.size(); ++i) {
      if (answers[i]) continue;
      const std::string prompt = visible_prompt(request.prompts[i]);
      for (const Rule& rule : rules_) {
        if (host_matches(rule.host_pattern, request.host) &&
            prompt_matches(rule.prompt_pattern, prompt)) {
          answers[i] = rule.secret;
          break;
        }
      }
    }
  }
  std::string_view name() const override { return "rules"; }

 private:
  std::vector<Rule> rules_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Public API

ResponderPtr seed_password(SecretBytes password) {
  return std::make_shared<SeedPassword>(std::move(password));
}

ResponderPtr saved_password(SecretBytes password) {
  return std::make_shared<SavedPassword>(std::move(password));
}

TotpClock system_totp_clock() {
  return [] { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); };
}

TotpSleep system_totp_sleep() {
  return [](std::chrono::sys_seconds until) { std::this_thread::sleep_until(until); };
}

ResponderPtr totp(TotpSecret secret, TotpClock clock, TotpSleep sleep) {
  return std::make_shared<Totp>(std::move(secret), std::move(clock), std::move(sleep));
}

void TtyTerminal::write(std::string_view text) {
  const UniqueFd tty(::open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC));
  if (tty.get() < 0) return;
  while (!text.empty()) {
    const ssize_t n = ::write(tty.get(), text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::optional<SecretBytes> TtyTerminal::read_line(bool echo) {
  const UniqueFd tty(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (tty.get() < 0) return std::nullopt;
  termios saved{};
  const bool hide = !echo && ::tcgetattr(tty.get(), &saved) == 0;
  if (hide) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;  // still move to the next line on Enter
    ::tcsetattr(tty.get(), TCSAFLUSH, &quiet);
  }
  // Read byte by byte into a fixed secret buffer: nothing typed is ever in a
  // growable (reallocating, unwiped) container.
  SecretBytes buffer(kMaxTtyLine);
  std::size_t n = 0;
  bool any = false, too_long = false;
  for (;;) {
    std::uint8_t c = 0;
    const ssize_t r = ::read(tty.get(), &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    any = true;
    if (c == '\n') break;
    if (n < buffer.size()) {
      buffer.mutable_view()[n++] = c;
    } else {
      too_long = true;
    }
    crypto::secure_wipe(&c, sizeof c);
  }
  if (hide) ::tcsetattr(tty.get(), TCSAFLUSH, &saved);
  if (!any || too_long) return std::nullopt;
  if (n > 0 && buffer.view()[n - 1] == '\r') --n;
  return SecretBytes(buffer.view().first(n));
}

ResponderPtr terminal(TerminalIo& io) {
  return std::make_shared<Terminal>(io);
}

ResponderPtr terminal() {
  auto tty = std::make_unique<TtyTerminal>();
  TerminalIo& io = *tty;
  return std::make_shared<Terminal>(io, std::move(tty));
}

ResponderPtr rules(std::vector<Rule> rules) {
  return std::make_shared<Rules>(std::move(rules));
}

}  // namespace parley::client

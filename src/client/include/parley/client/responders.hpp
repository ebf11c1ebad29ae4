// The client's answers to keyboard-interactive prompts (RFC 4256): the account
// password, TOTP codes, the user at the terminal, fixed rules. Each is a
// userauth::PromptResponder (parley/userauth/prompt_responder.hpp has the
// interface and the chaining); these are the implementations, some of which do
// I/O (the terminal reads /dev/tty; totp reads the clock and may sleep), so
// they live with the client, not in the sans-I/O core.
//
// A server asks questions whose text it alone chooses. Seed 000 answered every
// prompt containing "password" or "passcode" with the saved password and every
// other prompt with an empty string; it could not answer a one-time code, could
// not ask the user, and sent the password to "Enter your email password:" and
// "New password:". Here each kind of answer is a PromptResponder and an
// application chains the ones it wants:
//
//   config.on_user_info_request = user_info_callback(first_of({
//       saved_password(password), totp(*parse_totp_secret(uri)), terminal()}));
//
// Each prompt gets the answer of the first responder that gives one; prompts
// none answers are sent empty (the seed's batch behaviour) and counted for the
// failure message. Responders keep state (which password was already sent,
// which TOTP time step was used): make a chain per connection (a totp
// responder may be shared, see there).
//
// Nothing here logs. The seed logged only the request name and the prompt
// count; prompt text and answers must never reach a log (answers live only in
// crypto::SecretBytes, and prompt text may quote what the user typed before).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/secret.hpp"
#include "parley/otp/totp.hpp"
#include "parley/userauth/client_auth.hpp"
#include "parley/userauth/prompt_responder.hpp"

namespace parley::client {

using userauth::PromptResponder;
using userauth::ResponderPtr;
using userauth::Verdict;
using userauth::first_of;
using userauth::user_info_callback;
using otp::TotpSecret;

/// Seed 000's rule, exactly, for applications that relied on it: a prompt whose
/// text contains "password" or "passcode" (any case) gets `password`; EVERY
/// other prompt gets an empty answer, so it answers all prompts and nothing
/// chained after it is ever asked. Echo-on prompts, "New password:", "Enter
/// your email password:" and "One-time password:" all get the password. Prefer
/// saved_password().
ResponderPtr seed_password(crypto::SecretBytes password);

/// The saved account password, sent only where it is asked for (the default).
///
/// A prompt is answered when, trimmed and lower-cased, it is exactly one of the
/// forms servers use for the account password, optionally ending in ':':
///   "password"                      (PAM, pam_unix)
///   "X's password"                  (OpenSSH: "user@host's password: ")
///   "(X) password"                  (OpenSSH 8.x kbdint: "(user@host) Password: ")
///   "password for X", "[sudo] password for X"   (FreeBSD PAM, sudo-like)
///   "enter password", "enter your password", "your password",
///   "login password", "account password", "user password"
/// where X is one word (no spaces). It is never answered when:
///   - the prompt echoes (a password is never typed visibly);
///   - it holds a word that asks for something else: one-time, otp, oath,
///     token, code, verification, pin, passcode, new, retype, again, confirm,
///     current, old, or another service (email, mail, bank, vpn, wifi, ...).
///     The fixed forms above hold none; X is checked too unless it is
///     "user@host", whose host may well be called "mail" or "vpn";
///   - it contains anything sanitize_server_text() would change (control or
///     escape characters, invisible or bidi characters): a prompt hiding part
///     of its text is not the plain question it appears to be;
///   - the password was already sent on this connection (responder instance).
///     Servers ask again only after rejecting it, so a second account-password
///     prompt means the first answer was wrong; replaying it would only add a
///     failed login (and lockout risk). Only the first of several account-
///     password prompts in one round is answered.
///
/// "Current password:" is not answered: it belongs to PAM's password-change
/// flow (an expired password: "(current) UNIX password", "New password",
/// "Retype new password"), which comes after the password was already sent
/// once and must be finished by the user choosing a new password; answering
/// only its first step would walk the account into a change nobody completes.
ResponderPtr saved_password(crypto::SecretBytes password);


/// Reads the current time, in whole seconds (injected so tests can replay
/// RFC 6238's vectors, which run to the year 2603: past what a nanosecond
/// system_clock::time_point holds).
using TotpClock = std::function<std::chrono::sys_seconds()>;
/// Waits until the given time (injected so tests need not sleep).
using TotpSleep = std::function<void(std::chrono::sys_seconds)>;

/// The system clock and std::this_thread::sleep_until.
TotpClock system_totp_clock();
TotpSleep system_totp_sleep();

/// Answers one-time-code prompts with the RFC 6238 code for the time of the
/// prompt (liboath). A prompt asks for a code when, lower-cased, it mentions
/// "verification code", "one-time"/"one time", "otp", "totp", "oath", "token",
/// "tokencode", "authenticator", "passcode", "security code", "authentication
/// code", "2fa", "mfa" or "two-factor", unless it also asks for the account password
/// ("Password & verification code:"; "one-time password" is not that), a PIN,
/// a backup, recovery or scratch code, or a code sent by SMS or e-mail. The
/// text is matched as sanitize_server_text() shows it. Echo does not matter: a
/// code is useless once its step has passed.
///
/// It never sends a code for the same time step twice: servers refuse a
/// replayed code (RFC 6238 §5.2), so when asked again within the step it
/// already used (a retry, a second prompt, RSA's "enter the new tokencode")
/// it calls `sleep` until the next step begins, which blocks the answering
/// thread for up to one period. Unlike the others, one totp responder may be
/// shared by the chains of several connections to the same account (it is
/// thread-safe), so that a quick reconnect does not reuse a step either.
/// A secret with digits outside 6..8, no period or an empty key answers nothing.
ResponderPtr totp(TotpSecret secret, TotpClock clock = system_totp_clock(),
                  TotpSleep sleep = system_totp_sleep());


/// Where the terminal responder talks to the user.
class TerminalIo {
 public:
  virtual ~TerminalIo() = default;
  /// Shows text (already sanitized and marked by the responder).
  virtual void write(std::string_view text) = 0;
  /// Reads one line without its line ending, echoing it only if `echo`;
  /// nullopt when there is no terminal, at end of input, or on error.
  virtual std::optional<crypto::SecretBytes> read_line(bool echo) = 0;
};

/// TerminalIo on the controlling terminal (/dev/tty), so it works while stdin
/// and stdout are redirected, as ssh(1) does. Echo is turned off (termios) for
/// the line of a non-echo prompt and restored afterwards (a signal that kills
/// the process meanwhile leaves it off, as with getpass(3)). Lines longer than
/// 4096 bytes are refused (nullopt) rather than cut short.
class TtyTerminal : public TerminalIo {
 public:
  void write(std::string_view text) override;
  std::optional<crypto::SecretBytes> read_line(bool echo) override;
};

/// Asks the user every prompt no earlier responder answered: shows the
/// request's name and instruction, then each prompt, each sanitized and marked
/// "[server] " so server text cannot pass for the client's own; reads the
/// answer with echo as the prompt says. A round with no prompts still shows
/// its name and instruction (RFC 4256 §3.2). Stops asking at end of input.
/// `io` must outlive the responder.
ResponderPtr terminal(TerminalIo& io);
/// The same on /dev/tty (a TtyTerminal owned by the responder).
ResponderPtr terminal();

/// A fixed answer for a host and prompt that the others do not cover.
struct Rule {
  /// fnmatch(3) glob (case-insensitive) against the host as the user named it
  /// or "host:port": "*.example.com", "bastion:2222". ('[' starts a glob
  /// bracket expression, so "[host]:port" forms would need escaping.)
  std::string host_pattern;
  /// A case-insensitive substring of the prompt, or, if it contains * ? or [,
  /// an fnmatch(3) glob (case-insensitive) against the whole trimmed prompt.
  /// Matched against the sanitized prompt text. An empty pattern matches no
  /// prompt; use "*" to match every prompt.
  std::string prompt_pattern;
  crypto::SecretBytes secret;
};

/// Answers each prompt with the secret of the first rule matching both the
/// host and the prompt, echo or not, as often as asked: the user wrote the rule.
ResponderPtr rules(std::vector<Rule> rules);


}  // namespace parley::client

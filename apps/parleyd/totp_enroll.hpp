// `parleyd totp enroll USER`: makes a new TOTP secret for USER, stores it in
// pam_oath's users.oath file or the user's google-authenticator file, and shows
// it once to the administrator: the otpauth:// URI, the same URI as a QR code
// drawn in the terminal, and the scratch codes. None of it is logged.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <optional>
#include <string>

namespace parleyd {

/// Where secrets are stored: a users.oath path or a google-authenticator file
/// pattern (%u user, %h home). At most one is set; both empty: none.
struct TotpStoreLocation {
  std::string users_oath;
  std::string google_authenticator;
};

/// The options of `parleyd totp enroll`.
struct TotpEnrollFlags {
  std::string user;
  /// The store named on the subcommand; when neither is given, run_totp_enroll
  /// falls back to parleyd's own setting (flags or the config file's [totp]).
  std::optional<std::string> users_oath;
  std::optional<std::string> google_authenticator;  // a pattern; default %h/.google_authenticator
  std::optional<std::string> issuer;                // default: this host's name
  std::string algorithm = "SHA1";
  unsigned digits = 6;
  unsigned period = 30;
  bool ascii = false;             // draw the QR code with '#' instead of Unicode blocks
  bool light_background = false;  // the terminal is dark-on-light: ink the dark modules
  bool force = false;             // replace an existing secret
};

/// Adds the `totp` command and its `enroll` subcommand to `app`, filling `flags`.
/// Returns `enroll`: its parsed() tells whether it was asked for. parleyd's own
/// options (--config, --log-level) may also follow it.
CLI::App* add_totp_enroll_command(CLI::App& app, TotpEnrollFlags& flags);

/// Enrols flags.user. `fallback` is the store parleyd itself would use, taken
/// when the subcommand names none. `log_level` is parleyd's --log-level: the
/// log goes to stderr as when serving, although enrolment logs nothing (the
/// secret, URI and codes go to `out` only). Errors go to `err`. Returns the
/// exit status: 0, 1 (a store problem, an existing secret without --force) or
/// 2 (bad options, no store).
int run_totp_enroll(const TotpEnrollFlags& flags, const TotpStoreLocation& fallback,
                    const std::string& log_level, std::ostream& out, std::ostream& err);

}  // namespace parleyd

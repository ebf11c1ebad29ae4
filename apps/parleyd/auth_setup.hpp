// Turns parleyd's authentication settings (flags or config file) into the
// userauth core's configuration.
#pragma once

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "parley/auth/server_auth.hpp"
#include "parley/crypto/random.hpp"

namespace parleyd {

struct AuthSettings {
  std::string password_file;    // user:hash lines; enables password logins
  std::string authorized_keys;  // path pattern: %u = user name, %h = home directory
  /// AuthenticationMethods: each entry "step,step,..." with steps publickey,
  /// password, keyboard-interactive, keyboard-interactive:higher-or-lower,
  /// keyboard-interactive:password. Empty: any one offered method.
  std::vector<std::string> methods;
  /// Accounts for methods without a user database of their own (higher-or-lower).
  std::vector<std::string> users;
  std::string banner;
  parley::auth::AuthLimits limits;
  /// keyboard-interactive:totp: one store (users.oath path, or a per-user
  /// google-authenticator file pattern), the window and the rate limit.
  std::string totp_users_oath;
  std::string totp_google_authenticator;
  unsigned totp_window = 1;
  std::size_t totp_max_failures = 5;
  std::chrono::seconds totp_failure_period{300};
  /// keyboard-interactive:pam: the PAM service. Empty: PAM only when a chain
  /// names it (service "parley"). Set explicitly, PAM also answers a plain
  /// "keyboard-interactive" when there is no password file, as sshd does.
  std::string pam_service;
  std::size_t pam_max_conversations = 64;
};

/// Builds the configuration; the error names what is wrong (file:line for the
/// password file). Password checks run on `pool_submit`.
std::expected<std::shared_ptr<const parley::auth::ServerAuthConfig>, std::string> build_auth_config(
    const AuthSettings& settings, parley::crypto::Random& rng,
    parley::auth::BlockingRunner pool_submit);

/// Parses one "step,step" chain; the error names the unknown step.
std::expected<std::vector<std::string>, std::string> parse_chain(std::string_view text);

}  // namespace parleyd

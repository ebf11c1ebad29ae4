// Turns parleyd's authentication settings (flags or config file) into the
// userauth core's configuration.
#pragma once

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "parley/userauth/server_auth.hpp"
#include "parley/crypto/random.hpp"
#include "parley/login/account.hpp"

namespace parleyd {

struct AuthSettings {
  /// The Higher or Lower demo (--demo): the question lets in `users` (default
  /// admin). Without it a configuration must say how users log in.
  bool demo = false;
  /// parleyd runs as root: sessions run as the account of the user who logged
  /// in, and accounts sshd would refuse (locked, expired, no shell) are refused.
  bool as_root = false;
  /// The account sessions of virtual users (names that are not OS accounts)
  /// run as when parleyd runs as root; never root. Empty: such logins refused.
  std::string session_user;
  /// OpenSSH's PermitRootLogin, for accounts with uid 0.
  parley::login::RootLogin permit_root_login = parley::login::RootLogin::prohibit_password;
  std::string password_file;    // user:hash lines; enables password logins
  std::string authorized_keys;  // path pattern: %u = user name, %h = home directory
  /// AuthenticationMethods: each entry "step,step,..." with steps publickey,
  /// password, keyboard-interactive, keyboard-interactive:higher-or-lower,
  /// keyboard-interactive:password. Empty: any one offered method.
  std::vector<std::string> methods;
  /// Accounts for methods without a user database of their own (higher-or-lower).
  std::vector<std::string> users;
  std::string banner;
  parley::userauth::AuthLimits limits;
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

/// Whom a login's sessions run as (parleyd as root): the OS account of that
/// name, else the session_user; an error refuses the session.
using AccountResolver =
    std::function<std::expected<parley::login::Account, std::string>(const std::string& user)>;

struct BuiltAuth {
  std::shared_ptr<const parley::userauth::ServerAuthConfig> config;
  /// Set when parleyd runs as root (and not for the demo, whose sessions are
  /// the built-in command shell).
  AccountResolver run_as;
  /// The PAM service logins go through (--pam-service, or "parley" when a
  /// chain names keyboard-interactive:pam); empty: no PAM.
  std::string pam_service;
};

/// Builds the configuration. Fails closed: a configuration that leaves no
/// complete way to log in, or (as root) virtual users without a session_user,
/// is an error naming what is missing (file:line for the password file).
/// Password checks run on `pool_submit`.
std::expected<BuiltAuth, std::string> build_auth_config(const AuthSettings& settings,
                                                        parley::crypto::Random& rng,
                                                        parley::userauth::BlockingRunner pool_submit);

/// Parses one "step,step" chain; the error names the unknown step.
std::expected<std::vector<std::string>, std::string> parse_chain(std::string_view text);

}  // namespace parleyd

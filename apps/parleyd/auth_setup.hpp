// Turns parleyd's authentication settings (flags or config file) into the
// userauth core's configuration.
#pragma once

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
};

/// Builds the configuration; the error names what is wrong (file:line for the
/// password file). Password checks run on `pool_submit`.
std::expected<std::shared_ptr<const parley::auth::ServerAuthConfig>, std::string> build_auth_config(
    const AuthSettings& settings, parley::crypto::Random& rng,
    parley::auth::BlockingRunner pool_submit);

/// Parses one "step,step" chain; the error names the unknown step.
std::expected<std::vector<std::string>, std::string> parse_chain(std::string_view text);

}  // namespace parleyd

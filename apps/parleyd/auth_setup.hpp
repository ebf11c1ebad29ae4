// Turns parleyd's merged settings (settings.hpp) into the userauth core's
// configuration.
#pragma once

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "parley/state/shared_state.hpp"
#include "parley/userauth/server_auth.hpp"
#include "parley/crypto/random.hpp"
#include "parley/login/account.hpp"
#include "config.hpp"

namespace parleyd {

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
  /// [state] backend = "redis": the backend, also for what else is shared
  /// (per-source penalties); null with the local backend.
  std::shared_ptr<parley::state::SharedState> shared_state;
};

/// Builds the configuration from `config`'s authentication settings, its
/// [limits], [totp], [pam] and session_user. Fails closed: a configuration
/// that leaves no complete way to log in, or (as root) virtual users without a
/// session_user, is an error naming what is missing (file:line for the
/// password file). `as_root`: parleyd runs as root, so sessions run as the
/// account of the user who logged in and accounts sshd would refuse (locked,
/// expired, no shell) are refused. Password checks run on `pool_submit`.
std::expected<BuiltAuth, std::string> build_auth_config(const Config& config, bool as_root,
                                                        parley::crypto::Random& rng,
                                                        parley::userauth::BlockingRunner pool_submit);

}  // namespace parleyd

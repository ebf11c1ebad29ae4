// Password authentication: the "password" method (RFC 4252 §8) and password
// over keyboard-interactive ("Password: ", echo off), both checked by one
// verifier that runs off the I/O thread.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "parley/userauth/provider.hpp"

namespace parley::userauth {

/// Checks a user's password. May block (crypt(3) is slow on purpose); must be
/// thread-safe. Never logs the password.
using PasswordVerifier =
    std::function<bool(std::string_view user, const crypto::SecretBytes& password)>;

/// Keyboard-interactive asking "Password: " with echo off.
class PasswordProvider final : public KeyboardInteractiveProvider {
 public:
  PasswordProvider(std::shared_ptr<const PasswordVerifier> verify, BlockingRunner run)
      : verify_(std::move(verify)), run_(std::move(run)) {}

  std::string_view name() const override { return "password"; }
  void start(const AttemptInfo& attempt, Responder respond) override;
  void answer(std::vector<crypto::SecretBytes> answers, Responder respond) override;

  /// Checks `password` on the runner and answers Accept or Reject.
  static void check(std::shared_ptr<const PasswordVerifier> verify, const BlockingRunner& run,
                    std::string user, crypto::SecretBytes password, Responder respond);

 private:
  std::shared_ptr<const PasswordVerifier> verify_;
  BlockingRunner run_;
  std::string user_;
};

}  // namespace parley::userauth

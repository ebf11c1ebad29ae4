// The TOTP keyboard-interactive provider: "Verification code: " (echo off),
// checked against a TotpStore on a worker, with a per-user rate limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "parley/userauth/password.hpp"  // BlockingRunner
#include "parley/userauth/provider.hpp"
#include "parley/otp/store.hpp"
#include "parley/state/shared_state.hpp"

namespace parley::otp {

/// Reads the time, as Unix seconds (injected so tests use a fixed clock).
using UnixClock = std::function<std::int64_t()>;
UnixClock system_unix_clock();

struct TotpProviderConfig {
  std::shared_ptr<TotpStore> store;
  userauth::BlockingRunner run;  // where store I/O runs (a worker pool)
  /// Failed codes per user (null: no limit): after `max_failures` tries within
  /// `failure_period`, every code for that user is refused unchecked until the
  /// oldest try is `failure_period` old. A try counts from the moment it is
  /// checked until the code is accepted, so parallel guesses cannot all pass.
  /// state::memory_state() keeps the count in this process; a shared backend
  /// (docs/scale-out.md) across every instance using it. A backend that cannot
  /// answer refuses the code (fail closed).
  std::shared_ptr<state::SharedState> failures;
  std::size_t max_failures = 5;
  std::chrono::seconds failure_period{300};
  UnixClock clock = system_unix_clock();
  Policy policy;
  std::string prompt = "Verification code: ";
  /// Told why a code was refused or could not be checked, for the server's log:
  /// (user, peer, what happened). Never carries the code. May be called from a
  /// worker thread.
  std::function<void(std::string_view user, std::string_view peer, std::string_view what)> on_result;
};

/// One attempt: asks once; a wrong, replayed or rate-limited code, a user with
/// no secret and a store error all reject (the client may start a new attempt,
/// counted by MaxAuthTries). Users without a secret are asked all the same, so
/// the prompt does not reveal who has one.
class TotpProvider final : public userauth::KeyboardInteractiveProvider {
 public:
  explicit TotpProvider(std::shared_ptr<const TotpProviderConfig> config) : config_(std::move(config)) {}
  std::string_view name() const override { return "totp"; }
  void start(const userauth::AttemptInfo& attempt, userauth::Responder respond) override;
  void answer(std::vector<crypto::SecretBytes> answers, userauth::Responder respond) override;

 private:
  std::shared_ptr<const TotpProviderConfig> config_;
  std::string user_;
  std::string peer_;
};

}  // namespace parley::otp

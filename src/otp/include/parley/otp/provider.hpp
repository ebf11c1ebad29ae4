// The TOTP keyboard-interactive provider: "Verification code: " (echo off),
// checked against a TotpStore on a worker, with a per-user rate limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "parley/userauth/password.hpp"  // BlockingRunner
#include "parley/userauth/provider.hpp"
#include "parley/otp/store.hpp"

namespace parley::otp {

/// Failed codes per user: after `max_failures` within `period`, every code for
/// that user is refused (unchecked) until the oldest failure is `period` old.
/// In memory and bounded: at most `max_users` users are tracked (the stalest
/// entries are dropped first). Thread-safe.
class RateLimiter {
 public:
  RateLimiter(std::size_t max_failures = 5, std::chrono::seconds period = std::chrono::minutes(5),
              std::size_t max_users = 100000);
  /// Checks and counts in one step: true if `user` may try a code at `now`, and
  /// the try is then counted as a failure until succeeded() clears it. Many
  /// guesses at once (parallel connections) therefore cannot all pass the check
  /// before the first of them is counted: at most max_failures run per period.
  bool try_acquire(const std::string& user, std::int64_t now);
  /// True if `user` may try a code at `now` (counts nothing).
  bool allow(const std::string& user, std::int64_t now) const;
  void failed(const std::string& user, std::int64_t now);
  void succeeded(const std::string& user);
  std::size_t tracked() const;

 private:
  void record_failure(const std::string& user, std::int64_t now);  // with mutex_ held

  std::size_t max_failures_;
  std::int64_t period_;
  std::size_t max_users_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<std::int64_t>, std::less<>> failures_;
};

/// Reads the time, as Unix seconds (injected so tests use a fixed clock).
using UnixClock = std::function<std::int64_t()>;
UnixClock system_unix_clock();

struct TotpProviderConfig {
  std::shared_ptr<TotpStore> store;
  userauth::BlockingRunner run;  // where store I/O runs (a worker pool)
  std::shared_ptr<RateLimiter> limiter;
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

// State that several parleyd instances behind one load balancer must share
// (docs/scale-out.md): which TOTP time steps and scratch codes were used, each
// user's failed second-factor tries, each source netblock's penalty. Two
// implementations: memory_state() below (one process, the default) and the
// Redis one (parley/driver/redis_state.hpp), whose calls are carried out
// asynchronously on its own event loop.
//
// Every call blocks its caller until the answer or the backend's timeout, so
// call it from a worker thread (the TOTP provider's store jobs run there), never
// from an I/O thread. An error means the state could not be read or written:
// callers fail closed (a second factor is refused, never accepted on local state
// alone). No call takes or stores a code or a secret: scratch codes are named by
// a digest, steps by their start time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace parley::state {

/// Why the backend could not answer ("redis 127.0.0.1:6379: timed out after
/// 500 ms"). Names the backend and what went wrong, never a key's value.
struct StateError {
  std::string what;
};

/// One netblock's penalty: until when (Unix seconds) it is refused.
struct Penalty {
  std::string netblock;  // "192.0.2.0/24", "2001:db8::/64"
  std::int64_t until = 0;
};

class SharedState {
 public:
  virtual ~SharedState() = default;
  /// "memory", "redis 127.0.0.1:6379 (tls)".
  virtual std::string describe() const = 0;

  /// Compare-and-set on `user`'s last used TOTP step: records `step_time` (the
  /// Unix time the accepted code's step starts) and answers true if no step at
  /// or after it was recorded for `user`; false (nothing changed): a replay.
  /// Of concurrent claims of one step, on any instances, exactly one is true.
  /// The record is kept `keep` (at least the accepted window), then expires.
  virtual std::expected<bool, StateError> claim_totp_step(std::string_view user, std::int64_t step_time,
                                                          std::chrono::seconds keep) = 0;

  /// Records that `user`'s scratch code with digest `digest` (hex of a hash of
  /// the code, never the code) is used: true the first time, false after. A
  /// digest that is not hex digits is an error.
  virtual std::expected<bool, StateError> claim_scratch_code(std::string_view user,
                                                             std::string_view digest) = 0;

  /// Failed second-factor tries: checks and counts in one atomic step. True if
  /// `user` has had fewer than `max_failures` tries counted within `period`
  /// before `now` (Unix seconds), and then counts this try as a failure until
  /// clear_failures() clears it (so parallel guesses cannot all pass the check
  /// before the first is counted). False: locked out, nothing counted.
  virtual std::expected<bool, StateError> try_acquire(std::string_view user, std::int64_t now,
                                                      std::size_t max_failures, std::chrono::seconds period) = 0;
  /// The user got in: their counted failures are forgotten.
  virtual std::expected<void, StateError> clear_failures(std::string_view user) = 0;

  /// Adds `seconds` to `netblock`'s penalty (counted from `now` if it has none
  /// or it expired), capped at `max` from now; returns the new end.
  virtual std::expected<std::int64_t, StateError> add_penalty(std::string_view netblock, std::int64_t now,
                                                              std::chrono::seconds seconds,
                                                              std::chrono::seconds max) = 0;
  /// Whether the backend answered its last call or health probe: a cheap,
  /// non-blocking look (an I/O thread may ask), for on_state_error =
  /// "deny-all". The Redis backend probes every second while it is in use.
  virtual bool answering() const { return true; }

  /// Penalties not yet ended at `now`, latest end first, at most `limit` of
  /// them (past the limit, the soonest ending are left out).
  virtual std::expected<std::vector<Penalty>, StateError> penalties(std::int64_t now, std::size_t limit) = 0;
};

/// In this process only (today's behaviour): bounded to `max_keys` users,
/// scratch digests and netblocks each (expired entries first, then the
/// stalest). It reads no clock: records expire against the latest time any call
/// handed it. try_acquire/clear_failures behave as parley::otp::RateLimiter's
/// try_acquire/succeeded. Thread-safe.
std::shared_ptr<SharedState> memory_state(std::size_t max_keys = 100000);

}  // namespace parley::state

// A shared state backend (parley/state/shared_state.hpp) that cannot be
// reached: every call fails as a Redis that refuses connections would, so tests
// can show that callers fail closed. Header-only.
#pragma once

#include <atomic>
#include <expected>
#include <string>

#include "parley/state/shared_state.hpp"

namespace parley::test {

class UnreachableState : public state::SharedState {
 public:
  static constexpr const char* error_text = "redis 127.0.0.1:1: connection refused";
  std::atomic<int> calls{0};  // every call, each failed
  std::string describe() const override { return "redis 127.0.0.1:1"; }
  std::expected<bool, state::StateError> claim_totp_step(std::string_view, std::int64_t,
                                                         std::chrono::seconds) override {
    return down();
  }
  std::expected<bool, state::StateError> claim_scratch_code(std::string_view, std::string_view) override {
    return down();
  }
  std::expected<bool, state::StateError> try_acquire(std::string_view, std::int64_t, std::size_t,
                                                     std::chrono::seconds) override {
    return down();
  }
  std::expected<void, state::StateError> clear_failures(std::string_view) override { return down(); }
  std::expected<std::int64_t, state::StateError> add_penalty(std::string_view, std::int64_t, std::chrono::seconds,
                                                             std::chrono::seconds) override {
    return down();
  }
  std::expected<std::vector<state::Penalty>, state::StateError> penalties(std::int64_t, std::size_t) override {
    return down();
  }

 private:
  std::unexpected<state::StateError> down() {
    ++calls;
    return std::unexpected(state::StateError{error_text});
  }
};

}  // namespace parley::test

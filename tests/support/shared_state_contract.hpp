// What every parley::state::SharedState must do, whatever keeps the state: the
// checks both state_memory_test and state_redis_test run. `t0` is a Unix time
// near the real one (Redis expires keys by its own clock).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "parley/state/shared_state.hpp"

namespace parley::state::contract {

using std::chrono::seconds;

inline void totp_steps(SharedState& s, std::int64_t t0) {
  EXPECT_EQ(s.claim_totp_step("alice", t0, seconds(90)), true);
  EXPECT_EQ(s.claim_totp_step("alice", t0, seconds(90)), false);       // a replay
  EXPECT_EQ(s.claim_totp_step("alice", t0 - 30, seconds(90)), false);  // an older step
  EXPECT_EQ(s.claim_totp_step("bob", t0, seconds(90)), true);          // per user
  EXPECT_EQ(s.claim_totp_step("alice", t0 + 30, seconds(90)), true);
  EXPECT_EQ(s.claim_totp_step("alice", t0, seconds(90)), false);
  // Names are binary-safe and do not run into each other.
  EXPECT_EQ(s.claim_totp_step(std::string_view("a\0:b", 4), t0, seconds(90)), true);
  EXPECT_EQ(s.claim_totp_step("a", t0, seconds(90)), true);
}

inline void scratch_codes(SharedState& s) {
  EXPECT_EQ(s.claim_scratch_code("alice", "0123abcd"), true);
  EXPECT_EQ(s.claim_scratch_code("alice", "0123abcd"), false);
  EXPECT_EQ(s.claim_scratch_code("alice", "0123abce"), true);
  EXPECT_EQ(s.claim_scratch_code("bob", "0123abcd"), true);
  EXPECT_EQ(s.claim_scratch_code("al:ice", "0123abcd"), true);
  EXPECT_FALSE(s.claim_scratch_code("alice", "not:hex").has_value());
  EXPECT_FALSE(s.claim_scratch_code("alice", "").has_value());
}

// As parley::otp::RateLimiter: a try counts as a failure until cleared; a
// refused try counts nothing; tries older than the period no longer count.
inline void failures(SharedState& s, std::int64_t t0) {
  const seconds period(60);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s.try_acquire("alice", t0 + i, 3, period), true) << i;
  EXPECT_EQ(s.try_acquire("alice", t0 + 3, 3, period), false);
  EXPECT_EQ(s.try_acquire("bob", t0 + 3, 3, period), true);
  EXPECT_EQ(s.try_acquire("alice", t0 + 59, 3, period), false);
  EXPECT_EQ(s.try_acquire("alice", t0 + 60, 3, period), true);  // the try at t0 aged out
  EXPECT_EQ(s.try_acquire("alice", t0 + 60, 3, period), false);
  EXPECT_TRUE(s.clear_failures("alice").has_value());
  EXPECT_TRUE(s.clear_failures("nobody").has_value());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s.try_acquire("alice", t0 + 61, 3, period), true) << i;
  EXPECT_EQ(s.try_acquire("alice", t0 + 61, 3, period), false);
  // max_failures 0 is taken as 1.
  EXPECT_EQ(s.try_acquire("carol", t0, 0, period), true);
  EXPECT_EQ(s.try_acquire("carol", t0, 0, period), false);
}

inline void penalties(SharedState& s, std::int64_t t0) {
  const seconds max(100);
  EXPECT_EQ(s.add_penalty("192.0.2.0/24", t0, seconds(30), max), t0 + 30);
  EXPECT_EQ(s.add_penalty("192.0.2.0/24", t0, seconds(30), max), t0 + 60);
  EXPECT_EQ(s.add_penalty("192.0.2.0/24", t0 + 10, seconds(90), max), t0 + 110);  // capped at now + max
  EXPECT_EQ(s.add_penalty("2001:db8::/64", t0, seconds(20), max), t0 + 20);
  EXPECT_EQ(s.add_penalty("198.51.100.0/24", t0, seconds(50), max), t0 + 50);

  auto all = s.penalties(t0, 10);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].netblock, "192.0.2.0/24");  // latest end first
  EXPECT_EQ((*all)[0].until, t0 + 110);
  EXPECT_EQ((*all)[2].netblock, "2001:db8::/64");

  auto two = s.penalties(t0, 2);  // the soonest ending is left out
  ASSERT_TRUE(two.has_value());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].netblock, "198.51.100.0/24");

  auto later = s.penalties(t0 + 30, 10);  // ended penalties are not listed
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->size(), 2u);
  // An ended penalty starts again from now.
  EXPECT_EQ(s.add_penalty("2001:db8::/64", t0 + 30, seconds(20), max), t0 + 50);
  EXPECT_EQ(s.penalties(t0, 0).value().size(), 0u);
}

// Of `n` threads claiming one step at once, how many were told true.
inline int concurrent_winners(SharedState& s, std::string_view user, std::int64_t step, int n = 20) {
  std::atomic<int> winners{0}, errors{0}, ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      ++ready;
      while (ready.load() < n) std::this_thread::yield();
      const auto r = s.claim_totp_step(user, step, seconds(90));
      if (!r) ++errors;
      else if (*r) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  return winners.load();
}

}  // namespace parley::state::contract

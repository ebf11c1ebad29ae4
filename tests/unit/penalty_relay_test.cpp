// PenaltyRelay, the monitor's side of shared penalties when separated: an
// accrual from the (untrusted) network process reaches the backend only as an
// address block of the configured size, and the backend's penalties go back
// as a SharedPenalties frame only when they changed.
#include "parley/driver/penalty_relay.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace parley::driver {
namespace {

using namespace std::chrono_literals;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Sent {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<privsep::SharedPenalties> frames;
  void add(Bytes frame) {
    auto decoded = privsep::SharedPenalties::decode(frame);
    ASSERT_TRUE(decoded);
    std::lock_guard lock(mutex);
    frames.push_back(std::move(*decoded));
    changed.notify_all();
  }
  bool wait_for_count(std::size_t n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 5s, [&] { return frames.size() >= n; });
  }
};

PenaltySharingOptions fast() {
  PenaltySharingOptions o;
  o.poll_interval = 20ms;
  return o;
}

privsep::PenaltyAccrued accrual(std::string netblock) {
  privsep::PenaltyAccrued a;
  a.netblock = std::move(netblock);
  a.seconds = 20;
  a.max = 600;
  return a;
}

TEST(PenaltyRelay, OnlyBlocksOfTheConfiguredSizeReachTheBackend) {
  auto backend = state::memory_state();
  Sent sent;
  PenaltyRelay relay(backend, 24, 64, [&](Bytes f) { sent.add(std::move(f)); }, nullptr, fast());
  EXPECT_FALSE(relay.accrued(accrual("192.0.2.7/32")));     // not the configured /24
  EXPECT_FALSE(relay.accrued(accrual("2001:db8::/128")));
  EXPECT_FALSE(relay.accrued(accrual("::ffff:1.2.3.0/24")));
  EXPECT_FALSE(relay.accrued(accrual("1.2.3.4.5/24")));
  EXPECT_TRUE(relay.accrued(accrual("192.0.2.77/24")));     // host bits: the key is the block
  EXPECT_TRUE(relay.accrued(accrual("2001:db8:0:0:1::/64")));
  ASSERT_TRUE(sent.wait_for_count(1));
  // Wait for the frame with both (the first fetch may come before the pushes).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    {
      std::lock_guard lock(sent.mutex);
      if (sent.frames.back().penalties.size() == 2) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(10ms);
  }
  auto list = backend->penalties(unix_now(), 100);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  std::vector<std::string> keys{(*list)[0].netblock, (*list)[1].netblock};
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"192.0.2.0/24", "2001:db8::/64"}));
}

TEST(PenaltyRelay, AnUnchangedListIsSentOnce) {
  auto backend = state::memory_state();
  ASSERT_TRUE(backend->add_penalty("198.51.100.0/24", unix_now(), 60s, 600s));
  Sent sent;
  {
    PenaltyRelay relay(backend, 24, 64, [&](Bytes f) { sent.add(std::move(f)); }, nullptr, fast());
    ASSERT_TRUE(sent.wait_for_count(1));
    std::this_thread::sleep_for(200ms);  // ten more fetches
  }
  std::lock_guard lock(sent.mutex);
  ASSERT_EQ(sent.frames.size(), 1u);
  ASSERT_EQ(sent.frames[0].penalties.size(), 1u);
  EXPECT_EQ(sent.frames[0].penalties[0].netblock, "198.51.100.0/24");
}

}  // namespace
}  // namespace parley::driver

// PenaltySharing: accruals reach the backend off the caller's thread, the
// backend's penalties come back about once a second, and a failing backend is
// logged once, not once per call.
#include "parley/driver/penalty_sharing.hpp"
#include "unreachable_state.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace parley::driver {
namespace {

using namespace std::chrono_literals;

/// What the sharing thread hands back, waited for.
struct Received {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::vector<SharedPenalty>> lists;
  std::vector<std::string> lines;
  bool wait_for(auto pred) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 5s, pred);
  }
};

PenaltySharingOptions fast() {
  PenaltySharingOptions o;
  o.poll_interval = 20ms;
  return o;
}

TEST(PenaltySharing, AccrualsReachTheBackendAndComeBackFromIt) {
  auto backend = state::memory_state();
  Received got;
  PenaltySharing sharing(
      backend,
      [&](std::vector<SharedPenalty> list, std::int64_t) {
        std::lock_guard lock(got.mutex);
        got.lists.push_back(std::move(list));
        got.changed.notify_all();
      },
      [&](bool, const std::string& line) {
        std::lock_guard lock(got.mutex);
        got.lines.push_back(line);
      },
      fast());
  sharing.accrued({"192.0.2.0/24", 5s, 600s});
  sharing.accrued({"192.0.2.0/24", 5s, 600s});
  ASSERT_TRUE(got.wait_for([&] { return !got.lists.empty() && !got.lists.back().empty(); }));
  std::lock_guard lock(got.mutex);
  ASSERT_EQ(got.lists.back().size(), 1u);
  EXPECT_EQ(got.lists.back()[0].netblock, "192.0.2.0/24");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GE(got.lists.back()[0].until, now + 8);  // both accruals: 10 s
  EXPECT_LE(got.lists.back()[0].until, now + 10);
  EXPECT_TRUE(got.lines.empty());
}

TEST(PenaltySharing, AFailingBackendIsLoggedOnceNotPerCall) {
  auto backend = std::make_shared<test::UnreachableState>();
  Received got;
  {
    PenaltySharing sharing(
        backend, [](std::vector<SharedPenalty>, std::int64_t) {},
        [&](bool error, const std::string& line) {
          std::lock_guard lock(got.mutex);
          if (error) got.lines.push_back(line);
          got.changed.notify_all();
        },
        fast());
    for (int i = 0; i < 20; ++i) sharing.accrued({"192.0.2." + std::to_string(i) + "/32", 1s, 600s});
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (backend->calls.load() < 5 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    ASSERT_GE(backend->calls.load(), 5);
  }
  std::lock_guard lock(got.mutex);
  ASSERT_EQ(got.lines.size(), 1u);
  EXPECT_NE(got.lines[0].find("connection refused"), std::string::npos) << got.lines[0];
  EXPECT_NE(got.lines[0].find("local penalties still apply"), std::string::npos);
}

TEST(PenaltySharing, AccruedNeverBlocksAndIsBounded) {
  // A backend that holds its one call until released: accrued() still returns at once.
  struct Stuck final : test::UnreachableState {
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    std::expected<std::vector<state::Penalty>, state::StateError> penalties(std::int64_t, std::size_t) override {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return release; });
      return std::vector<state::Penalty>{};
    }
  };
  auto backend = std::make_shared<Stuck>();
  PenaltySharingOptions o = fast();
  o.max_queued = 4;
  PenaltySharing sharing(backend, nullptr, nullptr, o);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) sharing.accrued({"192.0.2.1/32", 1s, 600s});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  {
    std::lock_guard lock(backend->m);
    backend->release = true;
  }
  backend->cv.notify_all();
}

}  // namespace
}  // namespace parley::driver

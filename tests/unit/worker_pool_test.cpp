#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "parley/driver/worker_pool.hpp"

namespace parley::driver {
namespace {

TEST(WorkerPool, RunsJobsOffTheCallingThread) {
  WorkerPool pool(2, 16);
  std::promise<std::thread::id> where;
  ASSERT_TRUE(pool.submit([&] { where.set_value(std::this_thread::get_id()); }));
  EXPECT_NE(where.get_future().get(), std::this_thread::get_id());
}

TEST(WorkerPool, RefusesBeyondItsQueueBound) {
  WorkerPool pool(1, 2);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.submit([gate, &ran] { gate.wait(); ++ran; }));  // occupies the worker
  while (pool.queued() != 0) std::this_thread::yield();
  EXPECT_TRUE(pool.submit([&ran] { ++ran; }));
  EXPECT_TRUE(pool.submit([&ran] { ++ran; }));
  EXPECT_FALSE(pool.submit([&ran] { ++ran; }));  // queue full: refused, never run
  release.set_value();
  while (pool.queued() != 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ran.load(), 3);
}

TEST(WorkerPool, AThrowingJobDoesNotStopThePool) {
  WorkerPool pool(1, 4);
  ASSERT_TRUE(pool.submit([] { throw std::runtime_error("boom"); }));
  std::promise<void> done;
  ASSERT_TRUE(pool.submit([&] { done.set_value(); }));
  EXPECT_EQ(done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST(WorkerPool, StatsRecordTheQueueHighWaterMarkAndRefusals) {
  WorkerPool pool(1, 3);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  ASSERT_TRUE(pool.submit([gate] { gate.wait(); }));  // occupies the worker
  while (pool.queued() != 0) std::this_thread::yield();
  for (int i = 0; i < 5; ++i) pool.submit([] {});
  const auto during = pool.stats();
  EXPECT_EQ(during.max_queued, 3u);
  EXPECT_EQ(during.high_water, 3u);
  EXPECT_EQ(during.refused, 2u);
  release.set_value();
  while (pool.queued() != 0) std::this_thread::yield();
  EXPECT_EQ(pool.stats().high_water, 3u);  // a mark, not the current depth
}

}  // namespace
}  // namespace parley::driver

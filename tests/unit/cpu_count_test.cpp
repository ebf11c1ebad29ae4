// The default I/O thread count follows the CPUs the process may use, not the
// machine's: the affinity mask, capped by a cgroup v2 quota.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <thread>

#include "parley/driver/cpu_count.hpp"

namespace parley::driver {
namespace {

TEST(CpuCount, QuotaLines) {
  EXPECT_EQ(cpus_of_quota("max 100000\n"), std::nullopt);
  EXPECT_EQ(cpus_of_quota("100000 100000"), 1u);
  EXPECT_EQ(cpus_of_quota("150000 100000\n"), 2u);
  EXPECT_EQ(cpus_of_quota("50000 100000"), 1u);  // half a CPU still runs one thread
  EXPECT_EQ(cpus_of_quota("400000 100000"), 4u);
  EXPECT_EQ(cpus_of_quota("garbage"), std::nullopt);
  EXPECT_EQ(cpus_of_quota("100000 0"), std::nullopt);
  EXPECT_EQ(cpus_of_quota("-5 100000"), std::nullopt);
}

TEST(CpuCount, TheQuotaCapsTheAffinity) {
  EXPECT_EQ(io_threads_for(8, std::nullopt), 8u);
  EXPECT_EQ(io_threads_for(8, 2u), 2u);
  EXPECT_EQ(io_threads_for(1, 4u), 1u);
  EXPECT_EQ(io_threads_for(0, std::nullopt), 1u);
}

TEST(CpuCount, PinnedToOneCpuMeansOneThread) {
  // On a thread of its own, pinned as taskset -c would pin a server.
  unsigned seen = 0;
  std::thread pinned([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
    seen = default_io_threads();
  });
  pinned.join();
  EXPECT_EQ(seen, 1u);
}

}  // namespace
}  // namespace parley::driver

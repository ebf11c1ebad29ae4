// memory_state(): the SharedState contract, expiry by the times handed in, and
// the bounds.
#include <gtest/gtest.h>

#include "parley/state/shared_state.hpp"
#include "shared_state_contract.hpp"

namespace parley::state {
namespace {

using std::chrono::seconds;
constexpr std::int64_t t0 = 1'700'000'000;

TEST(MemoryState, Describes) { EXPECT_EQ(memory_state()->describe(), "memory"); }
TEST(MemoryState, TotpSteps) { contract::totp_steps(*memory_state(), t0); }
TEST(MemoryState, ScratchCodes) { contract::scratch_codes(*memory_state()); }
TEST(MemoryState, Failures) { contract::failures(*memory_state(), t0); }
TEST(MemoryState, Penalties) { contract::penalties(*memory_state(), t0); }

TEST(MemoryState, TwentyThreadsClaimingOneStepHaveOneWinner) {
  auto s = memory_state();
  for (int round = 0; round < 20; ++round)
    EXPECT_EQ(contract::concurrent_winners(*s, "alice", t0 + 30 * round), 1) << round;
}

TEST(MemoryState, AStepRecordExpiresAfterKeep) {
  auto s = memory_state();
  EXPECT_EQ(s->claim_totp_step("alice", t0, seconds(90)), true);
  // Time moves on (as another call tells it): before t0 + 90 the record holds...
  ASSERT_TRUE(s->penalties(t0 + 89, 1).has_value());
  EXPECT_EQ(s->claim_totp_step("alice", t0, seconds(90)), false);
  // ...after it, it is gone.
  ASSERT_TRUE(s->penalties(t0 + 90, 1).has_value());
  EXPECT_EQ(s->claim_totp_step("alice", t0, seconds(90)), true);
}

TEST(MemoryState, StepsAreBoundedStalestFirst) {
  auto s = memory_state(3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s->claim_totp_step(std::string(1, 'u').append(std::to_string(i)), t0 + i, seconds(90)), true);
  EXPECT_EQ(s->claim_totp_step("u3", t0 + 3, seconds(90)), true);  // drops u0, the stalest
  EXPECT_EQ(s->claim_totp_step("u1", t0 + 1, seconds(90)), false);
  EXPECT_EQ(s->claim_totp_step("u2", t0 + 2, seconds(90)), false);
  EXPECT_EQ(s->claim_totp_step("u0", t0, seconds(90)), true);  // forgotten
}

TEST(MemoryState, ScratchClaimsAreBoundedOldestFirst) {
  auto s = memory_state(2);
  EXPECT_EQ(s->claim_scratch_code("a", "01"), true);
  EXPECT_EQ(s->claim_scratch_code("a", "02"), true);
  EXPECT_EQ(s->claim_scratch_code("a", "03"), true);  // forgets "01"
  EXPECT_EQ(s->claim_scratch_code("a", "02"), false);
  EXPECT_EQ(s->claim_scratch_code("a", "03"), false);
  EXPECT_EQ(s->claim_scratch_code("a", "01"), true);
}

TEST(MemoryState, FailuresAreBoundedAgedOutFirstThenStalest) {
  auto s = memory_state(2);
  EXPECT_EQ(s->try_acquire("a", t0, 1, seconds(60)), true);
  EXPECT_EQ(s->try_acquire("b", t0 + 100, 1, seconds(60)), true);
  // Full: "a" has aged out, so it goes and "b" stays locked out.
  EXPECT_EQ(s->try_acquire("c", t0 + 101, 1, seconds(60)), true);
  EXPECT_EQ(s->try_acquire("b", t0 + 101, 1, seconds(60)), false);
  // Full, nothing aged out: the stalest ("b") goes.
  EXPECT_EQ(s->try_acquire("d", t0 + 102, 1, seconds(60)), true);
  EXPECT_EQ(s->try_acquire("c", t0 + 102, 1, seconds(60)), false);
  EXPECT_EQ(s->try_acquire("b", t0 + 102, 1, seconds(60)), true);
}

TEST(MemoryState, PenaltiesAreBoundedSoonestEndingFirst) {
  auto s = memory_state(2);
  EXPECT_EQ(s->add_penalty("n1", t0, seconds(50), seconds(100)), t0 + 50);
  EXPECT_EQ(s->add_penalty("n2", t0, seconds(10), seconds(100)), t0 + 10);
  EXPECT_EQ(s->add_penalty("n3", t0, seconds(30), seconds(100)), t0 + 30);  // drops n2
  auto list = s->penalties(t0, 10).value();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].netblock, "n1");
  EXPECT_EQ(list[1].netblock, "n3");
}

}  // namespace
}  // namespace parley::state

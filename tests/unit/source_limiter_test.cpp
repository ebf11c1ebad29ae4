// The pre-authentication admission rules, one test per rule, with a virtual
// clock and a scripted random source (no sleeping, no luck).
#include "parley/driver/source_limiter.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace parley::driver {
namespace {

using namespace std::chrono_literals;

SourceAddress addr(std::string_view text) {
  auto a = SourceAddress::parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(SourceAddress{});
}

/// A random source that answers from a script (and records the bounds asked for).
struct ScriptedRandom {
  std::deque<std::uint32_t> values;
  std::vector<std::uint32_t> bounds;
  SourceLimiter::Uniform fn() {
    return [this](std::uint32_t bound) {
      bounds.push_back(bound);
      if (values.empty()) return bound - 1;
      std::uint32_t v = values.front();
      values.pop_front();
      return v;
    };
  }
};

SourceLimits no_penalties() {
  SourceLimits l;
  l.penalties.enabled = false;
  return l;
}

const Instant t0 = Instant{} + 1000h;

TEST(SourceLimiter, MaxStartupsAdmitsEverythingBelowStart) {
  ScriptedRandom rng;
  SourceLimiter limiter(no_penalties(), rng.fn());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.admit(addr("192.0.2.1"), t0)) << i;
  EXPECT_TRUE(rng.bounds.empty());  // no draw below start
  EXPECT_EQ(limiter.unauthenticated(), 10u);
}

TEST(SourceLimiter, MaxStartupsRandomEarlyDropIsRatePercentAtStart) {
  // 10:30:100 with 10 unauthenticated: p = 30, so draws 0..29 drop and 30 admits.
  ScriptedRandom rng;
  SourceLimiter limiter(no_penalties(), rng.fn());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
  rng.values = {29, 30};
  auto dropped = limiter.admit(addr("192.0.2.1"), t0);
  ASSERT_FALSE(dropped);
  EXPECT_EQ(dropped.error(), Refusal::startups_random_drop);
  EXPECT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
  EXPECT_EQ(rng.bounds, (std::vector<std::uint32_t>{100, 100}));
}

TEST(SourceLimiter, MaxStartupsDropProbabilityRisesLinearlyToFull) {
  // 10:30:100 with 55 unauthenticated: p = 30 + 70 * 45 / 90 = 65.
  ScriptedRandom rng;
  SourceLimiter limiter(no_penalties(), rng.fn());
  rng.values.assign(1000, 99);  // never dropped while filling up
  for (int i = 0; i < 55; ++i) ASSERT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
  rng.values = {64, 65};
  EXPECT_FALSE(limiter.admit(addr("192.0.2.1"), t0));
  EXPECT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
}

TEST(SourceLimiter, MaxStartupsRefusesEveryConnectionAtFull) {
  ScriptedRandom rng;
  SourceLimits limits = no_penalties();
  limits.max_startups = {2, 50, 4};
  SourceLimiter limiter(limits, rng.fn());
  rng.values.assign(10, 99);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
  rng.values = {0};
  auto full = limiter.admit(addr("192.0.2.1"), t0);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), Refusal::startups_full);
  EXPECT_EQ(rng.values.size(), 1u);  // no draw at full: certain
}

TEST(SourceLimiter, MaxStartupsCountsOnlyConnectionsNotYetAuthenticated) {
  ScriptedRandom rng;
  SourceLimits limits = no_penalties();
  limits.max_startups = {2, 100, 2};
  SourceLimiter limiter(limits, rng.fn());
  auto a = limiter.admit(addr("192.0.2.1"), t0);
  auto b = limiter.admit(addr("192.0.2.1"), t0);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(limiter.admit(addr("192.0.2.1"), t0));
  limiter.authenticated(*a);  // leaves the count, although still open
  EXPECT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
  EXPECT_FALSE(limiter.admit(addr("192.0.2.1"), t0));
  limiter.ended(*b, PreauthEnd::noauth, t0);
  EXPECT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
}

TEST(SourceLimiter, PerSourceMaxStartupsIsOffByDefault) {
  ScriptedRandom rng;
  SourceLimiter limiter(no_penalties(), rng.fn());
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
}

TEST(SourceLimiter, PerSourceMaxStartupsLimitsOneSourceNotOthers) {
  ScriptedRandom rng;
  SourceLimits limits = no_penalties();
  limits.per_source_max_startups = 2;
  SourceLimiter limiter(limits, rng.fn());
  auto first = limiter.admit(addr("192.0.2.1"), t0);
  ASSERT_TRUE(first);
  ASSERT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
  auto third = limiter.admit(addr("192.0.2.1"), t0);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error(), Refusal::per_source);
  EXPECT_TRUE(limiter.admit(addr("192.0.2.2"), t0));  // another /32
  limiter.authenticated(*first);
  EXPECT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
}

TEST(SourceLimiter, NetBlockSizeGroupsIPv4ByPrefix) {
  ScriptedRandom rng;
  SourceLimits limits = no_penalties();
  limits.per_source_max_startups = 1;
  limits.netblock4 = 24;
  SourceLimiter limiter(limits, rng.fn());
  ASSERT_TRUE(limiter.admit(addr("198.51.100.7"), t0));
  EXPECT_FALSE(limiter.admit(addr("198.51.100.200"), t0));       // same /24
  EXPECT_TRUE(limiter.admit(addr("198.51.101.7"), t0));          // next /24
  EXPECT_FALSE(limiter.admit(addr("::ffff:198.51.100.9"), t0));  // IPv4-mapped is IPv4
}

TEST(SourceLimiter, NetBlockSizeGroupsIPv6ByPrefix) {
  ScriptedRandom rng;
  SourceLimits limits = no_penalties();
  limits.per_source_max_startups = 1;
  limits.netblock6 = 64;
  SourceLimiter limiter(limits, rng.fn());
  ASSERT_TRUE(limiter.admit(addr("2001:db8:1:2::1"), t0));
  EXPECT_FALSE(limiter.admit(addr("2001:db8:1:2:ffff::9"), t0));  // same /64
  EXPECT_TRUE(limiter.admit(addr("2001:db8:1:3::1"), t0));        // next /64
}

TEST(SourceLimiter, NetBlockSizeDefaultsToSingleAddresses) {
  ScriptedRandom rng;
  SourceLimits limits = no_penalties();
  limits.per_source_max_startups = 1;
  SourceLimiter limiter(limits, rng.fn());
  ASSERT_TRUE(limiter.admit(addr("127.0.0.1"), t0));
  EXPECT_TRUE(limiter.admit(addr("127.0.0.2"), t0));
  ASSERT_TRUE(limiter.admit(addr("2001:db8::1"), t0));
  EXPECT_TRUE(limiter.admit(addr("2001:db8::2"), t0));
  EXPECT_EQ(addr("2001:db8::1234").masked(120).to_string(120), "2001:db8::1200/120");
  EXPECT_EQ(addr("10.1.2.3").masked(12).to_string(12), "10.0.0.0/12");
}

TEST(SourceLimiter, PenaltyAccruesUntilMoreThanMinIsOutstandingThenRefuses) {
  // Defaults: noauth:1 min:15. Fifteen noauth ends leave 15 s outstanding (not
  // more than min): still admitted. The sixteenth activates the penalty.
  ScriptedRandom rng;
  SourceLimiter limiter(SourceLimits{}, rng.fn());
  const auto flood = addr("192.0.2.1");
  for (int i = 0; i < 15; ++i) EXPECT_FALSE(limiter.penalise(flood, PreauthEnd::noauth, t0));
  EXPECT_TRUE(limiter.admit(flood, t0));
  auto notice = limiter.penalise(flood, PreauthEnd::noauth, t0);
  ASSERT_TRUE(notice);
  EXPECT_EQ(notice->netblock, "192.0.2.1/32");
  EXPECT_EQ(notice->reason, "penalty: connections without attempting authentication");
  EXPECT_DOUBLE_EQ(notice->duration.count(), 16.0);
  auto refused = limiter.admit(flood, t0);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Refusal::penalised);
  EXPECT_TRUE(limiter.admit(addr("192.0.2.2"), t0));  // another source is served
}

TEST(SourceLimiter, PenaltyOfEachKindHasItsDefaultDuration) {
  ScriptedRandom rng;
  SourceLimiter limiter(SourceLimits{}, rng.fn());
  // crash:90 is more than min:15 at once; authfail:5 and grace-exceeded:10 are not.
  auto crash = limiter.penalise(addr("192.0.2.1"), PreauthEnd::crash, t0);
  ASSERT_TRUE(crash);
  EXPECT_DOUBLE_EQ(crash->duration.count(), 90.0);
  EXPECT_FALSE(limiter.penalise(addr("192.0.2.2"), PreauthEnd::authfail, t0));
  EXPECT_FALSE(limiter.penalise(addr("192.0.2.2"), PreauthEnd::authfail, t0));
  EXPECT_FALSE(limiter.penalise(addr("192.0.2.2"), PreauthEnd::authfail, t0));  // 15: not more
  auto authfail = limiter.penalise(addr("192.0.2.2"), PreauthEnd::authfail, t0);
  ASSERT_TRUE(authfail);
  EXPECT_DOUBLE_EQ(authfail->duration.count(), 20.0);
  EXPECT_FALSE(limiter.penalise(addr("192.0.2.3"), PreauthEnd::grace_exceeded, t0));
  auto grace = limiter.penalise(addr("192.0.2.3"), PreauthEnd::grace_exceeded, t0);
  ASSERT_TRUE(grace);
  EXPECT_DOUBLE_EQ(grace->duration.count(), 20.0);
  EXPECT_FALSE(limiter.penalise(addr("192.0.2.4"), PreauthEnd::authenticated, t0));
  EXPECT_EQ(limiter.penalised_sources(t0), 3u);
}

TEST(SourceLimiter, PenaltyEndsWhenItExpires) {
  ScriptedRandom rng;
  SourceLimiter limiter(SourceLimits{}, rng.fn());
  const auto flood = addr("192.0.2.1");
  ASSERT_TRUE(limiter.penalise(flood, PreauthEnd::crash, t0));  // 90 s
  EXPECT_FALSE(limiter.admit(flood, t0 + 89s));
  EXPECT_FALSE(limiter.admit(flood, t0 + 90s));
  EXPECT_TRUE(limiter.admit(flood, t0 + 91s));
  EXPECT_EQ(limiter.penalised_sources(t0 + 91s), 0u);
}

TEST(SourceLimiter, PenaltyIsCappedAtMax) {
  ScriptedRandom rng;
  SourceLimiter limiter(SourceLimits{}, rng.fn());
  const auto flood = addr("192.0.2.1");
  for (int i = 0; i < 100; ++i) limiter.penalise(flood, PreauthEnd::crash, t0);  // 9000 s asked
  EXPECT_FALSE(limiter.admit(flood, t0 + 599s));
  EXPECT_TRUE(limiter.admit(flood, t0 + 601s));
}

TEST(SourceLimiter, PenaltyIsOnlyForConnectionsThatEndBeforeAuthenticating) {
  ScriptedRandom rng;
  SourceLimiter limiter(SourceLimits{}, rng.fn());
  const auto peer = addr("192.0.2.1");
  auto good = limiter.admit(peer, t0);
  ASSERT_TRUE(good);
  limiter.authenticated(*good);
  EXPECT_FALSE(limiter.ended(*good, PreauthEnd::crash, t0));
  EXPECT_EQ(limiter.penalised_sources(t0), 0u);
  auto bad = limiter.admit(peer, t0);
  ASSERT_TRUE(bad);
  EXPECT_TRUE(limiter.ended(*bad, PreauthEnd::crash, t0));
  EXPECT_FALSE(limiter.admit(peer, t0));
}

TEST(SourceLimiter, PenaltyOverflowPermissiveEvictsTheSoonestToExpire) {
  ScriptedRandom rng;
  SourceLimits limits;
  limits.penalties.max_sources4 = 2;
  SourceLimiter limiter(limits, rng.fn());
  limiter.penalise(addr("192.0.2.1"), PreauthEnd::crash, t0);       // expires t0+90
  limiter.penalise(addr("192.0.2.2"), PreauthEnd::crash, t0 + 5s);  // expires t0+95
  limiter.penalise(addr("192.0.2.3"), PreauthEnd::crash, t0 + 9s);  // evicts .1
  EXPECT_EQ(limiter.penalised_sources(t0 + 10s), 2u);
  EXPECT_TRUE(limiter.admit(addr("192.0.2.1"), t0 + 10s));
  EXPECT_FALSE(limiter.admit(addr("192.0.2.2"), t0 + 10s));
  EXPECT_FALSE(limiter.admit(addr("192.0.2.3"), t0 + 10s));
  EXPECT_TRUE(limiter.admit(addr("2001:db8::1"), t0 + 10s));  // IPv6 has its own table
}

TEST(SourceLimiter, PenaltyOverflowDenyAllRefusesEveryoneOfThatFamily) {
  ScriptedRandom rng;
  SourceLimits limits;
  limits.penalties.max_sources4 = 2;
  limits.penalties.overflow = PenaltyOverflow::deny_all;
  SourceLimiter limiter(limits, rng.fn());
  limiter.penalise(addr("192.0.2.1"), PreauthEnd::noauth, t0);
  limiter.penalise(addr("192.0.2.2"), PreauthEnd::noauth, t0);
  EXPECT_FALSE(limiter.penalise(addr("192.0.2.3"), PreauthEnd::crash, t0));  // not recorded
  auto refused = limiter.admit(addr("203.0.113.9"), t0);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Refusal::penalty_table_full);
  EXPECT_TRUE(limiter.admit(addr("2001:db8::1"), t0));       // overflow6 is permissive
  EXPECT_TRUE(limiter.admit(addr("203.0.113.9"), t0 + 2s));  // both expired
}

TEST(SourceLimiter, PenaltyNoticesAreRateLimited) {
  ScriptedRandom rng;
  SourceLimiter limiter(SourceLimits{}, rng.fn());
  std::size_t given = 0;
  for (int i = 0; i < 50; ++i) {
    const auto a = addr("10.0.0." + std::to_string(i + 1));
    if (limiter.penalise(a, PreauthEnd::crash, t0)) ++given;
  }
  EXPECT_EQ(given, SourceLimiter::notices_per_window);
  auto later =
      limiter.penalise(addr("10.1.0.1"), PreauthEnd::crash, t0 + SourceLimiter::notice_window);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->suppressed, 50 - SourceLimiter::notices_per_window);
}

TEST(SourceLimiter, PenaltiesCanBeTurnedOff) {
  ScriptedRandom rng;
  auto policy = parse_penalties("no");
  ASSERT_TRUE(policy);
  SourceLimits limits;
  limits.penalties = *policy;
  SourceLimiter limiter(limits, rng.fn());
  EXPECT_FALSE(limiter.penalise(addr("192.0.2.1"), PreauthEnd::crash, t0));
  EXPECT_TRUE(limiter.admit(addr("192.0.2.1"), t0));
}

// ---- sharing penalties between instances (docs/scale-out.md)

constexpr std::int64_t unix0 = 1'800'000'000;  // the Unix time that is t0

TEST(SourceLimiterSharing, EveryAccrualIsReportedWithItsNetblockSecondsAndMax) {
  ScriptedRandom rng;
  SourceLimits limits;
  limits.netblock4 = 24;
  limits.penalties.noauth = Seconds{0.5};  // a fraction counts as a whole second
  SourceLimiter limiter(limits, rng.fn());
  std::vector<PenaltyAccrual> seen;
  limiter.set_accrual_listener([&](const PenaltyAccrual& a) { seen.push_back(a); });
  limiter.penalise(addr("192.0.2.77"), PreauthEnd::authfail, t0);
  limiter.penalise(addr("192.0.2.78"), PreauthEnd::noauth, t0);
  limiter.penalise(addr("192.0.2.79"), PreauthEnd::authenticated, t0);  // no penalty, no report
  auto t = limiter.admit(addr("2001:db8::1"), t0);
  ASSERT_TRUE(t);
  limiter.ended(*t, PreauthEnd::crash, t0);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].netblock, "192.0.2.0/24");
  EXPECT_EQ(seen[0].seconds, 5s);
  EXPECT_EQ(seen[0].max, 600s);
  EXPECT_EQ(seen[1].seconds, 1s);
  EXPECT_EQ(seen[2].netblock, "2001:db8::1/128");
  EXPECT_EQ(seen[2].seconds, 90s);
}

TEST(SourceLimiterSharing, ImportedPenaltyOverMinRefusesTheNetblockUntilItsSharedEnd) {
  ScriptedRandom rng;
  SourceLimiter limiter(SourceLimits{}, rng.fn());
  const std::vector<SharedPenalty> shared = {{"192.0.2.1/32", unix0 + 30},
                                             {"192.0.2.2/32", unix0 + 10},   // not over min:15
                                             {"192.0.2.3/32", unix0 - 1}};   // already over
  auto r = limiter.import(shared, unix0, t0);
  EXPECT_EQ(r.added, 2u);
  EXPECT_EQ(r.ignored, 1u);
  ASSERT_EQ(r.notices.size(), 1u);
  EXPECT_EQ(r.notices[0].netblock, "192.0.2.1/32");
  EXPECT_EQ(r.notices[0].reason, "penalty: shared by another instance");
  EXPECT_DOUBLE_EQ(r.notices[0].duration.count(), 30.0);
  auto refused = limiter.admit(addr("192.0.2.1"), t0 + 29s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Refusal::penalised);
  EXPECT_TRUE(limiter.admit(addr("192.0.2.1"), t0 + 31s));
  EXPECT_TRUE(limiter.admit(addr("192.0.2.2"), t0));
  EXPECT_TRUE(limiter.admit(addr("192.0.2.3"), t0));
  // The steady clock need not agree with the Unix one: only what is left counts.
  SourceLimiter other(SourceLimits{}, rng.fn());
  other.import(shared, unix0 + 10, t0);  // 20 s left
  EXPECT_FALSE(other.admit(addr("192.0.2.1"), t0 + 19s));
  EXPECT_TRUE(other.admit(addr("192.0.2.1"), t0 + 21s));
}

TEST(SourceLimiterSharing, ImportKeepsTheLaterEndAndActivatesOverMin) {
  ScriptedRandom rng;
  SourceLimiter limiter(SourceLimits{}, rng.fn());
  const auto peer = addr("192.0.2.1");
  limiter.penalise(peer, PreauthEnd::authfail, t0);  // 5 s locally, not active
  const std::vector<SharedPenalty> earlier = {{"192.0.2.1/32", unix0 + 3}};
  auto r = limiter.import(earlier, unix0, t0);
  EXPECT_EQ(r.extended, 0u);
  EXPECT_TRUE(limiter.admit(peer, t0));
  const std::vector<SharedPenalty> later = {{"192.0.2.1/32", unix0 + 20}};
  r = limiter.import(later, unix0, t0);
  EXPECT_EQ(r.extended, 1u);
  EXPECT_EQ(r.notices.size(), 1u);
  EXPECT_FALSE(limiter.admit(peer, t0 + 19s));
  // A local accrual adds to the imported end, as to a local one.
  limiter.penalise(peer, PreauthEnd::authfail, t0);
  EXPECT_FALSE(limiter.admit(peer, t0 + 24s));
  EXPECT_TRUE(limiter.admit(peer, t0 + 26s));
}

TEST(SourceLimiterSharing, ImportIsCappedAtMaxAndTakesOnlyThisLimitersNetblocks) {
  ScriptedRandom rng;
  SourceLimits limits;
  limits.netblock4 = 24;
  SourceLimiter limiter(limits, rng.fn());
  const std::vector<SharedPenalty> shared = {
      {"198.51.100.0/24", unix0 + 1'000'000},  // capped at max:600
      {"192.0.2.7/32", unix0 + 60},            // another prefix length
      {"192.0.2.0/33", unix0 + 60},  {"not an address/24", unix0 + 60},
      {"::ffff:192.0.2.0/24", unix0 + 60}, {"192.0.2.0", unix0 + 60},
      {"2001:db8::/128", unix0 + 60},  // IPv6 keeps 128: taken
  };
  auto r = limiter.import(shared, unix0, t0);
  EXPECT_EQ(r.added, 2u);
  EXPECT_EQ(r.ignored, 5u);
  EXPECT_FALSE(limiter.admit(addr("198.51.100.9"), t0 + 599s));
  EXPECT_TRUE(limiter.admit(addr("198.51.100.9"), t0 + 601s));
  EXPECT_TRUE(limiter.admit(addr("192.0.2.7"), t0));
  EXPECT_FALSE(limiter.admit(addr("2001:db8::"), t0));
}

TEST(SourceLimiterSharing, ImportObeysTheTableBoundsAndOverflowPolicy) {
  ScriptedRandom rng;
  SourceLimits limits;
  limits.penalties.max_sources4 = 2;
  SourceLimiter permissive(limits, rng.fn());
  std::vector<SharedPenalty> many;
  for (int i = 1; i <= 5; ++i)
    many.push_back({"192.0.2." + std::to_string(i) + "/32", unix0 + 20 + i});
  permissive.import(many, unix0, t0);
  EXPECT_EQ(permissive.penalised_sources(t0), 2u);
  EXPECT_FALSE(permissive.admit(addr("192.0.2.5"), t0));  // the latest ends are kept
  EXPECT_TRUE(permissive.admit(addr("192.0.2.1"), t0));

  limits.penalties.overflow = PenaltyOverflow::deny_all;
  SourceLimiter deny_all(limits, rng.fn());
  auto r = deny_all.import(many, unix0, t0);
  EXPECT_EQ(r.added, 2u);
  EXPECT_EQ(r.ignored, 3u);
  EXPECT_EQ(deny_all.admit(addr("203.0.113.1"), t0).error(), Refusal::penalty_table_full);
}

TEST(SourceLimiterSharing, NetblocksParseAsToStringWritesThem) {
  auto v4 = SourceAddress::parse_netblock("192.0.2.77/24");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->first.to_string(v4->second), "192.0.2.0/24");
  auto v6 = SourceAddress::parse_netblock("2001:db8::1/64");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->first.to_string(v6->second), "2001:db8::/64");
  for (auto bad : {"", "/", "192.0.2.0/", "192.0.2.0/-1", "192.0.2.0/24x", "2001:db8::/129",
                   "192.0.2.0/24/24", "x/1"})
    EXPECT_FALSE(SourceAddress::parse_netblock(bad)) << bad;
}

TEST(SourceLimiterConfig, ParsesMaxStartups) {
  auto m = parse_max_startups("10:30:100");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->start, 10u);
  EXPECT_EQ(m->rate, 30u);
  EXPECT_EQ(m->full, 100u);
  auto single = parse_max_startups("20");
  ASSERT_TRUE(single);
  EXPECT_EQ(single->start, 20u);
  EXPECT_EQ(single->full, 20u);
  EXPECT_FALSE(parse_max_startups("30:10:20"));
  EXPECT_FALSE(parse_max_startups("10:0:100"));
  EXPECT_FALSE(parse_max_startups("10:30"));
  EXPECT_FALSE(parse_max_startups("x"));
}

TEST(SourceLimiterConfig, ParsesNetBlockSize) {
  auto n = parse_netblock_size("24:56");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->first, 24u);
  EXPECT_EQ(n->second, 56u);
  EXPECT_FALSE(parse_netblock_size("33"));
  EXPECT_FALSE(parse_netblock_size("24:129"));
}

TEST(SourceLimiterConfig, ParsesPenalties) {
  auto p = parse_penalties("authfail:30s noauth:2 max:1h min:1m overflow:deny-all max-sources6:8");
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(p->authfail.count(), 30);
  EXPECT_DOUBLE_EQ(p->noauth.count(), 2);
  EXPECT_DOUBLE_EQ(p->max.count(), 3600);
  EXPECT_DOUBLE_EQ(p->min.count(), 60);
  EXPECT_DOUBLE_EQ(p->crash.count(), 90);  // untouched default
  EXPECT_EQ(p->overflow, PenaltyOverflow::deny_all);
  EXPECT_EQ(p->overflow6, PenaltyOverflow::permissive);
  EXPECT_EQ(p->max_sources6, 8u);
  EXPECT_FALSE(parse_penalties("authfail"));
  EXPECT_FALSE(parse_penalties("bogus:1"));
  EXPECT_FALSE(parse_penalties("overflow:maybe"));
}

}  // namespace
}  // namespace parley::driver

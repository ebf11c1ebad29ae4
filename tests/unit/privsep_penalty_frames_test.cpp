// PenaltyAccrued (network -> monitor) and SharedPenalties (monitor -> network):
// they round-trip, decode only on their own side, and a frame with a bad
// netblock, bad numbers, an address or too many entries is refused.
#include <gtest/gtest.h>

#include "parley/crypto/random.hpp"
#include "parley/privsep/monitor.hpp"
#include "parley/privsep/protocol.hpp"
#include "parley/wire/writer.hpp"

namespace parley::privsep {
namespace {

/// A PenaltyAccrued body written field by field, for hand-made bad frames.
Bytes accrued_frame(std::uint64_t conn, std::string_view netblock, std::uint32_t seconds, std::uint32_t max) {
  Bytes body;
  wire::Writer(body).uint64(conn).uint64(0).string(netblock).uint32(seconds).uint32(max);
  Bytes out;
  wire::Writer(out)
      .uint32(static_cast<std::uint32_t>(body.size() + 1))
      .byte(std::to_underlying(MsgType::penalty_accrued))
      .raw(body);
  return out;
}

TEST(PrivsepPenaltyFrames, AccruedRoundTripsAndIsARequest) {
  PenaltyAccrued a;
  a.netblock = "2001:db8::/64";
  a.seconds = 5;
  a.max = 600;
  auto back = PenaltyAccrued::decode(a.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->netblock, "2001:db8::/64");
  EXPECT_EQ(back->seconds, 5u);
  EXPECT_EQ(back->max, 600u);
  auto request = decode_request(a.encode());
  ASSERT_TRUE(request);
  EXPECT_TRUE(std::holds_alternative<PenaltyAccrued>(*request));
  EXPECT_EQ(decode_reply(a.encode()).error(), ProtocolError::unknown_type);
}

TEST(PrivsepPenaltyFrames, AccruedWithABadNetblockOrNumbersIsRefused) {
  EXPECT_TRUE(PenaltyAccrued::decode(accrued_frame(0, "192.0.2.0/24", 1, max_penalty_seconds)));
  for (std::string_view bad : {"", "192.0.2.0", "parley:totp:alice", "192.0.2.0/24\n", "../x/1", "g::/64",
                               "1111:2222:3333:4444:5555:6666:7777:8888:99999/128"}) {
    auto d = PenaltyAccrued::decode(accrued_frame(0, bad, 5, 600));
    EXPECT_FALSE(d) << bad;
  }
  EXPECT_EQ(PenaltyAccrued::decode(accrued_frame(0, "192.0.2.0/24", 0, 600)).error(), ProtocolError::bad_value);
  EXPECT_EQ(PenaltyAccrued::decode(accrued_frame(0, "192.0.2.0/24", 5, 0)).error(), ProtocolError::bad_value);
  EXPECT_EQ(PenaltyAccrued::decode(accrued_frame(0, "192.0.2.0/24", max_penalty_seconds + 1, 600)).error(),
            ProtocolError::bad_value);
  EXPECT_EQ(PenaltyAccrued::decode(accrued_frame(7, "192.0.2.0/24", 5, 600)).error(), ProtocolError::bad_value);
  Bytes trailing = accrued_frame(0, "192.0.2.0/24", 5, 600);
  trailing.push_back(0);
  trailing[3] = static_cast<std::uint8_t>(trailing[3] + 1);
  EXPECT_EQ(PenaltyAccrued::decode(trailing).error(), ProtocolError::trailing_bytes);
}

TEST(PrivsepPenaltyFrames, SharedPenaltiesRoundTripAndAreAReply) {
  SharedPenalties s;
  s.penalties = {{"192.0.2.0/24", 1'800'000'030}, {"2001:db8::/64", 1'800'000'010}};
  auto back = SharedPenalties::decode(s.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->penalties, s.penalties);
  auto reply = decode_reply(s.encode());
  ASSERT_TRUE(reply);
  EXPECT_TRUE(std::holds_alternative<SharedPenalties>(*reply));
  EXPECT_EQ(decode_request(s.encode()).error(), ProtocolError::unknown_type);
  EXPECT_TRUE(SharedPenalties::decode(SharedPenalties{}.encode()));  // none left: the list empties
}

TEST(PrivsepPenaltyFrames, AFullListFitsAFrameAndOneMoreIsRefused) {
  SharedPenalties s;
  const std::string longest = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128";
  s.penalties.assign(max_shared_penalties, {longest, max_unix_time});
  const Bytes full = s.encode();
  EXPECT_LE(full.size(), frame_header - 1 + max_frame);
  EXPECT_TRUE(SharedPenalties::decode(full));
  s.penalties.push_back({"192.0.2.0/24", 1});
  EXPECT_EQ(SharedPenalties::decode(s.encode()).error(), ProtocolError::bad_value);
}

TEST(PrivsepPenaltyFrames, SharedPenaltiesWithBadEntriesAreRefused) {
  for (const SharedPenalties::Entry& bad : {SharedPenalties::Entry{"192.0.2.0/24", 0},
                                            SharedPenalties::Entry{"192.0.2.0/24", max_unix_time + 1},
                                            SharedPenalties::Entry{"x/24", 5},
                                            SharedPenalties::Entry{std::string(max_netblock + 1, '1'), 5}}) {
    SharedPenalties s;
    s.penalties = {{"192.0.2.0/24", 5}, bad};
    EXPECT_FALSE(SharedPenalties::decode(s.encode())) << bad.netblock << " " << bad.until;
  }
  SharedPenalties addressed;
  addressed.conn = 3;
  EXPECT_EQ(SharedPenalties::decode(addressed.encode()).error(), ProtocolError::bad_value);
}

/// A monitor backend for frames that concern no connection.
class NoConnections final : public Backend {
 public:
  const std::vector<crypto::PrivateKey>& host_keys() const override { return keys_; }
  std::string_view server_version() const override { return "SSH-2.0-parley_test"; }
  std::shared_ptr<const userauth::ServerAuthConfig> auth_config(std::string_view, std::uint16_t) override {
    return nullptr;
  }

 private:
  std::vector<crypto::PrivateKey> keys_;
};

TEST(PrivsepPenaltyFrames, TheMonitorHandsAccrualsToItsListenerAndRefusesBadOnes) {
  NoConnections backend;
  crypto::DeterministicRandom rng(1);
  Monitor monitor(backend, rng);
  monitor.handle(accrued_frame(0, "192.0.2.0/24", 5, 600), Instant{});  // no listener: dropped
  std::vector<PenaltyAccrued> got;
  monitor.set_penalty_listener([&](const PenaltyAccrued& a) { got.push_back(a); });
  monitor.handle(accrued_frame(0, "192.0.2.0/24", 5, 600), Instant{});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].netblock, "192.0.2.0/24");
  EXPECT_TRUE(monitor.take_frames().empty());  // a notice: no reply
  monitor.handle(accrued_frame(0, "parley:totp:alice", 5, 600), Instant{});
  EXPECT_EQ(got.size(), 1u);
  auto frames = monitor.take_frames();
  ASSERT_EQ(frames.size(), 1u);
  auto refused = Refused::decode(frames[0]);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->reason, RefusalReason::malformed_frame);
  // A monitor -> network frame sent to the monitor is refused too.
  monitor.handle(SharedPenalties{}.encode(), Instant{});
  EXPECT_EQ(monitor.take_frames().size(), 1u);
  EXPECT_EQ(got.size(), 1u);
}

}  // namespace
}  // namespace parley::privsep

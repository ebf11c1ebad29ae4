// HostKeys, the monitor's first frame: the public host keys the network
// process offers, round-tripped and bounded.
#include <gtest/gtest.h>

#include <variant>

#include "parley/privsep/protocol.hpp"

namespace parley::privsep {
namespace {

TEST(PrivsepHostKeys, RoundTripsAndArrivesAsAReply) {
  HostKeys keys;
  keys.blobs = {Bytes{1, 2, 3}, Bytes(100, 7)};
  const Bytes frame = keys.encode();
  auto back = HostKeys::decode(frame);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->blobs, keys.blobs);
  auto reply = decode_reply(frame);
  ASSERT_TRUE(reply);
  EXPECT_TRUE(std::holds_alternative<HostKeys>(*reply));
  EXPECT_EQ(decode_request(frame).error(), ProtocolError::unknown_type);  // never a request
}

TEST(PrivsepHostKeys, MoreKeysThanTheBoundOrATruncatedOneAreRefused) {
  HostKeys many;
  many.blobs.assign(max_host_keys + 1, Bytes{1});
  EXPECT_EQ(HostKeys::decode(many.encode()).error(), ProtocolError::bad_value);
  HostKeys one;
  one.blobs = {Bytes(40, 1)};
  Bytes frame = one.encode();
  frame.resize(frame.size() - 1);
  EXPECT_FALSE(HostKeys::decode(frame));
}

TEST(PrivsepReconfigure, RoundTripsArrivesAsAReplyAndIsBounded) {
  Reconfigure r;
  r.generation = 3;
  r.blobs = {Bytes{1, 2, 3}};
  r.with_settings = true;
  const Bytes frame = r.encode();
  auto back = Reconfigure::decode(frame);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->generation, 3u);
  EXPECT_EQ(back->blobs, r.blobs);
  EXPECT_TRUE(back->with_settings);
  auto reply = decode_reply(frame);
  ASSERT_TRUE(reply);
  EXPECT_TRUE(std::holds_alternative<Reconfigure>(*reply));
  EXPECT_EQ(decode_request(frame).error(), ProtocolError::unknown_type);
  Reconfigure many;
  many.blobs.assign(max_host_keys + 1, Bytes{1});
  EXPECT_EQ(Reconfigure::decode(many.encode()).error(), ProtocolError::bad_value);
  Bytes cut = frame;
  cut.resize(cut.size() - 1);
  EXPECT_FALSE(Reconfigure::decode(cut));
}

}  // namespace
}  // namespace parley::privsep

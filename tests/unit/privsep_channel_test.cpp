// The monitor's socketpair: a frame is one datagram, descriptors travel with it
// by SCM_RIGHTS, and what is over the bounds is refused on both sides.
#include "parley/privsep/channel.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "parley/privsep/protocol.hpp"

namespace parley::privsep {
namespace {

/// A pipe's two ends (invalid if pipe() failed): a descriptor to pass.
std::pair<UniqueFd, UniqueFd> make_pipe() {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

TEST(PrivsepChannel, FrameAndDescriptorCrossTheSocketpair) {
  auto pair = Channel::pair();
  ASSERT_TRUE(pair);
  auto& [network, monitor] = *pair;
  auto [read_end, write_end] = make_pipe();
  ASSERT_GE(read_end.get(), 0);

  const Bytes frame = SessionGranted{1, 2, "alice"}.encode();
  const int fds[] = {read_end.get()};
  ASSERT_TRUE(monitor.send(frame, fds));

  auto got = network.receive();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->frame, frame);
  ASSERT_EQ(got->fds.size(), 1u);
  EXPECT_NE(got->fds[0].get(), read_end.get());  // a new descriptor for the same pipe
  read_end.reset();  // the receiver's copy is its own
  ASSERT_EQ(::write(write_end.get(), "hi", 2), 2);
  char buf[2] = {};
  ASSERT_EQ(::read(got->fds[0].get(), buf, 2), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
  auto decoded = decode_reply(got->frame);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<SessionGranted>(*decoded).user, "alice");
}

TEST(PrivsepChannel, EachFrameIsItsOwnDatagram) {
  auto pair = Channel::pair();
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  const Bytes first = ConnectionClosed{1}.encode(), second = ConnectionClosed{2}.encode();
  ASSERT_TRUE(a.send(first));
  ASSERT_TRUE(a.send(second));
  auto r1 = b.receive(), r2 = b.receive();
  ASSERT_TRUE(r1);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r1->frame, first);
  EXPECT_EQ(r2->frame, second);
  EXPECT_TRUE(r1->fds.empty());
}

TEST(PrivsepChannel, OversizedFramesAndTooManyDescriptorsAreRefused) {
  auto pair = Channel::pair();
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  const Bytes too_big(frame_header + max_frame + 1, 0);
  EXPECT_EQ(a.send(too_big).error(), std::errc::message_size);
  const int fds[max_fds + 1] = {0, 0, 0, 0, 0};
  EXPECT_EQ(a.send(ConnectionClosed{1}.encode(), fds).error(), std::errc::message_size);
  // A peer that writes an oversized datagram past the Channel is refused on receipt,
  // and the next frame is still read whole.
  ASSERT_EQ(::send(a.fd(), too_big.data(), too_big.size(), 0), static_cast<ssize_t>(too_big.size()));
  EXPECT_EQ(b.receive().error(), std::errc::message_size);
  ASSERT_TRUE(a.send(ConnectionClosed{3}.encode()));
  auto next = b.receive();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->frame, ConnectionClosed{3}.encode());
}

TEST(PrivsepChannel, PeerGoneIsAnError) {
  auto pair = Channel::pair();
  ASSERT_TRUE(pair);
  { Channel gone = std::move(pair->first); }
  EXPECT_EQ(pair->second.receive().error(), std::errc::connection_reset);
  EXPECT_FALSE(pair->second.send(ConnectionClosed{1}.encode()));
}

/// A frame as the length field frames it: `size` body bytes, all `tag`'s low byte.
Bytes frame_of(std::uint32_t tag, std::size_t size) {
  Bytes f(4 + 1 + size, static_cast<std::uint8_t>(tag));
  store_be32(f.data(), static_cast<std::uint32_t>(1 + size));
  f[4] = std::to_underlying(MsgType::connection_closed);
  return f;
}

TEST(PrivsepChannel, ABatchGoesInOrderWithItsDescriptors) {
  auto pair = Channel::pair();
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  auto [read_end, write_end] = make_pipe();
  ASSERT_GE(read_end.get(), 0);
  const Bytes f1 = ConnectionClosed{1}.encode(), f2 = SessionGranted{2, 3, "bob"}.encode(),
              f3 = ConnectionClosed{4}.encode();
  const int fds[] = {read_end.get()};
  const Channel::Outgoing batch[] = {{f1, {}}, {f2, fds}, {f3, {}}};
  auto sent = a.send_batch(batch);
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 3u);
  auto r1 = b.receive(), r2 = b.receive(), r3 = b.receive();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1->frame, f1);
  EXPECT_TRUE(r1->fds.empty());
  EXPECT_EQ(r2->frame, f2);
  EXPECT_EQ(r2->fds.size(), 1u);
  EXPECT_EQ(r3->frame, f3);
}

// The kernel queues few datagrams on a socketpair (net.unix.max_dgram_qlen): a
// batch larger than that, on a non-blocking socket, goes in part, and the count
// says where to go on from; nothing is lost or reordered.
TEST(PrivsepChannel, AFullNonBlockingSocketTakesPartOfABatch) {
  auto pair = Channel::pair();
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  ASSERT_EQ(::fcntl(a.fd(), F_SETFL, ::fcntl(a.fd(), F_GETFL) | O_NONBLOCK), 0);
  // 2 MB in all: more than the socket's buffer, however the frames share datagrams.
  std::vector<Bytes> frames;
  for (std::uint32_t i = 0; i < 2000; ++i) frames.push_back(frame_of(i, 1000));
  std::vector<Channel::Outgoing> batch;
  for (const auto& f : frames) batch.push_back({f, {}});
  auto sent = a.send_batch(batch);
  ASSERT_TRUE(sent) << sent.error().message();
  ASSERT_GT(*sent, 0u);
  ASSERT_LT(*sent, frames.size());  // the queue filled
  auto again = a.send_batch(std::span(batch).subspan(*sent));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), std::errc::resource_unavailable_try_again);
  std::size_t next = 0;
  for (std::size_t went = *sent; next < frames.size();) {
    auto got = b.receive(Channel::Wait::no);
    if (!got) {  // drained: send on from where the last batch stopped
      ASSERT_EQ(got.error(), std::errc::resource_unavailable_try_again);
      auto more = a.send_batch(std::span(batch).subspan(went));
      ASSERT_TRUE(more) << more.error().message();
      went += *more;
      continue;
    }
    ASSERT_EQ(got->frame, frames[next]) << "frame " << next;
    ++next;
  }
}

// Frames without descriptors share a datagram; receive() hands them back one
// by one, the datagram's descriptors with its first, and what does not parse as
// a frame as one last piece (which decode_frame() then refuses).
TEST(PrivsepChannel, FramesSharingADatagramComeBackOneByOne) {
  auto pair = Channel::pair();
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  auto [read_end, write_end] = make_pipe();
  ASSERT_GE(read_end.get(), 0);
  const int fds[] = {read_end.get()};
  const Bytes f1 = frame_of(1, 10), f2 = frame_of(2, 0), f3 = frame_of(3, 300);
  const Channel::Outgoing batch[] = {{f1, fds}, {f2, {}}, {f3, {}}};
  ASSERT_EQ(a.send_batch(batch).value_or(0), 3u);
  ASSERT_EQ(::fcntl(b.fd(), F_SETFL, ::fcntl(b.fd(), F_GETFL) | O_NONBLOCK), 0);
  auto r1 = b.receive(Channel::Wait::no);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->frame, f1);
  EXPECT_EQ(r1->fds.size(), 1u);
  // The socket is empty now (one datagram): the next two come from the buffer.
  auto r2 = b.receive(Channel::Wait::no), r3 = b.receive(Channel::Wait::no);
  ASSERT_TRUE(r2 && r3);
  EXPECT_EQ(r2->frame, f2);
  EXPECT_EQ(r3->frame, f3);
  EXPECT_TRUE(r2->fds.empty() && r3->fds.empty());
  EXPECT_EQ(b.receive(Channel::Wait::no).error(), std::errc::resource_unavailable_try_again);
  // A datagram with a frame, then bytes whose length field overruns it.
  Bytes bad = frame_of(4, 5);
  const Bytes tail = {0, 0, 0, 99, 1, 2};
  bad.insert(bad.end(), tail.begin(), tail.end());
  ASSERT_EQ(::send(a.fd(), bad.data(), bad.size(), 0), static_cast<ssize_t>(bad.size()));
  auto g1 = b.receive(Channel::Wait::no), g2 = b.receive(Channel::Wait::no);
  ASSERT_TRUE(g1 && g2);
  EXPECT_EQ(g1->frame, frame_of(4, 5));
  EXPECT_EQ(g2->frame, tail);
  EXPECT_FALSE(decode_frame(g2->frame));
}

TEST(PrivsepChannel, AnOversizedFrameInABatchGoesAloneAndFails) {
  auto pair = Channel::pair();
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  const Bytes ok1 = ConnectionClosed{1}.encode(), too_big(frame_header + max_frame + 1, 0),
              ok2 = ConnectionClosed{2}.encode();
  const Channel::Outgoing batch[] = {{ok1, {}}, {too_big, {}}, {ok2, {}}};
  auto sent = a.send_batch(batch);
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 1u);  // stops before the oversized one
  auto rest = a.send_batch(std::span(batch).subspan(1));
  ASSERT_FALSE(rest);
  EXPECT_EQ(rest.error(), std::errc::message_size);
  auto got = b.receive();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->frame, ok1);
}

}  // namespace
}  // namespace parley::privsep

// The driver's two ends of the monitor's socketpair over a real SOCK_SEQPACKET
// pair: MonitorLink (network process) and MonitorLoop (monitor) around the real
// privsep::Monitor. Replies reach the connection they are about, the loop
// answers in order, and each end learns when the other is gone.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/monitor_link.hpp"
#include "parley/privsep/channel.hpp"
#include "parley/privsep/monitor.hpp"
#include "parley/privsep/protocol.hpp"
#include "parley/userauth/server_auth.hpp"

namespace parley::driver {
namespace {

using namespace std::chrono_literals;

class Backend final : public privsep::Backend {
 public:
  Backend() {
    crypto::DeterministicRandom rng(3);
    keys_.push_back(crypto::PrivateKey::generate_ed25519(rng));
    config_ = std::make_shared<userauth::ServerAuthConfig>();
  }
  const std::vector<crypto::PrivateKey>& host_keys() const override { return keys_; }
  std::string_view server_version() const override { return "SSH-2.0-parley_test"; }
  std::shared_ptr<const userauth::ServerAuthConfig> auth_config(std::string_view, std::uint16_t) override {
    return config_;
  }

 private:
  std::vector<crypto::PrivateKey> keys_;
  std::shared_ptr<userauth::ServerAuthConfig> config_;
};

/// What one connection received, waited for by the test thread.
struct Inbox {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<privsep::Reply> replies;

  void put(privsep::Reply r) {
    std::lock_guard lock(mutex);
    replies.push_back(std::move(r));
    changed.notify_all();
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return replies.size() >= n; });
  }
};

struct Pair {
  Backend backend;
  crypto::SystemRandom rng;
  privsep::Monitor monitor{backend, rng};
  std::promise<void> lost;
  std::unique_ptr<MonitorLink> link;
  std::unique_ptr<MonitorLoop> loop;
  std::future<bool> loop_result;

  Pair() {
    auto ends = privsep::Channel::pair();
    EXPECT_TRUE(ends);
    link = std::make_unique<MonitorLink>(std::move(ends->first), [this] { lost.set_value(); });
    loop = std::make_unique<MonitorLoop>(std::move(ends->second), monitor, nullptr);
    loop_result = std::async(std::launch::async, [this] { return loop->run(); });
    link->start();
  }
};

privsep::RefusalReason refusal(const privsep::Reply& r) {
  const auto* refused = std::get_if<privsep::Refused>(&r);
  return refused ? refused->reason : privsep::RefusalReason::malformed_frame;
}

TEST(MonitorLink, RepliesGoToTheConnectionTheyAreAbout) {
  Pair p;
  Inbox a, b;
  const auto conn_a = p.link->attach([&](privsep::Reply r, std::vector<UniqueFd>) { a.put(std::move(r)); });
  const auto conn_b = p.link->attach([&](privsep::Reply r, std::vector<UniqueFd>) { b.put(std::move(r)); });
  ASSERT_NE(conn_a, conn_b);
  p.link->send(privsep::ConnectionOpened{conn_a, "192.0.2.1", 1000}.encode());
  p.link->send(privsep::ConnectionOpened{conn_b, "192.0.2.2", 1000}.encode());
  // A second open of a, and a session for b before any key exchange: both refused,
  // each to its own connection.
  p.link->send(privsep::ConnectionOpened{conn_a, "192.0.2.1", 1000}.encode());
  p.link->send(privsep::SessionStart{{.conn = conn_b, .req = 7}, "alice"}.encode());
  ASSERT_TRUE(a.wait_for(1));
  ASSERT_TRUE(b.wait_for(1));
  EXPECT_EQ(refusal(a.replies[0]), privsep::RefusalReason::connection_exists);
  EXPECT_EQ(refusal(b.replies[0]), privsep::RefusalReason::not_authenticated);
  EXPECT_EQ(std::get<privsep::Refused>(b.replies[0]).req, 7u);
  EXPECT_EQ(p.monitor.connections(), 2u);
  p.link->stop();
  p.link.reset();  // the network end closes: the monitor's loop returns, saying so
  ASSERT_EQ(p.loop_result.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(p.loop_result.get());
}

TEST(MonitorLink, RepliesForADetachedConnectionAreDropped) {
  Pair p;
  Inbox a;
  const auto conn = p.link->attach([&](privsep::Reply r, std::vector<UniqueFd>) { a.put(std::move(r)); });
  p.link->send(privsep::ConnectionOpened{conn, "192.0.2.1", 1000}.encode());
  p.link->detach(conn);
  p.link->send(privsep::ConnectionOpened{conn, "192.0.2.1", 1000}.encode());  // refused, to nobody
  for (int i = 0; i < 500 && p.link->dropped_replies() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(p.link->dropped_replies(), 1u);
  EXPECT_TRUE(a.replies.empty());
  p.loop->stop();
}

TEST(MonitorLink, TheNetworkEndLearnsWhenTheMonitorIsGone) {
  Pair p;
  p.loop->stop();
  ASSERT_EQ(p.loop_result.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(p.loop_result.get());  // stopped, not lost
  p.loop.reset();                      // the monitor's end closes
  auto lost = p.lost.get_future();
  EXPECT_EQ(lost.wait_for(10s), std::future_status::ready);
}

/// A link whose other end the test reads and writes itself, frame by frame.
struct RawPair {
  std::promise<void> lost;
  std::unique_ptr<MonitorLink> link;
  privsep::Channel monitor_end{UniqueFd()};

  RawPair() {
    auto ends = privsep::Channel::pair();
    EXPECT_TRUE(ends);
    link = std::make_unique<MonitorLink>(std::move(ends->first), [this] { lost.set_value(); });
    monitor_end = std::move(ends->second);
  }
  /// The next frame's type, waiting at most `limit`; nullopt if none came.
  /// (Frames sent together share a datagram: those after the first are in the
  /// channel's buffer, with nothing left to poll for.)
  std::optional<privsep::MsgType> next(std::chrono::milliseconds limit) {
    pollfd p{monitor_end.fd(), POLLIN, 0};
    if (!monitor_end.buffered() && ::poll(&p, 1, static_cast<int>(limit.count())) != 1) return std::nullopt;
    auto got = monitor_end.receive(privsep::Channel::Wait::no);
    if (!got) return std::nullopt;
    auto frame = privsep::decode_frame(got->frame);
    if (!frame) return std::nullopt;
    return frame->type;
  }
};

// The monitor takes at most 64 frames a wake; frames left of a datagram sit in
// the channel's buffer, where no readiness wait would see them. All are answered.
TEST(MonitorLoop, EveryFrameOfADatagramLargerThanOneWakeIsAnswered) {
  Backend backend;
  crypto::SystemRandom rng;
  privsep::Monitor monitor{backend, rng};
  auto ends = privsep::Channel::pair();
  ASSERT_TRUE(ends);
  privsep::Channel network = std::move(ends->first);
  MonitorLoop loop(std::move(ends->second), monitor, nullptr);
  auto result = std::async(std::launch::async, [&] { return loop.run(); });
  constexpr std::size_t count = 200;  // one datagram: 200 small frames
  std::vector<Bytes> frames;
  for (std::size_t i = 0; i < count; ++i)
    frames.push_back(privsep::SessionStart{{.conn = 5, .req = i + 1}, "alice"}.encode());
  std::vector<privsep::Channel::Outgoing> out;
  for (const auto& f : frames) out.push_back({f, {}});
  ASSERT_EQ(network.send_batch(out).value_or(0), count);
  std::size_t refused = 0;
  while (refused < count) {
    pollfd p{network.fd(), POLLIN, 0};
    if (!network.buffered() && ::poll(&p, 1, 5000) != 1) break;
    auto got = network.receive(privsep::Channel::Wait::no);
    ASSERT_TRUE(got);
    auto reply = privsep::decode_reply(got->frame);
    ASSERT_TRUE(reply);
    ASSERT_TRUE(std::holds_alternative<privsep::Refused>(*reply));
    ++refused;
  }
  EXPECT_EQ(refused, count) << "requests past the first wake's 64 were never taken";
  loop.stop();
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
}

TEST(MonitorLink, AFramePostedOnTheLoopReachesTheControlReceiverWithItsDescriptor) {
  Pair p;
  std::promise<std::pair<privsep::Reply, std::vector<UniqueFd>>> got;
  p.link->set_control([&](privsep::Reply r, std::vector<UniqueFd> fds) { got.set_value({std::move(r), std::move(fds)}); });
  int ends[2];
  ASSERT_EQ(::pipe(ends), 0);
  ASSERT_EQ(::write(ends[1], "port = 22\n", 10), 10);
  ::close(ends[1]);
  auto read_end = std::make_shared<UniqueFd>(ends[0]);
  bool ran_on_loop = false;
  p.loop->post([&, read_end]() -> std::optional<privsep::Outgoing> {
    ran_on_loop = p.monitor.connections() == 0;  // the Monitor may be used here
    privsep::Reconfigure r;
    r.generation = 1;
    r.with_settings = true;
    privsep::Outgoing out{r.encode(), {}};
    out.fds.push_back(std::move(*read_end));
    return out;
  });
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  auto [reply, fds] = future.get();
  EXPECT_TRUE(ran_on_loop);
  ASSERT_TRUE(std::holds_alternative<privsep::Reconfigure>(reply));
  EXPECT_EQ(std::get<privsep::Reconfigure>(reply).generation, 1u);
  ASSERT_EQ(fds.size(), 1u);
  char text[16] = {};
  EXPECT_EQ(::read(fds[0].get(), text, sizeof text), 10);
  EXPECT_STREQ(text, "port = 22\n");
  p.loop->stop();
}

TEST(MonitorLink, ANoticeWaitsForTheNextFrameAndGoesFirst) {
  RawPair p;
  p.link->start();
  p.link->send_later(privsep::ConnectionOpened{1, "192.0.2.1", 1000}.encode());
  // Held: nothing reaches the monitor yet, so the notice alone does not wake it.
  EXPECT_EQ(p.next(0ms), std::nullopt);
  p.link->send(privsep::SessionStart{{.conn = 1, .req = 1}, "alice"}.encode());
  EXPECT_EQ(p.next(5s), privsep::MsgType::connection_opened);
  EXPECT_EQ(p.next(5s), privsep::MsgType::session_start);
  EXPECT_EQ(p.next(0ms), std::nullopt);
}

TEST(MonitorLink, ANoticeAloneGoesWithinTheHold) {
  RawPair p;
  p.link->start();
  const auto start = std::chrono::steady_clock::now();
  p.link->send_later(privsep::ConnectionClosed{1}.encode());
  EXPECT_EQ(p.next(5s), privsep::MsgType::connection_closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "held far longer than its 50 ms";
}

TEST(MonitorLink, PumpDeliversOnTheCallingThread) {
  // A caller waiting in place for a reply, on the thread whose loop would read
  // the link (here no loop reads it at all), gets it by pumping.
  RawPair p;
  std::thread::id delivered_on;
  std::vector<privsep::Reply> got;
  const auto conn = p.link->attach([&](privsep::Reply r, std::vector<UniqueFd>) {
    delivered_on = std::this_thread::get_id();
    got.push_back(std::move(r));
  });
  privsep::Refused refused;
  refused.conn = conn;
  refused.req = 4;
  refused.reason = privsep::RefusalReason::not_authenticated;
  ASSERT_TRUE(p.monitor_end.send(refused.encode()));
  for (int i = 0; i < 100 && got.empty(); ++i) ASSERT_TRUE(p.link->pump(50ms));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(delivered_on, std::this_thread::get_id());
  EXPECT_EQ(refusal(got[0]), privsep::RefusalReason::not_authenticated);
  // The monitor gone: pump says so, and the link reports it lost.
  p.monitor_end = privsep::Channel(UniqueFd());
  EXPECT_FALSE(p.link->pump(1s));
  EXPECT_EQ(p.lost.get_future().wait_for(0s), std::future_status::ready);
}

}  // namespace
}  // namespace parley::driver

// The driver's two ends of the monitor's socketpair over a real SOCK_SEQPACKET
// pair: MonitorLink (network process) and MonitorLoop (monitor) around the real
// privsep::Monitor. Replies reach the connection they are about, the loop
// answers in order, and each end learns when the other is gone.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace parley::driver

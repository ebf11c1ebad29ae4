// driver::Server with ServerOptions::source_limits: connections refused by the
// SourceLimiter are closed at accept before the server sends a byte, endpoints
// report their pre-authentication phase, and a penalty is told once.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "parley/driver/server.hpp"
#include "parley/transport/endpoint.hpp"
#include "test_support.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;
using test::connect_loopback;

/// The first line the server sends; "" if it closes first (or says nothing for 3 s).
std::string first_line(int fd) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + 3s;
  while (got.find('\n') == std::string::npos && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

/// An endpoint that greets and stays before authentication until the client
/// sends "auth"; it reports its phase as a server connection does.
class Phased final : public transport::Endpoint {
 public:
  void receive(BytesView data, transport::Instant) override {
    const std::string text(data.begin(), data.end());
    if (text.find("auth") != std::string::npos && listener_)
      listener_(transport::PreauthState::authenticated);
    if (text.find("late") != std::string::npos && listener_)
      listener_(transport::PreauthState::grace_exceeded);
    if (text.find("try") != std::string::npos && listener_)
      listener_(transport::PreauthState::attempted);
  }
  void peer_closed(transport::Instant) override { closed_ = true; }
  void on_time(transport::Instant) override {}
  std::optional<transport::Instant> next_deadline() const override { return std::nullopt; }
  void take_output(Bytes& out) override {
    if (greeted_) return;
    greeted_ = true;
    const std::string_view hello = "hello\r\n";
    out.insert(out.end(), hello.begin(), hello.end());
  }
  bool closed() const override { return closed_; }
  bool set_preauth_listener(std::function<void(transport::PreauthState)> listener) override {
    listener_ = std::move(listener);
    return true;
  }

 private:
  std::function<void(transport::PreauthState)> listener_;
  bool greeted_ = false;
  bool closed_ = false;
};

struct Fixture {
  std::mutex mutex;
  std::vector<driver::PenaltyNotice> notices;
  std::unique_ptr<driver::Server> server;

  explicit Fixture(driver::SourceLimits limits, bool phased = true) {
    driver::ServerOptions options;
    options.port = 0;
    options.threads = 2;
    options.source_limits = limits;
    options.on_penalty = [this](const driver::PenaltyNotice& n) {
      std::lock_guard lock(mutex);
      notices.push_back(n);
    };
    server = std::make_unique<driver::Server>(
        options,
        [phased](const driver::PeerInfo&,
                 transport::Instant now) -> std::unique_ptr<transport::Endpoint> {
          if (phased) return std::make_unique<Phased>();
          static crypto::SystemRandom rng;
          auto config = test::default_configs().second;
          config.role = transport::Role::server;
          return std::make_unique<transport::TransportEndpoint>(config, rng, now, nullptr);
        });
    auto started = server->start();
    if (!started) ADD_FAILURE() << started.error();
  }
  std::size_t notice_count() {
    std::lock_guard lock(mutex);
    return notices.size();
  }
  /// Waits for the server to have no connection open.
  void settle() {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (server->active_connections() != 0 && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(10ms);
  }
};

driver::SourceLimits without_penalties() {
  driver::SourceLimits l;
  l.penalties.enabled = false;
  return l;
}

TEST(ServerAdmission, PastPerSourceMaxStartupsIsClosedBeforeAnyByte) {
  auto limits = without_penalties();
  limits.per_source_max_startups = 2;
  Fixture f(limits);
  const int a = connect_loopback(f.server->port());
  const int b = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(a), "hello\r\n");
  EXPECT_EQ(first_line(b), "hello\r\n");
  const int c = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(c), "");  // no banner: closed at accept
  EXPECT_EQ(f.server->refused_connections(), 1u);
  // An authenticated connection no longer counts toward the limit.
  ASSERT_EQ(::send(a, "auth", 4, 0), 4);
  std::this_thread::sleep_for(200ms);
  const int d = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(d), "hello\r\n");
  for (int fd : {a, b, c, d}) ::close(fd);
}

TEST(ServerAdmission, MaxStartupsFullRefusesEveryUnauthenticatedConnection) {
  auto limits = without_penalties();
  limits.max_startups = {1, 100, 1};
  Fixture f(limits);
  const int a = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(a), "hello\r\n");
  const int b = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(b), "");
  ::close(a);
  f.settle();
  const int c = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(c), "hello\r\n");
  for (int fd : {b, c}) ::close(fd);
}

TEST(ServerAdmission, ASourceThatLeavesWithoutAuthenticatingIsPenalisedAndRefused) {
  driver::SourceLimits limits;
  limits.penalties.noauth = driver::Seconds(20);  // more than min (15): active at once
  Fixture f(limits);
  const int a = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(a), "hello\r\n");
  ::close(a);
  f.settle();
  ASSERT_EQ(f.notice_count(), 1u);
  EXPECT_EQ(f.notices[0].netblock, "127.0.0.1/32");
  EXPECT_EQ(f.notices[0].reason, "penalty: connections without attempting authentication");
  const int b = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(b), "");
  ::close(b);
  EXPECT_EQ(f.notice_count(), 1u);
}

TEST(ServerAdmission, AFailedAttemptIsPenalisedAsAuthfail) {
  driver::SourceLimits limits;
  limits.penalties.authfail = driver::Seconds(30);
  Fixture f(limits);
  const int a = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(a), "hello\r\n");
  ASSERT_EQ(::send(a, "try", 3, 0), 3);
  std::this_thread::sleep_for(100ms);
  ::close(a);
  f.settle();
  ASSERT_EQ(f.notice_count(), 1u);
  EXPECT_EQ(f.notices[0].reason, "penalty: failed authentication");
}

TEST(ServerAdmission, ExceedingTheLoginGraceTimeIsPenalisedAsGraceExceeded) {
  driver::SourceLimits limits;
  limits.penalties.grace_exceeded = driver::Seconds(40);
  Fixture f(limits);
  const int a = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(a), "hello\r\n");
  ASSERT_EQ(::send(a, "late", 4, 0), 4);
  std::this_thread::sleep_for(100ms);
  ::close(a);
  f.settle();
  ASSERT_EQ(f.notice_count(), 1u);
  EXPECT_EQ(f.notices[0].reason, "penalty: exceeded LoginGraceTime");
  EXPECT_DOUBLE_EQ(f.notices[0].duration.count(), 40.0);
}

TEST(ServerAdmission, AConnectionWhoseCodeFailsIsPenalisedAsACrash) {
  driver::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  options.source_limits = driver::SourceLimits{};
  std::atomic<int> notices{0};
  std::string reason;
  options.on_penalty = [&](const driver::PenaltyNotice& n) {
    reason = std::string(n.reason);
    ++notices;
  };
  driver::Server server(
      options,
      [](const driver::PeerInfo&, transport::Instant) -> std::unique_ptr<transport::Endpoint> {
        throw std::runtime_error("bug");
      });
  ASSERT_TRUE(server.start());
  const int a = connect_loopback(server.port());
  EXPECT_EQ(first_line(a), "");
  ::close(a);
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (notices == 0 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(notices.load(), 1);
  EXPECT_EQ(reason, "penalty: caused crash");  // crash:90 is past min:15 at once
  const int b = connect_loopback(server.port());
  EXPECT_EQ(first_line(b), "");
  ::close(b);
}

TEST(ServerAdmission, AnAuthenticatedConnectionIsNotPenalised) {
  driver::SourceLimits limits;
  limits.penalties.noauth = driver::Seconds(20);
  Fixture f(limits);
  const int a = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(a), "hello\r\n");
  ASSERT_EQ(::send(a, "auth", 4, 0), 4);
  std::this_thread::sleep_for(100ms);
  ::close(a);
  f.settle();
  EXPECT_EQ(f.notice_count(), 0u);
  const int b = connect_loopback(f.server->port());
  EXPECT_EQ(first_line(b), "hello\r\n");
  ::close(b);
}

TEST(ServerAdmission, EndpointsWithoutAPreauthPhaseCountAsAuthenticated) {
  auto limits = without_penalties();
  limits.per_source_max_startups = 1;
  Fixture f(limits, /*phased=*/false);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    fds.push_back(connect_loopback(f.server->port()));
    EXPECT_EQ(first_line(fds.back()).rfind("SSH-2.0-", 0), 0u) << i;
  }
  for (int fd : fds) ::close(fd);
}

}  // namespace
}  // namespace parley

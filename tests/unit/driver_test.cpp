// The Asio driver: one process serves thousands of concurrent connections with
// a thread per core, each completing key exchange, and stop() ends them all.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "parley/driver/client.hpp"
#include "parley/driver/server.hpp"
#include "parley/transport/endpoint.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;

int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Reads until "\r\n" or timeout; returns what was read.
std::string read_line(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  auto end = std::chrono::steady_clock::now() + timeout;
  while (got.find("\r\n") == std::string::npos && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

struct ServerFixture {
  crypto::SystemRandom rng;
  transport::TransportConfig config = test::default_configs().second;
  std::unique_ptr<driver::Server> server;

  explicit ServerFixture(unsigned threads) {
    config.role = transport::Role::server;
    driver::ServerOptions options;
    options.port = 0;
    options.threads = threads;
    server = std::make_unique<driver::Server>(
        options, [this](const driver::PeerInfo&, transport::Instant now) {
          return std::make_unique<transport::TransportEndpoint>(config, rng, now, nullptr);
        });
    auto started = server->start();
    if (!started) ADD_FAILURE() << started.error();
  }
};

TEST(Driver, ThreeThousandConcurrentConnectionsOnTwoThreads) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur < 8000 && lim.rlim_max >= 8000) {
    lim.rlim_cur = 8000;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);
  }
  ASSERT_GE(lim.rlim_cur, 7000u) << "need ~2 descriptors per connection";

  ServerFixture f(2);
  constexpr int n = 3000;
  std::vector<int> fds;
  fds.reserve(n);
  for (int i = 0; i < n; ++i) {
    int fd = connect_loopback(f.server->port());
    ASSERT_GE(fd, 0) << "connect " << i;
    fds.push_back(fd);
  }
  // Every one of them is served: each gets the server's identification.
  int served = 0;
  for (int fd : fds)
    if (read_line(fd, 10s).rfind("SSH-2.0-parley", 0) == 0) ++served;
  EXPECT_EQ(served, n);
  EXPECT_EQ(f.server->active_connections(), static_cast<std::size_t>(n));

  // With all of them open, full key exchanges still complete.
  for (int i = 0; i < 3; ++i) {
    auto client_config = test::default_configs().first;
    client_config.role = transport::Role::client;
    crypto::SystemRandom crng;
    bool done = false;
    transport::TransportEndpoint client(client_config, crng, transport::Clock::now(),
                                        [&](transport::Transport& t, transport::Event& e) {
                                          if (std::holds_alternative<transport::KexDone>(e)) {
                                            done = true;
                                            t.disconnect(transport::DisconnectReason::by_application, "bye");
                                          }
                                        });
    auto r = driver::run_client("127.0.0.1", f.server->port(), client, 20s);
    ASSERT_TRUE(r.has_value()) << r.error();
    EXPECT_TRUE(done);
  }

  for (int fd : fds) ::close(fd);
  auto end = std::chrono::steady_clock::now() + 20s;
  while (f.server->active_connections() > 0 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(f.server->active_connections(), 0u);
}

TEST(Driver, StopEndsOpenConnectionsPromptly) {
  ServerFixture f(2);
  std::vector<int> fds;
  for (int i = 0; i < 50; ++i) {
    int fd = connect_loopback(f.server->port());
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    EXPECT_EQ(read_line(fd, 5s).rfind("SSH-2.0-", 0), 0u);
  }
  auto start = std::chrono::steady_clock::now();
  f.server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(f.server->active_connections(), 0u);
  for (int fd : fds) {
    char c;
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    // Our identification was read already; what is left ends in EOF.
    ssize_t got;
    do {
      got = ::recv(fd, &c, 1, 0);
    } while (got > 0);
    EXPECT_LE(got, 0);
    ::close(fd);
  }
}

TEST(Driver, RunClientReportsRefusedConnection) {
  std::uint16_t port;
  {
    ServerFixture f(1);
    port = f.server->port();
  }  // stopped: nothing listens there now
  auto client_config = test::default_configs().first;
  client_config.role = transport::Role::client;
  crypto::SystemRandom crng;
  transport::TransportEndpoint client(client_config, crng, transport::Clock::now(), nullptr);
  auto r = driver::run_client("127.0.0.1", port, client, 5s);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("cannot connect"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace parley

#include "parley/auth/server_connection.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley {
namespace {

/// Answers from its own thread, after the call returned: the driver must be woken.
class SlowProvider final : public auth::KeyboardInteractiveProvider {
 public:
  explicit SlowProvider(std::vector<std::thread>& threads, std::mutex& m) : threads_(threads), m_(m) {}
  std::string_view name() const override { return "slow"; }
  void start(const auth::AttemptInfo&, auth::Responder r) override {
    spawn([r] { r(auth::Challenge{"Slow", "Wait for it.", {auth::Prompt{"Word: ", true}}}); });
  }
  void answer(std::vector<crypto::SecretBytes> answers, auth::Responder r) override {
    const bool right = answers.size() == 1 && auth::answer_text(answers[0]) == "open sesame";
    spawn([r, right] {
      if (right) r(auth::Accept{});
      else r(auth::Reject{});
    });
  }

 private:
  template <class F>
  void spawn(F f) {
    std::lock_guard lock(m_);
    threads_.emplace_back([f] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      f();
    });
  }
  std::vector<std::thread>& threads_;
  std::mutex& m_;
};

TEST(Driver, AsynchronousProviderAnswersReachTheClient) {
  std::vector<std::thread> threads;
  std::mutex threads_mutex;
  crypto::SystemRandom rng;
  auto tconfig = std::make_shared<transport::TransportConfig>(test::default_configs().second);
  tconfig->role = transport::Role::server;
  auto aconfig = std::make_shared<auth::ServerAuthConfig>();
  aconfig->keyboard_interactive = [&](const auth::AttemptInfo&) {
    return std::make_unique<SlowProvider>(threads, threads_mutex);
  };
  driver::ServerOptions options;
  options.port = 0;
  options.threads = 2;
  driver::Server server(options, [&](const driver::PeerInfo&, transport::Instant now) {
    return std::make_unique<auth::ServerConnection>(tconfig, aconfig, rng, "peer", now);
  });
  ASSERT_TRUE(server.start().has_value());

  auto client_config = test::default_configs().first;
  client_config.role = transport::Role::client;
  crypto::SystemRandom crng;
  bool challenged = false, success = false;
  transport::TransportEndpoint client(
      client_config, crng, transport::Clock::now(),
      [&](transport::Transport& t, transport::Event& e) {
        if (std::holds_alternative<transport::ServiceAccepted>(e)) {
          Bytes req;
          wire::Writer(req).byte(transport::msg::userauth_request).string(std::string_view("admin"))
              .string(std::string_view("ssh-connection")).string(std::string_view("keyboard-interactive"))
              .string(std::string_view{}).string(std::string_view{});
          t.send(req);
        } else if (auto* m = std::get_if<transport::Message>(&e)) {
          if (m->payload[0] == 60) {
            challenged = true;
            Bytes resp;
            wire::Writer(resp).byte(61).uint32(1).string(std::string_view("open sesame"));
            t.send(resp);
          } else if (m->payload[0] == transport::msg::userauth_success) {
            success = true;
            t.disconnect(transport::DisconnectReason::by_application, "done");
          } else if (m->payload[0] == transport::msg::userauth_failure) {
            t.disconnect(transport::DisconnectReason::by_application, "failed");
          }
        }
      });
  client.transport().request_service("ssh-userauth");
  auto r = driver::run_client("127.0.0.1", server.port(), client, std::chrono::seconds(20));
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_TRUE(challenged);
  EXPECT_TRUE(success);
  server.stop();
  std::lock_guard lock(threads_mutex);
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace parley

// The Asio driver: one process serves thousands of concurrent connections with
// a thread per core, each completing key exchange, and stop() ends them all.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "parley/driver/client.hpp"
#include "parley/driver/server.hpp"
#include "parley/driver/worker_pool.hpp"
#include "parley/transport/endpoint.hpp"
#include "test_support.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;
using test::connect_loopback;

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

#include "parley/session/server_connection.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley {
namespace {

/// Answers from its own thread, after the call returned: the driver must be woken.
class SlowProvider final : public userauth::KeyboardInteractiveProvider {
 public:
  explicit SlowProvider(std::vector<std::thread>& threads, std::mutex& m) : threads_(threads), m_(m) {}
  std::string_view name() const override { return "slow"; }
  void start(const userauth::AttemptInfo&, userauth::Responder r) override {
    spawn([r] { r(userauth::Challenge{"Slow", "Wait for it.", {userauth::Prompt{"Word: ", true}}}); });
  }
  void answer(std::vector<crypto::SecretBytes> answers, userauth::Responder r) override {
    const bool right = answers.size() == 1 && userauth::answer_text(answers[0]) == "open sesame";
    spawn([r, right] {
      if (right) r(userauth::Accept{});
      else r(userauth::Reject{});
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

/// Takes 64 KiB, then wants no input until the test opens the gate and wakes it.
struct Gate {
  std::atomic<std::size_t> received{0};
  std::atomic<bool> open{false};
  std::mutex mutex;
  std::function<void()> wake;  // the driver's, while it drives the endpoint
  void open_and_wake() {
    open = true;
    std::lock_guard lock(mutex);
    if (wake) wake();
  }
};

class GatedEndpoint final : public transport::Endpoint {
 public:
  explicit GatedEndpoint(Gate& gate) : gate_(gate) {}
  void receive(BytesView data, transport::Instant) override { gate_.received += data.size(); }
  void peer_closed(transport::Instant) override { closed_ = true; }
  void on_time(transport::Instant) override {}
  std::optional<transport::Instant> next_deadline() const override { return std::nullopt; }
  void take_output(Bytes&) override {}
  bool closed() const override { return closed_; }
  bool wants_input() const override { return gate_.open || gate_.received < 64 * 1024; }
  void set_wake(std::function<void()> wake) override {
    std::lock_guard lock(gate_.mutex);
    gate_.wake = std::move(wake);
  }

 private:
  Gate& gate_;
  bool closed_ = false;
};

TEST(Driver, EndpointThatWantsNoInputIsNotReadUntilWoken) {
  // What bounds the replies queued behind a pending key exchange: the driver
  // stops reading while the endpoint wants no input, so the peer's bytes stay
  // in the kernel's buffers (and then the peer's), not in our memory.
  Gate gate;
  driver::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  driver::Server server(options, [&](const driver::PeerInfo&, transport::Instant) {
    return std::make_unique<GatedEndpoint>(gate);
  });
  ASSERT_TRUE(server.start().has_value());
  const int fd = connect_loopback(server.port());
  ASSERT_GE(fd, 0);
  constexpr std::size_t total = 16 * 1024 * 1024;
  std::atomic<std::size_t> written{0};
  std::thread writer([&] {
    const std::string chunk(64 * 1024, 'x');
    while (written < total) {
      const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      written += static_cast<std::size_t>(n);
    }
  });
  std::this_thread::sleep_for(1500ms);
  EXPECT_LE(gate.received.load(), 2u * 64 * 1024) << "the driver kept reading";
  EXPECT_LT(written.load(), total) << "the peer could write everything: nothing pushed back";

  gate.open_and_wake();
  writer.join();
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (gate.received < total && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(gate.received.load(), total) << "reading did not resume after the wake";
  ::close(fd);
  server.stop();
}

TEST(Driver, StopEndsAConnectionThatWantsNoInputPromptly) {
  Gate gate;
  driver::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  auto server =
      std::make_unique<driver::Server>(options, [&](const driver::PeerInfo&, transport::Instant) {
        return std::make_unique<GatedEndpoint>(gate);
      });
  ASSERT_TRUE(server->start().has_value());
  const int fd = connect_loopback(server->port());
  ASSERT_GE(fd, 0);
  const std::string chunk(256 * 1024, 'x');
  ASSERT_GT(::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL), 0);
  const auto paused_by = std::chrono::steady_clock::now() + 10s;
  while (gate.received < 64 * 1024 && std::chrono::steady_clock::now() < paused_by)
    std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(200ms);  // in the pause now (no deadline: it would wait forever)
  const auto start = std::chrono::steady_clock::now();
  server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  ::close(fd);
}

TEST(Driver, AsynchronousProviderAnswersReachTheClient) {
  std::vector<std::thread> threads;
  std::mutex threads_mutex;
  crypto::SystemRandom rng;
  auto tconfig = std::make_shared<transport::TransportConfig>(test::default_configs().second);
  tconfig->role = transport::Role::server;
  auto aconfig = std::make_shared<userauth::ServerAuthConfig>();
  aconfig->keyboard_interactive = [&](const userauth::AttemptInfo&) {
    return std::make_unique<SlowProvider>(threads, threads_mutex);
  };
  driver::ServerOptions options;
  options.port = 0;
  options.threads = 2;
  driver::Server server(options, [&](const driver::PeerInfo&, transport::Instant now) {
    return std::make_unique<session::ServerConnection>(tconfig, aconfig, rng, "peer", now);
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

TEST(Driver, WorkerPoolCompletionAfterTheServerStoppedTouchesNothingFreed) {
  // A password check still running on the worker pool when the server stops
  // (and is destroyed) completes afterwards: its answer must go nowhere. Run
  // under ASan, any use of the freed connection or io_context is an error.
  crypto::SystemRandom rng;
  auto tconfig = std::make_shared<transport::TransportConfig>(test::default_configs().second);
  tconfig->role = transport::Role::server;
  auto aconfig = std::make_shared<userauth::ServerAuthConfig>();
  std::mutex gate_mutex;
  std::condition_variable gate_changed;
  bool checking = false, release = false, checked = false;
  aconfig->password = std::make_shared<const userauth::PasswordVerifier>(
      [&](std::string_view, const crypto::SecretBytes&) {
        std::unique_lock lock(gate_mutex);
        checking = true;
        gate_changed.notify_all();
        gate_changed.wait(lock, [&] { return release; });
        checked = true;
        gate_changed.notify_all();
        return true;
      });
  driver::WorkerPool pool(1, 8);  // outlives the server, as parleyd's does
  aconfig->run_blocking = [&pool](std::function<void()> job) {
    return pool.submit(std::move(job));
  };
  driver::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  auto server = std::make_unique<driver::Server>(
      options, [&](const driver::PeerInfo&, transport::Instant now) {
        return std::make_unique<session::ServerConnection>(tconfig, aconfig, rng, "peer", now);
      });
  ASSERT_TRUE(server->start().has_value());

  auto client_config = test::default_configs().first;
  client_config.role = transport::Role::client;
  crypto::SystemRandom crng;
  std::thread client_thread([&, port = server->port()] {
    transport::TransportEndpoint client(
        client_config, crng, transport::Clock::now(),
        [](transport::Transport& t, transport::Event& e) {
          if (!std::holds_alternative<transport::ServiceAccepted>(e)) return;
          Bytes req;
          wire::Writer(req)
              .byte(transport::msg::userauth_request)
              .string(std::string_view("alice"))
              .string(std::string_view("ssh-connection"))
              .string(std::string_view("password"))
              .boolean(false)
              .string(std::string_view("hunter2"));
          t.send_secret(req);
        });
    client.transport().request_service("ssh-userauth");
    (void)driver::run_client("127.0.0.1", port, client, std::chrono::seconds(20));
  });
  {
    std::unique_lock lock(gate_mutex);
    ASSERT_TRUE(gate_changed.wait_for(lock, 20s, [&] { return checking; }))
        << "the check never started";
  }
  server->stop();
  server.reset();  // connections, io_contexts and their executors are gone
  client_thread.join();
  {
    std::lock_guard lock(gate_mutex);
    release = true;
  }
  gate_changed.notify_all();
  std::unique_lock lock(gate_mutex);
  EXPECT_TRUE(gate_changed.wait_for(lock, 20s, [&] { return checked; }));
  // The pool's destructor waits for the job's end: its late answer goes nowhere.
}

}  // namespace
}  // namespace parley

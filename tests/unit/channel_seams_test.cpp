// The driver's channel seams (driver/channel_seams.hpp): a server whose
// ProcessOptions name their own SessionStarter and ForwardOpener (as a
// privilege-separated parleyd names monitor-backed ones) runs its session and
// forwarding channels through them: the answer comes later, the program's
// streams are the descriptors handed back, its exit and signals go through
// the starter, and forwarding sockets are the opener's.
#include <gtest/gtest.h>
#include <poll.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "parley/connection/session.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/channel_seams.hpp"
#include "parley/driver/server.hpp"
#include "parley/driver/services.hpp"
#include "parley/session/server_connection.hpp"
#include "parley/wire/writer.hpp"
#include "ssh_test_client.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using driver::SessionStarter;

/// What the fake starter saw, shared with the test (the server's thread writes it).
struct Seen {
  std::mutex mutex;
  std::vector<driver::SessionStartRequest> requests;
  std::vector<int> signals;
  std::vector<std::string> forwards;
};

class RecordingProcess final : public driver::SessionProcess {
 public:
  explicit RecordingProcess(std::shared_ptr<Seen> seen) : seen_(std::move(seen)) {}
  bool signal(int number) override {
    std::lock_guard lock(seen_->mutex);
    seen_->signals.push_back(number);
    return true;
  }

 private:
  std::shared_ptr<Seen> seen_;
};

/// Answers on the connection's thread after start() returned, as a monitor's
/// answer would: "refuse" is refused; any other command gets pipes with its
/// text on stdout, and exits with status 7 once signalled (or at once).
class FakeStarter final : public SessionStarter {
 public:
  FakeStarter(driver::ConnectionContext& context, std::shared_ptr<Seen> seen) : context_(context), seen_(seen) {}
  void start(driver::SessionStartRequest request, OnStarted on_started, OnExit on_exit) override {
    {
      std::lock_guard lock(seen_->mutex);
      seen_->requests.push_back(request);
    }
    if (request.command == "hold") {  // answered at release()
      held_ = on_started;
      return;
    }
    context_.post([this, command = request.command, on_started, on_exit] {
      if (command == "refuse") return on_started(std::unexpected("refused by the fake"));
      int in[2], out[2], err[2];
      if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
      (void)!::write(out[1], command.data(), command.size());
      ::close(out[1]);
      ::close(err[1]);
      ::close(in[0]);
      driver::SessionStreams streams{UniqueFd(), UniqueFd(in[1]), UniqueFd(out[0]), UniqueFd(err[0])};
      on_started(Started{std::move(streams), std::make_shared<RecordingProcess>(seen_)});
      if (command != "wait for a signal") return on_exit(login::ProgramExit{false, 7, false});
      exit_later_ = on_exit;
    });
  }
  /// Starts the "hold" program: pipes whose stdin the test reads (stdin()).
  void release() {
    context_.post([this, on_started = std::exchange(held_, {})] {
      int in[2], out[2], err[2];
      if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
      stdin_ = UniqueFd(in[0]);
      driver::SessionStreams streams{UniqueFd(), UniqueFd(in[1]), UniqueFd(out[0]), UniqueFd(err[0])};
      on_started(Started{std::move(streams), std::make_shared<RecordingProcess>(seen_)});
      ::close(out[1]);
      ::close(err[1]);
    });
  }
  /// What the "hold" program read on stdin up to EOF (or 5 s).
  std::string stdin_text() {
    std::string text;
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
         std::chrono::steady_clock::now() < until;) {
      pollfd p{stdin_.get(), POLLIN, 0};
      if (stdin_.get() < 0 || ::poll(&p, 1, 50) != 1) continue;
      char buf[256];
      const ssize_t n = ::read(stdin_.get(), buf, sizeof buf);
      if (n <= 0) return text;
      text.append(buf, static_cast<std::size_t>(n));
    }
    return text + " (no EOF)";
  }
  /// Ends the waiting program as a signal would.
  void deliver() {
    if (exit_later_)
      context_.post([f = std::exchange(exit_later_, {})] { f(login::ProgramExit{true, SIGTERM, false}); });
  }

 private:
  driver::ConnectionContext& context_;
  std::shared_ptr<Seen> seen_;
  OnExit exit_later_;
  OnStarted held_;
  UniqueFd stdin_;  // the "hold" program's stdin, read end
};

/// Connects every direct-tcpip to the test's listener whatever the host, and
/// listens on loopback whatever the address: a host no resolver knows works.
class FakeOpener final : public driver::ForwardOpener {
 public:
  FakeOpener(std::shared_ptr<Seen> seen, std::uint16_t port) : seen_(std::move(seen)), port_(port) {}
  void connect(const std::string& host, std::uint32_t port, OnConnected done) override {
    record("connect " + host + ":" + std::to_string(port));
    done(UniqueFd(loopback(SOCK_STREAM, port_, false)));
  }
  std::expected<UniqueFd, std::string> listen(const std::string& address, std::uint32_t port) override {
    record("listen " + address + ":" + std::to_string(port));
    return UniqueFd(loopback(SOCK_STREAM, 0, true));
  }

 private:
  void record(std::string line) {
    std::lock_guard lock(seen_->mutex);
    seen_->forwards.push_back(std::move(line));
  }
  static int loopback(int type, std::uint16_t port, bool listening) {
    const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (listening) {
      ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      ::listen(fd, 4);
    } else {
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    return fd;
  }
  std::shared_ptr<Seen> seen_;
  std::uint16_t port_;
};

/// A server on a free port with one connection thread.
driver::ServerOptions one_thread() {
  driver::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  return options;
}

class ChannelSeams : public ::testing::Test {
 protected:
  void SetUp() override {
    user_key_ = crypto::PrivateKey::generate_ed25519(rng_);
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof a;
    ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener_, 4), 0);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &length);
    const std::uint16_t port = ntohs(a.sin_port);

    auto tconfig = std::make_shared<transport::TransportConfig>(test::default_configs().second);
    auto aconfig = std::make_shared<userauth::ServerAuthConfig>();
    aconfig->authorized_keys = [pub = user_key_->public_key()](std::string_view name) {
      return name == "tester" ? std::vector<crypto::PublicKey>{pub} : std::vector<crypto::PublicKey>{};
    };
    auto policy = std::make_shared<session::ChannelPolicy>();
    policy->allow_local_forwarding = true;
    policy->allow_remote_forwarding = true;
    policy->gateway_ports = true;  // the client's bind address reaches the opener as it asked
    driver::ProcessOptions process;
    process.session_starter = [this](driver::ConnectionContext& context) {
      starter_ = std::make_shared<FakeStarter>(context, seen_);
      return starter_;
    };
    process.forward_opener = [this, port](driver::ConnectionContext&) {
      return std::make_shared<FakeOpener>(seen_, port);
    };
    // Every connection's services are the standard ones over the fakes.
    auto factory = [this, tconfig, aconfig, policy, process](driver::ConnectionContext& context,
                                                             transport::Instant now) {
      auto conn = std::make_unique<session::ServerConnection>(tconfig, aconfig, rng_, "peer", now);
      conn->set_channel_services(policy, driver::make_channel_services(context, process));
      return conn;
    };
    server_ = std::make_unique<driver::Server>(one_thread(), driver::ConnectionFactory(factory));
    ASSERT_TRUE(server_->start().has_value());
    ASSERT_EQ(client_.login("127.0.0.1", server_->port(), "tester", *user_key_), "");
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (listener_ >= 0) ::close(listener_);
  }

  crypto::SystemRandom rng_;
  std::optional<crypto::PrivateKey> user_key_;
  std::shared_ptr<Seen> seen_ = std::make_shared<Seen>();
  std::shared_ptr<FakeStarter> starter_;
  std::unique_ptr<driver::Server> server_;
  test::SshTestClient client_;
  int listener_ = -1;
};

TEST_F(ChannelSeams, SessionStreamsAndExitComeThroughTheStarterAnsweringLater) {
  auto id = client_.open_session();
  ASSERT_TRUE(id);
  ASSERT_EQ(client_.env(*id, "LANG", "C"), std::optional<bool>(true));
  ASSERT_EQ(client_.exec(*id, "hello from the seam"), std::optional<bool>(true));
  ASSERT_TRUE(client_.wait_closed(*id));
  EXPECT_EQ(client_.channel(*id).out, "hello from the seam");
  EXPECT_EQ(client_.channel(*id).exit_status, std::optional<std::uint32_t>(7));
  std::lock_guard lock(seen_->mutex);
  ASSERT_EQ(seen_->requests.size(), 1u);
  EXPECT_EQ(seen_->requests[0].user, "tester");
  EXPECT_EQ(seen_->requests[0].kind, login::ProgramKind::exec);
  ASSERT_EQ(seen_->requests[0].env.size(), 1u);
  EXPECT_EQ(seen_->requests[0].env[0].first, "LANG");
}

// A monitor answers a start later: what the client sends meanwhile, and its
// EOF, are held for the program, not dropped.
TEST_F(ChannelSeams, InputAndEofSentWhileTheStarterAnswersReachTheProgram) {
  auto id = client_.open_session();
  ASSERT_TRUE(id);
  ASSERT_EQ(client_.exec(*id, "hold"), std::optional<bool>(true));
  client_.write(*id, "sent before the program ran");
  client_.write_eof(*id);
  ASSERT_TRUE(client_.ping());  // answered (refused): the server has handled both
  starter_->release();
  EXPECT_EQ(starter_->stdin_text(), "sent before the program ran");
}

// What no program serves fails at once (RFC 4254 §6.5), as an in-process
// start would, without asking the starter.
TEST_F(ChannelSeams, ASubsystemNoProgramServesIsRefusedWithoutAskingTheStarter) {
  auto id = client_.open_session();
  ASSERT_TRUE(id);
  EXPECT_EQ(client_.subsystem(*id, "no-such-subsystem"), std::optional<bool>(false));
  std::lock_guard lock(seen_->mutex);
  EXPECT_TRUE(seen_->requests.empty());
}

TEST_F(ChannelSeams, AStartRefusedLaterClosesTheChannelWithoutAStatus) {
  auto id = client_.open_session();
  ASSERT_TRUE(id);
  EXPECT_EQ(client_.exec(*id, "refuse"), std::optional<bool>(true));  // answered before the refusal
  ASSERT_TRUE(client_.wait_closed(*id));
  EXPECT_FALSE(client_.channel(*id).exit_status);
  EXPECT_TRUE(client_.channel(*id).out.empty());
}

TEST_F(ChannelSeams, SignalsGoThroughTheStartersProcess) {
  auto id = client_.open_session();
  ASSERT_TRUE(id);
  ASSERT_EQ(client_.exec(*id, "wait for a signal"), std::optional<bool>(true));
  Bytes term;
  wire::Writer(term).string(std::string_view("TERM"));
  EXPECT_EQ(client_.request(*id, "signal", term), std::optional<bool>(true));
  {
    std::lock_guard lock(seen_->mutex);
    EXPECT_EQ(seen_->signals, std::vector<int>{SIGTERM});
  }
  starter_->deliver();
  ASSERT_TRUE(client_.wait_closed(*id));
  ASSERT_TRUE(client_.channel(*id).exit_signal);
  EXPECT_EQ(client_.channel(*id).exit_signal->name, "TERM");
}

TEST_F(ChannelSeams, ForwardingSocketsAreTheOpeners) {
  auto id = client_.open("direct-tcpip", connection::encode(connection::TcpipOpen{"seam.invalid", 4242, "127.0.0.1", 1}));
  ASSERT_TRUE(id);
  ASSERT_TRUE(client_.wait_open(*id)) << "the opener's socket, not a lookup of seam.invalid";
  UniqueFd accepted(::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_GE(accepted.get(), 0);
  Bytes forward;
  wire::Writer(forward).string(std::string_view("seam.invalid")).uint32(0);
  client_.channels().global_request("tcpip-forward", true, forward);
  ASSERT_TRUE(client_.pump_until([&] { return !client_.global_replies.empty(); }));
  EXPECT_TRUE(client_.global_replies[0]) << "the opener's listener, though seam.invalid is no IP address";
  std::lock_guard lock(seen_->mutex);
  EXPECT_EQ(seen_->forwards, (std::vector<std::string>{"connect seam.invalid:4242", "listen seam.invalid:0"}));
}

}  // namespace
}  // namespace parley

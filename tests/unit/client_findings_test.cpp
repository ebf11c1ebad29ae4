// The client against servers that break the rules after authentication or
// around it (issue 11, item 4, the client's findings): each case is a scripted
// server, either in memory (the transport core in the server role, driven
// here) or over loopback for `driver::run_session`, so the server can send
// what no real server would.
//   - SERVICE_ACCEPT naming another service than "ssh-userauth" is refused;
//   - PK_OK for a key the client did not offer is refused, nothing is signed;
//   - a CHANNEL_OPEN from the server gets OPEN_FAILURE (administratively prohibited);
//   - an exit-signal name and message and a channel-open failure text reach
//     the user only sanitised, like every other server text.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include "parley/userauth/client_auth.hpp"
#include "parley/session/client_connection.hpp"
#include "parley/connection/session.hpp"
#include "parley/driver/client_session.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley::test {
namespace {

using namespace std::chrono_literals;
namespace session = parley::session;
namespace userauth = parley::userauth;
namespace connection = parley::connection;

// Message numbers as RFC 4254 §9 and RFC 4253 §12 give them.
constexpr std::uint8_t service_accept = 6;
constexpr std::uint8_t userauth_request = 50;
constexpr std::uint8_t userauth_success = 52;
constexpr std::uint8_t channel_open = 90;
constexpr std::uint8_t channel_open_confirmation = 91;
constexpr std::uint8_t channel_open_failure = 92;
constexpr std::uint8_t channel_eof = 96;
constexpr std::uint8_t channel_close = 97;
constexpr std::uint8_t channel_request = 98;
constexpr std::uint8_t channel_success = 99;

bool has_escape_or_control(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

std::shared_ptr<const transport::TransportConfig> client_config() {
  auto [client, server] = default_configs();
  return std::make_shared<transport::TransportConfig>(client);
}

transport::TransportConfig server_config() {
  auto [client, server] = default_configs();
  server.role = transport::Role::server;
  return server;
}

// ---- SERVICE_ACCEPT

TEST(ClientConnection, ServiceAcceptForAnotherServiceIsRefused) {
  crypto::DeterministicRandom client_rng(1), server_rng(2);
  const auto now = test_epoch();
  auto aconfig = std::make_shared<userauth::ClientAuthConfig>();
  aconfig->user = "u";
  session::ClientConnection conn(client_config(), aconfig, "host", 22, client_rng, now);
  transport::Transport server(server_config(), server_rng, now);
  bool injected = false;
  for (int round = 0; round < 50; ++round) {
    Bytes c2s, s2c;
    conn.take_output(c2s);
    if (!c2s.empty()) server.receive(c2s, now);
    while (server.poll_event()) {
    }
    // As soon as the server has its new keys out, it "accepts" a service nobody
    // asked for, ahead of the client's request for ssh-userauth.
    if (!injected && server.session_id()) {
      Bytes accept;
      wire::Writer(accept).byte(service_accept).string(std::string_view("ssh-connection"));
      server.send(accept);
      injected = true;
    }
    server.take_output(s2c);
    if (!s2c.empty()) conn.receive(s2c, now);
    if (c2s.empty() && s2c.empty()) break;
  }
  ASSERT_TRUE(injected) << "the key exchange did not complete";
  EXPECT_TRUE(conn.closed()) << "a SERVICE_ACCEPT for \"ssh-connection\" must end the connection";
  ASSERT_TRUE(conn.disconnected().has_value());
  EXPECT_EQ(conn.disconnected()->reason, transport::DisconnectReason::protocol_error);
  EXPECT_FALSE(conn.auth_result().has_value()) << "authentication never started";
}

// ---- PK_OK

TEST(ClientAuth, PkOkForAnotherKeyIsRefused) {
  crypto::SystemRandom rng;
  const auto offered = crypto::PrivateKey::generate_ed25519(rng);
  const auto other = crypto::PrivateKey::generate_ed25519(rng);
  auto config = std::make_shared<userauth::ClientAuthConfig>();
  config->user = "u";
  config->keys.push_back(offered);
  config->keys.push_back(other);
  userauth::ClientAuth core(config, userauth::HostIdentity{"host", 22, "ssh-ed25519", "SHA256:x"});
  core.start(to_bytes("0123456789abcdef0123456789abcdef"));
  ASSERT_EQ(core.take_messages().size(), 1u);  // "none"
  Bytes failure;
  wire::Writer(failure).byte(51).string(std::string_view("publickey")).boolean(false);
  core.handle(failure);
  auto query = core.take_messages();
  ASSERT_EQ(query.size(), 1u);
  // PK_OK naming the second key, which was never offered (only the first was).
  Bytes pk_ok;
  wire::Writer(pk_ok)
      .byte(60)
      .string(std::string_view("ssh-ed25519"))
      .string(BytesView(other.public_key().blob()));
  core.handle(pk_ok);
  for (const Bytes& m : core.take_messages()) {
    wire::Reader r(m);
    if (r.byte() != userauth_request) continue;
    r.text();
    r.text();
    if (r.text() != "publickey") continue;
    EXPECT_FALSE(r.boolean()) << "nothing may be signed on a PK_OK for another key";
  }
  ASSERT_TRUE(core.result().has_value()) << "a PK_OK for a key not offered ends authentication";
  const auto* failed = std::get_if<userauth::ClientAuthFailed>(&*core.result());
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->disconnect, transport::DisconnectReason::protocol_error);
}

TEST(ClientAuth, PkOkForTheOfferedKeyIsSigned) {
  // The same exchange with the right key: the check does not refuse honest servers.
  crypto::SystemRandom rng;
  const auto offered = crypto::PrivateKey::generate_ed25519(rng);
  auto config = std::make_shared<userauth::ClientAuthConfig>();
  config->user = "u";
  config->keys.push_back(offered);
  userauth::ClientAuth core(config, userauth::HostIdentity{"host", 22, "ssh-ed25519", "SHA256:x"});
  core.start(to_bytes("0123456789abcdef0123456789abcdef"));
  core.take_messages();
  Bytes failure;
  wire::Writer(failure).byte(51).string(std::string_view("publickey")).boolean(false);
  core.handle(failure);
  ASSERT_EQ(core.take_messages().size(), 1u);
  Bytes pk_ok;
  wire::Writer(pk_ok)
      .byte(60)
      .string(std::string_view("ssh-ed25519"))
      .string(BytesView(offered.public_key().blob()));
  core.handle(pk_ok);
  auto out = core.take_messages();
  ASSERT_EQ(out.size(), 1u);
  wire::Reader r(out[0]);
  EXPECT_EQ(r.byte(), userauth_request);
  r.text();
  r.text();
  EXPECT_EQ(r.text(), "publickey");
  EXPECT_TRUE(r.boolean()) << "the signed request follows";
  EXPECT_FALSE(core.result().has_value());
}

// ---- A scripted server over loopback, for run_session

/// One connection on 127.0.0.1: the transport core as the server, every
/// userauth request answered with SUCCESS, and every connection message handed
/// to `script` (which sends through the transport).
class ScriptedServer {
 public:
  using Script = std::function<void(BytesView message, transport::Transport& t)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::listen(listener_, 1) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }
  /// Every connection message the client sent, in order.
  std::vector<Bytes> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  void run() {
    pollfd p{listener_, POLLIN, 0};
    while (!stop_ && ::poll(&p, 1, 50) <= 0) {
    }
    if (stop_) return;
    const int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    crypto::SystemRandom rng;
    transport::Transport t(server_config(), rng, transport::Clock::now());
    Bytes buf(65536);
    while (!stop_ && !t.closed()) {
      Bytes out;
      t.take_output(out);
      for (std::size_t off = 0; off < out.size();) {
        const ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      pollfd q{fd, POLLIN, 0};
      if (::poll(&q, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) {
        t.peer_closed(transport::Clock::now());
        break;
      }
      t.receive(BytesView(buf.data(), static_cast<std::size_t>(n)), transport::Clock::now());
      while (auto e = t.poll_event()) {
        auto* m = std::get_if<transport::Message>(&*e);
        if (m == nullptr) continue;
        if (m->payload[0] == userauth_request) {
          t.send(Bytes{userauth_success});
          continue;
        }
        {
          std::lock_guard lock(mutex_);
          received_.push_back(m->payload);
        }
        script_(m->payload, t);
      }
    }
    Bytes out;
    t.take_output(out);
    (void)!::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    ::close(fd);
  }

  Script script_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<Bytes> received_;
};

/// The client's channel number in a CHANNEL_OPEN (its sender channel).
std::uint32_t sender_channel(BytesView open) {
  wire::Reader r(open);
  r.byte();
  r.text();
  return r.uint32();
}

/// Confirms the client's session channel as channel 0 on our side.
void confirm(BytesView open, transport::Transport& t) {
  Bytes m;
  wire::Writer(m)
      .byte(channel_open_confirmation)
      .uint32(sender_channel(open))
      .uint32(0)
      .uint32(2 * 1024 * 1024)
      .uint32(32 * 1024);
  t.send(m);
}

/// A CHANNEL_REQUEST `type` to the client's channel `id`, without reply.
void request(transport::Transport& t, std::uint32_t id, std::string_view type, BytesView data) {
  Bytes m;
  wire::Writer(m).byte(channel_request).uint32(id).string(type).boolean(false);
  m.insert(m.end(), data.begin(), data.end());
  t.send(m);
}

/// What run_session gives back for a client with stdin at EOF and stdout in a pipe.
struct SessionRun {
  driver::ClientSessionResult result;
  std::string out;
};

SessionRun run_session_against(std::uint16_t port) {
  crypto::SystemRandom rng;
  auto aconfig = std::make_shared<userauth::ClientAuthConfig>();
  aconfig->user = "u";
  session::ClientConnection conn(client_config(), aconfig, "127.0.0.1", port, rng,
                              transport::Clock::now());
  int out[2];
  EXPECT_EQ(::pipe(out), 0);
  const int null_in = ::open("/dev/null", O_RDONLY);
  driver::ClientSessionOptions options;
  options.command = "true";
  options.stdin_fd = null_in;
  options.stdout_fd = out[1];
  options.stderr_fd = out[1];
  SessionRun r;
  r.result = driver::run_session("127.0.0.1", port, conn, options, 10s);
  ::close(out[1]);
  ::close(null_in);
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
    r.out.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  return r;
}

const std::string hostile = "\x1b]0;owned\x07KILL\x1b[2J\x1b[31m\r\nparley$ ";

TEST(ClientSession, ExitSignalNameIsSanitised) {
  ScriptedServer server([](BytesView m, transport::Transport& t) {
    if (m[0] == channel_open) return confirm(m, t);
    if (m[0] == channel_request) {
      wire::Reader r(m);
      r.byte();
      const std::uint32_t id = 0;  // the client's first channel
      if (r.uint32() != id || r.text() != "exec") return;
      t.send(Bytes{channel_success, 0, 0, 0, 0});
      request(t, id, "exit-signal",
              connection::encode(connection::ExitSignal{hostile, false, hostile}));
      t.send(Bytes{channel_eof, 0, 0, 0, 0});
      t.send(Bytes{channel_close, 0, 0, 0, 0});
    }
  });
  auto r = run_session_against(server.port());
  ASSERT_TRUE(r.result.exit_signal.has_value()) << r.result.error;
  EXPECT_FALSE(has_escape_or_control(r.result.exit_signal->name)) << r.result.exit_signal->name;
  EXPECT_NE(r.result.exit_signal->name.find("KILL"), std::string::npos)
      << "the printable part stays";
  EXPECT_FALSE(has_escape_or_control(r.result.exit_signal->message));
}

TEST(ClientSession, ChannelOpenFailureTextIsSanitised) {
  ScriptedServer server([](BytesView m, transport::Transport& t) {
    if (m[0] != channel_open) return;
    Bytes f;
    wire::Writer(f)
        .byte(channel_open_failure)
        .uint32(sender_channel(m))
        .uint32(1)
        .string(std::string_view(hostile))
        .string(std::string_view(""));
    t.send(f);
  });
  auto r = run_session_against(server.port());
  ASSERT_NE(r.result.error.find("channel open failed"), std::string::npos) << r.result.error;
  EXPECT_FALSE(has_escape_or_control(r.result.error)) << r.result.error;
}

TEST(ClientConnection, ChannelOpenFromTheServerIsRefused) {
  ScriptedServer server([](BytesView m, transport::Transport& t) {
    if (m[0] == channel_open) return confirm(m, t);
    if (m[0] == channel_request) {
      wire::Reader r(m);
      r.byte();
      r.uint32();
      if (r.text() != "exec") return;
      t.send(Bytes{channel_success, 0, 0, 0, 0});
      // The server opens a channel of its own: an X11 channel nobody asked for.
      Bytes open;
      wire::Writer(open)
          .byte(channel_open)
          .string(std::string_view("x11"))
          .uint32(7)
          .uint32(2 * 1024 * 1024)
          .uint32(32 * 1024)
          .string(std::string_view("127.0.0.1"))
          .uint32(6000);
      t.send(open);
      // Then the session ends; the client answers the open before it sees this
      // (it handles messages in order), so the answer is among what it sends.
      request(t, 0, "exit-status", connection::encode(connection::ExitStatus{0}));
      t.send(Bytes{channel_eof, 0, 0, 0, 0});
      t.send(Bytes{channel_close, 0, 0, 0, 0});
    }
  });
  auto r = run_session_against(server.port());
  std::optional<Bytes> answer;
  for (const Bytes& m : server.received())
    if (m[0] == channel_open_failure || m[0] == channel_open_confirmation) answer = m;
  ASSERT_TRUE(answer.has_value()) << "the server's CHANNEL_OPEN got no answer (" << r.result.error
                                  << ")";
  wire::Reader a(*answer);
  EXPECT_EQ(a.byte(), channel_open_failure) << "refused, never confirmed";
  EXPECT_EQ(a.uint32(), 7u) << "to the server's channel number";
  EXPECT_EQ(a.uint32(),
            static_cast<std::uint32_t>(connection::OpenFailure::administratively_prohibited));
  EXPECT_EQ(r.result.exit_status, std::optional<std::uint32_t>(0u)) << "the session itself went on";
}

}  // namespace
}  // namespace parley::test

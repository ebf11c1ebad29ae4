// Hostile input over real sockets against one in-process server (the Asio
// driver): each case ends its own connection with the right disconnect reason
// while an established connection to the same server keeps working.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "parley/driver/server.hpp"
#include "parley/transport/endpoint.hpp"
#include "parley/transport/packet.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;
using transport::DisconnectReason;

/// A blocking TCP connection to 127.0.0.1 with poll()-based timeouts.
class Socket {
 public:
  explicit Socket(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  void send_all(BytesView b) {
    std::size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may already have closed: that is what some tests expect
      off += static_cast<std::size_t>(n);
    }
  }
  void send_all(std::string_view s) { send_all(as_bytes(s)); }
  /// Bytes available within `timeout`; sets eof() when the peer closed.
  Bytes read_some(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
    Bytes buf(65536);
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n <= 0) {
      eof_ = true;
      return {};
    }
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
  /// Everything until the peer closes, or until `timeout` (then eof() is false).
  Bytes read_to_eof(std::chrono::milliseconds timeout) {
    Bytes all;
    auto end = std::chrono::steady_clock::now() + timeout;
    while (!eof_ && std::chrono::steady_clock::now() < end) {
      Bytes b = read_some(100ms);
      all.insert(all.end(), b.begin(), b.end());
    }
    return all;
  }
  bool eof() const { return eof_; }

 private:
  int fd_ = -1;
  bool eof_ = false;
};



/// A client Transport pumped over a Socket.
struct SocketClient {
  crypto::SystemRandom rng;
  transport::Transport client;
  Socket socket;
  std::vector<transport::Event> events;

  SocketClient(std::uint16_t port, transport::TransportConfig config)
      : client(with_client_role(std::move(config)), rng, transport::Clock::now()), socket(port) {}
  static transport::TransportConfig with_client_role(transport::TransportConfig c) {
    c.role = transport::Role::client;
    return c;
  }
  template <class Pred>
  bool pump_until(Pred done, std::chrono::milliseconds timeout = 10s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      Bytes out;
      client.take_output(out);
      if (!out.empty()) socket.send_all(out);
      while (auto e = client.poll_event()) events.push_back(std::move(*e));
      if (done()) return true;
      if (client.closed() || socket.eof()) return false;
      Bytes in = socket.read_some(50ms);
      if (!in.empty()) client.receive(in, transport::Clock::now());
      if (socket.eof()) client.peer_closed(transport::Clock::now());
    }
    return false;
  }
  template <class T>
  std::size_t count() const {
    return test::TransportPair::of_type<T>(events).size();
  }
};

class HostileSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [client, server] = test::default_configs();
    client_config_ = client;
    server.ident_timeout = 2s;  // short, so "a peer that sends nothing" ends quickly
    server.kex_timeout = 4s;
    driver::ServerOptions options;
    options.port = 0;
    options.threads = 2;
    server_ = std::make_unique<driver::Server>(
        options, [server, this](const driver::PeerInfo&, transport::Instant now) {
          // An echo service above the transport: proves the good connection still works.
          return std::make_unique<transport::TransportEndpoint>(
              server, rng_, now, [](transport::Transport& t, transport::Event& e) {
                if (auto* m = std::get_if<transport::Message>(&e)) t.send(m->payload);
              });
        });
    auto started = server_->start();
    ASSERT_TRUE(started.has_value()) << started.error();
    port_ = server_->port();

    good_ = std::make_unique<SocketClient>(port_, client_config_);
    ASSERT_TRUE(good_->socket.ok());
    good_->client.request_service("ssh-userauth");
    ASSERT_TRUE(good_->pump_until([&] { return good_->count<transport::ServiceAccepted>() == 1; }));
  }

  void TearDown() override {
    // The established connection still works: an echoed message comes back.
    Bytes msg{94, 0xde, 0xad, 0xbe, 0xef};
    good_->client.send(msg);
    ASSERT_TRUE(good_->pump_until([&] { return good_->count<transport::Message>() == 1; }))
        << "the good connection stopped working";
    auto echoed = test::TransportPair::of_type<transport::Message>(good_->events);
    EXPECT_EQ(echoed[0].payload, msg);
    good_.reset();
    server_->stop();
  }

  /// Sends `bytes` on a new connection; returns everything the server sent until it closed.
  Bytes attack(BytesView bytes, std::chrono::milliseconds wait = 5s) {
    Socket s(port_);
    EXPECT_TRUE(s.ok());
    s.send_all(bytes);
    Bytes got = s.read_to_eof(wait);
    EXPECT_TRUE(s.eof()) << "the server did not close the hostile connection";
    return got;
  }

  static Bytes ident_then(std::initializer_list<BytesView> packets) {
    Bytes out = to_bytes("SSH-2.0-hostile\r\n");
    for (auto p : packets) out.insert(out.end(), p.begin(), p.end());
    return out;
  }

  crypto::SystemRandom rng_;
  transport::TransportConfig client_config_;
  std::unique_ptr<driver::Server> server_;
  std::uint16_t port_ = 0;
  std::unique_ptr<SocketClient> good_;
};


TEST_F(HostileSocket, TruncatedPacket) {
  Socket s(port_);
  Bytes kexinit = test::plain_packet(test::client_kexinit(true));
  s.send_all(ident_then({BytesView(kexinit).first(kexinit.size() / 2)}));
  s.read_some(500ms);  // our identification and KEXINIT
  s.read_some(200ms);
  EXPECT_FALSE(s.eof());  // the server waits for the rest of the packet
  s.shutdown_write();     // then the peer goes away mid-packet
  s.read_to_eof(5s);
  EXPECT_TRUE(s.eof());
}

TEST_F(HostileSocket, LengthOver256KiB) {
  Bytes p;
  wire::Writer(p).uint32(256 * 1024 + 4).byte(4);
  Bytes got = attack(ident_then({p}));
  EXPECT_EQ(test::plaintext_disconnect_reason(got), static_cast<std::uint32_t>(DisconnectReason::protocol_error));
}

TEST_F(HostileSocket, LengthNotMultipleOfBlockSize) {
  Bytes p;
  wire::Writer(p).uint32(13).byte(4);
  p.resize(17, 0);
  Bytes got = attack(ident_then({p}));
  EXPECT_EQ(test::plaintext_disconnect_reason(got), static_cast<std::uint32_t>(DisconnectReason::protocol_error));
}

TEST_F(HostileSocket, BadPadding) {
  Bytes p;
  wire::Writer(p).uint32(12).byte(2);
  p.resize(16, 0x14);
  Bytes got = attack(ident_then({p}));
  EXPECT_EQ(test::plaintext_disconnect_reason(got), static_cast<std::uint32_t>(DisconnectReason::protocol_error));
}

TEST_F(HostileSocket, BadMac) {
  // A real client completes key exchange, then sends a packet with a corrupted tag.
  SocketClient bad(port_, client_config_);
  ASSERT_TRUE(bad.pump_until([&] { return bad.count<transport::KexDone>() == 1; }));
  Bytes msg{94, 1, 2, 3};
  bad.client.send(msg);
  Bytes wire_bytes;
  bad.client.take_output(wire_bytes);
  wire_bytes.back() ^= 1;
  bad.socket.send_all(wire_bytes);
  // The server answers with an encrypted DISCONNECT the client can read.
  ASSERT_TRUE(bad.pump_until([&] { return bad.count<transport::Disconnected>() == 1; }));
  auto d = test::TransportPair::of_type<transport::Disconnected>(bad.events);
  EXPECT_EQ(d[0].error, transport::TransportError::peer_disconnected);
  EXPECT_EQ(d[0].reason, DisconnectReason::mac_error);
}

TEST_F(HostileSocket, NonKexMessageDuringKex) {
  Bytes req;
  wire::Writer(req).byte(50).string(std::string_view("root")).string(std::string_view("ssh-connection")).string(std::string_view("none"));
  Bytes got = attack(ident_then({test::plain_packet(test::client_kexinit(false)), test::plain_packet(req)}));
  EXPECT_EQ(test::plaintext_disconnect_reason(got), static_cast<std::uint32_t>(DisconnectReason::protocol_error));
}

TEST_F(HostileSocket, StrictKexIgnoreBeforeKexinit) {
  Bytes ignore;
  wire::Writer(ignore).byte(transport::msg::ignore).string(std::string_view("terrapin"));
  Bytes got = attack(ident_then({test::plain_packet(ignore), test::plain_packet(test::client_kexinit(true))}));
  EXPECT_EQ(test::plaintext_disconnect_reason(got), static_cast<std::uint32_t>(DisconnectReason::protocol_error));
}

TEST_F(HostileSocket, IdentificationLineOf300Bytes) {
  std::string line = "SSH-2.0-" + std::string(290, 'a') + "\r\n";
  Bytes got = attack(as_bytes(line));
  // Only our identification and KEXINIT came back: no binary DISCONNECT to a
  // peer that never spoke SSH, as OpenSSH.
  EXPECT_EQ(as_chars(got).substr(0, 8), "SSH-2.0-");
  EXPECT_FALSE(test::plaintext_disconnect_reason(got).has_value());
}

TEST_F(HostileSocket, ThousandPreVersionLines) {
  std::string lines;
  for (int i = 0; i < 1000; ++i) lines += "line " + std::to_string(i) + "\r\n";
  Bytes got = attack(as_bytes(lines));
  EXPECT_EQ(as_chars(got).substr(0, 8), "SSH-2.0-");
}

TEST_F(HostileSocket, PeerThatSendsNothing) {
  auto start = std::chrono::steady_clock::now();
  Bytes got = attack({}, 6s);  // ident_timeout is 2 s in this fixture
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 1500ms);
  EXPECT_EQ(as_chars(got).substr(0, 8), "SSH-2.0-");
}

}  // namespace
}  // namespace parley

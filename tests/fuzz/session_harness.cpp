// See session_harness.hpp.
#include "session_harness.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "parley/session/server_connection.hpp"
#include "parley/connection/channel_handler.hpp"
#include "parley/connection/channels.hpp"
#include "parley/connection/command_shell.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/transport/messages.hpp"
#include "parley/transport/transport.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::fuzz {
namespace {

using transport::Instant;

// RFC 4256 §3.2, §3.4 (not in transport::msg: they belong to userauth).
constexpr std::uint8_t userauth_info_request = 60;
constexpr std::uint8_t userauth_info_response = 61;
constexpr std::uint8_t last_userauth_message = 79;

constexpr std::string_view service_connection = "ssh-connection";
/// Rounds of moving bytes both ways after one record before the harness moves on:
/// a record causes a few replies, never more than a few dozen round trips.
constexpr int max_pump_rounds = 64;

const crypto::PrivateKey& host_key() {
  static const crypto::PrivateKey key = [] {
    crypto::DeterministicRandom rng(1);
    return crypto::PrivateKey::generate_ed25519(rng);
  }();
  return key;
}

const crypto::PrivateKey& user_key() {
  static const crypto::PrivateKey key = [] {
    crypto::DeterministicRandom rng(3);
    return crypto::PrivateKey::generate_ed25519(rng);
  }();
  return key;
}

/// One cheap key exchange, so the fuzzer's time goes to what follows it.
transport::AlgorithmPreferences algorithms() {
  transport::AlgorithmPreferences a;
  a.kex = {transport::KexAlg::curve25519_sha256};
  a.host_key = {crypto::SignatureAlg::ssh_ed25519};
  return a;
}

std::shared_ptr<const transport::TransportConfig> server_transport_config() {
  static const auto config = [] {
    auto c = std::make_shared<transport::TransportConfig>();
    c->role = transport::Role::server;
    c->algorithms = algorithms();
    c->host_keys.push_back(host_key());
    return c;
  }();
  return config;
}

const transport::TransportConfig& client_transport_config() {
  static const transport::TransportConfig config = [] {
    transport::TransportConfig c;
    c.role = transport::Role::client;
    c.algorithms = algorithms();
    c.verify_host_key = [](const crypto::PublicKey& key) { return key == host_key().public_key(); };
    return c;
  }();
  return config;
}

std::shared_ptr<const userauth::ServerAuthConfig> auth_config() {
  static const auto config = [] {
    auto c = std::make_shared<userauth::ServerAuthConfig>();
    c->password = std::make_shared<const userauth::PasswordVerifier>(
        [](std::string_view user, const crypto::SecretBytes& password) {
          return user == fuzz_user && userauth::answer_text(password) == fuzz_password;
        });
    c->authorized_keys = [](std::string_view user) {
      return user == fuzz_user ? std::vector<crypto::PublicKey>{user_key().public_key()}
                               : std::vector<crypto::PublicKey>{};
    };
    c->look_up_user = [](std::string_view user) {
      return userauth::UserVerdict{user == fuzz_user, {}};
    };
    c->banner = "fuzz banner\r\n";
    return c;
  }();
  return config;
}

std::shared_ptr<const session::ChannelPolicy> channel_policy() {
  static const auto policy = [] {
    auto p = std::make_shared<session::ChannelPolicy>();
    p->allow_local_forwarding = true;
    p->allow_remote_forwarding = true;
    p->permit_open = {"localhost:*", "127.0.0.1:7"};
    return p;
  }();
  return policy;
}

/// A direct-tcpip stream that writes back what it receives (what the window allows).
class EchoStream final : public connection::ChannelHandler {
 public:
  bool attach(connection::ChannelIo& io) override {
    io_ = &io;
    return true;
  }
  void on_data(BytesView data) override {
    io_->write(data);
    io_->consumed(data.size());
  }
  void on_eof() override {
    io_->eof();
    io_->close();
  }

 private:
  connection::ChannelIo* io_ = nullptr;
};

/// A tcpip-forward listener that never accepts a connection.
class IdleListener final : public connection::Listener {
 public:
  explicit IdleListener(std::uint16_t port) : port_(port) {}
  std::uint16_t port() const override { return port_; }

 private:
  std::uint16_t port_;
};

/// The world a connection's channels reach, in memory, counting what it is asked for.
class Services final : public connection::ChannelServices {
 public:
  explicit Services(SessionReach& reach) : reach_(reach) {}

  std::unique_ptr<connection::ChannelHandler> session(std::string_view user) override {
    ++reach_.sessions;
    return connection::make_command_shell(std::string(user));
  }
  std::unique_ptr<connection::ChannelHandler> connect(const connection::TcpipOpen&) override {
    ++reach_.tcpip_connects;
    return std::make_unique<EchoStream>();
  }
  std::expected<std::unique_ptr<connection::Listener>, std::string> listen(
      const connection::ForwardRequest& bind, connection::AcceptHandler) override {
    ++reach_.listeners;
    const auto port = static_cast<std::uint16_t>(bind.port == 0 ? 40000 : bind.port);
    return std::make_unique<IdleListener>(port);
  }

 private:
  SessionReach& reach_;
};

Bytes userauth_request(std::string_view method) {
  Bytes p;
  wire::Writer(p)
      .byte(transport::msg::userauth_request)
      .string(fuzz_user)
      .string(service_connection)
      .string(method);
  return p;
}

/// A client connection in memory, both sides on one virtual clock.
class Session {
 public:
  explicit Session(SessionReach& reach)
      : reach_(reach),
        server_(server_transport_config(), auth_config(), server_rng_, "192.0.2.1:50000", now_,
                observer()),
        client_(client_transport_config(), client_rng_, now_) {
    server_.set_channel_services(channel_policy(), std::make_unique<Services>(reach_));
  }

  /// Key exchange, then the "ssh-userauth" service, then `login`.
  void start(Login login, bool open_session) {
    pump();
    if (!client_.session_id()) return;
    reach_.key_exchange = true;
    client_.request_service("ssh-userauth");
    pump();
    switch (login) {
      case Login::none: return;
      case Login::password: {
        Bytes p = userauth_request("password");
        wire::Writer(p).boolean(false).string(fuzz_password);
        client_.send_secret(p);
        break;
      }
      case Login::keyboard_interactive: {
        Bytes p = userauth_request("keyboard-interactive");
        wire::Writer(p).string(std::string_view()).string(std::string_view());
        answer_prompt_ = true;
        client_.send(p);
        break;
      }
      case Login::publickey: client_.send(signed_publickey_request()); break;
    }
    pump();
    answer_prompt_ = false;
    if (open_session) {
      Bytes p;
      wire::Writer(p)
          .byte(connection::msg_channel_open)
          .string(std::string_view("session"))
          .uint32(0)
          .uint32(2 * 1024 * 1024)
          .uint32(32 * 1024);
      send(p);
    }
  }

  /// One record: a message from the client, or (empty) time passing.
  void send(BytesView payload) {
    if (payload.empty()) {
      now_ += std::chrono::seconds(100);
    } else {
      client_.send(payload);
      now_ += std::chrono::seconds(1);
    }
    pump();
  }

  bool over() const { return server_.closed() || client_.closed(); }

  void finish() {
    now_ += std::chrono::seconds(200);
    server_.on_time(now_);
    server_.peer_closed(now_);
    pump();
  }

 private:
  session::ConnectionObserver observer() {
    session::ConnectionObserver o;
    o.on_auth = [this](const userauth::AuthEvent& e) {
      if (std::holds_alternative<userauth::AuditRecord>(e)) ++reach_.audit_records;
      if (std::holds_alternative<userauth::Authenticated>(e)) reach_.authenticated = true;
    };
    o.on_transport = [this](const transport::Event& e) {
      if (std::holds_alternative<transport::Disconnected>(e)) reach_.disconnected = true;
    };
    o.on_channel = [this](std::string_view) { ++reach_.channel_notes; };
    return o;
  }

  /// RFC 4252 §7: a publickey request signed over the session id.
  Bytes signed_publickey_request() {
    const auto alg = crypto::SignatureAlg::ssh_ed25519;
    Bytes body;
    wire::Writer(body)
        .string(fuzz_user)
        .string(service_connection)
        .string(std::string_view("publickey"))
        .boolean(true)
        .string(crypto::name(alg))
        .string(user_key().public_key().blob());
    Bytes signed_data;
    wire::Writer(signed_data).string(*client_.session_id()).byte(transport::msg::userauth_request).raw(body);
    Bytes p;
    wire::Writer(p).byte(transport::msg::userauth_request).raw(body).string(user_key().sign(alg, signed_data));
    return p;
  }

  /// Moves bytes both ways until both sides are quiet, firing due timers.
  void pump() {
    for (int round = 0; round < max_pump_rounds; ++round) {
      if (auto due = server_.next_deadline(); due && *due <= now_) server_.on_time(now_);
      if (auto due = client_.next_deadline(); due && *due <= now_) client_.on_time(now_);
      Bytes c2s, s2c;
      client_.take_output(c2s);
      server_.take_output(s2c);
      if (!s2c.empty()) server_.on_output_written(now_);
      if (c2s.empty() && s2c.empty()) return;
      if (!c2s.empty()) server_.receive(c2s, now_);
      if (!s2c.empty()) client_.receive(s2c, now_);
      while (auto e = client_.poll_event())
        if (auto* m = std::get_if<transport::Message>(&*e)) client_message(m->payload);
    }
  }

  void client_message(const Bytes& payload) {
    const std::uint8_t id = payload.at(0);
    if (id >= transport::msg::userauth_request && id <= last_userauth_message) ++reach_.userauth_replies;
    switch (id) {
      case connection::msg_channel_open_confirmation: ++reach_.open_confirmations; break;
      case connection::msg_channel_success:
      case connection::msg_channel_failure: ++reach_.channel_replies; break;
      case connection::msg_channel_data:
      case connection::msg_channel_extended_data: ++reach_.channel_data; break;
      default: break;
    }
    if (id == userauth_info_request && answer_prompt_) {
      // The "Password: " round: one answer.
      Bytes p;
      wire::Writer(p).byte(userauth_info_response).uint32(1).string(fuzz_password);
      client_.send_secret(p);
    }
  }

  SessionReach& reach_;
  crypto::DeterministicRandom server_rng_{2};
  crypto::DeterministicRandom client_rng_{4};
  Instant now_ = Instant{} + std::chrono::hours(1000);
  session::ServerConnection server_;
  transport::Transport client_;
  bool answer_prompt_ = false;
};

}  // namespace

SessionReach run_session(BytesView input) {
  SessionReach reach;
  if (input.empty()) return reach;
  const std::uint8_t control = input[0];
  Session session(reach);
  session.start(static_cast<Login>(control & 3), (control & 4) != 0);
  wire::Reader records(input.subspan(1));
  while (!session.over() && records.remaining() >= 2) {
    const std::size_t high = records.byte();
    const std::size_t length = high << 8 | records.byte();
    session.send(records.raw(std::min(length, records.remaining())));
  }
  session.finish();
  return reach;
}

Bytes session_input(Login login, bool open_session, const std::vector<Bytes>& payloads) {
  Bytes out;
  wire::Writer w(out);
  w.byte(static_cast<std::uint8_t>(static_cast<std::uint8_t>(login) | (open_session ? 4 : 0)));
  for (const Bytes& p : payloads)
    w.byte(static_cast<std::uint8_t>(p.size() >> 8)).byte(static_cast<std::uint8_t>(p.size())).raw(p);
  return out;
}

}  // namespace parley::fuzz

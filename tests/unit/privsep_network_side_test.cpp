// The proof in memory of issue 14's seams: a real client core
// (session::ClientConnection) logs in to a ServerConnection in delegated mode
// whose every question goes, as an encoded frame, to a real privsep::Monitor
// and whose answers come back decoded through privsep::NetworkSide. The
// network side holds only the host's public key; the monitor holds the private
// key and the authentication configuration.
#include "parley/privsep/network_side.hpp"

#include <gtest/gtest.h>

#include <cctype>

#include "parley/privsep/monitor.hpp"
#include "parley/session/client_connection.hpp"
#include "parley/userauth/higher_or_lower.hpp"
#include "transport_pair.hpp"

namespace parley::privsep {
namespace {

using namespace std::chrono_literals;

crypto::SecretBytes secret(std::string_view s) {
  return crypto::SecretBytes(BytesView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

/// The monitor's secrets and policy: an Ed25519 host key and a configuration
/// the test sets (a password, a keyboard-interactive provider, a user key).
class TestBackend final : public Backend {
 public:
  TestBackend() : host_key_{crypto::PrivateKey::generate_ed25519(rng_)} {
    config = std::make_shared<userauth::ServerAuthConfig>();
    config->limits.failure_delay = 0ms;
  }
  const std::vector<crypto::PrivateKey>& host_keys() const override { return host_key_; }
  std::string_view server_version() const override { return "SSH-2.0-parley_0.1"; }
  std::shared_ptr<const userauth::ServerAuthConfig> auth_config(std::string_view, std::uint16_t) override {
    return config;
  }
  crypto::PublicKey host_public_key() const { return host_key_[0].public_key(); }

  crypto::DeterministicRandom rng_{21};
  std::shared_ptr<userauth::ServerAuthConfig> config;

 private:
  std::vector<crypto::PrivateKey> host_key_;
};

/// A session handler that accepts the channel and any start request.
class AcceptingSession final : public connection::ChannelHandler {
 public:
  bool attach(connection::ChannelIo&) override { return true; }
  void on_data(BytesView) override {}
  bool on_start(const connection::StartRequest&) override { return true; }
};

class SessionsOnly final : public connection::ChannelServices {
 public:
  explicit SessionsOnly(std::vector<std::string>& users) : users_(users) {}
  std::unique_ptr<connection::ChannelHandler> session(std::string_view user) override {
    users_.emplace_back(user);
    return std::make_unique<AcceptingSession>();
  }
  std::unique_ptr<connection::ChannelHandler> connect(const connection::TcpipOpen&) override { return nullptr; }
  std::expected<std::unique_ptr<connection::Listener>, std::string> listen(
      const connection::ForwardRequest&, connection::AcceptHandler) override {
    return std::unexpected("no");
  }

 private:
  std::vector<std::string>& users_;
};

/// One connection: the client core, the network side's ServerConnection and its
/// NetworkSide, with every frame between NetworkSide and Monitor encoded and decoded.
struct Login {
  crypto::DeterministicRandom client_rng{31}, server_rng{32};
  transport::Instant now = test::test_epoch();
  NetworkSide side;
  std::unique_ptr<session::ServerConnection> server;
  std::unique_ptr<session::ClientConnection> client;
  std::vector<std::string> session_users;
  bool session_open = false;

  Login(std::uint64_t conn, const crypto::PublicKey& host, std::shared_ptr<userauth::ClientAuthConfig> auth)
      : side(conn, "192.0.2.7", 40000) {
    auto tconfig = std::make_shared<transport::TransportConfig>();
    tconfig->role = transport::Role::server;
    tconfig->host_public_keys = {host};
    EXPECT_TRUE(tconfig->host_keys.empty()) << "the network side must hold no host private key";
    server = std::make_unique<session::ServerConnection>(tconfig, side.delegates(), server_rng, now);
    side.attach(server.get());
    server->set_channel_services(std::make_shared<session::ChannelPolicy>(),
                                 std::make_unique<SessionsOnly>(session_users));
    auto cconfig = std::make_shared<transport::TransportConfig>();
    cconfig->role = transport::Role::client;
    cconfig->verify_host_key = [host](const crypto::PublicKey& key) { return key == host; };
    client = std::make_unique<session::ClientConnection>(cconfig, std::move(auth), "host", 22, client_rng, now);
    client->on_authenticated = [](session::ClientConnection& c) { c.channels().open("session"); };
    client->on_channel_event = [this](session::ClientConnection&, connection::Event& e) {
      if (std::holds_alternative<connection::OpenConfirmed>(e)) session_open = true;
    };
  }
  ~Login() { side.attach(nullptr); }

  /// Moves bytes between client and server and frames between side and monitor until all are quiet.
  void pump(Monitor& monitor) {
    for (int round = 0; round < 2000; ++round) {
      bool moved = false;
      Bytes c2s, s2c;
      client->on_time(now);
      client->take_output(c2s);
      if (!c2s.empty()) server->receive(c2s, now), moved = true;
      // As the link sends them: the frames taken, then the notices taken with them.
      auto frames = side.take_frames();
      const std::size_t waited_for = frames.size();
      for (auto& notice : side.take_notices()) frames.push_back(std::move(notice));
      for (std::size_t i = 0; i < frames.size(); ++i) {
        auto& frame = frames[i];
        auto f = decode_frame(frame);
        if (f) sent.push_back({f->type, i < waited_for});
        if (f && dropped == f->type) continue;  // lost on the way: the monitor never answers
        monitor.handle(frame, now);
        crypto::secure_wipe(frame.data(), frame.size());
        moved = true;
      }
      monitor.on_time(now);
      for (auto& frame : monitor.take_frames()) {
        auto reply = decode_reply(frame);
        ASSERT_TRUE(reply) << "the monitor's frame does not decode";
        // (Once closed, the monitor's word about the connection goes nowhere.)
        if (!side.on_reply(std::move(*reply), now) && !side_closed) ADD_FAILURE() << "a reply not routed";
        moved = true;
      }
      server->take_output(s2c);
      if (!s2c.empty()) client->receive(s2c, now), moved = true;
      if (server->closed() && !side_closed) side.closed(), side_closed = true, moved = true;
      if (!moved) return;
    }
    FAIL() << "did not settle";
  }
  bool side_closed = false;
  std::optional<MsgType> dropped;  // frames of this type never reach the monitor
  /// Each frame the monitor got, in order, and whether it was a frame (true) or
  /// a notice (false: the link may hold it back to go with the next frame).
  std::vector<std::pair<MsgType, bool>> sent;
};

std::string highest(std::string_view prompt) {
  unsigned best = 0, n = 0;
  bool in_number = false;
  for (char c : prompt) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      n = n * 10 + static_cast<unsigned>(c - '0');
      in_number = true;
    } else if (in_number) {
      best = std::max(best, n);
      n = 0;
      in_number = false;
    }
  }
  return std::to_string(std::max(best, n));
}

struct Fixture : ::testing::Test {
  TestBackend backend;
  crypto::DeterministicRandom monitor_rng{41};
  Monitor monitor{backend, monitor_rng};
  crypto::DeterministicRandom provider_rng{42};

  std::shared_ptr<userauth::ClientAuthConfig> client_auth(std::vector<std::string> methods) {
    auto c = std::make_shared<userauth::ClientAuthConfig>();
    c->user = "alice";
    c->methods = std::move(methods);
    return c;
  }
  void use_password() {
    backend.config->password = std::make_shared<const userauth::PasswordVerifier>(
        [](std::string_view user, const crypto::SecretBytes& pw) { return user == "alice" && pw == secret("s3cret"); });
  }
  static void answer_password(userauth::ClientAuthConfig& c, std::string_view pw) {
    c.on_password_request = [pw = std::string(pw)](const userauth::PasswordRequest&,
                                                   userauth::ReplyTo<userauth::PasswordReply> reply) {
      reply(secret(pw));
    };
  }
  /// A connection whose client logs in with password `pw` (the right one is
  /// "s3cret"), pumped until quiet unless `pump` is false.
  std::unique_ptr<Login> password_login(std::uint64_t conn, std::string_view pw = "s3cret", bool pump = true) {
    use_password();
    auto auth = client_auth({"password"});
    answer_password(*auth, pw);
    auto login = std::make_unique<Login>(conn, backend.host_public_key(), auth);
    if (pump) login->pump(monitor);
    return login;
  }
  void expect_logged_in(Login& login) {
    EXPECT_TRUE(login.client->authenticated());
    EXPECT_TRUE(login.server->authenticated());
    EXPECT_TRUE(login.session_open) << "the session channel did not open";
    EXPECT_EQ(login.session_users, std::vector<std::string>{"alice"});
    EXPECT_FALSE(login.client->closed());
  }
};

TEST_F(Fixture, PasswordLoginThroughTheMonitor) {
  auto owned = password_login(1);
  Login& login = *owned;
  expect_logged_in(login);
  EXPECT_EQ(login.client->host().fingerprint, backend.host_public_key().fingerprint());
  EXPECT_EQ(monitor.connections(), 1u);
  // The monitor made both decisions.
  std::string log;
  for (const auto& e : monitor.take_log()) log += e.text + "\n";
  EXPECT_NE(log.find("signed the exchange hash of a"), std::string::npos) << log;
  EXPECT_NE(log.find("authenticated alice"), std::string::npos) << log;
  EXPECT_EQ(log.find("s3cret"), std::string::npos) << "no secret in the monitor's log";

  login.client->disconnect(transport::DisconnectReason::by_application, "bye");
  login.pump(monitor);
  EXPECT_EQ(monitor.connections(), 0u) << "ConnectionClosed made the monitor forget the connection";
}

TEST_F(Fixture, TheFirstNoneIsAnsweredWithoutWaitingForTheMonitor) {
  // The monitor's KexSigned says what it answers a first "none"; the network
  // side answers it at once and tells the monitor with the next frame: the
  // login costs one wait on the monitor less, and the monitor's state is as if asked.
  backend.config->banner = "Authorized use only\n";
  use_password();
  auto client = client_auth({"password"});
  answer_password(*client, "s3cret");
  std::vector<std::string> banners;
  client->on_banner = [&](std::string_view b) { banners.emplace_back(b); };
  Login login(1, backend.host_public_key(), client);
  login.pump(monitor);
  expect_logged_in(login);
  std::vector<std::pair<MsgType, bool>> auth;
  for (const auto& s : login.sent)
    if (s.first == MsgType::auth_request) auth.push_back(s);
  ASSERT_EQ(auth.size(), 2u);
  EXPECT_FALSE(auth[0].second) << "the \"none\" goes as a notice";
  EXPECT_TRUE(auth[1].second) << "the password request is waited for";
  EXPECT_EQ(banners, std::vector<std::string>{"Authorized use only\n"}) << "the banner, once";
}

TEST_F(Fixture, AMonitorThatNeverAnswersCannotHoldAConnectionOpen) {
  auto login = password_login(1, "s3cret", /*pump=*/false);
  login->dropped = MsgType::auth_request;
  login->pump(monitor);
  ASSERT_FALSE(login->server->closed());
  // A password request out does not stop reading (requests pipeline, bounded
  // by DelegatedAuthLimits); the grace time still ends the connection.
  EXPECT_TRUE(login->server->wants_input());
  auto deadline = login->server->next_deadline();
  ASSERT_TRUE(deadline);
  EXPECT_LE(*deadline, login->now + 120s) << "the login grace time is kept on the network side";
  login->now = *deadline;
  login->server->on_time(login->now);
  login->pump(monitor);
  EXPECT_TRUE(login->server->closed());
  ASSERT_TRUE(login->client->disconnected());
  EXPECT_EQ(login->client->disconnected()->description, "login grace time exceeded");
}

TEST_F(Fixture, AnAnswerToNothingAskedEndsOnlyThatConnection) {
  auto stray = password_login(1), kept = password_login(2);
  ASSERT_TRUE(stray->server->authenticated());
  EXPECT_TRUE(stray->side.on_reply(KexSigned{{1, 999}, {}, {}, {}, {}, {}, {}}, stray->now));
  EXPECT_TRUE(stray->server->closed());
  bool logged = false;
  for (const auto& line : stray->side.take_log()) logged = logged || line.find("to no request") != std::string::npos;
  EXPECT_TRUE(logged);
  EXPECT_FALSE(kept->server->closed());
  EXPECT_TRUE(kept->server->authenticated());
}

TEST_F(Fixture, RepliesForOtherPartsAreLeftToTheCaller) {
  auto owned = password_login(1);
  Login& login = *owned;
  EXPECT_FALSE(login.side.on_reply(SessionGranted{{1, 5}, "alice"}, login.now));
  EXPECT_FALSE(login.side.on_reply(Refused{{1, 5}, RefusalReason::not_authenticated}, login.now));
  AuthReply elsewhere;
  elsewhere.conn = 2;
  EXPECT_FALSE(login.side.on_reply(elsewhere, login.now)) << "another connection's";
  EXPECT_FALSE(login.server->closed());
  // A refusal about the connection itself (req 0) ends it.
  EXPECT_TRUE(login.side.on_reply(Refused{{1, 0}, RefusalReason::too_many_connections}, login.now));
  EXPECT_TRUE(login.server->closed());
}

TEST_F(Fixture, AWrongPasswordIsRefusedByTheMonitor) {
  auto login = password_login(1, "wrong");
  EXPECT_FALSE(login->client->authenticated());
  EXPECT_FALSE(login->server->authenticated());
  EXPECT_TRUE(login->session_users.empty());
}

TEST_F(Fixture, HigherOrLowerKeyboardInteractiveThroughTheMonitor) {
  backend.config->keyboard_interactive = [this](const userauth::AttemptInfo&) {
    return std::make_unique<userauth::HigherOrLower>(provider_rng);
  };
  auto auth = client_auth({"keyboard-interactive"});
  std::size_t rounds = 0;
  auth->on_user_info_request = [&](const userauth::UserInfoRequest& request,
                                   userauth::ReplyTo<userauth::InfoReply> reply) {
    ++rounds;
    userauth::Answers a;  // the first round wrong, to go round the monitor twice
    for (const auto& p : request.prompts) a.values.push_back(secret(rounds == 1 ? "-1" : highest(p.text)));
    reply(std::move(a));
  };
  Login login(1, backend.host_public_key(), auth);
  login.pump(monitor);
  expect_logged_in(login);
  EXPECT_EQ(rounds, 2u);
}

TEST_F(Fixture, PublickeyLoginThroughTheMonitor) {
  crypto::DeterministicRandom key_rng(43);
  const crypto::PrivateKey user_key = crypto::PrivateKey::generate_ed25519(key_rng);
  backend.config->authorized_keys = [pub = user_key.public_key()](std::string_view user) {
    return user == "alice" ? std::vector<crypto::PublicKey>{pub} : std::vector<crypto::PublicKey>{};
  };
  auto auth = client_auth({"publickey"});
  auth->keys.push_back(user_key);
  Login login(1, backend.host_public_key(), auth);
  login.pump(monitor);
  expect_logged_in(login);
}

TEST_F(Fixture, ARefusedKeyExchangeEndsOnlyThatConnection) {
  // Its ConnectionOpened never reaches the monitor, which then refuses its
  // KexSign (unknown_connection).
  auto refused = password_login(7, "s3cret", /*pump=*/false);
  ASSERT_EQ(refused->side.take_notices().size(), 1u);
  refused->pump(monitor);
  EXPECT_TRUE(refused->client->closed());
  EXPECT_TRUE(refused->server->closed());
  ASSERT_TRUE(refused->client->disconnected());
  EXPECT_EQ(refused->client->disconnected()->reason, transport::DisconnectReason::key_exchange_failed);
  bool logged = false;
  for (const auto& line : refused->side.take_log())
    logged = logged || line.find("refused the key exchange") != std::string::npos;
  EXPECT_TRUE(logged);

  expect_logged_in(*password_login(8));
}

}  // namespace
}  // namespace parley::privsep

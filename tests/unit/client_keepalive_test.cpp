// ssh's ServerAliveInterval and ServerAliveCountMax in the client core
// (session::ClientConnection::set_server_alive), against the transport core in
// the server role driven here with a clock the test moves: keep-alives go out
// only after an interval with nothing from the server, their replies never
// reach the application, anything from the server starts the count over, and
// more than ServerAliveCountMax unanswered end the connection.
#include <gtest/gtest.h>

#include "parley/connection/channels.hpp"
#include "parley/session/client_connection.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint8_t msg_ignore = transport::msg::ignore;
constexpr std::uint8_t userauth_request = transport::msg::userauth_request;
constexpr std::uint8_t userauth_success = transport::msg::userauth_success;
constexpr std::uint8_t global_request = connection::msg_global_request;
constexpr std::uint8_t request_failure = connection::msg_request_failure;

struct Harness {
  crypto::DeterministicRandom client_rng{1}, server_rng{2};
  transport::Instant now = test_epoch();
  std::unique_ptr<session::ClientConnection> client;
  std::unique_ptr<transport::Transport> server;
  bool answering = true;             // the server answers keep-alives (as OpenSSH: REQUEST_FAILURE)
  std::vector<std::string> requests;  // global requests the server received, by name
  std::vector<bool> want_reply;
  int replies_seen_by_app = 0;

  explicit Harness(session::ServerAlive alive) {
    auto [c, s] = default_configs();
    s.role = transport::Role::server;
    auto aconfig = std::make_shared<userauth::ClientAuthConfig>();
    aconfig->user = "u";
    client = std::make_unique<session::ClientConnection>(std::make_shared<transport::TransportConfig>(c), aconfig,
                                                         "example.org", 22, client_rng, now);
    client->set_server_alive(alive);
    client->on_channel_event = [this](session::ClientConnection&, connection::Event& e) {
      if (std::holds_alternative<connection::GlobalReply>(e)) ++replies_seen_by_app;
    };
    server = std::make_unique<transport::Transport>(s, server_rng, now);
    pump();
  }

  /// Moves bytes both ways at the current time until both are quiet.
  void pump() {
    for (int round = 0; round < 100; ++round) {
      Bytes c2s, s2c;
      client->take_output(c2s);
      if (!c2s.empty()) server->receive(c2s, now);
      while (auto e = server->poll_event()) {
        auto* m = std::get_if<transport::Message>(&*e);
        if (m == nullptr) continue;
        if (m->payload[0] == userauth_request) server->send(Bytes{userauth_success});
        if (m->payload[0] == global_request) {
          wire::Reader r(m->payload);
          r.byte();
          requests.emplace_back(r.text());
          const bool want = r.boolean();
          want_reply.push_back(want);
          if (want && answering) server->send(Bytes{request_failure});
        }
      }
      server->take_output(s2c);
      if (!s2c.empty()) client->receive(s2c, now);
      if (c2s.empty() && s2c.empty()) return;
    }
  }
  /// Moves the clock by `step`, lets the client act on it, and pumps.
  void advance(std::chrono::seconds step) {
    now += step;
    client->on_time(now);
    pump();
  }
};

TEST(ClientKeepAlive, SentAfterAnIntervalOfSilenceAndTheirRepliesAreNotPassedOn) {
  Harness h({30s, 3});
  ASSERT_TRUE(h.client->authenticated());
  ASSERT_TRUE(h.client->next_deadline());
  EXPECT_LE(*h.client->next_deadline(), h.now + 30s) << "the driver is woken for the first keep-alive";
  h.advance(29s);
  EXPECT_TRUE(h.requests.empty()) << "not before the interval";
  h.advance(1s);
  ASSERT_EQ(h.requests, std::vector<std::string>{"keepalive@openssh.com"});
  EXPECT_TRUE(h.want_reply[0]);
  // Answered every time: the connection stays, however long.
  for (int i = 0; i < 20; ++i) h.advance(30s);
  EXPECT_EQ(h.requests.size(), 21u);
  EXPECT_FALSE(h.client->closed());
  EXPECT_FALSE(h.client->server_alive_timed_out());
  EXPECT_EQ(h.replies_seen_by_app, 0) << "a keep-alive's reply is the client's own business";
}

TEST(ClientKeepAlive, MoreThanCountMaxUnansweredEndTheConnection) {
  Harness h({10s, 3});
  ASSERT_TRUE(h.client->authenticated());
  h.answering = false;  // the server (or the path to it) has gone silent
  h.advance(10s);
  h.advance(10s);
  h.advance(10s);
  EXPECT_EQ(h.requests.size(), 3u);
  EXPECT_FALSE(h.client->closed()) << "three unanswered are allowed (ServerAliveCountMax 3)";
  h.advance(10s);
  EXPECT_TRUE(h.client->closed()) << "the fourth check ends it, as ssh";
  EXPECT_TRUE(h.client->server_alive_timed_out());
  EXPECT_EQ(h.requests.size(), 3u);
  ASSERT_TRUE(h.client->disconnected());
  EXPECT_EQ(h.client->disconnected()->reason, transport::DisconnectReason::by_application);
}

TEST(ClientKeepAlive, AnythingFromTheServerStartsTheCountOver) {
  Harness h({10s, 1});
  h.answering = false;
  h.advance(10s);  // one out, unanswered
  EXPECT_EQ(h.requests.size(), 1u);
  // The server says something (an IGNORE): it is there.
  Bytes ignore;
  wire::Writer(ignore).byte(msg_ignore).string(std::string_view("x"));
  h.server->send(ignore);
  h.now += 5s;
  h.pump();
  h.advance(5s);
  EXPECT_EQ(h.requests.size(), 1u) << "the interval runs from what the server last sent";
  h.advance(5s);
  EXPECT_EQ(h.requests.size(), 2u);
  EXPECT_FALSE(h.client->closed()) << "one unanswered since, with ServerAliveCountMax 1";
  h.advance(10s);
  EXPECT_TRUE(h.client->server_alive_timed_out());
}

TEST(ClientKeepAlive, OffByDefaultAndWithIntervalZero) {
  for (session::ServerAlive alive : {session::ServerAlive{}, session::ServerAlive{0s, 0}}) {
    Harness h(alive);
    ASSERT_TRUE(h.client->authenticated());
    h.answering = false;
    for (int i = 0; i < 10; ++i) h.advance(3600s);
    EXPECT_TRUE(h.requests.empty());
    EXPECT_FALSE(h.client->server_alive_timed_out());
  }
}

TEST(ClientKeepAlive, SetOnceLoggedInTheyStartThenAndOffStopsThem) {
  Harness h(session::ServerAlive{});
  ASSERT_TRUE(h.client->authenticated());
  h.advance(100s);
  EXPECT_TRUE(h.requests.empty());
  h.client->set_server_alive({10s, 3});
  EXPECT_FALSE(h.client->next_deadline() > std::optional(h.now + 10s)) << "due one interval from now";
  h.advance(10s);
  EXPECT_EQ(h.requests.size(), 1u) << "keep-alives set after the login run from then on";
  h.client->set_server_alive({0s, 3});
  h.answering = false;
  for (int i = 0; i < 10; ++i) h.advance(60s);
  EXPECT_EQ(h.requests.size(), 1u) << "interval 0 stops them";
  EXPECT_FALSE(h.client->server_alive_timed_out());
}

TEST(ClientKeepAlive, TheApplicationsOwnGlobalRepliesStillReachIt) {
  Harness h({10s, 3});
  h.client->global_request("no-such-request@example.org", true);
  h.pump();
  h.advance(10s);  // a keep-alive behind it
  EXPECT_EQ(h.requests.size(), 2u);
  EXPECT_EQ(h.replies_seen_by_app, 1) << "the application's reply, not the keep-alive's";
}

}  // namespace
}  // namespace parley::test

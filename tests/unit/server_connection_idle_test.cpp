// What an authenticated idle session::ServerConnection keeps (issue 15): once
// authentication has succeeded its state (chains, the shared auth configuration,
// held requests) is dropped, and the connection goes on serving requests and
// ignoring later authentication requests (RFC 4252 §5.1).
#include <gtest/gtest.h>

#include <memory>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/session/server_connection.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

Bytes global_request(bool want_reply) {
  Bytes p;
  wire::Writer(p).byte(80).string(std::string_view("keepalive@openssh.com")).boolean(want_reply);
  return p;
}

/// A signed publickey request for `user` (RFC 4252 §7).
Bytes publickey_request(const crypto::PrivateKey& key, BytesView session_id, std::string_view user) {
  const std::string_view alg = crypto::name(crypto::SignatureAlg::ssh_ed25519);
  auto body = [&](Bytes& out) -> wire::Writer {
    return std::move(wire::Writer(out)
                         .byte(transport::msg::userauth_request)
                         .string(user)
                         .string(std::string_view("ssh-connection"))
                         .string(std::string_view("publickey"))
                         .boolean(true)
                         .string(alg)
                         .string(key.public_key().blob()));
  };
  Bytes signed_data;
  wire::Writer(signed_data).string(session_id);
  Bytes tail;
  body(tail);
  signed_data.insert(signed_data.end(), tail.begin(), tail.end());
  Bytes req;
  body(req).string(key.sign(crypto::SignatureAlg::ssh_ed25519, signed_data));
  return req;
}

TEST(ServerConnectionIdle, AuthenticationStateIsDroppedOnceInAndRequestsStillAnswered) {
  crypto::DeterministicRandom server_rng(1), client_rng(2), key_rng(3);
  const crypto::PrivateKey user_key = crypto::PrivateKey::generate_ed25519(key_rng);
  auto [client_config, server_config] = test::default_configs();
  client_config.role = transport::Role::client;
  server_config.role = transport::Role::server;
  auto tconfig = std::make_shared<transport::TransportConfig>(server_config);
  auto aconfig = std::make_shared<userauth::ServerAuthConfig>();
  aconfig->authorized_keys = [pub = user_key.public_key()](std::string_view) {
    return std::vector<crypto::PublicKey>{pub};
  };
  transport::Instant now = test::test_epoch();
  session::ServerConnection server(tconfig, aconfig, server_rng, "peer", now);
  transport::Transport client(client_config, client_rng, now);
  ASSERT_EQ(aconfig.use_count(), 2) << "the connection's authentication holds the configuration";

  int successes = 0, replies = 0;
  auto pump = [&] {
    for (int round = 0; round < 1000; ++round) {
      Bytes c2s, s2c;
      client.take_output(c2s);
      server.take_output(s2c);
      if (c2s.empty() && s2c.empty()) return;
      if (!c2s.empty()) server.receive(c2s, now);
      if (!s2c.empty()) client.receive(s2c, now);
      while (auto e = client.poll_event()) {
        if (std::holds_alternative<transport::ServiceAccepted>(*e)) {
          client.send(publickey_request(user_key, *client.session_id(), "alice"));
        } else if (auto* m = std::get_if<transport::Message>(&*e)) {
          if (m->payload[0] == transport::msg::userauth_success) ++successes;
          if (m->payload[0] == 81 || m->payload[0] == 82) ++replies;  // REQUEST_SUCCESS / FAILURE
        }
      }
    }
  };
  client.request_service("ssh-userauth");
  pump();
  ASSERT_EQ(successes, 1);
  ASSERT_TRUE(server.authenticated());
  EXPECT_EQ(aconfig.use_count(), 1) << "authentication state kept after success";
  EXPECT_EQ(server.next_deadline(), server.transport().next_deadline())
      << "an authentication deadline is left";

  // Another authentication request after success is ignored; a global request is answered.
  client.send(publickey_request(user_key, *client.session_id(), "bob"));
  client.send(global_request(true));
  pump();
  EXPECT_EQ(successes, 1);
  EXPECT_EQ(replies, 1);
  EXPECT_FALSE(server.closed());
  server.on_time(now + std::chrono::minutes(10));  // past any login grace time
  pump();
  EXPECT_FALSE(server.closed());
  EXPECT_TRUE(server.authenticated());
}

}  // namespace
}  // namespace parley

// session::ServerConnection in memory against a client Transport: a client that
// leaves a key re-exchange pending (it never answers the server's KEXINIT) while
// it keeps asking for replies makes the connection stop taking input once the
// replies queued behind the key exchange pass the bound, instead of queueing
// them without end.
#include <gtest/gtest.h>

#include <memory>

#include "parley/session/server_connection.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

Bytes keepalive_request() {
  Bytes p;
  wire::Writer(p).byte(80).string(std::string_view("keepalive@openssh.com")).boolean(true);
  return p;
}

TEST(ServerConnectionKex, RepliesQueuedBehindAPendingRekeyStopTheConnectionReading) {
  crypto::DeterministicRandom server_rng(1), client_rng(2), key_rng(3);
  const crypto::PrivateKey user_key = crypto::PrivateKey::generate_ed25519(key_rng);
  auto [client_config, server_config] = test::default_configs();
  client_config.role = transport::Role::client;
  server_config.role = transport::Role::server;
  server_config.rekey_bytes = 64 * 1024;  // the server starts a key exchange soon after login
  server_config.max_kex_queue = 32 * 1024;
  auto tconfig = std::make_shared<transport::TransportConfig>(server_config);
  auto aconfig = std::make_shared<userauth::ServerAuthConfig>();
  aconfig->authorized_keys = [pub = user_key.public_key()](std::string_view) {
    return std::vector<crypto::PublicKey>{pub};
  };
  transport::Instant now = test::test_epoch();
  session::ServerConnection server(tconfig, aconfig, server_rng, "peer", now);
  transport::Transport client(client_config, client_rng, now);

  bool authenticated = false;
  bool deliver_to_client = true;
  auto pump = [&] {
    for (int round = 0; round < 1000; ++round) {
      Bytes c2s, s2c;
      client.take_output(c2s);
      server.take_output(s2c);
      if (c2s.empty() && s2c.empty()) return;
      if (!c2s.empty()) server.receive(c2s, now);
      if (!s2c.empty() && deliver_to_client) client.receive(s2c, now);
      while (auto e = client.poll_event()) {
        if (std::holds_alternative<transport::ServiceAccepted>(*e)) {
          // RFC 4252 §7: a signed publickey request.
          const std::string_view alg = crypto::name(crypto::SignatureAlg::ssh_ed25519);
          Bytes signed_data;
          wire::Writer(signed_data)
              .string(*client.session_id())
              .byte(transport::msg::userauth_request)
              .string(std::string_view("alice"))
              .string(std::string_view("ssh-connection"))
              .string(std::string_view("publickey"))
              .boolean(true)
              .string(alg)
              .string(user_key.public_key().blob());
          Bytes req;
          wire::Writer(req)
              .byte(transport::msg::userauth_request)
              .string(std::string_view("alice"))
              .string(std::string_view("ssh-connection"))
              .string(std::string_view("publickey"))
              .boolean(true)
              .string(alg)
              .string(user_key.public_key().blob())
              .string(user_key.sign(crypto::SignatureAlg::ssh_ed25519, signed_data));
          client.send(req);
        } else if (auto* m = std::get_if<transport::Message>(&*e)) {
          if (m->payload[0] == transport::msg::userauth_success) authenticated = true;
        }
      }
    }
  };
  client.request_service("ssh-userauth");
  pump();
  ASSERT_TRUE(authenticated);
  ASSERT_TRUE(server.wants_input());

  // From here the client reads nothing (it never sees the server's KEXINIT), and
  // asks for a reply again and again, as a hostile client would.
  deliver_to_client = false;
  const std::uint32_t kex_before = server.transport().kex_count();
  int sent = 0;
  for (; sent < 20000 && server.wants_input() && !server.closed(); ++sent) {
    client.send(keepalive_request());
    pump();
  }
  EXPECT_FALSE(server.closed());
  EXPECT_FALSE(server.wants_input()) << sent << " requests behind a pending key exchange";
  EXPECT_EQ(server.transport().kex_count(), kex_before) << "the key exchange is still pending";
  // What waits is bounded by max_kex_queue (each reply counted with its overhead).
  EXPECT_LE(server.transport().pending_output(), 32u * 1024);
  EXPECT_LT(sent, 20000);
}

}  // namespace
}  // namespace parley

// The server's forwarding policy (session::ChannelPolicy): PermitOpen and
// PermitListen as OpenSSH reads them, and a cap on the "tcpip-forward"
// listeners one connection may hold, checked against a real in-process server
// (driver::Server + session::ServerConnection + the standard services) with a
// scripted client.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parley/session/server_connection.hpp"
#include "parley/connection/session.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/server.hpp"
#include "parley/driver/services.hpp"
#include "parley/wire/reader.hpp"
#include "ssh_test_client.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using session::listen_permitted;
using session::open_permitted;
using Rules = std::vector<std::string>;

TEST(PermitOpen, HostMatchesExactlyNeverAsAGlob) {
  // A pattern against a name the client chose, before DNS, says nothing about
  // where the connection goes ("db*" would admit "db.attacker.example").
  EXPECT_TRUE(open_permitted(Rules{"db.example:5432"}, "db.example", 5432));
  EXPECT_FALSE(open_permitted(Rules{"db*:5432"}, "db.attacker.example", 5432));
  EXPECT_FALSE(open_permitted(Rules{"db*:5432"}, "db*", 1));
  EXPECT_FALSE(open_permitted(Rules{"10.0.0.?:22"}, "10.0.0.1", 22));
  EXPECT_FALSE(open_permitted(Rules{"[fe80::*]:22"}, "fe80::1", 22));
  EXPECT_TRUE(open_permitted(Rules{"[::1]:22"}, "::1", 22));
  EXPECT_FALSE(open_permitted(Rules{"db.example:5432"}, "db.example", 5433));
}

TEST(PermitOpen, StarHostAndStarPortAndAny) {
  EXPECT_TRUE(open_permitted(Rules{"*:443"}, "anything.example", 443));
  EXPECT_FALSE(open_permitted(Rules{"*:443"}, "anything.example", 80));
  EXPECT_TRUE(open_permitted(Rules{"db.example:*"}, "db.example", 1));
  EXPECT_TRUE(open_permitted(Rules{"any"}, "x", 1));
  EXPECT_TRUE(open_permitted(Rules{"*"}, "x", 1));
  EXPECT_FALSE(open_permitted(Rules{"db.example"}, "db.example", 1)) << "no port: matches nothing";
  EXPECT_TRUE(open_permitted(Rules{}, "x", 1));
}

TEST(PermitListen, BindAddressesAreNormalisedBeforeTheComparison) {
  // "" asks for every interface (RFC 4254 §7.1): a rule for localhost must not
  // admit it, and a rule for 0.0.0.0 admits each spelling of "every interface".
  EXPECT_FALSE(listen_permitted(Rules{"localhost:8080"}, "", 8080));
  EXPECT_FALSE(listen_permitted(Rules{"localhost:8080"}, "*", 8080));
  EXPECT_FALSE(listen_permitted(Rules{"localhost:8080"}, "0.0.0.0", 8080));
  EXPECT_FALSE(listen_permitted(Rules{"localhost:8080"}, "::", 8080));
  for (const char* every : {"", "*", "0.0.0.0", "::"}) {
    EXPECT_TRUE(listen_permitted(Rules{"0.0.0.0:8080"}, every, 8080)) << "'" << every << "'";
    EXPECT_TRUE(listen_permitted(Rules{"[::]:8080"}, every, 8080)) << "'" << every << "'";
  }
  for (const char* loopback : {"localhost", "LocalHost", "127.0.0.1", "::1"}) {
    EXPECT_TRUE(listen_permitted(Rules{"localhost:8080"}, loopback, 8080)) << loopback;
    EXPECT_FALSE(listen_permitted(Rules{"0.0.0.0:8080"}, loopback, 8080)) << loopback;
  }
  EXPECT_TRUE(listen_permitted(Rules{"*:8080"}, "", 8080));
  EXPECT_TRUE(listen_permitted(Rules{"*:8080"}, "192.0.2.7", 8080));
  EXPECT_FALSE(listen_permitted(Rules{"192.0.2.*:8080"}, "192.0.2.7", 8080)) << "no globs";
  EXPECT_FALSE(listen_permitted(Rules{"localhost:8080"}, "localhost", 8081));
}

Bytes forward_request(std::string_view address, std::uint32_t port) {
  return connection::encode(connection::ForwardRequest{std::string(address), port});
}

class ForwardListeners : public ::testing::Test {
 protected:
  void SetUp() override {
    user_key_ = crypto::PrivateKey::generate_ed25519(rng_);
    auto tconfig = std::make_shared<transport::TransportConfig>(test::default_configs().second);
    auto aconfig = std::make_shared<userauth::ServerAuthConfig>();
    aconfig->authorized_keys = [pub = user_key_->public_key()](std::string_view name) {
      return name == "tester" ? std::vector<crypto::PublicKey>{pub}
                              : std::vector<crypto::PublicKey>{};
    };
    auto policy = std::make_shared<session::ChannelPolicy>();
    policy->allow_remote_forwarding = true;
    policy->max_forward_listeners = 3;
    driver::ServerOptions options;
    options.port = 0;
    options.threads = 1;
    server_ = std::make_unique<driver::Server>(
        options,
        driver::ConnectionFactory([this, tconfig, aconfig, policy](
                                      driver::ConnectionContext& context, transport::Instant now) {
          auto conn = std::make_unique<session::ServerConnection>(tconfig, aconfig, rng_, "peer", now);
          conn->set_channel_services(
              policy, driver::make_channel_services(context, driver::ProcessOptions{}));
          return conn;
        }));
    auto started = server_->start();
    ASSERT_TRUE(started.has_value()) << started.error();
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  /// A global request on `c`; the server's answer, nullopt if none came.
  static std::optional<bool> global(test::SshTestClient& c, std::string_view name, BytesView data) {
    const std::size_t before = c.global_replies.size();
    c.channels().global_request(name, true, data);
    if (!c.pump_until([&] { return c.global_replies.size() > before; })) return std::nullopt;
    return c.global_replies[before];
  }

  crypto::SystemRandom rng_;
  std::optional<crypto::PrivateKey> user_key_;
  std::unique_ptr<driver::Server> server_;
};

TEST_F(ForwardListeners, TcpipForwardListenersPerConnectionAreCapped) {
  test::SshTestClient c;
  ASSERT_EQ(c.login("127.0.0.1", server_->port(), "tester", *user_key_), "");
  // Port 0: the server picks a free port, so each request is a new listener.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(global(c, "tcpip-forward", forward_request("localhost", 0)),
              std::optional<bool>(true))
        << i;
  EXPECT_EQ(global(c, "tcpip-forward", forward_request("localhost", 0)), std::optional<bool>(false))
      << "a fourth listener past max_forward_listeners = 3";
  EXPECT_FALSE(c.disconnected().has_value()) << "refused, not disconnected";
  // Another connection has its own allowance.
  test::SshTestClient other;
  ASSERT_EQ(other.login("127.0.0.1", server_->port(), "tester", *user_key_), "");
  EXPECT_EQ(global(other, "tcpip-forward", forward_request("localhost", 0)),
            std::optional<bool>(true));
}

}  // namespace
}  // namespace parley

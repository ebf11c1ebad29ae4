// Our client (Transport in Role::client over driver::run_client) against the real
// OpenSSH server (sshd): every key exchange, host key, cipher and MAC algorithm
// parley implements, each forced in turn on our side; a key re-exchange; and a
// refused host key.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/client.hpp"
#include "parley/transport/endpoint.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "sshd.hpp"
#include "test_support.hpp"

namespace parley::test {
namespace {

using namespace std::chrono_literals;
namespace crypto = parley::crypto;
namespace transport = parley::transport;
namespace msg = parley::transport::msg;

constexpr auto client_timeout = 30s;

/// One sshd for the whole binary, with Ed25519, ECDSA P-256 and RSA-3072 host
/// keys and its algorithm lists left at their defaults.
Sshd& sshd() {
  static Sshd instance(SshdOptions{{"ed25519", "ecdsa", "rsa"}, "DEBUG", ""});
  return instance;
}

/// What one client connection saw.
struct Outcome {
  std::vector<transport::KexDone> kex_done;
  int verify_calls = 0;
  bool key_matched = false;
  std::optional<crypto::KeyType> offered_type;
  std::vector<std::string> service_accepted;
  bool userauth_failure = false;
  bool userauth_success = false;
  std::optional<std::uint8_t> global_request_reply;  // REQUEST_SUCCESS (81) or REQUEST_FAILURE (82)
  std::optional<transport::Disconnected> disconnected;
  std::optional<std::string> driver_error;
};

enum class Plan {
  userauth_none,  // SERVICE_ACCEPT -> USERAUTH_REQUEST "none" -> FAILURE -> disconnect
  // SERVICE_ACCEPT -> USERAUTH "none" -> FAILURE -> "publickey" -> SUCCESS -> rekey ->
  // second KexDone -> GLOBAL_REQUEST (want reply) -> its reply -> disconnect.
  // (sshd refuses KEXINIT before authentication has succeeded: it answers a
  // pre-auth rekey with UNIMPLEMENTED, so the rekey has to follow authentication.)
  userauth_then_rekey,
};

constexpr std::uint8_t msg_global_request = 80;  // RFC 4254 §4
constexpr std::uint8_t msg_request_success = 81;
constexpr std::uint8_t msg_request_failure = 82;

Bytes userauth_none_request(std::string_view user) {
  Bytes p;
  wire::Writer(p)
      .byte(msg::userauth_request)
      .string(user)
      .string(std::string_view("ssh-connection"))
      .string(std::string_view("none"));
  return p;
}

/// RFC 4252 §7: a "publickey" USERAUTH_REQUEST with a signature over the
/// session identifier and the request.
Bytes userauth_publickey_request(const transport::Transport& t, std::string_view user,
                                 const crypto::PrivateKey& key) {
  const auto alg = key.signature_algs().front();
  Bytes request;
  wire::Writer(request)
      .byte(msg::userauth_request)
      .string(user)
      .string(std::string_view("ssh-connection"))
      .string(std::string_view("publickey"))
      .boolean(true)
      .string(crypto::name(alg))
      .string(key.public_key().blob());
  Bytes signed_data;
  wire::Writer(signed_data).string(*t.session_id()).raw(request);
  wire::Writer(request).string(key.sign(alg, signed_data));
  return request;
}

/// Handles the client's events according to `plan`, recording them in `out`.
transport::TransportEndpoint::Handler scripted_client(Plan plan, Outcome& out) {
  return [plan, &out](transport::Transport& t, transport::Event& event) {
    const std::string user = plan == Plan::userauth_none ? "tester" : sshd().user();
    auto done = [&] { t.disconnect(transport::DisconnectReason::by_application, "done"); };
    std::visit(
        [&](auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, transport::KexDone>) {
            out.kex_done.push_back(e);
            if (!e.first) {  // the re-exchange: prove the new keys carry a round trip
              Bytes request;
              wire::Writer(request)
                  .byte(msg_global_request)
                  .string(std::string_view("keepalive@openssh.com"))
                  .boolean(true);
              t.send(request);
            }
          } else if constexpr (std::is_same_v<E, transport::ServiceAccepted>) {
            out.service_accepted.push_back(e.service);
            t.send(userauth_none_request(user));
          } else if constexpr (std::is_same_v<E, transport::Message>) {
            const std::uint8_t id = e.payload.empty() ? 0 : e.payload[0];
            if (id == msg::userauth_failure) {
              if (plan == Plan::userauth_then_rekey && !out.userauth_failure) {
                out.userauth_failure = true;
                t.send(userauth_publickey_request(t, user, sshd().user_key()));
              } else {
                out.userauth_failure = true;
                done();
              }
            } else if (id == msg::userauth_success) {
              out.userauth_success = true;
              t.request_rekey(transport::Clock::now());
            } else if (id == msg_request_success || id == msg_request_failure) {
              out.global_request_reply = id;
              done();
            }
          } else if constexpr (std::is_same_v<E, transport::Disconnected>) {
            out.disconnected = e;
          }
        },
        event);
  };
}

/// Records everything an endpoint sends, to inspect the cleartext packets of the
/// first key exchange.
class RecordingEndpoint final : public transport::Endpoint {
 public:
  explicit RecordingEndpoint(transport::Endpoint& inner) : inner_(inner) {}
  void receive(BytesView data, transport::Instant now) override { inner_.receive(data, now); }
  void peer_closed(transport::Instant now) override { inner_.peer_closed(now); }
  void on_time(transport::Instant now) override { inner_.on_time(now); }
  std::optional<transport::Instant> next_deadline() const override {
    return inner_.next_deadline();
  }
  void take_output(Bytes& out) override {
    const std::size_t before = out.size();
    inner_.take_output(out);
    sent.insert(sent.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
  }
  bool closed() const override { return inner_.closed(); }

  Bytes sent;

 private:
  transport::Endpoint& inner_;
};

/// Message numbers of the unencrypted packets in `stream` after the identification
/// line (RFC 4253 §6: uint32 packet_length, byte padding_length, payload, padding).
std::vector<int> cleartext_message_numbers(const Bytes& stream) {
  std::vector<int> ids;
  std::string_view text = as_chars(stream);
  auto eol = text.find("\r\n");
  if (eol == std::string_view::npos) return ids;
  wire::Reader r(BytesView(stream).subspan(eol + 2));
  while (r.remaining() > 0) {
    const std::uint32_t length = r.uint32();
    BytesView packet = r.raw(length);
    if (!r.ok() || packet.size() < 2) break;
    ids.push_back(packet[1]);
  }
  return ids;
}

/// The end of sshd's log, for failure messages.
std::string sshd_log_tail() {
  const std::string log = sshd().log();
  return "sshd log (tail):\n" + log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
}

struct Forced {
  std::string dimension;  // "kex", "hostkey", "cipher", "mac"
  std::string name;
};

class ClientAgainstSshd : public testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(sshd().error(), "") << "sshd could not be started"; }

  /// Connects to sshd with `config`, checking the host key against our .pub files.
  Outcome connect(transport::TransportConfig config, Plan plan, bool accept_key = true,
                  Bytes* sent = nullptr) {
    Outcome out;
    config.role = transport::Role::client;
    config.verify_host_key = [&out, accept_key](const crypto::PublicKey& key) {
      ++out.verify_calls;
      out.offered_type = key.type();
      const crypto::PublicKey* expected = sshd().key(key.type());
      out.key_matched = expected != nullptr && *expected == key;
      return accept_key && out.key_matched;
    };
    transport::TransportEndpoint endpoint(std::move(config), rng_, transport::Clock::now(),
                                          scripted_client(plan, out));
    endpoint.transport().request_service("ssh-userauth");  // queued until the key exchange is done
    RecordingEndpoint recorder(endpoint);
    auto result =
        driver::run_client("127.0.0.1", sshd().port(), recorder, client_timeout);
    if (!result) out.driver_error = result.error();
    if (sent) *sent = recorder.sent;
    return out;
  }

  static void expect_userauth_round_trip(const Outcome& out) {
    EXPECT_FALSE(out.driver_error) << *out.driver_error;
    EXPECT_EQ(out.verify_calls, 1);
    EXPECT_TRUE(out.key_matched);
    EXPECT_EQ(out.service_accepted, std::vector<std::string>{"ssh-userauth"});
    EXPECT_TRUE(out.userauth_failure);
    ASSERT_TRUE(out.disconnected);
    EXPECT_EQ(out.disconnected->error, transport::TransportError::local_disconnect)
        << out.disconnected->description;
  }

  crypto::SystemRandom rng_;
};

class ForcedAlgorithm : public ClientAgainstSshd, public testing::WithParamInterface<Forced> {};

TEST_P(ForcedAlgorithm, KexServiceAndUserauthRoundTrip) {
  const Forced& f = GetParam();
  transport::TransportConfig config;
  std::string bad;
  auto& prefs = config.algorithms;
  if (f.dimension == "kex") {
    prefs.kex = *transport::AlgorithmPreferences::parse_kex(f.name, &bad);
  } else if (f.dimension == "hostkey") {
    prefs.host_key = *transport::AlgorithmPreferences::parse_host_key(f.name, &bad);
  } else if (f.dimension == "cipher") {
    prefs.ciphers = *transport::AlgorithmPreferences::parse_ciphers(f.name, &bad);
  } else {
    prefs.ciphers = {crypto::CipherAlg::aes128_ctr};
    prefs.macs = *transport::AlgorithmPreferences::parse_macs(f.name, &bad);
  }
  ASSERT_EQ(bad, "");

  const Outcome out = connect(config, Plan::userauth_none);
  SCOPED_TRACE(sshd_log_tail());
  expect_userauth_round_trip(out);
  ASSERT_EQ(out.kex_done.size(), 1u);
  EXPECT_TRUE(out.kex_done[0].first);
  const transport::Negotiated& n = out.kex_done[0].algorithms;
  EXPECT_TRUE(n.strict_kex) << "OpenSSH 9.2 offers kex-strict";
  if (f.dimension == "kex") {
    EXPECT_EQ(transport::name(n.kex), f.name);
  } else if (f.dimension == "hostkey") {
    EXPECT_EQ(crypto::name(n.host_key), f.name);
    ASSERT_TRUE(out.offered_type);
    EXPECT_EQ(*out.offered_type, crypto::key_type_for(n.host_key));
  } else if (f.dimension == "cipher") {
    EXPECT_EQ(crypto::name(n.cipher_c2s), f.name);
    EXPECT_EQ(crypto::name(n.cipher_s2c), f.name);
  } else {
    EXPECT_EQ(n.cipher_c2s, crypto::CipherAlg::aes128_ctr);
    EXPECT_EQ(crypto::name(n.mac_c2s), f.name);
    EXPECT_EQ(crypto::name(n.mac_s2c), f.name);
  }
  EXPECT_TRUE(sshd().running());
}

void PrintTo(const Forced& f, std::ostream* os) {
  *os << f.dimension << " " << f.name;
}

std::string forced_name(const testing::TestParamInfo<Forced>& info) {
  std::string n = info.param.dimension + "_" + info.param.name;
  std::replace_if(
      n.begin(), n.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return n;
}

INSTANTIATE_TEST_SUITE_P(Kex, ForcedAlgorithm,
                         testing::Values(Forced{"kex", "curve25519-sha256"},
                                         Forced{"kex", "curve25519-sha256@libssh.org"},
                                         Forced{"kex", "ecdh-sha2-nistp256"},
                                         Forced{"kex", "diffie-hellman-group16-sha512"},
                                         Forced{"kex", "diffie-hellman-group14-sha256"}),
                         forced_name);
INSTANTIATE_TEST_SUITE_P(HostKey, ForcedAlgorithm,
                         testing::Values(Forced{"hostkey", "ssh-ed25519"},
                                         Forced{"hostkey", "ecdsa-sha2-nistp256"},
                                         Forced{"hostkey", "rsa-sha2-512"},
                                         Forced{"hostkey", "rsa-sha2-256"}),
                         forced_name);
INSTANTIATE_TEST_SUITE_P(Cipher, ForcedAlgorithm,
                         testing::Values(Forced{"cipher", "chacha20-poly1305@openssh.com"},
                                         Forced{"cipher", "aes256-gcm@openssh.com"},
                                         Forced{"cipher", "aes128-gcm@openssh.com"},
                                         Forced{"cipher", "aes256-ctr"},
                                         Forced{"cipher", "aes128-ctr"}),
                         forced_name);
INSTANTIATE_TEST_SUITE_P(Mac, ForcedAlgorithm,
                         testing::Values(Forced{"mac", "hmac-sha2-256-etm@openssh.com"},
                                         Forced{"mac", "hmac-sha2-512-etm@openssh.com"},
                                         Forced{"mac", "hmac-sha2-256"},
                                         Forced{"mac", "hmac-sha2-512"}),
                         forced_name);

// A key re-exchange with real sshd: USERAUTH "none" is refused, "publickey"
// succeeds, then we rekey and make a global-request round trip under the new keys.
TEST_F(ClientAgainstSshd, UserauthThenRekey) {
  const Outcome out = connect({}, Plan::userauth_then_rekey);
  SCOPED_TRACE(sshd_log_tail());
  EXPECT_FALSE(out.driver_error) << *out.driver_error;
  // The transport asks the verifier again on the re-exchange (OpenSSH instead
  // requires the key to equal the first one); either way it saw only sshd's key.
  EXPECT_GE(out.verify_calls, 1);
  EXPECT_LE(out.verify_calls, 2);
  EXPECT_TRUE(out.key_matched);
  EXPECT_EQ(out.service_accepted, std::vector<std::string>{"ssh-userauth"});
  EXPECT_TRUE(out.userauth_failure);
  EXPECT_TRUE(out.userauth_success);
  ASSERT_EQ(out.kex_done.size(), 2u);
  EXPECT_TRUE(out.kex_done[0].first);
  EXPECT_FALSE(out.kex_done[1].first);
  EXPECT_TRUE(out.global_request_reply);
  ASSERT_TRUE(out.disconnected);
  EXPECT_EQ(out.disconnected->error, transport::TransportError::local_disconnect)
      << out.disconnected->description;
}

// A refused host key ends the connection right after the server's reply: no
// NEWKEYS, no SERVICE_REQUEST, only our DISCONNECT after KEXINIT and the ECDH init.
TEST_F(ClientAgainstSshd, RejectedHostKeyEndsConnection) {
  Bytes sent;
  const Outcome out = connect({}, Plan::userauth_none, /*accept_key=*/false, &sent);
  EXPECT_FALSE(out.driver_error) << *out.driver_error;
  EXPECT_EQ(out.verify_calls, 1);
  EXPECT_TRUE(out.key_matched);
  ASSERT_TRUE(out.disconnected);
  EXPECT_EQ(out.disconnected->error, transport::TransportError::host_key_rejected);
  EXPECT_TRUE(out.kex_done.empty());
  EXPECT_TRUE(out.service_accepted.empty());
  EXPECT_EQ(cleartext_message_numbers(sent),
            (std::vector<int>{msg::kexinit, msg::kex_ecdh_init, msg::disconnect}));
  EXPECT_TRUE(sshd().running());
}

}  // namespace
}  // namespace parley::test

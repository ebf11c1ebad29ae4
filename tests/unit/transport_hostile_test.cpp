// Hostile input against the server core: each case ends that connection with
// a named error and the right RFC 4253 §11.1 disconnect reason.
#include <gtest/gtest.h>

#include <string>

#include "parley/transport/packet.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using transport::DisconnectReason;
using transport::Disconnected;
using transport::TransportError;

constexpr std::string_view client_ident = "SSH-2.0-hostile_1.0\r\n";

/// A server core fed by a test, with its output and events collected.
struct ServerUnderTest {
  crypto::DeterministicRandom rng{7};
  transport::Instant now = test::test_epoch();
  transport::Transport server;
  Bytes output;
  std::vector<transport::Event> events;

  ServerUnderTest() : server(config(), rng, now) {}
  static transport::TransportConfig config() {
    transport::TransportConfig c = test::default_configs().second;
    c.role = transport::Role::server;
    return c;
  }
  void feed(BytesView bytes) {
    server.receive(bytes, now);
    collect();
  }
  void feed(std::string_view s) { feed(as_bytes(s)); }
  void collect() {
    server.take_output(output);
    while (auto e = server.poll_event()) events.push_back(std::move(*e));
  }
  /// The single Disconnected event; fails the test if there is not exactly one.
  Disconnected disconnected() const {
    auto d = test::TransportPair::of_type<Disconnected>(events);
    EXPECT_EQ(d.size(), 1u);
    return d.empty() ? Disconnected{TransportError::local_disconnect, DisconnectReason::reserved, ""}
                     : d[0];
  }
  /// The reason code in the plaintext DISCONNECT the server wrote, if any.
  std::optional<std::uint32_t> wire_disconnect_reason() const {
    return test::plaintext_disconnect_reason(output);
  }
};



Bytes concat(std::initializer_list<BytesView> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

void expect_ended(ServerUnderTest& s, TransportError error, DisconnectReason reason,
                  bool disconnect_on_wire = true) {
  EXPECT_TRUE(s.server.closed());
  Disconnected d = s.disconnected();
  EXPECT_EQ(d.error, error) << transport::to_string(d.error);
  EXPECT_EQ(d.reason, reason);
  if (disconnect_on_wire) {
    EXPECT_EQ(s.wire_disconnect_reason(), static_cast<std::uint32_t>(reason));
  }
}

TEST(Hostile, TruncatedPacketThenClose) {
  ServerUnderTest s;
  Bytes kexinit = test::plain_packet(test::client_kexinit(true));
  s.feed(client_ident);
  s.feed(BytesView(kexinit).first(kexinit.size() / 2));
  EXPECT_FALSE(s.server.closed());  // still waiting for the rest
  s.server.peer_closed(s.now);
  s.collect();
  expect_ended(s, TransportError::truncated_packet, DisconnectReason::connection_lost, false);
}

TEST(Hostile, TruncatedMessageInsideAPacketIsMalformed) {
  ServerUnderTest s;
  Bytes kexinit = test::client_kexinit(true);
  kexinit.resize(kexinit.size() - 6);  // the packet is whole; the KEXINIT in it is not
  s.feed(client_ident);
  s.feed(test::plain_packet(kexinit));
  expect_ended(s, TransportError::malformed_message, DisconnectReason::protocol_error);
}

TEST(Hostile, PacketLengthOver256KiB) {
  ServerUnderTest s;
  Bytes p;
  wire::Writer(p).uint32(256 * 1024 + 4).byte(4);  // then nothing: must not wait for 256 KiB
  s.feed(client_ident);
  s.feed(p);
  expect_ended(s, TransportError::packet_too_long, DisconnectReason::protocol_error);
}

TEST(Hostile, PacketLengthNotMultipleOfBlockSize) {
  ServerUnderTest s;
  Bytes p;
  wire::Writer(p).uint32(13).byte(4);  // 4 + 13 = 17, not a multiple of 8
  p.resize(4 + 13, 0);
  s.feed(client_ident);
  s.feed(p);
  expect_ended(s, TransportError::packet_length_not_block_aligned, DisconnectReason::protocol_error);
}

TEST(Hostile, PaddingShorterThanFourBytes) {
  ServerUnderTest s;
  Bytes p;
  wire::Writer(p).uint32(12).byte(2);  // padding_length 2 < 4
  p.resize(16, 0x14);
  s.feed(client_ident);
  s.feed(p);
  expect_ended(s, TransportError::bad_padding, DisconnectReason::protocol_error);
}

TEST(Hostile, PaddingLongerThanThePacket) {
  ServerUnderTest s;
  Bytes p;
  wire::Writer(p).uint32(12).byte(200);
  p.resize(16, 0x14);
  s.feed(client_ident);
  s.feed(p);
  expect_ended(s, TransportError::bad_padding, DisconnectReason::protocol_error);
}

class BadTag : public ::testing::TestWithParam<std::pair<crypto::CipherAlg, crypto::MacAlg>> {};

TEST_P(BadTag, CorruptedEncryptedPacketIsMacError) {
  auto [cipher, mac] = GetParam();
  auto [client, server] = test::default_configs();
  client.algorithms.ciphers = {cipher};
  if (mac != crypto::MacAlg::implicit) client.algorithms.macs = server.algorithms.macs = {mac};
  test::TransportPair p(client, server);
  p.pump();
  ASSERT_EQ(p.server.kex_count(), 1u);
  Bytes msg{94, 1, 2, 3, 4, 5, 6, 7, 8};
  p.client.send(msg);
  Bytes wire_bytes;
  p.client.take_output(wire_bytes);
  wire_bytes.back() ^= 0x01;  // the last byte is in the tag
  p.server.receive(wire_bytes, p.now);
  p.drain();
  auto d = test::TransportPair::of_type<Disconnected>(p.server_events);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].error, TransportError::mac_mismatch);
  EXPECT_EQ(d[0].reason, DisconnectReason::mac_error);
  // The client hears the reason in the (encrypted) DISCONNECT.
  p.pump();
  auto dc = test::TransportPair::of_type<Disconnected>(p.client_events);
  ASSERT_EQ(dc.size(), 1u);
  EXPECT_EQ(dc[0].error, TransportError::peer_disconnected);
  EXPECT_EQ(dc[0].reason, DisconnectReason::mac_error);
}

TEST_P(BadTag, CorruptedCiphertextIsMacError) {
  auto [cipher, mac] = GetParam();
  auto [client, server] = test::default_configs();
  client.algorithms.ciphers = {cipher};
  if (mac != crypto::MacAlg::implicit) client.algorithms.macs = server.algorithms.macs = {mac};
  test::TransportPair p(client, server);
  p.pump();
  Bytes msg(100, 0x5e);
  msg[0] = 94;
  p.client.send(msg);
  Bytes wire_bytes;
  p.client.take_output(wire_bytes);
  wire_bytes[20] ^= 0x80;  // inside the body
  p.server.receive(wire_bytes, p.now);
  p.drain();
  auto d = test::TransportPair::of_type<Disconnected>(p.server_events);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].error, TransportError::mac_mismatch);
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, BadTag,
    ::testing::Values(std::pair{crypto::CipherAlg::chacha20_poly1305, crypto::MacAlg::implicit},
                      std::pair{crypto::CipherAlg::aes256_gcm, crypto::MacAlg::implicit},
                      std::pair{crypto::CipherAlg::aes128_ctr, crypto::MacAlg::hmac_sha2_256_etm},
                      std::pair{crypto::CipherAlg::aes256_ctr, crypto::MacAlg::hmac_sha2_512}));

TEST(Hostile, NonKexMessageDuringKeyExchange) {
  ServerUnderTest s;
  Bytes userauth;
  wire::Writer(userauth).byte(50).string(std::string_view("root")).string(std::string_view("ssh-connection")).string(std::string_view("none"));
  s.feed(client_ident);
  s.feed(concat({test::plain_packet(test::client_kexinit(false)), test::plain_packet(userauth)}));
  expect_ended(s, TransportError::non_kex_message_during_kex, DisconnectReason::protocol_error);
}

TEST(Hostile, ServiceRequestDuringKeyExchange) {
  ServerUnderTest s;
  Bytes req;
  wire::Writer(req).byte(5).string(std::string_view("ssh-userauth"));
  s.feed(client_ident);
  s.feed(concat({test::plain_packet(test::client_kexinit(false)), test::plain_packet(req)}));
  expect_ended(s, TransportError::non_kex_message_during_kex, DisconnectReason::protocol_error);
}

TEST(Hostile, StrictKexIgnoreBeforeKexinit) {
  // Terrapin: a sequence-number manipulation by injecting IGNORE before KEXINIT.
  ServerUnderTest s;
  Bytes ignore;
  wire::Writer(ignore).byte(transport::msg::ignore).string(std::string_view("x"));
  s.feed(client_ident);
  s.feed(concat({test::plain_packet(ignore), test::plain_packet(test::client_kexinit(true))}));
  expect_ended(s, TransportError::strict_kex_violation, DisconnectReason::protocol_error);
}

TEST(Hostile, WithoutStrictKexIgnoreBeforeKexinitIsAllowed) {
  ServerUnderTest s;
  Bytes ignore;
  wire::Writer(ignore).byte(transport::msg::ignore).string(std::string_view("x"));
  s.feed(client_ident);
  s.feed(concat({test::plain_packet(ignore), test::plain_packet(test::client_kexinit(false))}));
  EXPECT_FALSE(s.server.closed());
}

TEST(Hostile, StrictKexIgnoreDuringInitialKex) {
  ServerUnderTest s;
  Bytes ignore;
  wire::Writer(ignore).byte(transport::msg::ignore).string(std::string_view("x"));
  s.feed(client_ident);
  s.feed(concat({test::plain_packet(test::client_kexinit(true)), test::plain_packet(ignore)}));
  expect_ended(s, TransportError::strict_kex_violation, DisconnectReason::protocol_error);
}

TEST(Hostile, IdentificationLineOf300Bytes) {
  ServerUnderTest s;
  std::string line = "SSH-2.0-" + std::string(300 - 10, 'a') + "\r\n";
  ASSERT_EQ(line.size(), 300u);
  s.feed(line);
  expect_ended(s, TransportError::ident_line_too_long, DisconnectReason::protocol_error, false);
}

TEST(Hostile, ThousandPreVersionLinesToServer) {
  // RFC 4253 §4.2: only servers may send other lines first; a client doing so is refused.
  ServerUnderTest s;
  std::string lines;
  for (int i = 0; i < 1000; ++i) lines += "hello " + std::to_string(i) + "\r\n";
  s.feed(lines + std::string(client_ident));
  expect_ended(s, TransportError::preversion_line_from_client, DisconnectReason::protocol_error, false);
}

TEST(Hostile, ClientAcceptsPreVersionLinesUpToTheLimit) {
  for (std::size_t n : {std::size_t{1000}, std::size_t{1025}}) {
    transport::TransportConfig c = test::default_configs().first;
    c.role = transport::Role::client;
    crypto::DeterministicRandom rng(3);
    transport::Transport client(c, rng, test::test_epoch());
    std::string lines;
    for (std::size_t i = 0; i < n; ++i) lines += "banner line\r\n";
    lines += "SSH-2.0-server\r\n";
    client.receive(as_bytes(lines), test::test_epoch());
    if (n <= 1024) {
      EXPECT_FALSE(client.closed()) << n;
      EXPECT_EQ(client.peer_version(), "SSH-2.0-server");
    } else {
      ASSERT_TRUE(client.closed()) << n;
      auto e = client.poll_event();
      ASSERT_TRUE(e.has_value());
      EXPECT_EQ(std::get<Disconnected>(*e).error, TransportError::too_many_preversion_lines);
    }
  }
}

TEST(Hostile, SshVersion1IsRefused) {
  ServerUnderTest s;
  s.feed("SSH-1.5-old\r\n");
  expect_ended(s, TransportError::protocol_version_not_supported,
               DisconnectReason::protocol_version_not_supported, false);
}

TEST(Hostile, PeerThatSendsNothingTimesOut) {
  ServerUnderTest s;
  ASSERT_TRUE(s.server.next_deadline().has_value());
  EXPECT_EQ(*s.server.next_deadline(), s.now + std::chrono::seconds(30));
  s.server.on_time(s.now + std::chrono::seconds(29));
  EXPECT_FALSE(s.server.closed());
  s.server.on_time(s.now + std::chrono::seconds(30));
  s.collect();
  expect_ended(s, TransportError::ident_timeout, DisconnectReason::connection_lost, false);
}

TEST(Hostile, PeerThatStopsAfterIdentificationTimesOutInKex) {
  ServerUnderTest s;
  s.feed(client_ident);
  s.server.on_time(s.now + std::chrono::seconds(60));
  s.collect();
  expect_ended(s, TransportError::kex_timeout, DisconnectReason::key_exchange_failed);
}

TEST(Hostile, UnknownMessageAfterKexDoesNotEndTheConnection) {
  auto [client, server] = test::default_configs();
  test::TransportPair p(client, server);
  p.pump();
  Bytes odd{0xC0, 1, 2};  // a number nobody assigned, before any service started
  p.client.send(odd);
  p.pump();
  EXPECT_FALSE(p.server.closed());
  EXPECT_FALSE(p.client.closed());
}

TEST(Hostile, UnknownServiceIsRefused) {
  auto [client, server] = test::default_configs();
  test::TransportPair p(client, server);
  p.client.request_service("ssh-nonsense");
  p.pump();
  auto d = test::TransportPair::of_type<Disconnected>(p.server_events);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].error, TransportError::service_not_available);
  EXPECT_EQ(d[0].reason, DisconnectReason::service_not_available);
}

}  // namespace
}  // namespace parley

namespace parley {
namespace {

/// A client KEXINIT with first_kex_packet_follows set and `kex` as its list.
Bytes guessing_kexinit(std::string_view kex) {
  return test::kexinit_payload({.kex = kex,
                                .cipher = "aes128-gcm@openssh.com",
                                .first_kex_packet_follows = true,
                                .cookie = 0x22});
}

Bytes ecdh_init(crypto::KexGroup group) {
  crypto::DeterministicRandom rng(5);
  auto kp = crypto::KexKeyPair::generate(group, rng);
  Bytes p;
  wire::Writer(p).byte(transport::msg::kex_ecdh_init).string((*kp)->public_value());
  return p;
}

/// Counts the KEX_ECDH_REPLY packets in a server's unencrypted output.
int replies_in(const Bytes& output) {
  std::size_t eol = as_chars(output).find("\r\n");
  Bytes rest(output.begin() + static_cast<std::ptrdiff_t>(eol + 2), output.end());
  transport::PacketDecoder dec;
  std::size_t pos = 0;
  int replies = 0;
  while (pos < rest.size()) {
    auto r = dec.decode(std::span<std::uint8_t>(rest).subspan(pos));
    if (!r || !*r) break;
    pos += (*r)->consumed;
    if ((*r)->payload[0] == transport::msg::kex_ecdh_reply) ++replies;
    if ((*r)->payload[0] == transport::msg::newkeys) break;  // encrypted from here on
  }
  return replies;
}

// RFC 4253 §7: a wrongly guessed first kex packet is silently ignored.
TEST(KexGuess, WrongGuessIsIgnored) {
  ServerUnderTest s;
  // The server prefers mlkem768x25519-sha256; the client's first choice differs.
  Bytes garbage{transport::msg::kex_ecdh_init, 0, 0, 0, 3, 1, 2, 3};
  s.feed(client_ident);
  s.feed(concat({test::plain_packet(guessing_kexinit("curve25519-sha256,mlkem768x25519-sha256")),
                 test::plain_packet(garbage),
                 test::plain_packet(ecdh_init(crypto::KexGroup::x25519))}));
  EXPECT_FALSE(s.server.closed());
  EXPECT_EQ(replies_in(s.output), 1);
}

TEST(KexGuess, RightGuessIsUsed) {
  ServerUnderTest s;
  s.feed(client_ident);
  s.feed(concat({test::plain_packet(guessing_kexinit("mlkem768x25519-sha256")),
                 test::plain_packet(ecdh_init(crypto::KexGroup::mlkem768_x25519))}));
  EXPECT_FALSE(s.server.closed());
  EXPECT_EQ(replies_in(s.output), 1);
}

TEST(KexGuess, WithoutTheFlagAGarbageInitIsAnError) {
  ServerUnderTest s;
  Bytes garbage{transport::msg::kex_ecdh_init, 0, 0, 0, 3, 1, 2, 3};
  s.feed(client_ident);
  s.feed(concat({test::plain_packet(test::client_kexinit(false)), test::plain_packet(garbage)}));
  EXPECT_TRUE(s.server.closed());
  EXPECT_EQ(s.disconnected().error, TransportError::invalid_kex_value);
}

}  // namespace
}  // namespace parley

// In-memory client/server key exchange for every algorithm combination, data,
// rekeying from either side, and packets split at every byte.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "parley/crypto/kdf.hpp"
#include "parley/transport/packet.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using crypto::CipherAlg;
using crypto::MacAlg;
using crypto::SignatureAlg;
using transport::Disconnected;
using transport::KexAlg;
using transport::KexDone;
using transport::Message;
using transport::ServiceAccepted;
using transport::ServiceStarted;
using transport::TransportConfig;
using test::TransportPair;

struct Combo {
  KexAlg kex;
  SignatureAlg host_key;
  CipherAlg cipher;
  MacAlg mac;  // ignored for AEAD ciphers
};

std::string combo_name(const Combo& c) {
  std::string n = std::string(transport::name(c.kex)) + "_" + std::string(crypto::name(c.host_key)) +
                  "_" + std::string(crypto::name(c.cipher));
  if (!crypto::info(c.cipher).aead) n += "_" + std::string(crypto::name(c.mac));
  for (auto& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

std::vector<Combo> all_combos() {
  std::vector<Combo> out;
  for (auto kex : {KexAlg::mlkem768x25519_sha256, KexAlg::curve25519_sha256,
                   KexAlg::curve25519_sha256_libssh, KexAlg::ecdh_sha2_nistp256,
                   KexAlg::dh_group16_sha512, KexAlg::dh_group14_sha256})
    for (auto hk : {SignatureAlg::ssh_ed25519, SignatureAlg::ecdsa_sha2_nistp256,
                    SignatureAlg::rsa_sha2_512, SignatureAlg::rsa_sha2_256})
      for (auto cipher : {CipherAlg::chacha20_poly1305, CipherAlg::aes256_gcm, CipherAlg::aes128_gcm,
                          CipherAlg::aes256_ctr, CipherAlg::aes128_ctr}) {
        if (crypto::info(cipher).aead) {
          out.push_back({kex, hk, cipher, MacAlg::implicit});
          continue;
        }
        for (auto mac : {MacAlg::hmac_sha2_256_etm, MacAlg::hmac_sha2_512_etm, MacAlg::hmac_sha2_256,
                         MacAlg::hmac_sha2_512})
          out.push_back({kex, hk, cipher, mac});
      }
  return out;
}

std::pair<TransportConfig, TransportConfig> configs_for(const Combo& c) {
  auto [client, server] = test::default_configs();
  client.algorithms.kex = {c.kex};
  client.algorithms.host_key = {c.host_key};
  client.algorithms.ciphers = {c.cipher};
  if (!crypto::info(c.cipher).aead) client.algorithms.macs = {c.mac};
  // The server offers what the combination needs, beyond its defaults where
  // the combination is one offered only when configured.
  server.algorithms.kex = client.algorithms.kex;
  server.algorithms.macs = client.algorithms.macs;
  return {client, server};
}

/// A message of the layer above: number 94 (like CHANNEL_DATA) carrying `tag` and `size` bytes.
Bytes app_message(std::uint32_t tag, std::size_t size) {
  Bytes p;
  wire::Writer w(p);
  w.byte(94).uint32(tag);
  for (std::size_t i = 0; i < size; ++i) w.byte(static_cast<std::uint8_t>(tag * 31 + i));
  return p;
}

std::vector<Bytes> payloads(const std::vector<transport::Event>& events) {
  std::vector<Bytes> out;
  for (const auto& m : TransportPair::of_type<Message>(events)) out.push_back(m.payload);
  return out;
}

void expect_no_disconnect(const TransportPair& p) {
  for (const auto& d : TransportPair::of_type<Disconnected>(p.client_events))
    ADD_FAILURE() << "client disconnected: " << d.description;
  for (const auto& d : TransportPair::of_type<Disconnected>(p.server_events))
    ADD_FAILURE() << "server disconnected: " << d.description;
}

class EveryCombination : public ::testing::TestWithParam<Combo> {};

// Key exchange, service, data both ways, rekey from the client with data in
// flight, rekey from the server, and again: every byte arrives, in order.
TEST_P(EveryCombination, HandshakeDataAndRekeyLoseNothing) {
  const Combo c = GetParam();
  auto [client_config, server_config] = configs_for(c);
  TransportPair p(client_config, server_config);
  p.client.request_service("ssh-userauth");
  p.pump();
  expect_no_disconnect(p);
  auto kex = TransportPair::of_type<KexDone>(p.client_events);
  ASSERT_EQ(kex.size(), 1u);
  EXPECT_TRUE(kex[0].first);
  EXPECT_EQ(kex[0].algorithms.kex, c.kex);
  EXPECT_EQ(kex[0].algorithms.host_key, c.host_key);
  EXPECT_EQ(kex[0].algorithms.cipher_c2s, c.cipher);
  EXPECT_EQ(kex[0].algorithms.cipher_s2c, c.cipher);
  if (!crypto::info(c.cipher).aead) {
    EXPECT_EQ(kex[0].algorithms.mac_s2c, c.mac);
  }
  EXPECT_TRUE(kex[0].algorithms.strict_kex);
  ASSERT_EQ(TransportPair::of_type<ServiceStarted>(p.server_events).size(), 1u);
  ASSERT_EQ(TransportPair::of_type<ServiceAccepted>(p.client_events).size(), 1u);
  ASSERT_TRUE(p.client.session_id().has_value());
  EXPECT_EQ(p.client.session_id(), p.server.session_id());

  std::vector<Bytes> sent_c2s, sent_s2c;
  std::uint32_t tag = 0;
  auto send_both = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ++tag;
      Bytes a = app_message(tag, 100 + static_cast<std::size_t>(tag) * 37 % 3000);
      p.client.send(a);
      sent_c2s.push_back(a);
      ++tag;
      Bytes b = app_message(tag, static_cast<std::size_t>(tag) * 53 % 5000);
      p.server.send(b);
      sent_s2c.push_back(b);
    }
  };
  send_both(5);
  p.client.request_rekey(p.now);  // client-initiated, with data queued behind it
  send_both(5);
  p.pump();
  send_both(3);
  p.server.request_rekey(p.now);  // server-initiated
  send_both(3);
  p.pump();
  p.client.request_rekey(p.now);  // and again
  send_both(2);
  p.pump();

  expect_no_disconnect(p);
  EXPECT_EQ(p.client.kex_count(), 4u);
  EXPECT_EQ(p.server.kex_count(), 4u);
  EXPECT_EQ(payloads(p.server_events), sent_c2s);
  EXPECT_EQ(payloads(p.client_events), sent_s2c);
  EXPECT_EQ(p.client.session_id(), p.server.session_id());  // unchanged by rekeying
}

std::string combo_param_name(const ::testing::TestParamInfo<Combo>& p) { return combo_name(p.param); }
INSTANTIATE_TEST_SUITE_P(Transport, EveryCombination, ::testing::ValuesIn(all_combos()),
                         combo_param_name);

TEST(TransportPair, DifferentCipherEachDirection) {
  auto [client, server] = test::default_configs();
  // Client prefers GCM; server prefers chacha: the client's order wins (RFC 4253 §7.1).
  client.algorithms.ciphers = {CipherAlg::aes256_gcm, CipherAlg::chacha20_poly1305};
  server.algorithms.ciphers = {CipherAlg::chacha20_poly1305, CipherAlg::aes256_gcm};
  TransportPair p(client, server);
  p.pump();
  auto kex = TransportPair::of_type<KexDone>(p.server_events);
  ASSERT_EQ(kex.size(), 1u);
  EXPECT_EQ(kex[0].algorithms.cipher_c2s, CipherAlg::aes256_gcm);
}

TEST(TransportPair, NoCommonCipherFailsKeyExchange) {
  auto [client, server] = test::default_configs();
  client.algorithms.ciphers = {CipherAlg::aes128_ctr};
  server.algorithms.ciphers = {CipherAlg::chacha20_poly1305};
  TransportPair p(client, server);
  p.pump();
  auto d = TransportPair::of_type<Disconnected>(p.server_events);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].error, transport::TransportError::no_common_cipher);
  EXPECT_EQ(d[0].reason, transport::DisconnectReason::key_exchange_failed);
  auto dc = TransportPair::of_type<Disconnected>(p.client_events);
  ASSERT_EQ(dc.size(), 1u);  // the client either fails itself or hears the server's DISCONNECT
}

TEST(TransportPair, ClientRejectingHostKeyEndsBeforeAnythingElse) {
  auto [client, server] = test::default_configs();
  client.verify_host_key = [](const crypto::PublicKey&) { return false; };
  TransportPair p(client, server);
  p.client.request_service("ssh-userauth");
  p.pump();
  auto d = TransportPair::of_type<Disconnected>(p.client_events);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].error, transport::TransportError::host_key_rejected);
  EXPECT_EQ(d[0].reason, transport::DisconnectReason::host_key_not_verifiable);
  EXPECT_TRUE(TransportPair::of_type<ServiceStarted>(p.server_events).empty());
}

TEST(TransportPair, ClientWithoutVerifierFailsClosed) {
  auto [client, server] = test::default_configs();
  client.verify_host_key = nullptr;
  TransportPair p(client, server);
  p.pump();
  auto d = TransportPair::of_type<Disconnected>(p.client_events);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].error, transport::TransportError::host_key_rejected);
}

TEST(TransportPair, ServerAnnouncesServerSigAlgs) {
  auto [client, server] = test::default_configs();
  TransportPair p(client, server);
  p.pump();
  auto ext = TransportPair::of_type<transport::ServerSigAlgs>(p.client_events);
  ASSERT_EQ(ext.size(), 1u);
  EXPECT_EQ(ext[0].algorithms, (std::vector<std::string>{"ssh-ed25519", "ecdsa-sha2-nistp256",
                                                         "rsa-sha2-512", "rsa-sha2-256"}));
}

TEST(TransportPair, RekeyAfterByteLimit) {
  auto [client, server] = test::default_configs();
  client.rekey_bytes = 64 * 1024;
  TransportPair p(client, server);
  p.client.request_service("ssh-userauth");
  p.pump();
  std::vector<Bytes> sent;
  for (std::uint32_t i = 0; i < 40; ++i) {
    sent.push_back(app_message(i, 4000));
    p.client.send(sent.back());
    if (i % 7 == 0) p.pump();
  }
  p.pump();
  expect_no_disconnect(p);
  EXPECT_GE(p.client.kex_count(), 3u);  // 160 KB sent with a 64 KiB limit
  EXPECT_EQ(p.client.kex_count(), p.server.kex_count());
  EXPECT_EQ(payloads(p.server_events), sent);
}

TEST(TransportPair, OutputQueuedDuringPendingRekeyIsBoundedByPausingInput) {
  // A peer that leaves a key exchange open while asking for replies must not
  // make us queue them without bound: past max_kex_queue, input_paused() tells
  // the driver to stop reading, until our NEWKEYS lets the queue go.
  auto [client, server] = test::default_configs();
  server.max_kex_queue = 64 * 1024;
  TransportPair p(client, server);
  p.client.request_service("ssh-userauth");
  p.pump();
  ASSERT_FALSE(p.server.input_paused());
  p.server.request_rekey(p.now);  // our KEXINIT goes out; the peer does not answer yet
  Bytes kexinit;
  p.server.take_output(kexinit);
  std::vector<Bytes> sent;
  for (std::uint32_t i = 0; i < 4000 && !p.server.input_paused(); ++i) {
    sent.push_back(app_message(i, 1 + i % 7));  // small replies: 6..12 bytes each
    p.server.send(sent.back());
  }
  ASSERT_TRUE(p.server.input_paused()) << "4000 queued replies and still reading";
  // Each counts its bytes plus kex_queue_overhead: 64 KiB holds 64 KiB / (9 + 64)
  // of them on average, about 900; paused as soon as the bound was passed.
  EXPECT_GT(sent.size(), 800u);
  EXPECT_LT(sent.size(), 1000u);
  // The key exchange completes (the peer's messages are the ones it waits for)
  // and the queue drains: reading resumes and nothing queued is lost.
  p.client.receive(kexinit, p.now);
  p.pump();
  expect_no_disconnect(p);
  EXPECT_FALSE(p.server.input_paused());
  EXPECT_EQ(p.server.kex_count(), 2u);
  EXPECT_EQ(payloads(p.client_events), sent);
}

TEST(TransportPair, RekeyAfterTimeLimit) {
  auto [client, server] = test::default_configs();
  client.rekey_interval = std::chrono::seconds(60);
  TransportPair p(client, server);
  p.pump();
  ASSERT_EQ(p.client.kex_count(), 1u);
  ASSERT_TRUE(p.client.next_deadline().has_value());
  EXPECT_EQ(*p.client.next_deadline(), p.now + std::chrono::seconds(60));
  p.now += std::chrono::seconds(61);
  p.client.on_time(p.now);
  p.pump();
  EXPECT_EQ(p.client.kex_count(), 2u);
  EXPECT_EQ(p.server.kex_count(), 2u);
  expect_no_disconnect(p);
}

// ---- Every packet split at every byte ----

struct Recorded {
  Bytes c2s, s2c;
  std::vector<Bytes> server_payloads, client_payloads;
};

Recorded record_session(CipherAlg cipher, MacAlg mac) {
  auto [client, server] = test::default_configs();
  client.algorithms.ciphers = {cipher};
  if (mac != MacAlg::implicit) client.algorithms.macs = server.algorithms.macs = {mac};
  TransportPair p(client, server);
  p.client.request_service("ssh-userauth");
  p.pump();
  p.client.send(app_message(1, 10));
  p.server.send(app_message(2, 300));
  p.client.send(app_message(3, 1000));
  p.pump();
  Recorded r{p.c2s_stream, p.s2c_stream, payloads(p.server_events), payloads(p.client_events)};
  expect_no_disconnect(p);
  return r;
}

class SplitAtEveryByte : public ::testing::TestWithParam<std::pair<CipherAlg, MacAlg>> {};

// The server is deterministic (seeded RNG, fixed clock), so replaying the
// client's recorded bytes to a fresh server yields the same keys; delivering
// them in two pieces split at every position must give the same messages.
TEST_P(SplitAtEveryByte, ServerParsesEverySplit) {
  auto [cipher, mac] = GetParam();
  Recorded rec = record_session(cipher, mac);
  ASSERT_EQ(rec.server_payloads.size(), 2u);
  for (std::size_t split = 0; split <= rec.c2s.size(); ++split) {
    auto [client, server] = test::default_configs();
    (void)client;
    crypto::DeterministicRandom rng(2);
    server.role = transport::Role::server;
    if (mac != MacAlg::implicit) server.algorithms.macs = {mac};  // as recorded
    transport::Transport t(server, rng, test::test_epoch());
    BytesView all(rec.c2s);
    t.receive(all.first(split), test::test_epoch());
    t.receive(all.subspan(split), test::test_epoch());
    std::vector<transport::Event> events;
    while (auto e = t.poll_event()) events.push_back(std::move(*e));
    ASSERT_TRUE(TransportPair::of_type<Disconnected>(events).empty()) << "split at " << split;
    ASSERT_EQ(payloads(events), rec.server_payloads) << "split at " << split;
  }
}

TEST_P(SplitAtEveryByte, ClientParsesEverySplitAndByteByByte) {
  auto [cipher, mac] = GetParam();
  Recorded rec = record_session(cipher, mac);
  ASSERT_EQ(rec.client_payloads.size(), 1u);
  auto run = [&](auto feed) {
    auto [client, server] = test::default_configs();
    (void)server;
    client.role = transport::Role::client;
    client.algorithms.ciphers = {cipher};
    if (mac != MacAlg::implicit) client.algorithms.macs = server.algorithms.macs = {mac};
    crypto::DeterministicRandom rng(1);
    transport::Transport t(client, rng, test::test_epoch());
    t.request_service("ssh-userauth");
    feed(t);
    std::vector<transport::Event> events;
    while (auto e = t.poll_event()) events.push_back(std::move(*e));
    return events;
  };
  for (std::size_t split = 0; split <= rec.s2c.size(); ++split) {
    auto events = run([&](transport::Transport& t) {
      BytesView all(rec.s2c);
      t.receive(all.first(split), test::test_epoch());
      t.receive(all.subspan(split), test::test_epoch());
    });
    ASSERT_TRUE(TransportPair::of_type<Disconnected>(events).empty()) << "split at " << split;
    ASSERT_EQ(payloads(events), rec.client_payloads) << "split at " << split;
  }
  auto events = run([&](transport::Transport& t) {
    for (std::uint8_t b : rec.s2c) t.receive(BytesView(&b, 1), test::test_epoch());
  });
  EXPECT_EQ(payloads(events), rec.client_payloads);
}

std::string split_param_name(const ::testing::TestParamInfo<std::pair<CipherAlg, MacAlg>>& p) {
  std::string n = std::string(crypto::name(p.param.first));
  if (p.param.second != MacAlg::implicit) n += "_" + std::string(crypto::name(p.param.second));
  for (auto& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}
INSTANTIATE_TEST_SUITE_P(
    Transport, SplitAtEveryByte,
    ::testing::Values(std::pair{CipherAlg::chacha20_poly1305, MacAlg::implicit},
                      std::pair{CipherAlg::aes128_gcm, MacAlg::implicit},
                      std::pair{CipherAlg::aes128_ctr, MacAlg::hmac_sha2_256_etm},
                      std::pair{CipherAlg::aes256_ctr, MacAlg::hmac_sha2_512}),
    split_param_name);

}  // namespace
}  // namespace parley

namespace parley {
namespace {

TEST(TransportPair, HostKeyVerifiedOnceAcrossRekeys) {
  auto [client, server] = test::default_configs();
  int calls = 0;
  auto inner = client.verify_host_key;
  client.verify_host_key = [&calls, inner](const crypto::PublicKey& k) {
    ++calls;
    return inner(k);
  };
  TransportPair p(client, server);
  p.pump();
  p.client.request_rekey(p.now);
  p.pump();
  p.server.request_rekey(p.now);
  p.pump();
  EXPECT_EQ(p.client.kex_count(), 3u);
  EXPECT_EQ(calls, 1);
}

TEST(TransportPair, RekeyRefusedWithUnimplementedEndsTheConnection) {
  // OpenSSH's sshd answers a KEXINIT before user authentication with UNIMPLEMENTED.
  auto [client, server] = test::default_configs();
  TransportPair p(client, server);
  p.pump();
  ASSERT_EQ(p.client.kex_count(), 1u);
  p.client.request_rekey(p.now);
  Bytes dropped;
  p.client.take_output(dropped);  // the server never sees our KEXINIT...
  p.server.send_unimplemented(0);  // ...and refuses it (strict kex: the first packet after NEWKEYS is seq 0)
  p.pump();
  auto d = TransportPair::of_type<Disconnected>(p.client_events);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].error, transport::TransportError::kex_refused);
  EXPECT_EQ(d[0].reason, transport::DisconnectReason::key_exchange_failed);
}

TEST(TransportPair, UnimplementedForAnotherMessageIsHarmless) {
  auto [client, server] = test::default_configs();
  TransportPair p(client, server);
  p.pump();
  p.client.request_rekey(p.now);
  p.server.send_unimplemented(12345);
  p.pump();
  EXPECT_EQ(p.client.kex_count(), 2u);
  expect_no_disconnect(p);
}

}  // namespace
}  // namespace parley

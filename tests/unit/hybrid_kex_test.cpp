// mlkem768x25519-sha256: the hybrid's primitive (crypto::kex_respond and the
// client's key pair) and both roles of the transport against hostile values:
// a value of the wrong length, an encapsulation key failing FIPS 203's modulus
// check, an all-zero X25519 share and a tampered ciphertext each end the
// connection with a key-exchange error.
#include <gtest/gtest.h>

#include "parley/crypto/kex.hpp"
#include "parley/crypto/mlkem.hpp"
#include "parley/transport/packet.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using crypto::CryptoError;
using crypto::KexGroup;
using transport::DisconnectReason;
using transport::Disconnected;
using transport::KexAlg;
using transport::TransportError;

constexpr std::size_t ek_size = crypto::mlkem768::encapsulation_key_size;
constexpr std::size_t ct_size = crypto::mlkem768::ciphertext_size;

std::unique_ptr<crypto::KexKeyPair> client_pair(crypto::Random& rng) {
  auto kp = crypto::KexKeyPair::generate(KexGroup::mlkem768_x25519, rng);
  EXPECT_TRUE(kp.has_value());
  return kp ? std::move(*kp) : nullptr;
}

Bytes copy(BytesView v) { return Bytes(v.begin(), v.end()); }

/// Sets the first coefficient of the encoded t-hat to 0xFFF (>= q = 3329).
void break_modulus(Bytes& init) {
  init[0] = 0xff;
  init[1] = static_cast<std::uint8_t>(init[1] | 0x0f);
}

/// `value` cut or extended to 0, 32, one less and one more bytes is refused by
/// `use` as an invalid public value.
template <class Use>
void expect_refused_at_other_lengths(BytesView value, Use use) {
  for (std::size_t n : {std::size_t{0}, std::size_t{32}, value.size() - 1, value.size() + 1}) {
    Bytes v = copy(value);
    v.resize(n, 0x42);
    auto r = use(BytesView(v));
    ASSERT_FALSE(r.has_value()) << n;
    EXPECT_EQ(r.error(), CryptoError::invalid_public_value) << n;
  }
}

// ---------------------------------------------------------------------------
// The primitive

TEST(HybridKex, BothSidesAgreeOnA32ByteSecret) {
  crypto::SystemRandom rng;
  auto client = client_pair(rng);
  ASSERT_TRUE(client);
  ASSERT_EQ(client->public_value().size(), crypto::mlkem768_x25519_init_size);
  auto response = crypto::kex_respond(KexGroup::mlkem768_x25519, client->public_value(), rng);
  ASSERT_TRUE(response.has_value());
  ASSERT_EQ(response->reply.size(), crypto::mlkem768_x25519_reply_size);
  auto k = client->derive(response->reply);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->size(), 32u);
  EXPECT_TRUE(*k == response->shared);
}

// K = SHA-256(K_PQ || K_CL): recomputed here from the two halves, each made
// with the separate primitives (ML-KEM decapsulation, plain X25519).
TEST(HybridKex, SecretIsSha256OfKemSecretThenX25519Secret) {
  crypto::DeterministicRandom rng(21);
  auto kem = crypto::mlkem768::generate(rng);
  ASSERT_TRUE(kem.has_value());
  auto x_client = crypto::KexKeyPair::generate(KexGroup::x25519, rng);
  ASSERT_TRUE(x_client.has_value());
  Bytes init = kem->ek;
  const BytesView xc = (*x_client)->public_value();
  init.insert(init.end(), xc.begin(), xc.end());

  auto response = crypto::kex_respond(KexGroup::mlkem768_x25519, init, rng);
  ASSERT_TRUE(response.has_value());
  const BytesView reply = response->reply;
  auto k_pq = crypto::mlkem768::decapsulate(kem->dk, reply.first(ct_size));
  ASSERT_TRUE(k_pq.has_value());
  auto k_cl = (*x_client)->derive(reply.subspan(ct_size));
  ASSERT_TRUE(k_cl.has_value());
  Bytes both = copy(k_pq->view());
  both.insert(both.end(), k_cl->view().begin(), k_cl->view().end());
  EXPECT_EQ(to_hex(crypto::digest(crypto::HashAlg::sha256, both)), to_hex(copy(response->shared.view())));
}

TEST(HybridKex, ServerRefusesInitOfTheWrongLength) {
  crypto::SystemRandom rng;
  auto client = client_pair(rng);
  ASSERT_TRUE(client);
  expect_refused_at_other_lengths(client->public_value(), [&](BytesView v) {
    return crypto::kex_respond(KexGroup::mlkem768_x25519, v, rng);
  });
}

TEST(HybridKex, ServerRefusesAnEncapsulationKeyFailingTheModulusCheck) {
  crypto::SystemRandom rng;
  auto client = client_pair(rng);
  ASSERT_TRUE(client);
  Bytes init = copy(client->public_value());
  break_modulus(init);
  auto r = crypto::kex_respond(KexGroup::mlkem768_x25519, init, rng);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), CryptoError::invalid_public_value);
}

TEST(HybridKex, AllZeroX25519ShareIsRefusedByBothSides) {
  crypto::SystemRandom rng;
  auto client = client_pair(rng);
  ASSERT_TRUE(client);
  Bytes init = copy(client->public_value());
  std::fill(init.begin() + ek_size, init.end(), 0);
  auto r = crypto::kex_respond(KexGroup::mlkem768_x25519, init, rng);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), CryptoError::invalid_shared_secret);

  auto good = crypto::kex_respond(KexGroup::mlkem768_x25519, client->public_value(), rng);
  ASSERT_TRUE(good.has_value());
  Bytes reply = good->reply;
  std::fill(reply.begin() + ct_size, reply.end(), 0);
  auto k = client->derive(reply);
  ASSERT_FALSE(k.has_value());
  EXPECT_EQ(k.error(), CryptoError::invalid_shared_secret);
}

TEST(HybridKex, ClientRefusesReplyOfTheWrongLength) {
  crypto::SystemRandom rng;
  auto client = client_pair(rng);
  ASSERT_TRUE(client);
  auto good = crypto::kex_respond(KexGroup::mlkem768_x25519, client->public_value(), rng);
  ASSERT_TRUE(good.has_value());
  expect_refused_at_other_lengths(good->reply, [&](BytesView v) { return client->derive(v); });
}

// ML-KEM's implicit rejection: a tampered ciphertext still decapsulates, to a
// key the server does not have.
TEST(HybridKex, TamperedCiphertextGivesADifferentSecret) {
  crypto::SystemRandom rng;
  auto client = client_pair(rng);
  ASSERT_TRUE(client);
  auto good = crypto::kex_respond(KexGroup::mlkem768_x25519, client->public_value(), rng);
  ASSERT_TRUE(good.has_value());
  Bytes reply = good->reply;
  reply[100] ^= 0x01;
  auto k = client->derive(reply);
  ASSERT_TRUE(k.has_value());
  EXPECT_FALSE(*k == good->shared);
}

// ---------------------------------------------------------------------------
// The transport, both roles

/// Plaintext packets of one side's output up to its NEWKEYS, and its identification.
struct Flight {
  std::string ident;
  std::vector<Bytes> payloads;
};

Flight split(const Bytes& stream) {
  Flight f;
  std::string_view text = as_chars(stream);
  const std::size_t eol = text.find("\r\n");
  f.ident = std::string(text.substr(0, eol + 2));
  Bytes buf(stream.begin() + static_cast<std::ptrdiff_t>(eol + 2), stream.end());
  transport::PacketDecoder dec;
  std::size_t pos = 0;
  while (pos < buf.size()) {
    auto r = dec.decode(std::span<std::uint8_t>(buf).subspan(pos));
    if (!r || !*r) break;
    f.payloads.emplace_back((*r)->payload.begin(), (*r)->payload.end());
    pos += (*r)->consumed;
    if (f.payloads.back()[0] == transport::msg::newkeys) break;
  }
  return f;
}

Bytes replay(const Flight& f, std::size_t packets) {
  Bytes out(f.ident.begin(), f.ident.end());
  for (std::size_t i = 0; i < packets && i < f.payloads.size(); ++i) {
    Bytes p = test::plain_packet(f.payloads[i]);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

/// The value field of a KEX_ECDH_INIT (index 1) or KEX_ECDH_REPLY (index 2).
Bytes value_of(const Bytes& payload, int index) {
  wire::Reader r(payload);
  r.byte();
  BytesView v;
  for (int i = 0; i < index; ++i) v = r.string(1 << 16);
  return copy(v);
}

Bytes with_init_value(BytesView value) {
  Bytes p;
  wire::Writer(p).byte(transport::msg::kex_ecdh_init).string(value);
  return p;
}

Bytes with_reply_value(const Bytes& reply, BytesView value) {
  wire::Reader r(reply);
  r.byte();
  BytesView k_s = r.string(1 << 16);
  r.string(1 << 16);
  BytesView sig = r.string(1 << 16);
  Bytes p;
  wire::Writer(p).byte(transport::msg::kex_ecdh_reply).string(k_s).string(value).string(sig);
  return p;
}

struct Ended {
  bool closed = false;
  std::optional<Disconnected> disconnected;
  std::optional<std::uint32_t> wire_reason;
};

template <class Mutate>
Ended server_fed_tampered_init(Mutate mutate) {
  auto [cc, sc] = test::default_configs();
  cc.algorithms.kex = {KexAlg::mlkem768x25519_sha256};
  crypto::DeterministicRandom crng(31), srng(32);
  const auto now = test::test_epoch();
  transport::Transport client(cc, crng, now);
  transport::Transport server(sc, srng, now);
  Bytes s_out;
  server.take_output(s_out);
  client.receive(s_out, now);  // the server's KEXINIT: the client sends its init
  Bytes c_out;
  client.take_output(c_out);
  Flight f = split(c_out);
  EXPECT_EQ(f.payloads.size(), 2u);  // KEXINIT, KEX_ECDH_INIT
  if (f.payloads.size() != 2u) return {};
  Bytes value = value_of(f.payloads[1], 1);
  EXPECT_EQ(value.size(), crypto::mlkem768_x25519_init_size);
  mutate(value);
  f.payloads[1] = with_init_value(value);
  server.receive(replay(f, 2), now);
  Ended e;
  e.closed = server.closed();
  server.take_output(s_out);  // after its identification and KEXINIT
  e.wire_reason = test::plaintext_disconnect_reason(s_out);
  while (auto ev = server.poll_event())
    if (auto* d = std::get_if<Disconnected>(&*ev)) e.disconnected = *d;
  return e;
}

template <class Mutate>
Ended client_fed_tampered_reply(Mutate mutate) {
  auto [cc, sc] = test::default_configs();
  cc.algorithms.kex = {KexAlg::mlkem768x25519_sha256};
  crypto::DeterministicRandom crng(41), srng(42);
  const auto now = test::test_epoch();
  transport::Transport client(cc, crng, now);
  transport::Transport server(sc, srng, now);
  Bytes c_out, s_out;
  client.take_output(c_out);
  server.take_output(s_out);
  client.receive(s_out, now);
  client.take_output(c_out);  // ident, KEXINIT, KEX_ECDH_INIT
  server.receive(c_out, now);
  s_out.clear();
  server.take_output(s_out);  // KEX_ECDH_REPLY, NEWKEYS (ident and KEXINIT already taken)
  const std::string ident = "SSH-2.0-x\r\n";  // split() expects one first
  Bytes stream(ident.begin(), ident.end());
  stream.insert(stream.end(), s_out.begin(), s_out.end());
  Flight f = split(stream);
  EXPECT_GE(f.payloads.size(), 1u);
  if (f.payloads.empty() || f.payloads[0][0] != transport::msg::kex_ecdh_reply) {
    ADD_FAILURE() << "no KEX_ECDH_REPLY from the server";
    return {};
  }
  Bytes value = value_of(f.payloads[0], 2);
  EXPECT_EQ(value.size(), crypto::mlkem768_x25519_reply_size);
  mutate(value);
  Bytes tampered = test::plain_packet(with_reply_value(f.payloads[0], value));
  client.receive(tampered, now);
  Ended e;
  e.closed = client.closed();
  while (auto ev = client.poll_event())
    if (auto* d = std::get_if<Disconnected>(&*ev)) e.disconnected = *d;
  return e;
}

void expect_kex_failure(const Ended& e, TransportError error, DisconnectReason reason) {
  EXPECT_TRUE(e.closed);
  ASSERT_TRUE(e.disconnected.has_value());
  EXPECT_EQ(e.disconnected->error, error) << transport::to_string(e.disconnected->error);
  EXPECT_EQ(e.disconnected->reason, reason);
}

TEST(HybridKexTransport, UntamperedExchangeCompletesInBothRoles) {
  Ended s = server_fed_tampered_init([](Bytes&) {});
  EXPECT_FALSE(s.closed);
  Ended c = client_fed_tampered_reply([](Bytes&) {});
  EXPECT_FALSE(c.closed);
}

TEST(HybridKexTransport, ServerEndsOnInitOfTheWrongLength) {
  Ended e = server_fed_tampered_init([](Bytes& v) { v.pop_back(); });
  expect_kex_failure(e, TransportError::invalid_kex_value, DisconnectReason::key_exchange_failed);
  EXPECT_EQ(e.wire_reason, static_cast<std::uint32_t>(DisconnectReason::key_exchange_failed));
}

TEST(HybridKexTransport, ServerEndsOnEncapsulationKeyFailingTheModulusCheck) {
  Ended e = server_fed_tampered_init([](Bytes& v) { break_modulus(v); });
  expect_kex_failure(e, TransportError::invalid_kex_value, DisconnectReason::key_exchange_failed);
}

TEST(HybridKexTransport, ServerEndsOnAllZeroX25519Share) {
  Ended e = server_fed_tampered_init([](Bytes& v) { std::fill(v.begin() + ek_size, v.end(), 0); });
  expect_kex_failure(e, TransportError::invalid_kex_value, DisconnectReason::key_exchange_failed);
}

TEST(HybridKexTransport, ClientEndsOnReplyOfTheWrongLength) {
  Ended e = client_fed_tampered_reply([](Bytes& v) { v.push_back(0); });
  expect_kex_failure(e, TransportError::invalid_kex_value, DisconnectReason::key_exchange_failed);
}

TEST(HybridKexTransport, ClientEndsOnAllZeroX25519Share) {
  Ended e = client_fed_tampered_reply([](Bytes& v) { std::fill(v.begin() + ct_size, v.end(), 0); });
  expect_kex_failure(e, TransportError::invalid_kex_value, DisconnectReason::key_exchange_failed);
}

// The tampered ciphertext decapsulates (implicit rejection) to a K the server
// did not sign over: the host-key signature check ends the exchange.
TEST(HybridKexTransport, ClientEndsOnTamperedCiphertext) {
  Ended e = client_fed_tampered_reply([](Bytes& v) { v[7] ^= 0x80; });
  expect_kex_failure(e, TransportError::bad_host_key_signature,
                     DisconnectReason::host_key_not_verifiable);
}

}  // namespace
}  // namespace parley

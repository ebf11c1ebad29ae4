// The server's half of a key exchange made by a delegate (privilege separation:
// the host private key is elsewhere). The server Transport holds only the
// public key; a Signer plays the key's holder. The client is an ordinary
// Transport that verifies the host key.
#include <gtest/gtest.h>

#include <optional>

#include "parley/crypto/kex.hpp"
#include "parley/transport/exchange_hash.hpp"
#include "parley/transport/transport.hpp"
#include "transport_pair.hpp"

namespace parley::transport {
namespace {

/// Holds the host private key and answers as privsep's monitor does.
struct Signer {
  crypto::PrivateKey key = test::test_host_key("ed25519");
  crypto::DeterministicRandom rng{5};

  KexAnswer answer(const KexSignRequest& r) {
    auto response = crypto::kex_respond(kex_group(r.kex), r.q_c, rng);
    EXPECT_TRUE(response);
    const Bytes& k_s = key.public_key().blob();
    const crypto::SecretBytes k_enc = encode_shared_secret(r.kex, response->shared);
    Bytes h = exchange_hash({r.kex, r.v_c, r.v_s, r.i_c, r.i_s, k_s, r.q_c, response->reply}, k_enc.view());
    return KexAnswer{k_s, response->reply, response->shared, key.sign(r.host_key_alg, h), h};
  }
};

/// The error of the one Disconnected among `events`, if there is exactly one.
std::optional<TransportError> ended_with(const std::vector<Event>& events) {
  auto ended = test::TransportPair::of_type<Disconnected>(events);
  if (ended.size() != 1) return std::nullopt;
  return ended[0].error;
}

/// A pair whose server has only the public host key and a delegate that
/// records each request.
struct DelegatedPair {
  Signer signer;
  std::vector<KexSignRequest> requests;
  test::TransportPair pair;

  DelegatedPair() : pair(configs().first, configs().second) {
    pair.server.set_kex_delegate([this](KexSignRequest r) { requests.push_back(std::move(r)); });
  }
  static std::pair<TransportConfig, TransportConfig> configs() {
    auto [client, server] = test::default_configs();
    server.host_public_keys = {test::test_host_key("ed25519").public_key()};
    server.host_keys.clear();  // the private key is the Signer's alone
    return {client, server};
  }
  std::size_t kex_done(const std::vector<Event>& events) {
    return test::TransportPair::of_type<KexDone>(events).size();
  }
};

TEST(DelegatedKex, ServerWaitsForTheAnswerThenBothSidesKeyTheConnection) {
  DelegatedPair p;
  p.pair.pump();
  ASSERT_EQ(p.requests.size(), 1u);
  const KexSignRequest& r = p.requests[0];
  EXPECT_EQ(r.host_key_alg, crypto::SignatureAlg::ssh_ed25519);
  EXPECT_EQ(r.v_s, "SSH-2.0-parley_0.1");
  EXPECT_EQ(r.v_c.substr(0, 8), "SSH-2.0-");
  EXPECT_FALSE(r.q_c.empty());
  EXPECT_TRUE(p.pair.server.kex_awaiting_answer());
  EXPECT_TRUE(p.pair.server.input_paused()) << "the driver must stop reading while the signer works";
  EXPECT_EQ(p.kex_done(p.pair.client_events), 0u);

  KexAnswer answer = p.signer.answer(r);
  const Bytes h = answer.h;
  p.pair.server.kex_answered(std::move(answer));
  p.pair.pump();
  EXPECT_FALSE(p.pair.server.kex_awaiting_answer());
  EXPECT_FALSE(p.pair.server.input_paused());
  EXPECT_EQ(p.kex_done(p.pair.client_events), 1u);
  EXPECT_EQ(p.kex_done(p.pair.server_events), 1u);
  ASSERT_TRUE(p.pair.client.session_id() && p.pair.server.session_id());
  EXPECT_EQ(*p.pair.client.session_id(), *p.pair.server.session_id());
  EXPECT_EQ(*p.pair.server.session_id(), h) << "the session id is the signer's H";
  EXPECT_FALSE(p.pair.client.closed());
}

TEST(DelegatedKex, AnAnswerGivenInsideTheDelegateWorks) {
  Signer signer;
  auto [client, server] = DelegatedPair::configs();
  test::TransportPair pair(client, server);
  int asked = 0;
  pair.server.set_kex_delegate([&](KexSignRequest r) {
    ++asked;
    pair.server.kex_answered(signer.answer(r));
  });
  pair.pump();
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(test::TransportPair::of_type<KexDone>(pair.client_events).size(), 1u);
  EXPECT_EQ(test::TransportPair::of_type<KexDone>(pair.server_events).size(), 1u);
}

TEST(DelegatedKex, RekeyingGoesThroughTheDelegateToo) {
  DelegatedPair p;
  p.pair.server.set_kex_delegate([&](KexSignRequest r) {
    p.requests.push_back(r);
    p.pair.server.kex_answered(p.signer.answer(r));
  });
  p.pair.pump();
  const Bytes session_id = *p.pair.server.session_id();
  p.pair.client.request_rekey(p.pair.now);
  p.pair.pump();
  EXPECT_EQ(p.requests.size(), 2u);
  EXPECT_EQ(p.pair.server.kex_count(), 2u);
  EXPECT_EQ(p.pair.client.kex_count(), 2u);
  EXPECT_EQ(*p.pair.server.session_id(), session_id) << "the session id is the first exchange's";
  EXPECT_FALSE(p.pair.client.closed());
}

TEST(DelegatedKex, ARefusalEndsTheConnection) {
  DelegatedPair p;
  p.pair.pump();
  ASSERT_EQ(p.requests.size(), 1u);
  p.pair.server.kex_answered(std::unexpected(TransportError::kex_signer_refused));
  p.pair.pump();
  EXPECT_EQ(ended_with(p.pair.server_events), TransportError::kex_signer_refused);
  EXPECT_TRUE(p.pair.client.closed());
  EXPECT_FALSE(p.pair.server.input_paused());
}

TEST(DelegatedKex, AnAnswerWithAnotherExchangeHashIsRefused) {
  DelegatedPair p;
  p.pair.pump();
  ASSERT_EQ(p.requests.size(), 1u);
  // A signer that signs some other H (say, another connection's transcript).
  KexSignRequest other = p.requests[0];
  other.v_c = "SSH-2.0-someone_else";
  KexAnswer wrong = p.signer.answer(other);
  p.pair.server.kex_answered(std::move(wrong));
  p.pair.pump();
  EXPECT_EQ(ended_with(p.pair.server_events), TransportError::kex_answer_mismatch);
  EXPECT_EQ(test::TransportPair::of_type<KexDone>(p.pair.client_events).size(), 0u);
}

TEST(DelegatedKex, AnAnswerWithAnotherHostKeyIsRefused) {
  DelegatedPair p;
  p.pair.pump();
  ASSERT_EQ(p.requests.size(), 1u);
  crypto::DeterministicRandom rng(11);
  p.signer.key = crypto::PrivateKey::generate_ed25519(rng);  // consistent H, but not our key
  p.pair.server.kex_answered(p.signer.answer(p.requests[0]));
  p.pair.pump();
  EXPECT_EQ(ended_with(p.pair.server_events), TransportError::kex_answer_mismatch);
}

TEST(DelegatedKex, ASignerThatNeverAnswersMeetsTheKexTimeout) {
  DelegatedPair p;
  p.pair.pump();
  ASSERT_TRUE(p.pair.server.kex_awaiting_answer());
  auto deadline = p.pair.server.next_deadline();
  ASSERT_TRUE(deadline);
  p.pair.server.on_time(*deadline);
  p.pair.drain();
  EXPECT_EQ(ended_with(p.pair.server_events), TransportError::kex_timeout);
  // A late answer is ignored.
  p.pair.server.kex_answered(p.signer.answer(p.requests[0]));
  EXPECT_TRUE(p.pair.server.closed());
}

TEST(DelegatedKex, InputArrivingByteByByteWhileWaitingIsKeptForLater) {
  DelegatedPair p;
  p.pair.chunk = 1;
  p.pair.pump();
  ASSERT_EQ(p.requests.size(), 1u);
  // Every byte arrives on its own, through the wait, the answer and the
  // NEWKEYS after it, for the first exchange and a re-exchange.
  p.pair.server.kex_answered(p.signer.answer(p.requests[0]));
  p.pair.pump();
  EXPECT_EQ(p.kex_done(p.pair.client_events), 1u);
  EXPECT_EQ(p.kex_done(p.pair.server_events), 1u);
  p.pair.client.request_rekey(p.pair.now);
  p.pair.pump();
  ASSERT_EQ(p.requests.size(), 2u);
  p.pair.server.kex_answered(p.signer.answer(p.requests[1]));
  p.pair.pump();
  EXPECT_EQ(p.pair.server.kex_count(), 2u);
  EXPECT_FALSE(p.pair.server.closed());
}

TEST(DelegatedKex, BytesArrivingWhileWaitingAreProcessedOnlyAfterTheAnswer) {
  DelegatedPair p;
  p.pair.pump();
  ASSERT_TRUE(p.pair.server.kex_awaiting_answer());
  const Bytes garbage(64, 0x42);  // a packet_length of 0x42424242
  p.pair.server.receive(garbage, p.pair.now);
  p.pair.drain();
  EXPECT_FALSE(p.pair.server.closed()) << "nothing is processed while the signer works";
  p.pair.server.kex_answered(p.signer.answer(p.requests[0]));
  p.pair.drain();
  EXPECT_EQ(ended_with(p.pair.server_events), TransportError::packet_too_long);
}

TEST(DelegatedKex, OnlyPublicHostKeysAndNoDelegateFailsClosed) {
  auto [client, server] = DelegatedPair::configs();
  test::TransportPair pair(client, server);
  pair.pump();
  EXPECT_EQ(ended_with(pair.server_events), TransportError::no_common_host_key_alg);
}

}  // namespace
}  // namespace parley::transport

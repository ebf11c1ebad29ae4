// Known answers for the key schedule: RFC 4253 §7.2 key derivation against
// vectors computed with Python's hashlib, and, for every key exchange method,
// the exchange hash recomputed from the wire transcript (RFC 4253 §8,
// RFC 5656 §4, RFC 8731) and used to decrypt the first protected packet.
#include <gtest/gtest.h>

#include "parley/crypto/hash.hpp"
#include "parley/crypto/kdf.hpp"
#include "parley/crypto/kex.hpp"
#include "parley/transport/packet.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using crypto::HashAlg;

// Vectors: K = mpint(8f 11*31), H = sha256("parley exchange hash"),
// session_id = sha256("parley session id"); made with hashlib, not with parley.
struct KdfVector {
  HashAlg hash;
  char letter;
  std::size_t length;
  const char* expected;
};
const KdfVector kdf_vectors[] = {
    {HashAlg::sha256, 'A', 12, "7172fff461c58652f243523c"},
    {HashAlg::sha256, 'C', 64, "62f59fa11f253be795392d9ef471150be04c83ea38ebb2226fb2d5c60ee83465d0a5b661de525c4d071388db504cd8fe104668b3bf76adfb643b20b8f1f81140"},
    {HashAlg::sha256, 'E', 64, "c8d3a286fbb877e5ea88dcd59eeb85392493a5b60f504d15eace0e1256c8ef6116bf253c26e20b7cb3db8a6855cd6513162a0a9f3774b8660cb4d5ce9aa56cfc"},
    {HashAlg::sha256, 'F', 128, "e62b3d39db3f991901030279b1cf9ef9e6170f5812183f37b9e2dc96d77d45ba663459cebe048c44af6a947c617e53b1406851ae8b02fea850be70a0071df4fdf0a7c2ab9bd5e164af595421e9bb39985cebd18f4c0419876059feb8c449e535fb900e6415673da1aa8cc1946c369cc4b33e530d42862262b3bc8a42590a6c45"},
    {HashAlg::sha512, 'A', 12, "f5c589dd57559d4327717c17"},
    {HashAlg::sha512, 'C', 64, "5af3a51c95a2fc8543e61038a1b0aca34fab46652af388bb984807fd3a7660b51433d526fe79b405b5d9e1ba027f21ec59a0dbb7b075c0a7440335371d99a384"},
    {HashAlg::sha512, 'E', 64, "c98f403b347f0f1cc573180711ea8f3a4f4177e51d560ccc28876c0fd9a5264fcfe203de76d98c208dac15905c6bfaa75d3c1a1a409391313eef23925d85d237"},
    {HashAlg::sha512, 'F', 128, "68c8ca25fbf0ba87ee12ca561c0c0bdb37920cab58a1839ee0963d560e6d749752d41b11ede9892c558468b9aaf7abf3d93cb11115826f9620770d3af2dde89dcdf86aab6fbc40d4f8852d295d4bc3834107f18c652e085fa803dac48084a176cbe4cbbcca3843b1e246b1eaf02339e6a480e460e3ff9fdf5b5b4adb3e268ee3"},
};

TEST(KeyDerivation, MatchesIndependentVectors) {
  const Bytes k = from_hex("00000021008f11111111111111111111111111111111111111111111111111111111111111");
  const Bytes h = crypto::digest(HashAlg::sha256, as_bytes("parley exchange hash"));
  const Bytes sid = crypto::digest(HashAlg::sha256, as_bytes("parley session id"));
  for (const auto& v : kdf_vectors) {
    auto key = crypto::derive_ssh_key(v.hash, k, h, v.letter, sid, v.length);
    EXPECT_EQ(to_hex(key.view()), v.expected) << v.letter << " " << v.length;
  }
}

/// Records every fill so a test can find the client's ephemeral private value.
class RecordingRandom final : public crypto::Random {
 public:
  explicit RecordingRandom(std::uint64_t seed) : inner_(seed) {}
  void fill(std::span<std::uint8_t> out) override {
    inner_.fill(out);
    fills.emplace_back(out.begin(), out.end());
  }
  std::vector<Bytes> fills;

 private:
  crypto::DeterministicRandom inner_;
};

/// Replays recorded fills from a starting index, concatenated.
class ReplayRandom final : public crypto::Random {
 public:
  ReplayRandom(const std::vector<Bytes>& fills, std::size_t start) {
    for (std::size_t i = start; i < fills.size(); ++i) stream_.insert(stream_.end(), fills[i].begin(), fills[i].end());
  }
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = pos_ < stream_.size() ? stream_[pos_++] : 0;
  }

 private:
  Bytes stream_;
  std::size_t pos_ = 0;
};

/// Splits "ident\r\n" + plaintext packets off a recorded stream.
struct Transcript {
  std::string ident;
  std::vector<Bytes> payloads;  // the first `count` plaintext packets
  Bytes rest;                   // what follows (encrypted)
};

Transcript split_transcript(const Bytes& stream, std::size_t count) {
  Transcript t;
  std::string_view text = as_chars(stream);
  std::size_t eol = text.find("\r\n");
  t.ident = std::string(text.substr(0, eol));
  Bytes buf(stream.begin() + static_cast<std::ptrdiff_t>(eol + 2), stream.end());
  transport::PacketDecoder dec;
  std::size_t pos = 0;
  while (t.payloads.size() < count) {
    auto r = dec.decode(std::span<std::uint8_t>(buf).subspan(pos));
    if (!r || !*r) break;
    t.payloads.emplace_back((*r)->payload.begin(), (*r)->payload.end());
    pos += (*r)->consumed;
  }
  t.rest.assign(buf.begin() + static_cast<std::ptrdiff_t>(pos), buf.end());
  return t;
}

/// RFC 4253 §7.2 written out with plain hashing (independent of SSHKDF).
Bytes manual_kdf(HashAlg alg, BytesView k_mpint, BytesView h, char letter, BytesView sid, std::size_t n) {
  crypto::Hasher first(alg);
  const std::uint8_t l = static_cast<std::uint8_t>(letter);
  first.update(k_mpint).update(h).update(BytesView(&l, 1)).update(sid);
  Bytes out = first.finish();
  while (out.size() < n) {
    crypto::Hasher more(alg);
    more.update(k_mpint).update(h).update(out);
    Bytes next = more.finish();
    out.insert(out.end(), next.begin(), next.end());
  }
  out.resize(n);
  return out;
}

class ExchangeHash : public ::testing::TestWithParam<transport::KexAlg> {};

TEST_P(ExchangeHash, RecomputedFromTranscriptDecryptsFirstPacket) {
  const transport::KexAlg kex = GetParam();
  const bool dh = transport::kex_uses_mpint(kex);
  auto [client_config, server_config] = test::default_configs();
  client_config.role = transport::Role::client;
  server_config.role = transport::Role::server;
  client_config.algorithms.kex = {kex};
  server_config.algorithms.kex = {kex};  // some are offered only when configured
  client_config.algorithms.host_key = {crypto::SignatureAlg::ssh_ed25519};
  client_config.algorithms.ciphers = {crypto::CipherAlg::aes128_gcm};

  RecordingRandom client_rng(11);
  crypto::DeterministicRandom server_rng(12);
  transport::Instant now = test::test_epoch();
  transport::Transport client(client_config, client_rng, now);
  transport::Transport server(server_config, server_rng, now);
  client.request_service("ssh-userauth");
  Bytes c2s_all, s2c_all;
  for (int i = 0; i < 20; ++i) {
    Bytes a, b;
    client.take_output(a);
    server.take_output(b);
    if (a.empty() && b.empty()) break;
    c2s_all.insert(c2s_all.end(), a.begin(), a.end());
    s2c_all.insert(s2c_all.end(), b.begin(), b.end());
    server.receive(a, now);
    client.receive(b, now);
  }
  ASSERT_EQ(client.kex_count(), 1u);
  ASSERT_TRUE(client.session_id().has_value());

  // c2s: KEXINIT, ECDH/DH INIT, NEWKEYS; s2c: KEXINIT, REPLY, NEWKEYS.
  Transcript c = split_transcript(c2s_all, 3);
  Transcript s = split_transcript(s2c_all, 3);
  ASSERT_EQ(c.payloads.size(), 3u);
  ASSERT_EQ(s.payloads.size(), 3u);
  const Bytes& i_c = c.payloads[0];
  const Bytes& i_s = s.payloads[0];
  wire::Reader init(c.payloads[1]);
  ASSERT_EQ(init.byte(), 30);
  BytesView q_c = dh ? init.mpint_positive() : init.string();
  ASSERT_TRUE(init.finish().has_value());
  wire::Reader reply(s.payloads[1]);
  ASSERT_EQ(reply.byte(), 31);
  BytesView k_s = reply.string();
  BytesView q_s = dh ? reply.mpint_positive() : reply.string();
  BytesView sig = reply.string();
  ASSERT_TRUE(reply.finish().has_value());

  // Recover the client's ephemeral key from its recorded randomness.
  std::unique_ptr<crypto::KexKeyPair> ours;
  for (std::size_t start = 0; start < client_rng.fills.size() && !ours; ++start) {
    ReplayRandom replay(client_rng.fills, start);
    auto kp = crypto::KexKeyPair::generate(transport::kex_group(kex), replay);
    if (kp && std::equal((*kp)->public_value().begin(), (*kp)->public_value().end(), q_c.begin(), q_c.end()))
      ours = std::move(*kp);
  }
  ASSERT_TRUE(ours) << "client ephemeral not found among its random draws";
  auto k = ours->derive(q_s);
  ASSERT_TRUE(k.has_value());
  // K enters the hash as an mpint (RFC 4253 §8), except for the hybrid, whose
  // 32-byte SHA-256(K_PQ || K_CL) OpenSSH hashes as a string.
  Bytes k_mpint;
  if (kex == transport::KexAlg::mlkem768x25519_sha256) {
    ASSERT_EQ(k->size(), 32u);
    ASSERT_EQ(q_c.size(), crypto::mlkem768_x25519_init_size);
    ASSERT_EQ(q_s.size(), crypto::mlkem768_x25519_reply_size);
    wire::Writer(k_mpint).string(k->view());
  } else {
    wire::Writer(k_mpint).mpint_unsigned(k->view());
  }

  // H = HASH(V_C || V_S || I_C || I_S || K_S || Q_C || Q_S || K).
  Bytes hashed;
  wire::Writer w(hashed);
  w.string(c.ident).string(s.ident).string(i_c).string(i_s).string(k_s);
  if (dh) w.mpint_unsigned(q_c).mpint_unsigned(q_s);
  else w.string(q_c).string(q_s);
  w.raw(k_mpint);
  const HashAlg alg = transport::kex_hash(kex);
  Bytes h = crypto::digest(alg, hashed);
  EXPECT_EQ(h, *client.session_id());
  EXPECT_EQ(h.size(), crypto::digest_size(alg));

  auto host = crypto::PublicKey::from_blob(k_s);
  ASSERT_TRUE(host.has_value());
  EXPECT_TRUE(host->verify(crypto::SignatureAlg::ssh_ed25519, sig, h));

  // Client-to-server keys by the RFC 4253 §7.2 formula open the SERVICE_REQUEST.
  Bytes iv = manual_kdf(alg, k_mpint, h, 'A', h, 12);
  Bytes key = manual_kdf(alg, k_mpint, h, 'C', h, 16);
  EXPECT_EQ(to_hex(crypto::derive_ssh_key(alg, k_mpint, h, 'C', h, 16).view()), to_hex(key));
  transport::PacketDecoder dec;
  dec.set_cipher(crypto::PacketCipher::create(crypto::CipherAlg::aes128_gcm, crypto::MacAlg::implicit,
                                              crypto::Direction::open, key, iv, {}));
  dec.reset_seq();  // strict kex: sequence numbers restart after NEWKEYS
  auto pkt = dec.decode(c.rest);
  ASSERT_TRUE(pkt.has_value());
  ASSERT_TRUE(pkt->has_value());
  wire::Reader req((*pkt)->payload);
  EXPECT_EQ(req.byte(), transport::msg::service_request);
  EXPECT_EQ(req.text(), "ssh-userauth");
  EXPECT_TRUE(req.finish().has_value());
}

INSTANTIATE_TEST_SUITE_P(Kex, ExchangeHash,
                         ::testing::Values(transport::KexAlg::mlkem768x25519_sha256,
                                           transport::KexAlg::curve25519_sha256,
                                           transport::KexAlg::curve25519_sha256_libssh,
                                           transport::KexAlg::ecdh_sha2_nistp256,
                                           transport::KexAlg::dh_group16_sha512,
                                           transport::KexAlg::dh_group14_sha256));

}  // namespace
}  // namespace parley

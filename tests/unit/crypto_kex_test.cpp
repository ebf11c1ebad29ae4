// Key-exchange primitives: RFC 7748 / RFC 5903 vectors, two-party agreement,
// and refusal of every peer value RFC 8731, RFC 5656 and RFC 4253 rule out.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>

#include "parley/crypto/kex.hpp"

namespace parley::crypto {
namespace {

/// Hands out scripted bytes, so a test can choose the private values.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::initializer_list<Bytes> chunks) {
    for (const auto& c : chunks) bytes_.insert(bytes_.end(), c.begin(), c.end());
  }
  void fill(std::span<std::uint8_t> out) override {
    ASSERT_LE(out.size(), bytes_.size()) << "the key pair drew more random bytes than scripted";
    std::copy_n(bytes_.begin(), out.size(), out.begin());
    bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(out.size()));
  }
  std::size_t left() const { return bytes_.size(); }

 private:
  std::deque<std::uint8_t> bytes_;
};

std::unique_ptr<KexKeyPair> make(KexGroup group, Random& rng) {
  auto pair = KexKeyPair::generate(group, rng);
  EXPECT_TRUE(pair.has_value());
  return pair ? *std::move(pair) : nullptr;
}

std::string hex(const SecretBytes& s) {
  return to_hex(s.view());
}

// RFC 3526 §3 and §5 (the same values every SSH implementation uses).
const Bytes& group14_p() {
  static const Bytes p = from_hex(
      "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
      "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
      "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
      "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
      "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
      "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
      "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
      "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF");
  return p;
}

const Bytes& group16_p() {
  static const Bytes p = from_hex(
      "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
      "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
      "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
      "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
      "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
      "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
      "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
      "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
      "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
      "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
      "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
      "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
      "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
      "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
      "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
      "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF");
  return p;
}

/// `p` + `delta` for a small delta (|delta| < 256), as a big-endian magnitude.
Bytes offset(const Bytes& p, int delta) {
  Bytes out = p;
  int carry = delta;
  for (auto it = out.rbegin(); it != out.rend() && carry != 0; ++it) {
    int v = *it + carry;
    carry = v < 0 ? -1 : v > 255 ? 1 : 0;
    *it = static_cast<std::uint8_t>(v & 0xff);
  }
  if (carry > 0) out.insert(out.begin(), 1);
  return out;
}

// ---------------------------------------------------------------------------
// X25519

// RFC 7748 §6.1.
const Bytes alice_private =
    from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
const Bytes alice_public =
    from_hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
const Bytes bob_private =
    from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
const Bytes bob_public =
    from_hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
const std::string x25519_shared =
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST(X25519, Rfc7748Vector) {
  ScriptedRandom rng{alice_private, bob_private};
  auto alice = make(KexGroup::x25519, rng);
  auto bob = make(KexGroup::x25519, rng);
  ASSERT_TRUE(alice && bob);
  EXPECT_EQ(rng.left(), 0u);
  EXPECT_EQ(to_hex(alice->public_value()), to_hex(alice_public));
  EXPECT_EQ(to_hex(bob->public_value()), to_hex(bob_public));

  auto k1 = alice->derive(bob->public_value());
  auto k2 = bob->derive(alice->public_value());
  ASSERT_TRUE(k1.has_value());
  ASSERT_TRUE(k2.has_value());
  EXPECT_EQ(hex(*k1), x25519_shared);
  EXPECT_EQ(hex(*k2), x25519_shared);
}

TEST(X25519, RandomPairsAgree) {
  SystemRandom rng;
  auto a = make(KexGroup::x25519, rng);
  auto b = make(KexGroup::x25519, rng);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->public_value().size(), 32u);
  auto k1 = a->derive(b->public_value());
  auto k2 = b->derive(a->public_value());
  ASSERT_TRUE(k1 && k2);
  EXPECT_TRUE(*k1 == *k2);
}

TEST(X25519, LowOrderPeerGivesAllZeroSecretAndIsRefused) {
  ScriptedRandom rng{alice_private};
  auto alice = make(KexGroup::x25519, rng);
  ASSERT_TRUE(alice);
  // RFC 8731 §3: u = 0 and u = 1 (and the other small-order points) give an
  // all-zero shared secret, which must abort the exchange.
  const Bytes zero(32, 0);
  Bytes one(32, 0);
  one[0] = 1;
  // A point of order 8 (RFC 7748 §7 / the "cr.yp.to/ecdh.html" list).
  const Bytes order8 = from_hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
  for (const Bytes& peer : {zero, one, order8}) {
    auto k = alice->derive(peer);
    ASSERT_FALSE(k.has_value()) << to_hex(peer);
    EXPECT_EQ(k.error(), CryptoError::invalid_shared_secret);
  }
}

TEST(X25519, WrongLengthRefused) {
  SystemRandom rng;
  auto a = make(KexGroup::x25519, rng);
  ASSERT_TRUE(a);
  for (std::size_t n : {0u, 31u, 33u, 64u}) {
    auto k = a->derive(Bytes(n, 9));
    ASSERT_FALSE(k.has_value()) << n;
    EXPECT_EQ(k.error(), CryptoError::invalid_public_value);
  }
}

// ---------------------------------------------------------------------------
// ECDH P-256

// RFC 5903 §8.1.
const Bytes p256_i = from_hex("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433");
const Bytes p256_gi = from_hex(
    "04DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
    "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3");
const Bytes p256_r = from_hex("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53");
const Bytes p256_gr = from_hex(
    "04D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
    "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB");
const std::string p256_girx = "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de";

TEST(P256, Rfc5903Vector) {
  ScriptedRandom rng{p256_i, p256_r};
  auto i = make(KexGroup::nistp256, rng);
  auto r = make(KexGroup::nistp256, rng);
  ASSERT_TRUE(i && r);
  EXPECT_EQ(rng.left(), 0u);
  EXPECT_EQ(to_hex(i->public_value()), to_hex(p256_gi));
  EXPECT_EQ(to_hex(r->public_value()), to_hex(p256_gr));
  auto k1 = i->derive(r->public_value());
  auto k2 = r->derive(i->public_value());
  ASSERT_TRUE(k1 && k2);
  EXPECT_EQ(hex(*k1), p256_girx);
  EXPECT_EQ(hex(*k2), p256_girx);
}

TEST(P256, OutOfRangeScalarsAreRedrawn) {
  // 0 and n (the group order) are not private keys; the next draw is used.
  const Bytes zero(32, 0);
  const Bytes n = from_hex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
  const Bytes all_ones(32, 0xff);
  ScriptedRandom rng{zero, n, all_ones, p256_i};
  auto i = make(KexGroup::nistp256, rng);
  ASSERT_TRUE(i);
  EXPECT_EQ(rng.left(), 0u);
  EXPECT_EQ(to_hex(i->public_value()), to_hex(p256_gi));
}

TEST(P256, RandomPairsAgree) {
  SystemRandom rng;
  auto a = make(KexGroup::nistp256, rng);
  auto b = make(KexGroup::nistp256, rng);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->public_value().size(), 65u);
  EXPECT_EQ(a->public_value()[0], 0x04);
  auto k1 = a->derive(b->public_value());
  auto k2 = b->derive(a->public_value());
  ASSERT_TRUE(k1 && k2);
  EXPECT_EQ(k1->size(), 32u);
  EXPECT_TRUE(*k1 == *k2);
}

TEST(P256, OffCurvePointRefused) {
  SystemRandom rng;
  auto a = make(KexGroup::nistp256, rng);
  ASSERT_TRUE(a);
  Bytes bad = p256_gr;
  bad.back() ^= 1;  // y no longer matches x
  Bytes zero_point(65, 0);
  zero_point[0] = 0x04;
  // x = p (a coordinate out of the field's range), y from the valid point.
  Bytes x_is_p = p256_gr;
  const Bytes field_p =
      from_hex("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF");
  std::copy(field_p.begin(), field_p.end(), x_is_p.begin() + 1);
  for (const Bytes& peer : {bad, zero_point, x_is_p}) {
    auto k = a->derive(peer);
    ASSERT_FALSE(k.has_value()) << to_hex(peer);
    EXPECT_EQ(k.error(), CryptoError::invalid_public_value);
  }
}

TEST(P256, WrongLengthOrFormRefused) {
  SystemRandom rng;
  auto a = make(KexGroup::nistp256, rng);
  ASSERT_TRUE(a);
  Bytes compressed(p256_gr.begin(), p256_gr.begin() + 33);
  compressed[0] = 0x03;  // a valid compressed encoding of the same point; not accepted
  Bytes hybrid = p256_gr;
  hybrid[0] = 0x07;
  const Bytes infinity{0x00};
  const Bytes no_prefix(p256_gr.begin() + 1, p256_gr.end());
  Bytes longer = p256_gr;
  longer.push_back(0);
  for (const Bytes& peer : {compressed, hybrid, infinity, no_prefix, longer, Bytes{}}) {
    auto k = a->derive(peer);
    ASSERT_FALSE(k.has_value()) << to_hex(peer);
    EXPECT_EQ(k.error(), CryptoError::invalid_public_value);
  }
}

// ---------------------------------------------------------------------------
// Finite-field DH

struct DhCase {
  KexGroup group;
  const Bytes& (*p)();
};

class Dh : public ::testing::TestWithParam<DhCase> {};

TEST_P(Dh, RandomPairsAgree) {
  SystemRandom rng;
  auto a = make(GetParam().group, rng);
  auto b = make(GetParam().group, rng);
  ASSERT_TRUE(a && b);
  const std::size_t p_size = GetParam().p().size();
  EXPECT_LE(a->public_value().size(), p_size);
  EXPECT_GT(a->public_value().size(), p_size - 8);  // overwhelmingly likely for g^x
  EXPECT_NE(a->public_value()[0], 0);               // a magnitude without leading zeros
  auto k1 = a->derive(b->public_value());
  auto k2 = b->derive(a->public_value());
  ASSERT_TRUE(k1 && k2);
  EXPECT_TRUE(*k1 == *k2);
  EXPECT_LE(k1->size(), p_size);
}

TEST_P(Dh, DeterministicGivenTheRandomSource) {
  DeterministicRandom r1(7), r2(7);
  auto a = make(GetParam().group, r1);
  auto b = make(GetParam().group, r2);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(to_hex(a->public_value()), to_hex(b->public_value()));
}

TEST_P(Dh, SmallExponentGivesKnownPublicValue) {
  // x = 2 (after the scripted zero draw is refused): e = g^2 = 4.
  const std::size_t exponent_bytes = GetParam().group == KexGroup::dh_group14 ? 64 : 128;
  Bytes zero(exponent_bytes, 0);
  Bytes two(exponent_bytes, 0);
  two.back() = 2;
  ScriptedRandom rng{zero, two};
  auto a = make(GetParam().group, rng);
  ASSERT_TRUE(a);
  EXPECT_EQ(rng.left(), 0u);
  EXPECT_EQ(to_hex(a->public_value()), "04");
  // K = f^2 for f = 3.
  auto k = a->derive(Bytes{3});
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(hex(*k), "09");
}

TEST_P(Dh, OutOfRangePeerValuesRefused) {
  SystemRandom rng;
  auto a = make(GetParam().group, rng);
  ASSERT_TRUE(a);
  const Bytes& p = GetParam().p();
  Bytes too_long(p.size() + 1, 0xff);
  // RFC 4253 §8 / RFC 8268 §4: 1 < f < p-1.
  for (const Bytes& f : {Bytes{}, Bytes{0}, Bytes{1}, Bytes{0, 0, 1}, offset(p, -1), p,
                         offset(p, 1), offset(p, 200), too_long}) {
    auto k = a->derive(f);
    ASSERT_FALSE(k.has_value()) << to_hex(f);
    EXPECT_EQ(k.error(), CryptoError::invalid_public_value);
  }
  // The extremes of the valid range are accepted.
  EXPECT_TRUE(a->derive(Bytes{2}).has_value());
  EXPECT_TRUE(a->derive(offset(p, -2)).has_value());
  // Leading zero bytes do not change the value.
  auto b = make(GetParam().group, rng);
  ASSERT_TRUE(b);
  Bytes padded{0, 0};
  padded.insert(padded.end(), b->public_value().begin(), b->public_value().end());
  auto k1 = a->derive(b->public_value());
  auto k2 = a->derive(padded);
  ASSERT_TRUE(k1 && k2);
  EXPECT_TRUE(*k1 == *k2);
}

INSTANTIATE_TEST_SUITE_P(Groups, Dh,
                         ::testing::Values(DhCase{KexGroup::dh_group14, group14_p},
                                           DhCase{KexGroup::dh_group16, group16_p}),
                         [](const ::testing::TestParamInfo<DhCase>& param_info) {
                           return param_info.param.group == KexGroup::dh_group14 ? "group14"
                                                                                 : "group16";
                         });

}  // namespace
}  // namespace parley::crypto

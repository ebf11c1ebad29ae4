// Ephemeral key-exchange key pairs over libcrypto.
//
// Every group is looked up once per process (function-local statics, never
// freed: they live as long as the process and are only read after
// initialisation, so threads may share them). Per key exchange the cost is the
// scalar multiplications / exponentiations themselves plus a few small
// allocations.
#include "parley/crypto/kex.hpp"
#include "parley/crypto/mlkem.hpp"
#include "ossl_ptr.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace parley::crypto {
namespace {

using namespace ossl;


using KexResult = std::expected<std::unique_ptr<KexKeyPair>, CryptoError>;


// A draw from an honest RNG is rejected with probability < 2^-32 (P-256) or
// 2^-510 (DH); a source that keeps producing rejects is broken, not unlucky.
constexpr int max_draws = 64;

// Derives with `ours` against `peer` into `out`, which must have the exact
// secret size. `validate_peer` is false where the caller has already checked
// the peer value as far as the group needs.
bool derive_into(EVP_PKEY* ours, EVP_PKEY* peer, bool validate_peer, std::span<std::uint8_t> out) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ours, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer_ex(ctx.get(), peer, validate_peer ? 1 : 0) != 1) {
    return false;
  }
  std::size_t len = out.size();
  return EVP_PKEY_derive(ctx.get(), out.data(), &len) == 1 && len == out.size();
}

// ---------------------------------------------------------------------------
// X25519 (RFC 7748 §5, RFC 8731)

class X25519KeyPair final : public KexKeyPair {
 public:
  static constexpr std::size_t key_size = 32;

  static KexResult generate(Random& rng) {
    SecretBytes priv(key_size);
    rng.fill(priv.mutable_view());
    // libcrypto clamps the scalar (RFC 7748 §5) itself.
    PkeyPtr key(EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", nullptr, priv.view().data(),
                                                priv.size()));
    if (!key) return std::unexpected(CryptoError::internal);
    std::unique_ptr<X25519KeyPair> pair(new X25519KeyPair(std::move(key)));
    std::size_t len = key_size;
    if (EVP_PKEY_get_raw_public_key(pair->key_.get(), pair->public_.data(), &len) != 1 ||
        len != key_size) {
      return std::unexpected(CryptoError::internal);
    }
    return pair;
  }

  BytesView public_value() const override { return public_; }

  std::expected<SecretBytes, CryptoError> derive(BytesView peer_public) override {
    // RFC 8731 §3: the public values are exactly 32 bytes.
    if (peer_public.size() != key_size) return std::unexpected(CryptoError::invalid_public_value);
    PkeyPtr peer(EVP_PKEY_new_raw_public_key_ex(nullptr, "X25519", nullptr, peer_public.data(),
                                                peer_public.size()));
    if (!peer) return std::unexpected(CryptoError::invalid_public_value);
    SecretBytes shared(key_size);
    // Every 32-byte string is a valid u-coordinate, so the only way the
    // derivation fails is libcrypto refusing an all-zero result (low-order peer).
    if (!derive_into(key_.get(), peer.get(), true, shared.mutable_view())) {
      return std::unexpected(CryptoError::invalid_shared_secret);
    }
    // RFC 8731 §3: an all-zero shared secret MUST be refused. Checked here too so
    // the rule does not depend on the provider; OR-folding keeps it constant time.
    std::uint8_t any = 0;
    for (auto b : shared.view()) any |= b;
    if (any == 0) return std::unexpected(CryptoError::invalid_shared_secret);
    return shared;
  }

 private:
  explicit X25519KeyPair(PkeyPtr key) : key_(std::move(key)) {}
  PkeyPtr key_;
  std::array<std::uint8_t, key_size> public_{};
};

// ---------------------------------------------------------------------------
// ECDH over NIST P-256 (RFC 5656 §4, SEC 1 §3.3)

class P256KeyPair final : public KexKeyPair {
 public:
  static constexpr std::size_t scalar_size = 32;
  static constexpr std::size_t point_size = 1 + 2 * scalar_size;  // 0x04 || x || y

  static KexResult generate(Random& rng) {
    const EC_GROUP* group = curve();
    BnCtxPtr bn_ctx(BN_CTX_secure_new());
    BnPtr d(BN_secure_new());
    EcPointPtr q(EC_POINT_new(group));
    if (!bn_ctx || !d || !q) return std::unexpected(CryptoError::internal);
    BN_set_flags(d.get(), BN_FLG_CONSTTIME);

    // SEC 1 §3.2.1: d uniform in [1, n-1]. n is just below 2^256, so rejection
    // sampling of 32-byte strings is both unbiased and almost never repeats.
    SecretBytes draw(scalar_size);
    for (int i = 0;; ++i) {
      if (i == max_draws) return std::unexpected(CryptoError::internal);
      rng.fill(draw.mutable_view());
      if (!BN_bin2bn(draw.view().data(), static_cast<int>(draw.size()), d.get())) {
        return std::unexpected(CryptoError::internal);
      }
      if (!BN_is_zero(d.get()) && BN_cmp(d.get(), EC_GROUP_get0_order(group)) < 0) break;
    }

    std::unique_ptr<P256KeyPair> pair(new P256KeyPair);
    if (EC_POINT_mul(group, q.get(), d.get(), nullptr, nullptr, bn_ctx.get()) != 1 ||
        EC_POINT_point2oct(group, q.get(), POINT_CONVERSION_UNCOMPRESSED, pair->public_.data(),
                           point_size, bn_ctx.get()) != point_size) {
      return std::unexpected(CryptoError::internal);
    }

    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1,
                                        0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pair->public_.data(),
                                         point_size) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1) {
      return std::unexpected(CryptoError::internal);
    }
    ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
    if (!params) return std::unexpected(CryptoError::internal);
    pair->key_ = from_params(params.get(), EVP_PKEY_KEYPAIR);
    if (!pair->key_) return std::unexpected(CryptoError::internal);
    return pair;
  }

  BytesView public_value() const override { return public_; }

  std::expected<SecretBytes, CryptoError> derive(BytesView peer_public) override {
    // RFC 5656 §4: Q_C/Q_S are SEC 1 octet strings; parley (like OpenSSH) sends
    // and accepts only the uncompressed form, which cannot encode infinity.
    if (peer_public.size() != point_size || peer_public[0] != POINT_CONVERSION_UNCOMPRESSED) {
      return std::unexpected(CryptoError::invalid_public_value);
    }
    // The import decodes the point with EC_POINT_oct2point, which refuses
    // coordinates >= p and points not on the curve.
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                         const_cast<char*>(SN_X9_62_prime256v1), 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                          const_cast<std::uint8_t*>(peer_public.data()),
                                          peer_public.size()),
        OSSL_PARAM_construct_end(),
    };
    PkeyPtr peer = from_params(params, EVP_PKEY_PUBLIC_KEY);
    if (!peer) return std::unexpected(CryptoError::invalid_public_value);
    // RFC 5656 §4 requires the SEC 1 §3.2.2 public-key check. P-256 has
    // cofactor 1, so "on the curve and not infinity" (established above) implies
    // order n; libcrypto's own peer validation would repeat that check with a
    // full scalar multiplication, which is why it is skipped.
    SecretBytes shared(scalar_size);
    if (!derive_into(key_.get(), peer.get(), false, shared.mutable_view())) {
      return std::unexpected(CryptoError::invalid_public_value);
    }
    return shared;  // the x-coordinate, padded to 32 bytes
  }

 private:
  P256KeyPair() = default;

  static const EC_GROUP* curve() {
    static const EC_GROUP* const group = [] {
      EC_GROUP* g = EC_GROUP_new_by_curve_name_ex(nullptr, nullptr, NID_X9_62_prime256v1);
      if (g == nullptr) libcrypto_failed("EC_GROUP_new_by_curve_name_ex(P-256)");
      return g;
    }();
    return group;
  }

  static PkeyPtr from_params(OSSL_PARAM* params, int selection) {
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* key = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, selection, params) != 1) {
      return nullptr;
    }
    return PkeyPtr(key);
  }

  PkeyPtr key_;
  std::array<std::uint8_t, point_size> public_{};
};

// ---------------------------------------------------------------------------
// Finite-field Diffie-Hellman, RFC 4253 §8 over the RFC 3526 MODP groups
// (diffie-hellman-group14-sha256 and diffie-hellman-group16-sha512, RFC 8268).

struct DhGroup {
  const BIGNUM* p;
  const BIGNUM* p_minus_1;
  const BIGNUM* g;
  BN_MONT_CTX* mont;  // precomputed once; only read by the exponentiations
  std::size_t p_bytes;
  // Private exponent length: twice the bits of the exchange hash, as OpenSSH's
  // dh_gen_key does (2 x 256 for SHA-256, 2 x 512 for SHA-512), which keeps the
  // exponent's security level at least the hash's (RFC 8268 §4).
  std::size_t exponent_bytes;
};

DhGroup make_dh_group(BIGNUM* (*prime)(BIGNUM*), std::size_t exponent_bits) {
  BIGNUM* p = prime(nullptr);
  BIGNUM* p_minus_1 = BN_dup(p);
  BIGNUM* g = BN_new();
  BN_MONT_CTX* mont = BN_MONT_CTX_new();
  BnCtxPtr ctx(BN_CTX_new());
  if (p == nullptr || p_minus_1 == nullptr || g == nullptr || mont == nullptr || !ctx ||
      BN_sub_word(p_minus_1, 1) != 1 || BN_set_word(g, 2) != 1 ||  // RFC 3526: g = 2
      BN_MONT_CTX_set(mont, p, ctx.get()) != 1) {
    libcrypto_failed("DH group setup");
  }
  return DhGroup{
      p, p_minus_1, g, mont, static_cast<std::size_t>(BN_num_bytes(p)), exponent_bits / 8};
}

const DhGroup& dh_group(KexGroup group) {
  if (group == KexGroup::dh_group14) {
    static const DhGroup g14 = make_dh_group(BN_get_rfc3526_prime_2048, 512);
    return g14;
  }
  static const DhGroup g16 = make_dh_group(BN_get_rfc3526_prime_4096, 1024);
  return g16;
}

class DhKeyPair final : public KexKeyPair {
 public:
  static KexResult generate(const DhGroup& group, Random& rng) {
    std::unique_ptr<DhKeyPair> pair(new DhKeyPair(group));
    BnCtxPtr ctx(BN_CTX_secure_new());
    BnPtr e(BN_new());
    if (!pair->x_ || !ctx || !e) return std::unexpected(CryptoError::internal);
    BN_set_flags(pair->x_.get(), BN_FLG_CONSTTIME);

    // RFC 4253 §8: x is random with 1 < x < q; an exponent far shorter than p
    // is always below q = (p-1)/2. 0 and 1 are refused so e is never 1 or g.
    SecretBytes draw(group.exponent_bytes);
    for (int i = 0;; ++i) {
      if (i == max_draws) return std::unexpected(CryptoError::internal);
      rng.fill(draw.mutable_view());
      if (!BN_bin2bn(draw.view().data(), static_cast<int>(draw.size()), pair->x_.get())) {
        return std::unexpected(CryptoError::internal);
      }
      if (BN_num_bits(pair->x_.get()) > 1) break;
    }
    if (BN_mod_exp_mont_consttime(e.get(), group.g, pair->x_.get(), group.p, ctx.get(),
                                  group.mont) != 1) {
      return std::unexpected(CryptoError::internal);
    }
    pair->public_.resize(static_cast<std::size_t>(BN_num_bytes(e.get())));
    BN_bn2bin(e.get(), pair->public_.data());
    return pair;
  }

  BytesView public_value() const override { return public_; }

  std::expected<SecretBytes, CryptoError> derive(BytesView peer_public) override {
    // Leading zero bytes do not change the value; beyond them, a value longer
    // than p is out of range, and refusing it early bounds the work.
    std::size_t skip = 0;
    while (skip < peer_public.size() && peer_public[skip] == 0) ++skip;
    peer_public = peer_public.subspan(skip);
    if (peer_public.size() > group_.p_bytes)
      return std::unexpected(CryptoError::invalid_public_value);

    BnCtxPtr ctx(BN_CTX_secure_new());
    BnPtr f(BN_bin2bn(peer_public.data(), static_cast<int>(peer_public.size()), nullptr));
    BnPtr k(BN_secure_new());
    if (!ctx || !f || !k) return std::unexpected(CryptoError::internal);
    // RFC 4253 §8: values of e or f outside [1, p-1] MUST NOT be accepted; 1 and
    // p-1 are excluded as well (they generate the subgroup of order <= 2 and
    // would force K into {1, p-1}), as RFC 8268 §4 and OpenSSH do.
    if (BN_cmp(f.get(), BN_value_one()) <= 0 || BN_cmp(f.get(), group_.p_minus_1) >= 0) {
      return std::unexpected(CryptoError::invalid_public_value);
    }
    if (BN_mod_exp_mont_consttime(k.get(), f.get(), x_.get(), group_.p, ctx.get(), group_.mont) !=
        1) {
      return std::unexpected(CryptoError::internal);
    }
    // f of small order could still force a degenerate K; refuse it rather than
    // hash a predictable secret.
    if (BN_is_zero(k.get()) || BN_is_one(k.get())) {
      return std::unexpected(CryptoError::invalid_shared_secret);
    }
    SecretBytes shared(static_cast<std::size_t>(BN_num_bytes(k.get())));
    BN_bn2bin(k.get(), shared.mutable_view().data());
    return shared;
  }

 private:
  explicit DhKeyPair(const DhGroup& group) : group_(group), x_(BN_secure_new()) {}
  const DhGroup& group_;
  BnPtr x_;
  Bytes public_;
};

// ---------------------------------------------------------------------------
// mlkem768x25519-sha256 (draft-ietf-sshm-mlkem-hybrid-kex; OpenSSH 10's
// encoding): C_INIT = ek || X25519 public, S_REPLY = ciphertext || X25519
// public, K = SHA-256(K_PQ || K_CL), which the transport hashes as a string.

namespace kem = mlkem768;
constexpr std::size_t x25519_size = X25519KeyPair::key_size;
static_assert(mlkem768_x25519_init_size == kem::encapsulation_key_size + x25519_size);
static_assert(mlkem768_x25519_reply_size == kem::ciphertext_size + x25519_size);

std::expected<SecretBytes, CryptoError> combine(const SecretBytes& k_pq, const SecretBytes& k_cl) {
  SecretBytes k(32);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), digest_md(HashAlg::sha256), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), k_pq.view().data(), k_pq.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), k_cl.view().data(), k_cl.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), k.mutable_view().data(), &len) != 1 || len != k.size()) {
    return std::unexpected(CryptoError::internal);
  }
  return k;
}

class HybridKeyPair final : public KexKeyPair {
 public:
  static KexResult generate(Random& rng) {
    auto kem_pair = kem::generate(rng);
    if (!kem_pair) return std::unexpected(kem_pair.error());
    auto x = X25519KeyPair::generate(rng);
    if (!x) return std::unexpected(x.error());
    std::unique_ptr<HybridKeyPair> pair(new HybridKeyPair(std::move(kem_pair->dk), std::move(*x)));
    pair->public_.reserve(mlkem768_x25519_init_size);
    pair->public_.assign(kem_pair->ek.begin(), kem_pair->ek.end());
    const BytesView xp = pair->x25519_->public_value();
    pair->public_.insert(pair->public_.end(), xp.begin(), xp.end());
    return pair;
  }

  BytesView public_value() const override { return public_; }

  std::expected<SecretBytes, CryptoError> derive(BytesView reply) override {
    if (reply.size() != mlkem768_x25519_reply_size)
      return std::unexpected(CryptoError::invalid_public_value);
    // Any well-sized ciphertext decapsulates (implicit rejection); a tampered
    // one gives a key the server does not have, so the host-key signature
    // over H fails and the connection ends there.
    auto k_pq = kem::decapsulate(dk_, reply.first(kem::ciphertext_size));
    if (!k_pq) return std::unexpected(CryptoError::invalid_public_value);
    auto k_cl = x25519_->derive(reply.subspan(kem::ciphertext_size));
    if (!k_cl) return std::unexpected(k_cl.error());
    return combine(*k_pq, *k_cl);
  }

 private:
  HybridKeyPair(SecretBytes dk, std::unique_ptr<KexKeyPair> x)
      : dk_(std::move(dk)), x25519_(std::move(x)) {}
  SecretBytes dk_;
  std::unique_ptr<KexKeyPair> x25519_;
  Bytes public_;
};

std::expected<KexResponse, CryptoError> hybrid_respond(BytesView init, Random& rng) {
  if (init.size() != mlkem768_x25519_init_size)
    return std::unexpected(CryptoError::invalid_public_value);
  // Encapsulation refuses a key failing FIPS 203 §7.2 (the modulus check).
  auto enc = kem::encapsulate(init.first(kem::encapsulation_key_size), rng);
  if (!enc) return std::unexpected(CryptoError::invalid_public_value);
  auto x = X25519KeyPair::generate(rng);
  if (!x) return std::unexpected(x.error());
  auto k_cl = (*x)->derive(init.subspan(kem::encapsulation_key_size));
  if (!k_cl) return std::unexpected(k_cl.error());
  auto k = combine(enc->shared, *k_cl);
  if (!k) return std::unexpected(k.error());
  KexResponse out;
  out.reply.reserve(mlkem768_x25519_reply_size);
  out.reply.assign(enc->ciphertext.begin(), enc->ciphertext.end());
  const BytesView xp = (*x)->public_value();
  out.reply.insert(out.reply.end(), xp.begin(), xp.end());
  out.shared = std::move(*k);
  return out;
}

}  // namespace

std::expected<std::unique_ptr<KexKeyPair>, CryptoError> KexKeyPair::generate(KexGroup group,
                                                                             Random& rng) {
  switch (group) {
    case KexGroup::x25519:
      return X25519KeyPair::generate(rng);
    case KexGroup::nistp256:
      return P256KeyPair::generate(rng);
    case KexGroup::dh_group14:
    case KexGroup::dh_group16:
      return DhKeyPair::generate(dh_group(group), rng);
    case KexGroup::mlkem768_x25519:
      return HybridKeyPair::generate(rng);
  }
  return std::unexpected(CryptoError::internal);
}

std::expected<KexResponse, CryptoError> kex_respond(KexGroup group, BytesView peer_public,
                                                    Random& rng) {
  if (group == KexGroup::mlkem768_x25519) return hybrid_respond(peer_public, rng);
  auto ours = KexKeyPair::generate(group, rng);
  if (!ours) return std::unexpected(ours.error());
  auto k = (*ours)->derive(peer_public);
  if (!k) return std::unexpected(k.error());
  const BytesView pub = (*ours)->public_value();
  return KexResponse{Bytes(pub.begin(), pub.end()), std::move(*k)};
}

}  // namespace parley::crypto

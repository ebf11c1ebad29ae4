// SSH public and private keys over libcrypto.
//
// Key blobs and signature blobs are RFC 4253 §6.6 structures; every byte from a
// peer or a file is read through wire::Reader. Parsed keys keep their EVP_PKEY
// so signing and verifying never reparse.
#include "parley/crypto/keys.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <array>
#include <cstdio>
#include <cstdlib>

#include "parley/crypto/hash.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "ossl_ptr.hpp"

namespace parley::crypto {
namespace {

using namespace ossl;


/// Wipes a buffer of decoded private key material when it goes out of scope.
class WipeOnExit {
 public:
  explicit WipeOnExit(Bytes& b) : b_(b) {}
  ~WipeOnExit() { secure_wipe(b_.data(), b_.size()); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  Bytes& b_;
};

const EVP_MD* sha256_md() { return digest_md(HashAlg::sha256); }
const EVP_MD* sha512_md() { return digest_md(HashAlg::sha512); }

/// The digest a signature algorithm hashes with; nullptr for Ed25519, which
/// hashes internally (RFC 8032 "pure" mode).
const EVP_MD* md_for(SignatureAlg alg) {
  switch (alg) {
    case SignatureAlg::ssh_ed25519:
      return nullptr;
    case SignatureAlg::ecdsa_sha2_nistp256:
      return sha256_md();  // RFC 5656 §6.2.1
    case SignatureAlg::rsa_sha2_512:
      return sha512_md();  // RFC 8332 §3
    case SignatureAlg::rsa_sha2_256:
      return sha256_md();
  }
  return nullptr;
}

constexpr std::string_view nistp256_id = "nistp256";  // RFC 5656 §6.1
constexpr std::size_t ed25519_key_size = 32;
constexpr std::size_t ed25519_sig_size = 64;
constexpr std::size_t p256_scalar_size = 32;
constexpr std::size_t p256_point_size = 1 + 2 * p256_scalar_size;
// OpenSSH's bounds on RSA moduli (SSH_RSA_MINIMUM_MODULUS_SIZE raised to 2048
// for parley; SSH_RSA_MAXIMUM_MODULUS_SIZE).
constexpr int rsa_min_bits = 2048;
constexpr int rsa_max_bits = 16384;

const EC_GROUP* p256_group() {
  static const EC_GROUP* const group = [] {
    EC_GROUP* g = EC_GROUP_new_by_curve_name_ex(nullptr, nullptr, NID_X9_62_prime256v1);
    if (g == nullptr) libcrypto_failed("EC_GROUP_new_by_curve_name_ex(P-256)");
    return g;
  }();
  return group;
}

PkeyPtr pkey_from_params(const char* type, const OSSL_PARAM* params, int selection) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, selection, const_cast<OSSL_PARAM*>(params)) != 1) {
    return nullptr;
  }
  return PkeyPtr(key);
}

PkeyPtr pkey_from_builder(const char* type, OSSL_PARAM_BLD* bld, int selection) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  return pkey_from_params(type, params.get(), selection);
}

/// A P-256 public key from an uncompressed SEC 1 point; libcrypto's import
/// refuses points that are off the curve.
PkeyPtr p256_public(BytesView q) {
  if (q.size() != p256_point_size || q[0] != POINT_CONVERSION_UNCOMPRESSED) return nullptr;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                       const_cast<char*>(SN_X9_62_prime256v1), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                        const_cast<std::uint8_t*>(q.data()), q.size()),
      OSSL_PARAM_construct_end(),
  };
  return pkey_from_params("EC", params, EVP_PKEY_PUBLIC_KEY);
}

BnPtr bn_from(BytesView magnitude, bool secret) {
  BnPtr bn(secret ? BN_secure_new() : BN_new());
  if (!bn) return nullptr;
  if (secret) BN_set_flags(bn.get(), BN_FLG_CONSTTIME);
  if (!BN_bin2bn(magnitude.data(), static_cast<int>(magnitude.size()), bn.get())) return nullptr;
  return bn;
}

/// The "string alg-name, string signature" wrapper of RFC 4253 §6.6.
Bytes signature_blob(SignatureAlg alg, BytesView sig) {
  Bytes out;
  out.reserve(8 + name(alg).size() + sig.size());
  wire::Writer(out).string(name(alg)).string(sig);
  return out;
}

bool verify_raw(EVP_PKEY* key, const EVP_MD* md, BytesView sig, BytesView data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
}

/// RFC 5656 §3.1.2: the signature is "mpint r, mpint s"; libcrypto wants DER.
bool verify_ecdsa(EVP_PKEY* key, BytesView sig, BytesView data) {
  wire::Reader r(sig);
  BytesView r_bytes = r.mpint_positive();
  BytesView s_bytes = r.mpint_positive();
  if (!r.finish() || r_bytes.empty() || s_bytes.empty() || r_bytes.size() > p256_scalar_size ||
      s_bytes.size() > p256_scalar_size) {
    return false;
  }
  EcdsaSigPtr ecdsa(ECDSA_SIG_new());
  BnPtr r_bn = bn_from(r_bytes, false);
  BnPtr s_bn = bn_from(s_bytes, false);
  if (!ecdsa || !r_bn || !s_bn || ECDSA_SIG_set0(ecdsa.get(), r_bn.get(), s_bn.get()) != 1) {
    return false;
  }
  (void)r_bn.release();  // owned by `ecdsa` now
  (void)s_bn.release();
  // SEQUENCE { INTEGER r, INTEGER s } with r, s < 2^256 fits in 72 bytes.
  std::array<std::uint8_t, 80> der;
  if (i2d_ECDSA_SIG(ecdsa.get(), nullptr) > static_cast<int>(der.size())) return false;
  std::uint8_t* out = der.data();
  const int der_len = i2d_ECDSA_SIG(ecdsa.get(), &out);
  if (der_len <= 0) return false;
  return verify_raw(key, sha256_md(), BytesView(der.data(), static_cast<std::size_t>(der_len)),
                    data);
}

}  // namespace

// ---------------------------------------------------------------------------
// Names

std::string_view name(SignatureAlg alg) {
  switch (alg) {
    case SignatureAlg::ssh_ed25519:
      return "ssh-ed25519";
    case SignatureAlg::ecdsa_sha2_nistp256:
      return "ecdsa-sha2-nistp256";
    case SignatureAlg::rsa_sha2_512:
      return "rsa-sha2-512";
    case SignatureAlg::rsa_sha2_256:
      return "rsa-sha2-256";
  }
  return "unknown";
}

std::optional<SignatureAlg> signature_alg_from_name(std::string_view n) {
  for (auto alg : {SignatureAlg::ssh_ed25519, SignatureAlg::ecdsa_sha2_nistp256,
                   SignatureAlg::rsa_sha2_512, SignatureAlg::rsa_sha2_256}) {
    if (name(alg) == n) return alg;
  }
  return std::nullopt;  // notably "ssh-rsa" (SHA-1), which parley does not support
}

std::string_view key_type_name(KeyType t) {
  switch (t) {
    case KeyType::ed25519:
      return "ssh-ed25519";
    case KeyType::ecdsa_p256:
      return "ecdsa-sha2-nistp256";
    case KeyType::rsa:
      return "ssh-rsa";
  }
  return "unknown";
}

KeyType key_type_for(SignatureAlg alg) {
  switch (alg) {
    case SignatureAlg::ssh_ed25519:
      return KeyType::ed25519;
    case SignatureAlg::ecdsa_sha2_nistp256:
      return KeyType::ecdsa_p256;
    case SignatureAlg::rsa_sha2_512:
    case SignatureAlg::rsa_sha2_256:
      return KeyType::rsa;
  }
  return KeyType::ed25519;
}

// ---------------------------------------------------------------------------
// PublicKey

struct PublicKey::Impl {
  KeyType type;
  Bytes blob;
  PkeyPtr pkey;
};

std::expected<PublicKey, CryptoError> PublicKey::from_blob(BytesView blob) {
  wire::Reader r(blob);
  const std::string_view type = r.text();
  if (!r.ok()) return std::unexpected(CryptoError::malformed_key);

  auto impl = std::make_shared<Impl>();
  impl->blob.assign(blob.begin(), blob.end());
  if (type == key_type_name(KeyType::ed25519)) {
    // RFC 8709 §4: string "ssh-ed25519", string key (32 bytes).
    const BytesView key = r.string();
    if (!r.finish() || key.size() != ed25519_key_size) {
      return std::unexpected(CryptoError::malformed_key);
    }
    impl->type = KeyType::ed25519;
    impl->pkey.reset(
        EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, key.data(), key.size()));
  } else if (type == key_type_name(KeyType::ecdsa_p256)) {
    // RFC 5656 §3.1: string type, string curve identifier, string Q.
    const std::string_view curve = r.text();
    const BytesView q = r.string();
    if (!r.finish() || curve != nistp256_id) return std::unexpected(CryptoError::malformed_key);
    impl->type = KeyType::ecdsa_p256;
    impl->pkey = p256_public(q);
  } else if (type == key_type_name(KeyType::rsa)) {
    // RFC 4253 §6.6: string "ssh-rsa", mpint e, mpint n.
    const BytesView e = r.mpint_positive();
    const BytesView n = r.mpint_positive();
    if (!r.finish()) return std::unexpected(CryptoError::malformed_key);
    BnPtr e_bn = bn_from(e, false);
    BnPtr n_bn = bn_from(n, false);
    if (!e_bn || !n_bn) return std::unexpected(CryptoError::internal);
    const int bits = BN_num_bits(n_bn.get());
    if (bits < rsa_min_bits || bits > rsa_max_bits) {
      return std::unexpected(CryptoError::unsupported_key_type);
    }
    // An even modulus or an exponent of 1 (or even) is not an RSA key.
    if (!BN_is_odd(n_bn.get()) || !BN_is_odd(e_bn.get()) || BN_is_one(e_bn.get()) ||
        BN_cmp(e_bn.get(), n_bn.get()) >= 0) {
      return std::unexpected(CryptoError::malformed_key);
    }
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
      return std::unexpected(CryptoError::internal);
    }
    impl->type = KeyType::rsa;
    impl->pkey = pkey_from_builder("RSA", bld.get(), EVP_PKEY_PUBLIC_KEY);
  } else {
    return std::unexpected(CryptoError::unsupported_key_type);
  }
  if (!impl->pkey) return std::unexpected(CryptoError::malformed_key);
  return PublicKey(std::move(impl));
}

std::expected<PublicKey, CryptoError> PublicKey::from_openssh(std::string_view line) {
  // "type base64 [comment]", fields separated by spaces or tabs.
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  auto next_field = [&](std::string_view& s) {
    std::size_t i = 0;
    while (i < s.size() && is_space(s[i])) ++i;
    std::size_t j = i;
    while (j < s.size() && !is_space(s[j])) ++j;
    std::string_view field = s.substr(i, j - i);
    s.remove_prefix(j);
    return field;
  };
  const std::string_view type = next_field(line);
  const std::string_view encoded = next_field(line);
  if (type.empty() || encoded.empty()) return std::unexpected(CryptoError::malformed_key);
  const std::optional<Bytes> blob = base64_decode(encoded);
  if (!blob) return std::unexpected(CryptoError::malformed_key);
  auto key = from_blob(*blob);
  if (!key) return key;
  // The leading name must agree with the blob's own, as in OpenSSH's sshkey_read.
  if (key_type_name(key->type()) != type) return std::unexpected(CryptoError::malformed_key);
  return key;
}

KeyType PublicKey::type() const {
  return impl_->type;
}

const Bytes& PublicKey::blob() const {
  return impl_->blob;
}

bool PublicKey::verify(SignatureAlg alg, BytesView signature_blob, BytesView data) const {
  if (key_type_for(alg) != impl_->type) return false;
  wire::Reader r(signature_blob);
  const std::string_view alg_name = r.text();
  const BytesView sig = r.string();
  // The blob must name exactly the negotiated algorithm (RFC 8332 §3: an
  // rsa-sha2-512 key exchange does not accept an rsa-sha2-256 signature).
  if (!r.finish() || alg_name != name(alg)) return false;

  EVP_PKEY* key = impl_->pkey.get();
  switch (alg) {
    case SignatureAlg::ssh_ed25519:
      // RFC 8709 §6: the signature is the raw 64-byte RFC 8032 signature.
      if (sig.size() != ed25519_sig_size) return false;
      return verify_raw(key, nullptr, sig, data);
    case SignatureAlg::ecdsa_sha2_nistp256:
      return verify_ecdsa(key, sig, data);
    case SignatureAlg::rsa_sha2_512:
    case SignatureAlg::rsa_sha2_256:
      // RFC 8332 §3: PKCS #1 v1.5; the signature is exactly as long as the modulus.
      if (sig.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key))) return false;
      return verify_raw(key, md_for(alg), sig, data);
  }
  return false;
}

std::string PublicKey::fingerprint() const {
  return "SHA256:" + base64_encode(digest(HashAlg::sha256, impl_->blob), false);
}

std::string PublicKey::to_openssh(std::string_view comment) const {
  std::string out(key_type_name(impl_->type));
  out += ' ';
  out += base64_encode(impl_->blob);
  if (!comment.empty()) {
    out += ' ';
    out += comment;
  }
  return out;
}

// ---------------------------------------------------------------------------
// PrivateKey

struct PrivateKey::Impl {
  PkeyPtr pkey;
  // The key-specific fields of the openssh-key-v1 private section (after the
  // key type, before the comment), kept verbatim so to_openssh() writes back
  // exactly what was read.
  SecretBytes private_fields;
};

namespace {

constexpr std::string_view pem_begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr std::string_view pem_end = "-----END OPENSSH PRIVATE KEY-----";
// PROTOCOL.key: the binary format starts with this magic, NUL included.
constexpr std::string_view key_v1_magic{"openssh-key-v1\0", 15};
// Unencrypted private sections are padded to the "none" cipher's block size.
constexpr std::size_t none_block_size = 8;
// ssh-keygen wraps the base64 body at 70 columns.
constexpr std::size_t pem_line_width = 70;

using PrivateResult = std::expected<PkeyPtr, CryptoError>;

/// The public blob a private section's public fields describe; it must equal
/// the file's public key blob.
bool same_blob(const Bytes& rebuilt, BytesView blob) {
  return rebuilt.size() == blob.size() && std::equal(rebuilt.begin(), rebuilt.end(), blob.begin());
}

/// PROTOCOL.key / sshkey_private_serialize for ssh-ed25519:
/// string pk (32), string sk (64 = seed || pk).
PrivateResult read_ed25519_private(wire::Reader& r, BytesView pub_blob) {
  const BytesView pk = r.string();
  const BytesView sk = r.string();
  if (!r.ok() || pk.size() != ed25519_key_size || sk.size() != 2 * ed25519_key_size) {
    return std::unexpected(CryptoError::malformed_key);
  }
  Bytes rebuilt;
  wire::Writer(rebuilt).string(key_type_name(KeyType::ed25519)).string(pk);
  if (!same_blob(rebuilt, pub_blob) ||
      !std::equal(pk.begin(), pk.end(), sk.begin() + ed25519_key_size)) {
    return std::unexpected(CryptoError::malformed_key);
  }
  PkeyPtr key(
      EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, sk.data(), ed25519_key_size));
  // The seed must actually produce the stated public key.
  std::array<std::uint8_t, ed25519_key_size> derived{};
  std::size_t len = derived.size();
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), derived.data(), &len) != 1 ||
      len != derived.size() || !std::equal(derived.begin(), derived.end(), pk.begin())) {
    return std::unexpected(CryptoError::malformed_key);
  }
  return key;
}

/// ecdsa-sha2-nistp256: string curve, string Q, mpint d.
PrivateResult read_p256_private(wire::Reader& r, BytesView pub_blob) {
  const std::string_view curve = r.text();
  const BytesView q = r.string();
  const BytesView d = r.mpint_positive();
  if (!r.ok() || curve != nistp256_id || d.empty() || d.size() > p256_scalar_size) {
    return std::unexpected(CryptoError::malformed_key);
  }
  Bytes rebuilt;
  wire::Writer(rebuilt).string(key_type_name(KeyType::ecdsa_p256)).string(curve).string(q);
  if (!same_blob(rebuilt, pub_blob)) return std::unexpected(CryptoError::malformed_key);

  BnPtr d_bn = bn_from(d, true);
  if (!d_bn) return std::unexpected(CryptoError::internal);
  if (BN_cmp(d_bn.get(), EC_GROUP_get0_order(p256_group())) >= 0) {
    return std::unexpected(CryptoError::malformed_key);
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1,
                                      0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, q.data(), q.size()) !=
          1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d_bn.get()) != 1) {
    return std::unexpected(CryptoError::internal);
  }
  PkeyPtr key = pkey_from_builder("EC", bld.get(), EVP_PKEY_KEYPAIR);
  if (!key) return std::unexpected(CryptoError::malformed_key);
  // d·G must be Q, or our signatures would not verify under the public key.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_pairwise_check(check.get()) != 1) {
    return std::unexpected(CryptoError::malformed_key);
  }
  return key;
}

/// ssh-rsa: mpint n, e, d, iqmp, p, q.
PrivateResult read_rsa_private(wire::Reader& r, BytesView pub_blob) {
  const BytesView n = r.mpint_positive();
  const BytesView e = r.mpint_positive();
  const BytesView d = r.mpint_positive();
  const BytesView iqmp = r.mpint_positive();
  const BytesView p = r.mpint_positive();
  const BytesView q = r.mpint_positive();
  if (!r.ok() || d.empty() || iqmp.empty() || p.empty() || q.empty()) {
    return std::unexpected(CryptoError::malformed_key);
  }
  Bytes rebuilt;
  wire::Writer(rebuilt).string(key_type_name(KeyType::rsa)).mpint_unsigned(e).mpint_unsigned(n);
  if (!same_blob(rebuilt, pub_blob)) return std::unexpected(CryptoError::malformed_key);

  BnPtr n_bn = bn_from(n, false), e_bn = bn_from(e, false);
  BnPtr d_bn = bn_from(d, true), iqmp_bn = bn_from(iqmp, true);
  BnPtr p_bn = bn_from(p, true), q_bn = bn_from(q, true);
  BnPtr dmp1(BN_secure_new()), dmq1(BN_secure_new()), t(BN_secure_new());
  BnCtxPtr ctx(BN_CTX_secure_new());
  if (!n_bn || !e_bn || !d_bn || !iqmp_bn || !p_bn || !q_bn || !dmp1 || !dmq1 || !t || !ctx) {
    return std::unexpected(CryptoError::internal);
  }
  // n = p·q and iqmp = q^-1 mod p, or the CRT signing below would be wrong.
  if (BN_mul(t.get(), p_bn.get(), q_bn.get(), ctx.get()) != 1 || BN_cmp(t.get(), n_bn.get()) != 0 ||
      BN_mod_mul(t.get(), iqmp_bn.get(), q_bn.get(), p_bn.get(), ctx.get()) != 1 ||
      !BN_is_one(t.get())) {
    return std::unexpected(CryptoError::malformed_key);
  }
  // The file omits the CRT exponents (OpenSSH recomputes them as well):
  // dmp1 = d mod (p-1), dmq1 = d mod (q-1). Each must invert e modulo its
  // p-1 / q-1, which holds exactly when d is a valid private exponent for e.
  const auto crt_exponent = [&](const BIGNUM* prime, BIGNUM* exponent) {
    BnPtr check(BN_secure_new());
    return check && BN_copy(t.get(), prime) && BN_sub_word(t.get(), 1) == 1 &&
           BN_mod(exponent, d_bn.get(), t.get(), ctx.get()) == 1 &&
           BN_mod_mul(check.get(), exponent, e_bn.get(), t.get(), ctx.get()) == 1 &&
           BN_is_one(check.get());
  };
  if (!crt_exponent(p_bn.get(), dmp1.get()) || !crt_exponent(q_bn.get(), dmq1.get())) {
    return std::unexpected(CryptoError::malformed_key);
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_D, d_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR1, p_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR2, q_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp_bn.get()) != 1) {
    return std::unexpected(CryptoError::internal);
  }
  PkeyPtr key = pkey_from_builder("RSA", bld.get(), EVP_PKEY_KEYPAIR);
  if (!key) return std::unexpected(CryptoError::malformed_key);
  return key;
}

/// Wraps base64 text in PEM-style armor, `pem_line_width` columns per line.
std::string armor(std::string_view begin, std::string_view end, std::string_view b64) {
  std::string out;
  out.reserve(begin.size() + end.size() + b64.size() + b64.size() / pem_line_width + 4);
  out += begin;
  out += '\n';
  for (std::size_t i = 0; i < b64.size(); i += pem_line_width) {
    out += b64.substr(i, pem_line_width);
    out += '\n';
  }
  out += end;
  out += '\n';
  return out;
}

}  // namespace

std::expected<PrivateKey, CryptoError> PrivateKey::from_openssh(std::string_view text) {
  // The armor must come first (leading blank space aside) and be closed; like
  // OpenSSH, anything after the end line is ignored.
  const std::size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos || text.substr(begin, pem_begin.size()) != pem_begin) {
    return std::unexpected(CryptoError::malformed_key);
  }
  const std::size_t body = begin + pem_begin.size();
  const std::size_t end = text.find(pem_end, body);
  if (end == std::string_view::npos) return std::unexpected(CryptoError::malformed_key);
  std::optional<Bytes> decoded = base64_decode(text.substr(body, end - body));
  if (!decoded) return std::unexpected(CryptoError::malformed_key);
  WipeOnExit wipe(*decoded);

  // PROTOCOL.key: magic, string ciphername, string kdfname, string kdfoptions,
  // uint32 number of keys, string publickey, string encrypted private section.
  wire::Reader r(*decoded);
  const BytesView magic = r.raw(key_v1_magic.size());
  const std::string_view cipher = r.text();
  const std::string_view kdf = r.text();
  const BytesView kdf_options = r.string();
  const std::uint32_t key_count = r.uint32();
  if (!r.ok() || as_chars(magic) != key_v1_magic)
    return std::unexpected(CryptoError::malformed_key);
  if (cipher != "none") return std::unexpected(CryptoError::encrypted_key);
  if (kdf != "none" || !kdf_options.empty() || key_count != 1) {
    return std::unexpected(CryptoError::malformed_key);
  }
  const BytesView pub_blob = r.string();
  const BytesView section = r.string();
  if (!r.finish() || section.empty() || section.size() % none_block_size != 0) {
    return std::unexpected(CryptoError::malformed_key);
  }
  auto pub = PublicKey::from_blob(pub_blob);
  if (!pub) return std::unexpected(pub.error());

  // Private section: uint32 checkint (twice, equal), string keytype, the key's
  // fields, string comment, padding 1, 2, 3, ...
  wire::Reader p(section);
  const std::uint32_t check1 = p.uint32();
  const std::uint32_t check2 = p.uint32();
  const std::string_view type = p.text();
  // Unencrypted, the checkints can only differ through corruption.
  if (!p.ok() || check1 != check2 || type != key_type_name(pub->type())) {
    return std::unexpected(CryptoError::malformed_key);
  }
  const std::size_t fields_start = p.position();
  PrivateResult key = [&]() -> PrivateResult {
    switch (pub->type()) {
      case KeyType::ed25519:
        return read_ed25519_private(p, pub_blob);
      case KeyType::ecdsa_p256:
        return read_p256_private(p, pub_blob);
      case KeyType::rsa:
        return read_rsa_private(p, pub_blob);
    }
    return std::unexpected(CryptoError::unsupported_key_type);
  }();
  if (!key) return std::unexpected(key.error());
  const std::size_t fields_end = p.position();
  (void)p.string();  // comment: parley does not keep it
  const BytesView padding = p.rest();
  if (!p.finish()) return std::unexpected(CryptoError::malformed_key);
  for (std::size_t i = 0; i < padding.size(); ++i) {
    if (padding[i] != static_cast<std::uint8_t>(i + 1)) {
      return std::unexpected(CryptoError::malformed_key);
    }
  }

  auto impl = std::make_shared<Impl>();
  impl->pkey = std::move(*key);
  impl->private_fields = SecretBytes(section.subspan(fields_start, fields_end - fields_start));
  return PrivateKey(std::move(impl), *std::move(pub));
}

PrivateKey PrivateKey::generate_ed25519(Random& rng) {
  // RFC 8032 §5.1.5: the private key is 32 random bytes (the seed).
  SecretBytes seed(ed25519_key_size);
  rng.fill(seed.mutable_view());
  PkeyPtr key(EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, seed.view().data(),
                                              seed.size()));
  std::array<std::uint8_t, ed25519_key_size> pk{};
  std::size_t len = pk.size();
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), pk.data(), &len) != 1 || len != pk.size()) {
    libcrypto_failed("Ed25519 key generation");
  }
  Bytes blob;
  wire::Writer(blob).string(key_type_name(KeyType::ed25519)).string(BytesView(pk));
  auto pub = PublicKey::from_blob(blob);
  if (!pub) libcrypto_failed("Ed25519 public key import");

  // The private section fields, as ssh-keygen writes them: string pk, string seed || pk.
  Bytes fields;
  fields.reserve(8 + 3 * ed25519_key_size);  // exact size: no reallocation leaves copies
  WipeOnExit wipe(fields);
  wire::Writer w(fields);
  w.string(BytesView(pk)).uint32(2 * ed25519_key_size).raw(seed.view()).raw(BytesView(pk));

  auto impl = std::make_shared<Impl>();
  impl->pkey = std::move(key);
  impl->private_fields = SecretBytes(BytesView(fields));
  return PrivateKey(std::move(impl), *std::move(pub));
}

std::string PrivateKey::to_openssh(std::string_view comment, Random& rng) const {
  const std::string_view type = key_type_name(public_.type());
  const BytesView fields = impl_->private_fields.view();
  // PROTOCOL.key: a random check value written twice (with a cipher, a wrong
  // passphrase shows as a mismatch); ssh-keygen draws it the same way.
  std::array<std::uint8_t, 4> check{};
  rng.fill(check);

  // Buffers holding private fields are sized up front so that growth never
  // leaves an unwiped copy behind, and are wiped on the way out.
  std::size_t section_size =
      2 * check.size() + 4 + type.size() + fields.size() + 4 + comment.size();
  section_size += (none_block_size - section_size % none_block_size) % none_block_size;
  Bytes section;
  section.reserve(section_size);
  WipeOnExit wipe_section(section);
  wire::Writer w(section);
  w.raw(check).raw(check).string(type).raw(fields).string(comment);
  for (std::uint8_t pad = 1; section.size() % none_block_size != 0; ++pad) w.byte(pad);

  const Bytes& pub_blob = public_.blob();
  Bytes file;
  file.reserve(key_v1_magic.size() + 3 * 4 + 2 * std::string_view("none").size() + 4 + 4 +
               pub_blob.size() + 4 + section.size());
  WipeOnExit wipe_file(file);
  wire::Writer(file)
      .raw(as_bytes(key_v1_magic))
      .string(std::string_view("none"))  // ciphername
      .string(std::string_view("none"))  // kdfname
      .string(BytesView{})               // kdfoptions
      .uint32(1)                         // number of keys
      .string(pub_blob)
      .string(section);
  std::string b64 = base64_encode(file);
  std::string out = armor(pem_begin, pem_end, b64);
  secure_wipe(b64.data(), b64.size());
  return out;
}

const PublicKey& PrivateKey::public_key() const {
  return public_;
}

std::vector<SignatureAlg> PrivateKey::signature_algs() const {
  switch (public_.type()) {
    case KeyType::ed25519:
      return {SignatureAlg::ssh_ed25519};
    case KeyType::ecdsa_p256:
      return {SignatureAlg::ecdsa_sha2_nistp256};
    // RFC 8332 §3: SHA-512 first, as OpenSSH prefers it; never SHA-1 "ssh-rsa".
    case KeyType::rsa:
      return {SignatureAlg::rsa_sha2_512, SignatureAlg::rsa_sha2_256};
  }
  return {};
}

Bytes PrivateKey::sign(SignatureAlg alg, BytesView data) const {
  // A caller passing an algorithm this key cannot make (a precondition
  // violation) or a libcrypto failure gets an empty blob, which no verifier accepts.
  if (key_type_for(alg) != public_.type()) return {};
  EVP_PKEY* key = impl_->pkey.get();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md_for(alg), nullptr, key) != 1) {
    return {};
  }
  // The largest signature the key makes: 64 (Ed25519), the DER bound (ECDSA),
  // the modulus length (RSA).
  Bytes sig(static_cast<std::size_t>(EVP_PKEY_get_size(key)));
  std::size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1) return {};
  sig.resize(len);

  switch (alg) {
    case SignatureAlg::ssh_ed25519:   // RFC 8709 §6: the raw signature
    case SignatureAlg::rsa_sha2_512:  // RFC 8332 §3: as long as the modulus
    case SignatureAlg::rsa_sha2_256:
      return signature_blob(alg, sig);
    case SignatureAlg::ecdsa_sha2_nistp256: {
      // RFC 5656 §3.1.2: the DER SEQUENCE becomes "mpint r, mpint s".
      const std::uint8_t* in = sig.data();
      EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(sig.size())));
      if (!ecdsa) return {};
      std::array<std::uint8_t, p256_scalar_size> r{}, s{};
      if (BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), r.data(), static_cast<int>(r.size())) < 0 ||
          BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), s.data(), static_cast<int>(s.size())) < 0) {
        return {};
      }
      Bytes inner;
      wire::Writer(inner).mpint_unsigned(r).mpint_unsigned(s);
      return signature_blob(alg, inner);
    }
  }
  return {};
}

// ---------------------------------------------------------------------------
// Base64 (RFC 4648 §4)

namespace {

constexpr std::string_view b64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(BytesView data, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);  // exact for padded output: no reallocation
  auto put = [&](std::uint32_t v, int count) {
    for (int i = 0; i < count; ++i) out += b64_alphabet[(v >> (18 - 6 * i)) & 63];
  };
  std::size_t i = 0;
  for (; data.size() - i >= 3; i += 3) {
    put(static_cast<std::uint32_t>(data[i]) << 16 | static_cast<std::uint32_t>(data[i + 1]) << 8 |
            data[i + 2],
        4);
  }
  if (data.size() - i == 1) {
    put(static_cast<std::uint32_t>(data[i]) << 16, 2);
    if (pad) out += "==";
  } else if (data.size() - i == 2) {
    put(static_cast<std::uint32_t>(data[i]) << 16 | static_cast<std::uint32_t>(data[i + 1]) << 8,
        3);
    if (pad) out += '=';
  }
  return out;
}

std::optional<Bytes> base64_decode(std::string_view text) {
  Bytes out;
  out.reserve(text.size() / 4 * 3 + 3);  // an upper bound: no reallocation leaves copies
  // The input may be a private key file, so partial output is wiped on failure.
  auto fail = [&out]() -> std::optional<Bytes> {
    secure_wipe(out.data(), out.size());
    return std::nullopt;
  };
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t symbols = 0;
  std::size_t padding = 0;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int v = b64_value(c);
    if (v < 0 || padding != 0) return fail();  // a non-alphabet symbol, or data after padding
    acc = acc << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    ++symbols;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  // A final quantum has 2 or 3 symbols; padding, when present, completes it to 4.
  // Leftover bits must be zero (RFC 4648 §3.5), so each byte string has one encoding.
  if (symbols % 4 == 1 || (padding != 0 && (padding > 2 || (symbols + padding) % 4 != 0)) ||
      acc != 0) {
    return fail();
  }
  return out;
}

}  // namespace parley::crypto

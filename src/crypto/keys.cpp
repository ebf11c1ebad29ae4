// SSH public and private keys over libcrypto: key blobs, signatures, names and
// base64. The private key file format is in private_key_format.cpp.
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
#include "key_parts.hpp"
#include "ossl_ptr.hpp"

namespace parley::crypto {
namespace {

using namespace ossl;
using namespace key_parts;

const EVP_MD* sha256_md() { return digest_md(HashAlg::sha256); }
const EVP_MD* sha512_md() { return digest_md(HashAlg::sha512); }

/// The digest a signature algorithm hashes with; nullptr for Ed25519, which
/// hashes internally (RFC 8032 "pure" mode).
const EVP_MD* md_for(SignatureAlg alg) {
  switch (alg) {
    case SignatureAlg::ssh_ed25519: return nullptr;
    case SignatureAlg::ecdsa_sha2_nistp256:
      return sha256_md();  // RFC 5656 §6.2.1
    case SignatureAlg::rsa_sha2_512:
      return sha512_md();  // RFC 8332 §3
    case SignatureAlg::rsa_sha2_256: return sha256_md();
  }
  return nullptr;
}

// OpenSSH's bounds on RSA moduli (SSH_RSA_MINIMUM_MODULUS_SIZE raised to 2048
// for parley; SSH_RSA_MAXIMUM_MODULUS_SIZE).
constexpr int rsa_min_bits = 2048;
constexpr int rsa_max_bits = 16384;

PkeyPtr pkey_from_params(const char* type, const OSSL_PARAM* params, int selection) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, selection, const_cast<OSSL_PARAM*>(params)) != 1) {
    return nullptr;
  }
  return PkeyPtr(key);
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
// Shared with private_key_format.cpp (key_parts.hpp)

namespace key_parts {

using namespace ossl;

PkeyPtr pkey_from_builder(const char* type, OSSL_PARAM_BLD* bld, int selection) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  return pkey_from_params(type, params.get(), selection);
}

BnPtr bn_from(BytesView magnitude, bool secret) {
  BnPtr bn(secret ? BN_secure_new() : BN_new());
  if (!bn) return nullptr;
  if (secret) BN_set_flags(bn.get(), BN_FLG_CONSTTIME);
  if (!BN_bin2bn(magnitude.data(), static_cast<int>(magnitude.size()), bn.get())) return nullptr;
  return bn;
}

}  // namespace key_parts

// ---------------------------------------------------------------------------
// Names

namespace {

/// What each signature algorithm is: its name (RFC 4253 §6.6, RFC 5656 §6.2,
/// RFC 8332 §3, RFC 8709 §6) and the key type that makes it.
struct SignatureAlgFacts {
  SignatureAlg alg;
  std::string_view name;
  KeyType key;
};
constexpr SignatureAlgFacts signature_algs[] = {
    {SignatureAlg::ssh_ed25519, "ssh-ed25519", KeyType::ed25519},
    {SignatureAlg::ecdsa_sha2_nistp256, "ecdsa-sha2-nistp256", KeyType::ecdsa_p256},
    {SignatureAlg::rsa_sha2_512, "rsa-sha2-512", KeyType::rsa},
    {SignatureAlg::rsa_sha2_256, "rsa-sha2-256", KeyType::rsa},
};

/// The row for `alg`; nullptr only for a value cast from outside the enumeration.
const SignatureAlgFacts* facts(SignatureAlg alg) {
  for (const auto& f : signature_algs)
    if (f.alg == alg) return &f;
  return nullptr;
}

}  // namespace

std::string_view name(SignatureAlg alg) {
  const SignatureAlgFacts* f = facts(alg);
  return f ? f->name : "unknown";
}

std::optional<SignatureAlg> signature_alg_from_name(std::string_view n) {
  for (const auto& f : signature_algs)
    if (f.name == n) return f.alg;
  return std::nullopt;  // notably "ssh-rsa" (SHA-1), which parley does not support
}

std::string_view key_type_name(KeyType t) {
  constexpr std::string_view names[] = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"};  // by KeyType
  const auto i = static_cast<std::size_t>(t);
  return i < std::size(names) ? names[i] : "unknown";
}

KeyType key_type_for(SignatureAlg alg) {
  const SignatureAlgFacts* f = facts(alg);
  return f ? f->key : KeyType::ed25519;
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
    case SignatureAlg::ecdsa_sha2_nistp256: return verify_ecdsa(key, sig, data);
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
// PrivateKey (reading and writing key files is in private_key_format.cpp)

const PublicKey& PrivateKey::public_key() const {
  return public_;
}

std::vector<SignatureAlg> PrivateKey::signature_algs() const {
  switch (public_.type()) {
    case KeyType::ed25519: return {SignatureAlg::ssh_ed25519};
    case KeyType::ecdsa_p256: return {SignatureAlg::ecdsa_sha2_nistp256};
    // RFC 8332 §3: SHA-512 first, as OpenSSH prefers it; never SHA-1 "ssh-rsa".
    case KeyType::rsa: return {SignatureAlg::rsa_sha2_512, SignatureAlg::rsa_sha2_256};
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
    case SignatureAlg::rsa_sha2_256: return signature_blob(alg, sig);
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

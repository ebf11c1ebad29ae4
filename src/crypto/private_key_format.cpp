// OpenSSH's private key file format, openssh-key-v1 (PROTOCOL.key), unencrypted:
// reading it with every field checked against the public key, writing it as
// ssh-keygen does, and generating Ed25519 keys in it.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <array>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "key_parts.hpp"
#include "ossl_ptr.hpp"

namespace parley::crypto {

namespace {

using namespace ossl;
using namespace key_parts;

const EC_GROUP* p256_group() {
  static const EC_GROUP* const group = [] {
    EC_GROUP* g = EC_GROUP_new_by_curve_name_ex(nullptr, nullptr, NID_X9_62_prime256v1);
    if (g == nullptr) libcrypto_failed("EC_GROUP_new_by_curve_name_ex(P-256)");
    return g;
  }();
  return group;
}

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

}  // namespace parley::crypto

// ML-KEM-768 (FIPS 203), written from the standard; algorithm numbers below
// are FIPS 203's. Its four hash functions (H = SHA3-256, G = SHA3-512,
// XOF = SHAKE128, PRF and J = SHAKE256) come from libcrypto's EVP, fetched
// once per process. When libcrypto has ML-KEM itself (OpenSSL >= 3.5) the
// three internal algorithms are OpenSSL's instead (see the end of the file);
// the §7.2 and §7.3 input checks are parley's either way.
//
// Constant time: on secret data (dk, s-hat, m, r, sigma, PRF outputs, the
// decrypted m', K) there is no branch and no table index. Reduction is Barrett
// (multiply and shift), Compress divides by q with a multiply and shift, and
// implicit rejection compares ciphertexts with CRYPTO_memcmp and selects K' or
// K-bar with a mask. Only public data (rho, the matrix A-hat, the ciphertext
// and encapsulation key) drives branches: SampleNTT's rejection sampling and
// the §7.2 / §7.3 checks. Secret intermediates are wiped before return.
#include "parley/crypto/mlkem.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "mlkem_ring.hpp"
#include "ossl_ptr.hpp"

#if OPENSSL_VERSION_NUMBER >= 0x30500000L
#define PARLEY_MLKEM_OPENSSL 1
#include <openssl/core_names.h>
#include <openssl/params.h>
#else
#define PARLEY_MLKEM_OPENSSL 0
#endif

namespace parley::crypto::mlkem768 {
namespace {

using ossl::libcrypto_failed;
using namespace ring;  // Poly, k, q and the arithmetic on them

// FIPS 203 §8, Table 2: ML-KEM-768 (k and q are in mlkem_ring.hpp).
constexpr int eta1 = 2;
constexpr int eta2 = 2;
constexpr int du = 10;
constexpr int dv = 4;

constexpr std::size_t poly_bytes = 384;              // ByteEncode12 of one polynomial
constexpr std::size_t pke_dk_size = poly_bytes * k;  // dk_PKE, 1152
constexpr std::size_t c1_size = 32 * du * k;         // 960
constexpr std::size_t c2_size = 32 * dv;             // 128
constexpr std::size_t hash_offset = pke_dk_size + encapsulation_key_size;  // H(ek) inside dk
constexpr std::size_t z_offset = hash_offset + 32;                         // z inside dk
static_assert(encapsulation_key_size == poly_bytes * k + 32);
static_assert(decapsulation_key_size == z_offset + 32);
static_assert(ciphertext_size == c1_size + c2_size);

/// A value wiped when it goes out of scope: every secret intermediate lives in one.
template <class T>
struct Wiped {
  T v{};
  Wiped() = default;
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  ~Wiped() { secure_wipe(&v, sizeof v); }
};

// ---------------------------------------------------------------------------
// Hash functions (§4.1), through one reusable EVP_MD_CTX per operation.

const EVP_MD* fetch_md(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) libcrypto_failed("EVP_MD_fetch (SHA-3)");
  return md;
}
/// The four SHA-3 functions ML-KEM uses, fetched together once per process.
struct Sha3Functions {
  const EVP_MD* sha3_256;
  const EVP_MD* sha3_512;
  const EVP_MD* shake128;
  const EVP_MD* shake256;
};
const Sha3Functions& sha3() {
  static const Sha3Functions f{fetch_md("SHA3-256"), fetch_md("SHA3-512"), fetch_md("SHAKE128"),
                               fetch_md("SHAKE256")};
  return f;
}
const EVP_MD* sha3_256() { return sha3().sha3_256; }
const EVP_MD* sha3_512() { return sha3().sha3_512; }
const EVP_MD* shake128() { return sha3().shake128; }
const EVP_MD* shake256() { return sha3().shake256; }

class Keccak {
 public:
  Keccak() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_) libcrypto_failed("EVP_MD_CTX_new");
  }

  /// out = md(concatenation of `in`); for SHAKE, `out.size()` bytes of output.
  void hash(const EVP_MD* md, std::initializer_list<BytesView> in, std::span<std::uint8_t> out) {
    if (EVP_DigestInit_ex2(ctx_.get(), md, nullptr) != 1) libcrypto_failed("EVP_DigestInit_ex2");
    for (const BytesView part : in) {
      if (EVP_DigestUpdate(ctx_.get(), part.data(), part.size()) != 1) {
        libcrypto_failed("EVP_DigestUpdate");
      }
    }
    if (md == shake128() || md == shake256()) {
      // OpenSSL 3.0 squeezes once per context: callers ask for all they need.
      if (EVP_DigestFinalXOF(ctx_.get(), out.data(), out.size()) != 1) {
        libcrypto_failed("EVP_DigestFinalXOF");
      }
    } else {
      unsigned int len = 0;
      if (static_cast<std::size_t>(EVP_MD_get_size(md)) != out.size() ||
          EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) != 1) {
        libcrypto_failed("EVP_DigestFinal_ex");
      }
    }
  }

  // H (SHA3-256), 32 bytes.
  void h(BytesView in, std::span<std::uint8_t, 32> out) { hash(sha3_256(), {in}, out); }
  // J(s) = SHAKE256(s, 32 bytes): the implicit-rejection key.
  void j(BytesView z, BytesView c, std::span<std::uint8_t, 32> out) {
    hash(shake256(), {z, c}, out);
  }

 private:
  ossl::MdCtxPtr ctx_;
};

// Alg. 7 SampleNTT of rho || a || b. Public data only (the matrix depends on rho alone).
void sample_ntt(Keccak& keccak, BytesView rho, std::uint8_t a, std::uint8_t b, Poly& out) {
  std::array<std::uint8_t, 34> seed{};
  std::copy(rho.begin(), rho.end(), seed.begin());
  seed[32] = a;
  seed[33] = b;
  // Three SHAKE128 blocks (504 bytes, 336 candidates each accepted with
  // probability 3329/4096) fill the 256 coefficients about 99.3% of the time;
  // otherwise squeeze twice as much and parse again from the start (a shorter
  // SHAKE output is a prefix of a longer one, and OpenSSL 3.0 cannot squeeze
  // twice). Three blocks rather than a length that never runs short: one
  // permutation less per polynomial in the common case, and the longer path is
  // taken by 8 of the 720 matrix entries in the ACVP vectors, so it is tested.
  std::array<std::uint8_t, 3 * 168> first{};
  Bytes longer;
  std::span<std::uint8_t> buf = first;
  for (;;) {
    keccak.hash(shake128(), {seed}, buf);
    std::size_t j = 0;
    for (std::size_t i = 0; i + 3 <= buf.size() && j < 256; i += 3) {
      const std::uint16_t d1 = static_cast<std::uint16_t>(buf[i] | ((buf[i + 1] & 0x0f) << 8));
      const std::uint16_t d2 = static_cast<std::uint16_t>((buf[i + 1] >> 4) | (buf[i + 2] << 4));
      if (d1 < q) out[j++] = d1;
      if (d2 < q && j < 256) out[j++] = d2;
    }
    if (j == 256) return;
    longer.resize(buf.size() * 2);
    buf = longer;
  }
}

// The matrix of K-PKE: A-hat[i][j] = SampleNTT(rho || j || i); its transpose when `transposed`.
void generate_matrix(Keccak& keccak, BytesView rho, bool transposed, Matrix& a) {
  for (std::uint8_t i = 0; i < k; ++i) {
    for (std::uint8_t j = 0; j < k; ++j) {
      if (transposed) {
        sample_ntt(keccak, rho, i, j, a[i][j]);
      } else {
        sample_ntt(keccak, rho, j, i, a[i][j]);
      }
    }
  }
}

// Alg. 8 SamplePolyCBD_2 of PRF_2(s, b) = SHAKE256(s || b, 128 bytes).
static_assert(eta1 == 2 && eta2 == 2, "the sampler below is CBD with eta = 2");
void sample_cbd2(Keccak& keccak, BytesView s, std::uint8_t b, Poly& out) {
  Wiped<std::array<std::uint8_t, 64 * eta1>> prf;
  const std::array<std::uint8_t, 1> nonce{b};
  keccak.hash(shake256(), {s, nonce}, prf.v);
  // Coefficient i uses bits 4i..4i+3: (bit0 + bit1) - (bit2 + bit3).
  for (std::size_t i = 0; i < 128; ++i) {
    const std::uint32_t byte = prf.v[i];
    for (std::size_t half = 0; half < 2; ++half) {
      const std::uint32_t nib = byte >> (4 * half);
      const std::uint32_t x = (nib & 1u) + ((nib >> 1) & 1u);
      const std::uint32_t y = ((nib >> 2) & 1u) + ((nib >> 3) & 1u);
      out[2 * i + half] = reduce_once(x + q - y);
    }
  }
}

// ---------------------------------------------------------------------------
// K-PKE (§5). [[maybe_unused]]: a build on OpenSSL's ML-KEM calls none of it.

// Alg. 13 K-PKE.KeyGen(d): writes ek_PKE (1184 bytes) and dk_PKE (1152 bytes).
[[maybe_unused]] void pke_keygen(Keccak& keccak, BytesView d, std::uint8_t* ek, std::uint8_t* dk) {
  Wiped<std::array<std::uint8_t, 64>> rho_sigma;  // (rho, sigma) = G(d || k)
  const std::array<std::uint8_t, 1> k_byte{k};
  keccak.hash(sha3_512(), {d, k_byte}, rho_sigma.v);
  const BytesView rho(rho_sigma.v.data(), 32);
  const BytesView sigma(rho_sigma.v.data() + 32, 32);

  Matrix a;
  generate_matrix(keccak, rho, false, a);
  Wiped<PolyVec> s, e, t;
  std::uint8_t nonce = 0;
  for (auto& p : s.v) sample_cbd2(keccak, sigma, nonce++, p);
  for (auto& p : e.v) sample_cbd2(keccak, sigma, nonce++, p);
  for (auto& p : s.v) ntt(p);
  for (auto& p : e.v) ntt(p);
  for (std::size_t i = 0; i < k; ++i) {
    multiply_accumulate(a[i], s.v, t.v[i]);
    add_to(t.v[i], e.v[i]);
  }
  for (std::size_t i = 0; i < k; ++i) {
    byte_encode<12>(t.v[i], ek + i * poly_bytes);
    byte_encode<12>(s.v[i], dk + i * poly_bytes);
  }
  std::copy(rho.begin(), rho.end(), ek + k * poly_bytes);
}

// Alg. 14 K-PKE.Encrypt(ek_PKE, m, r) into c (1088 bytes). ek_PKE has passed §7.2.
[[maybe_unused]] void pke_encrypt(Keccak& keccak, BytesView ek, BytesView m, BytesView r,
                                  std::uint8_t* c) {
  PolyVec t_hat;
  for (std::size_t i = 0; i < k; ++i) byte_decode12(ek.data() + i * poly_bytes, t_hat[i]);
  Matrix a_t;
  generate_matrix(keccak, ek.subspan(k * poly_bytes, 32), true, a_t);

  Wiped<PolyVec> y, e1, u;
  Wiped<Poly> e2, v, mu;
  std::uint8_t nonce = 0;
  for (auto& p : y.v) sample_cbd2(keccak, r, nonce++, p);
  for (auto& p : e1.v) sample_cbd2(keccak, r, nonce++, p);
  sample_cbd2(keccak, r, nonce, e2.v);
  for (auto& p : y.v) ntt(p);
  for (std::size_t i = 0; i < k; ++i) {
    multiply_accumulate(a_t[i], y.v, u.v[i]);
    inverse_ntt(u.v[i]);
    add_to(u.v[i], e1.v[i]);
  }
  byte_decode_raw<1>(m.data(), mu.v);
  for (auto& x : mu.v) x = decompress<1>(x);
  multiply_accumulate(t_hat, y.v, v.v);
  inverse_ntt(v.v);
  add_to(v.v, e2.v);
  add_to(v.v, mu.v);

  for (std::size_t i = 0; i < k; ++i) {
    for (auto& x : u.v[i]) x = compress<du>(x);
    byte_encode<du>(u.v[i], c + i * 32 * du);
  }
  for (auto& x : v.v) x = compress<dv>(x);
  byte_encode<dv>(v.v, c + c1_size);
}

// Alg. 15 K-PKE.Decrypt(dk_PKE, c) into m (32 bytes).
[[maybe_unused]] void pke_decrypt(BytesView dk, BytesView c, std::uint8_t* m) {
  Wiped<PolyVec> u, s_hat;
  Wiped<Poly> v, w;
  for (std::size_t i = 0; i < k; ++i) {
    byte_decode_raw<du>(c.data() + i * 32 * du, u.v[i]);
    for (auto& x : u.v[i]) x = decompress<du>(x);
    ntt(u.v[i]);
    byte_decode12(dk.data() + i * poly_bytes, s_hat.v[i]);
  }
  byte_decode_raw<dv>(c.data() + c1_size, v.v);
  for (auto& x : v.v) x = decompress<dv>(x);
  multiply_accumulate(s_hat.v, u.v, w.v);
  inverse_ntt(w.v);
  for (std::size_t i = 0; i < 256; ++i) {
    w.v[i] = compress<1>(reduce_once(std::uint32_t{v.v[i]} + q - w.v[i]));
  }
  byte_encode<1>(w.v, m);
}

// ---------------------------------------------------------------------------
// ML-KEM internal algorithms (§6). The public functions below check their
// inputs and then call these, parley's or (with OpenSSL >= 3.5) libcrypto's.

#if !PARLEY_MLKEM_OPENSSL

// Alg. 16 ML-KEM.KeyGen_internal(d, z).
std::expected<KeyPair, CryptoError> keygen_internal(BytesView d, BytesView z) {
  Keccak keccak;
  KeyPair pair{Bytes(encapsulation_key_size), SecretBytes(decapsulation_key_size)};
  std::uint8_t* dk = pair.dk.mutable_view().data();
  pke_keygen(keccak, d, pair.ek.data(), dk);
  // dk = dk_PKE || ek || H(ek) || z
  std::copy(pair.ek.begin(), pair.ek.end(), dk + pke_dk_size);
  keccak.h(pair.ek, std::span<std::uint8_t, 32>(dk + hash_offset, 32));
  std::copy(z.begin(), z.end(), dk + z_offset);
  return pair;
}

// Alg. 17 ML-KEM.Encaps_internal(ek, m).
std::expected<Encapsulation, CryptoError> encaps_internal(BytesView ek, BytesView m) {
  Keccak keccak;
  Wiped<std::array<std::uint8_t, 64>> m_h;  // m || H(ek)
  Wiped<std::array<std::uint8_t, 64>> k_r;  // (K, r) = G(m || H(ek))
  std::copy(m.begin(), m.end(), m_h.v.begin());
  keccak.h(ek, std::span<std::uint8_t, 32>(m_h.v.data() + 32, 32));
  keccak.hash(sha3_512(), {m_h.v}, k_r.v);
  Encapsulation out{Bytes(ciphertext_size), SecretBytes(BytesView(k_r.v.data(), 32))};
  pke_encrypt(keccak, ek, m, BytesView(k_r.v.data() + 32, 32), out.ciphertext.data());
  return out;
}

// Alg. 18 ML-KEM.Decaps_internal(dk, c); dk has passed §7.3, c is 1088 bytes.
std::expected<SecretBytes, CryptoError> decaps_internal(BytesView dk, BytesView c) {
  Keccak keccak;
  const BytesView dk_pke = dk.first(pke_dk_size);
  const BytesView ek_pke = dk.subspan(pke_dk_size, encapsulation_key_size);
  const BytesView h = dk.subspan(hash_offset, 32);
  const BytesView z = dk.subspan(z_offset, 32);

  Wiped<std::array<std::uint8_t, 64>> m_h;  // m' || h
  Wiped<std::array<std::uint8_t, 64>> k_r;  // (K', r') = G(m' || h)
  Wiped<std::array<std::uint8_t, 32>> k_bar;
  std::array<std::uint8_t, ciphertext_size> c_prime;
  pke_decrypt(dk_pke, c, m_h.v.data());
  std::copy(h.begin(), h.end(), m_h.v.begin() + 32);
  keccak.hash(sha3_512(), {m_h.v}, k_r.v);
  keccak.j(z, c, k_bar.v);
  pke_encrypt(keccak, ek_pke, BytesView(m_h.v.data(), 32), BytesView(k_r.v.data() + 32, 32),
              c_prime.data());

  // if c != c' then K' = K-bar, in constant time: CRYPTO_memcmp is nonzero
  // exactly when they differ; turn that into an all-ones mask, hidden from
  // the optimiser so it cannot become a branch.
  const auto diff = static_cast<std::uint32_t>(CRYPTO_memcmp(c.data(), c_prime.data(), c.size()));
  auto mask = static_cast<std::uint8_t>(0u - ((diff | (0u - diff)) >> 31));
  __asm__("" : "+r"(mask));
  SecretBytes key(shared_secret_size);
  auto out = key.mutable_view();
  for (std::size_t i = 0; i < shared_secret_size; ++i) {
    out[i] = static_cast<std::uint8_t>(k_r.v[i] ^ (mask & (k_r.v[i] ^ k_bar.v[i])));
  }
  secure_wipe(c_prime.data(), c_prime.size());  // re-encrypted from the secret m'
  return key;
}

#else  // PARLEY_MLKEM_OPENSSL

// libcrypto's ML-KEM (OpenSSL >= 3.5). UNTESTED: the build machine has
// OpenSSL 3.0, so this branch has never run; it was only compiled, against the
// 3.0 headers with the two 3.5 parameter names defined by hand. The
// known-answer tests in tests/unit/mlkem_test.cpp must pass on a 3.5 build
// before it is trusted. A key libcrypto will not import is refused; any other libcrypto
// failure ends the process (ossl::libcrypto_failed), as the inputs have
// already passed the FIPS 203 §7 checks.
constexpr const char* alg_name = "ML-KEM-768";

/// libcrypto's ML-KEM-768 key from its encoding (dk if `is_private`, else ek)
/// and a context on it; `refusal` if libcrypto will not import the key.
struct RawKey {
  ossl::PkeyPtr key;
  ossl::PkeyCtxPtr ctx;
};
std::expected<RawKey, CryptoError> raw_key(BytesView bytes, bool is_private, CryptoError refusal) {
  RawKey raw;
  raw.key.reset(is_private ? EVP_PKEY_new_raw_private_key_ex(nullptr, alg_name, nullptr, bytes.data(),
                                                           bytes.size())
                         : EVP_PKEY_new_raw_public_key_ex(nullptr, alg_name, nullptr, bytes.data(),
                                                          bytes.size()));
  if (!raw.key) return std::unexpected(refusal);
  raw.ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, raw.key.get(), nullptr));
  if (!raw.ctx) libcrypto_failed("ML-KEM context");
  return raw;
}

std::expected<KeyPair, CryptoError> keygen_internal(BytesView d, BytesView z) {
  Wiped<std::array<std::uint8_t, 64>> seed;  // d || z (EVP_PKEY-ML-KEM(7) "seed")
  std::copy(d.begin(), d.end(), seed.v.begin());
  std::copy(z.begin(), z.end(), seed.v.begin() + 32);
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, alg_name, nullptr));
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_ML_KEM_SEED, seed.v.data(), seed.v.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_params(ctx.get(), params) != 1 || EVP_PKEY_generate(ctx.get(), &raw) != 1) {
    libcrypto_failed("ML-KEM keygen");
  }
  ossl::PkeyPtr key(raw);
  KeyPair pair{Bytes(encapsulation_key_size), SecretBytes(decapsulation_key_size)};
  std::size_t ek_len = 0, dk_len = 0;
  if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, pair.ek.data(),
                                      pair.ek.size(), &ek_len) != 1 ||
      EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PRIV_KEY,
                                      pair.dk.mutable_view().data(), pair.dk.size(),
                                      &dk_len) != 1 ||
      ek_len != encapsulation_key_size || dk_len != decapsulation_key_size) {
    libcrypto_failed("ML-KEM key export");
  }
  return pair;
}

std::expected<Encapsulation, CryptoError> encaps_internal(BytesView ek, BytesView m) {
  // Refused only if libcrypto's own checks disagree with §7.2 above.
  auto raw = raw_key(ek, false, CryptoError::invalid_public_value);
  if (!raw) return std::unexpected(raw.error());
  Wiped<std::array<std::uint8_t, 32>> ikme;
  std::copy(m.begin(), m.end(), ikme.v.begin());
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KEM_PARAM_IKME, ikme.v.data(), ikme.v.size()),
      OSSL_PARAM_construct_end()};
  Encapsulation out{Bytes(ciphertext_size), SecretBytes(shared_secret_size)};
  std::size_t c_len = ciphertext_size, k_len = shared_secret_size;
  const bool done = EVP_PKEY_encapsulate_init(raw->ctx.get(), params) == 1 &&
                    EVP_PKEY_encapsulate(raw->ctx.get(), out.ciphertext.data(), &c_len,
                                         out.shared.mutable_view().data(), &k_len) == 1;
  if (!done || c_len != ciphertext_size || k_len != shared_secret_size)
    libcrypto_failed("ML-KEM encapsulate");
  return out;
}

std::expected<SecretBytes, CryptoError> decaps_internal(BytesView dk, BytesView c) {
  // Refused if libcrypto checks more than §7.3 (e.g. the embedded ek's modulus).
  auto raw = raw_key(dk, true, CryptoError::malformed_key);
  if (!raw) return std::unexpected(raw.error());
  SecretBytes out(shared_secret_size);
  std::size_t k_len = shared_secret_size;
  const bool done =
      EVP_PKEY_decapsulate_init(raw->ctx.get(), nullptr) == 1 &&
      EVP_PKEY_decapsulate(raw->ctx.get(), out.mutable_view().data(), &k_len, c.data(), c.size()) == 1;
  if (!done || k_len != shared_secret_size) libcrypto_failed("ML-KEM decapsulate");
  return out;
}

#endif  // PARLEY_MLKEM_OPENSSL

}  // namespace

// ---------------------------------------------------------------------------
// Public functions: FIPS 203 §7 input checks, then the internal algorithms.

std::expected<KeyPair, CryptoError> generate(Random& rng) {
  SecretBytes seeds(2 * seed_size);  // d || z
  rng.fill(seeds.mutable_view());
  return generate_from_seed(seeds.view().first(seed_size), seeds.view().subspan(seed_size));
}

std::expected<KeyPair, CryptoError> generate_from_seed(BytesView d, BytesView z) {
  // Seeds never come from a peer: a wrong size is the caller's bug.
  if (d.size() != seed_size || z.size() != seed_size) return std::unexpected(CryptoError::internal);
  return keygen_internal(d, z);
}

std::expected<Encapsulation, CryptoError> encapsulate(BytesView ek, Random& rng) {
  if (!encapsulation_key_valid(ek)) return std::unexpected(CryptoError::invalid_public_value);
  SecretBytes m(seed_size);
  rng.fill(m.mutable_view());
  return encaps_internal(ek, m.view());
}

std::expected<Encapsulation, CryptoError> encapsulate_with(BytesView ek, BytesView m) {
  if (!encapsulation_key_valid(ek)) return std::unexpected(CryptoError::invalid_public_value);
  if (m.size() != seed_size) return std::unexpected(CryptoError::internal);  // caller's bug
  return encaps_internal(ek, m);
}

std::expected<SecretBytes, CryptoError> decapsulate(const SecretBytes& dk, BytesView ciphertext) {
  // §7.3: ciphertext type check, decapsulation key type check, hash check.
  if (ciphertext.size() != ciphertext_size) {
    return std::unexpected(CryptoError::invalid_public_value);
  }
  if (!decapsulation_key_valid(dk.view())) return std::unexpected(CryptoError::malformed_key);
  return decaps_internal(dk.view(), ciphertext);
}

bool encapsulation_key_valid(BytesView ek) {
  // §7.2: type check (length), then modulus check. ByteEncode12(ByteDecode12(ek))
  // == ek exactly when every 12-bit value is already below q (ek is public).
  if (ek.size() != encapsulation_key_size) return false;
  Poly raw;
  for (std::size_t i = 0; i < k; ++i) {
    byte_decode_raw<12>(ek.data() + i * poly_bytes, raw);
    if (std::any_of(raw.begin(), raw.end(), [](std::uint16_t c) { return c >= q; })) return false;
  }
  return true;
}

bool decapsulation_key_valid(BytesView dk) {
  // §7.3: type check (length), then hash check H(dk[384k : 768k + 32]) == dk[768k + 32 : 768k +
  // 64].
  if (dk.size() != decapsulation_key_size) return false;
  std::array<std::uint8_t, 32> h{};
  Keccak().h(dk.subspan(pke_dk_size, encapsulation_key_size), h);
  return constant_time_equal(h, dk.subspan(hash_offset, 32));
}

std::string_view implementation() {
  return PARLEY_MLKEM_OPENSSL ? "OpenSSL" : "parley (FIPS 203)";
}

}  // namespace parley::crypto::mlkem768

// ML-KEM-768's number-theoretic transform (FIPS 203 §4.3) and multiplication
// in T_q. Only public constants are multiplied in; see mlkem_ring.hpp.
#include "mlkem_ring.hpp"

namespace parley::crypto::mlkem768::ring {
namespace {

// ---------------------------------------------------------------------------
// NTT constants (§4.3): zeta = 17, a primitive 256th root of unity mod q.

constexpr std::uint32_t bit_rev7(std::uint32_t i) {
  std::uint32_t r = 0;
  for (int b = 0; b < 7; ++b) r |= ((i >> b) & 1u) << (6 - b);
  return r;
}

constexpr std::uint16_t pow17(std::uint32_t e) {
  std::uint32_t r = 1;
  for (std::uint32_t i = 0; i < e; ++i) r = r * 17 % q;
  return static_cast<std::uint16_t>(r);
}

// zetas[i] = 17^BitRev7(i) (Alg. 9, 10); gammas[i] = 17^(2 BitRev7(i) + 1) (Alg. 11).
constexpr std::array<std::uint16_t, 128> zetas = [] {
  std::array<std::uint16_t, 128> z{};
  for (std::uint32_t i = 0; i < 128; ++i) z[i] = pow17(bit_rev7(i));
  return z;
}();
constexpr std::array<std::uint16_t, 128> gammas = [] {
  std::array<std::uint16_t, 128> g{};
  for (std::uint32_t i = 0; i < 128; ++i) g[i] = pow17(2 * bit_rev7(i) + 1);
  return g;
}();
static_assert(zetas[1] == 1729 && gammas[0] == 17);

// The NTTs multiply only by these public constants, so they use Shoup's
// method in 16-bit arithmetic (which the compiler can vectorise): with
// w' = floor(w 2^16 / q), hi = floor(a w' / 2^16) is floor(a w / q) or one
// less for any a < 2^16, so a w - hi q, computed mod 2^16, is a w mod q or
// that plus q.
constexpr std::uint16_t shoup(std::uint16_t w) {
  return static_cast<std::uint16_t>((std::uint32_t{w} << 16) / q);
}
constexpr std::array<std::uint16_t, 128> zetas_shoup = [] {
  std::array<std::uint16_t, 128> z{};
  for (std::size_t i = 0; i < 128; ++i) z[i] = shoup(zetas[i]);
  return z;
}();

// x - q if x >= q, for x < 2q, in 16 bits without a branch.
constexpr std::uint16_t reduce_once16(std::uint16_t x) {
  const auto y = static_cast<std::uint16_t>(x - q);
  return static_cast<std::uint16_t>(y + (q & (0u - (y >> 15))));
}

// a w mod q for a < 2^16 and a public constant w < q with w_shoup = shoup(w).
constexpr std::uint16_t mul_const(std::uint16_t a, std::uint16_t w, std::uint16_t w_shoup) {
  const auto hi = static_cast<std::uint16_t>((std::uint32_t{a} * w_shoup) >> 16);
  return reduce_once16(static_cast<std::uint16_t>(a * w - hi * q));
}
static_assert([] {
  for (std::uint32_t a = 0; a < 2 * q; ++a) {
    for (const std::uint16_t w :
         {std::uint16_t{1}, std::uint16_t{17}, std::uint16_t{3303}, std::uint16_t{q - 1}}) {
      if (mul_const(static_cast<std::uint16_t>(a), w, shoup(w)) != a * w % q) return false;
    }
  }
  return true;
}());

}  // namespace

// Alg. 9: NTT, in place.
void ntt(Poly& f) {
  std::size_t i = 1;
  for (std::size_t len = 128; len >= 2; len /= 2) {
    for (std::size_t start = 0; start < 256; start += 2 * len) {
      const std::uint16_t zeta = zetas[i], zeta_shoup = zetas_shoup[i];
      ++i;
      for (std::size_t j = start; j < start + len; ++j) {
        const std::uint16_t t = mul_const(f[j + len], zeta, zeta_shoup);
        f[j + len] = reduce_once16(static_cast<std::uint16_t>(f[j] + q - t));
        f[j] = reduce_once16(static_cast<std::uint16_t>(f[j] + t));
      }
    }
  }
}

// Alg. 10: NTT^-1, in place.
void inverse_ntt(Poly& f) {
  std::size_t i = 127;
  for (std::size_t len = 2; len <= 128; len *= 2) {
    for (std::size_t start = 0; start < 256; start += 2 * len) {
      const std::uint16_t zeta = zetas[i], zeta_shoup = zetas_shoup[i];
      --i;
      for (std::size_t j = start; j < start + len; ++j) {
        const std::uint16_t t = f[j];
        f[j] = reduce_once16(static_cast<std::uint16_t>(t + f[j + len]));
        f[j + len] = mul_const(static_cast<std::uint16_t>(f[j + len] + q - t), zeta, zeta_shoup);
      }
    }
  }
  constexpr std::uint16_t inv128 = 3303;  // 128^-1 mod q
  for (auto& c : f) c = mul_const(c, inv128, shoup(inv128));
}

// out = sum_j a[j] x b[j] in T_q (Alg. 11 MultiplyNTTs with Alg. 12
// BaseCaseMultiply, summed before the final reduction: each term is below
// 2q^2, so three fit in 32 bits).
void multiply_accumulate(const PolyVec& a, const PolyVec& b, Poly& out) {
  for (std::size_t i = 0; i < 128; ++i) {
    std::uint32_t c0 = 0;
    std::uint32_t c1 = 0;
    for (std::size_t j = 0; j < k; ++j) {
      const std::uint32_t a0 = a[j][2 * i], a1 = a[j][2 * i + 1];
      const std::uint32_t b0 = b[j][2 * i], b1 = b[j][2 * i + 1];
      c0 += a0 * b0 + std::uint32_t{mul(a1, b1)} * gammas[i];
      c1 += a0 * b1 + a1 * b0;
    }
    out[2 * i] = reduce(c0);
    out[2 * i + 1] = reduce(c1);
  }
}

void add_to(Poly& a, const Poly& b) {
  for (std::size_t i = 0; i < 256; ++i) a[i] = reduce_once(std::uint32_t{a[i]} + b[i]);
}

}  // namespace parley::crypto::mlkem768::ring

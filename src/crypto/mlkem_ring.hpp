// ML-KEM-768's ring R_q = Z_q[X]/(X^256 + 1) and its NTT domain T_q (FIPS 203
// §4.2, §4.3): arithmetic mod q, Compress/Decompress, the NTT and the byte
// encodings, all constant time on secret coefficients. Private to src/crypto:
// the K-PKE and ML-KEM layers over it are in mlkem.cpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace parley::crypto::mlkem768::ring {

// FIPS 203 §8, Table 2: ML-KEM-768's module rank and modulus.
constexpr int k = 3;
constexpr std::uint32_t q = 3329;

// A polynomial of R_q (or T_q): 256 coefficients, always kept in [0, q).
using Poly = std::array<std::uint16_t, 256>;
using PolyVec = std::array<Poly, k>;
using Matrix = std::array<PolyVec, k>;

// ---------------------------------------------------------------------------
// Arithmetic mod q

// x - q if x >= q, for x < 2q, without a branch.
constexpr std::uint16_t reduce_once(std::uint32_t x) {
  const std::uint32_t y = x - q;
  // The top bit of y is set exactly when x < q (wrap-around): then add q back.
  return static_cast<std::uint16_t>(y + (q & (0u - (y >> 31))));
}

// x mod q for any 32-bit x (Barrett): m = floor(2^32 / q) makes the quotient
// estimate t at most one short, so x - t*q is in [0, 2q).
constexpr std::uint16_t reduce(std::uint32_t x) {
  constexpr std::uint64_t m = (std::uint64_t{1} << 32) / q;
  const auto t = static_cast<std::uint32_t>((x * m) >> 32);
  return reduce_once(x - t * q);
}

constexpr std::uint16_t mul(std::uint32_t a, std::uint32_t b) {
  return reduce(a * b);
}

// floor(x / q) for x < 2^22 (Compress's numerators), as a multiply and shift:
// Compress runs on secrets, and a hardware divide's time can depend on its
// operands.
constexpr std::uint32_t div_q(std::uint32_t x) {
  constexpr std::uint64_t m = 2580335;  // ceil(2^33 / q)
  return static_cast<std::uint32_t>((x * m) >> 33);
}
// div_q is non-decreasing, so matching floor(x / q) at both ends of every run
// [jq, jq + q - 1] proves it exact on the whole range.
static_assert([] {
  for (std::uint32_t j = 0; j * q < (1u << 22); ++j) {
    if (div_q(j * q) != j || div_q(j * q + q - 1) != j) return false;
  }
  return true;
}());

// §4.2.1 Compress_d: round(2^d / q * x) mod 2^d. floor((2^d x + 1664) / q) is
// exactly that rounding, as q is odd.
template <int d>
constexpr std::uint16_t compress(std::uint16_t x) {
  static_assert(d <= 11);
  const std::uint32_t num = (std::uint32_t{x} << d) + (q - 1) / 2;
  return static_cast<std::uint16_t>(div_q(num) & ((1u << d) - 1));
}

// §4.2.1 Decompress_d: round(q / 2^d * y).
template <int d>
constexpr std::uint16_t decompress(std::uint16_t y) {
  return static_cast<std::uint16_t>((std::uint32_t{y} * q + (1u << (d - 1))) >> d);
}

// ---------------------------------------------------------------------------
// The NTT (§4.3): zeta = 17, a primitive 256th root of unity mod q. All inline:
// K-PKE calls these once per polynomial, and a call across files measurably
// slowed encapsulation.

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
inline constexpr std::array<std::uint16_t, 128> zetas = [] {
  std::array<std::uint16_t, 128> z{};
  for (std::uint32_t i = 0; i < 128; ++i) z[i] = pow17(bit_rev7(i));
  return z;
}();
inline constexpr std::array<std::uint16_t, 128> gammas = [] {
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
inline constexpr std::array<std::uint16_t, 128> zetas_shoup = [] {
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

// Alg. 9: NTT, in place.
inline void ntt(Poly& f) {
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
inline void inverse_ntt(Poly& f) {
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
inline void multiply_accumulate(const PolyVec& a, const PolyVec& b, Poly& out) {
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

// a += b in R_q.
inline void add_to(Poly& a, const Poly& b) {
  for (std::size_t i = 0; i < 256; ++i) a[i] = reduce_once(std::uint32_t{a[i]} + b[i]);
}

// ---------------------------------------------------------------------------
// Encodings (§4.2.1)

// Alg. 5 ByteEncode_d for d < 12, and for d = 12 of coefficients already below q.
template <int d>
void byte_encode(const Poly& f, std::uint8_t* out) {
  std::uint32_t acc = 0;
  int bits = 0;
  for (const std::uint16_t c : f) {
    acc |= std::uint32_t{c} << bits;
    bits += d;
    while (bits >= 8) {
      *out++ = static_cast<std::uint8_t>(acc);
      acc >>= 8;
      bits -= 8;
    }
  }
}

// Alg. 6 ByteDecode_d without the final reduction: the raw d-bit values.
template <int d>
void byte_decode_raw(const std::uint8_t* in, Poly& f) {
  std::uint32_t acc = 0;
  int bits = 0;
  for (auto& c : f) {
    while (bits < d) {
      acc |= std::uint32_t{*in++} << bits;
      bits += 8;
    }
    c = static_cast<std::uint16_t>(acc & ((1u << d) - 1));
    acc >>= d;
    bits -= d;
  }
}

// Alg. 6 ByteDecode_12: every 12-bit value taken mod q (constant time: it may be dk_PKE).
inline void byte_decode12(const std::uint8_t* in, Poly& f) {
  byte_decode_raw<12>(in, f);
  for (auto& c : f) c = reduce_once(c);  // c < 4096 < 2q
}

}  // namespace parley::crypto::mlkem768::ring

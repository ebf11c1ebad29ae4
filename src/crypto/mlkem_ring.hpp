// ML-KEM-768's ring R_q = Z_q[X]/(X^256 + 1) and its NTT domain T_q (FIPS 203
// §4.2, §4.3): arithmetic mod q, Compress/Decompress, the NTT and the byte
// encodings, all constant time on secret coefficients. Private to src/crypto:
// the K-PKE and ML-KEM layers over it are in mlkem.cpp, the NTT in mlkem_ring.cpp.
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
// The NTT (§4.3), in mlkem_ring.cpp

// Alg. 9: NTT, in place.
void ntt(Poly& f);
// Alg. 10: NTT^-1, in place.
void inverse_ntt(Poly& f);
// out = sum_j a[j] x b[j] in T_q (Alg. 11 MultiplyNTTs with Alg. 12 BaseCaseMultiply).
void multiply_accumulate(const PolyVec& a, const PolyVec& b, Poly& out);
// a += b in R_q.
void add_to(Poly& a, const Poly& b);

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

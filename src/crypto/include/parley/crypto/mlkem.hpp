// ML-KEM-768 (FIPS 203), the key-encapsulation half of mlkem768x25519-sha256.
//
// Built on OpenSSL's own ML-KEM when the library has it (OpenSSL >= 3.5, a
// build-time check); otherwise parley's implementation written from FIPS 203,
// whose SHA3-256, SHA3-512, SHAKE128 and SHAKE256 still come from OpenSSL's EVP.
// Secret-dependent paths are constant time; secrets live in SecretBytes.
#pragma once

#include <cstddef>
#include <expected>
#include <string_view>

#include "parley/crypto/error.hpp"
#include "parley/crypto/random.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::crypto::mlkem768 {

inline constexpr std::size_t encapsulation_key_size = 1184;  // ek
inline constexpr std::size_t decapsulation_key_size = 2400;  // dk
inline constexpr std::size_t ciphertext_size = 1088;         // c
inline constexpr std::size_t shared_secret_size = 32;        // K
inline constexpr std::size_t seed_size = 32;                 // d, z, m

struct KeyPair {
  Bytes ek;         // encapsulation key (public)
  SecretBytes dk;   // decapsulation key
};

struct Encapsulation {
  Bytes ciphertext;    // c
  SecretBytes shared;  // K
};

/// ML-KEM.KeyGen (FIPS 203 Alg. 19): d and z drawn from `rng`.
std::expected<KeyPair, CryptoError> generate(Random& rng);
/// ML-KEM.KeyGen_internal (Alg. 16) from explicit seeds, for known-answer tests.
std::expected<KeyPair, CryptoError> generate_from_seed(BytesView d, BytesView z);

/// ML-KEM.Encaps (Alg. 20): m drawn from `rng`. Refuses (invalid_public_value)
/// an ek of the wrong length or one failing the §7.2 modulus check.
std::expected<Encapsulation, CryptoError> encapsulate(BytesView ek, Random& rng);
/// ML-KEM.Encaps_internal (Alg. 17) with an explicit m, after the same checks.
std::expected<Encapsulation, CryptoError> encapsulate_with(BytesView ek, BytesView m);

/// ML-KEM.Decaps (Alg. 21). Refuses (invalid_public_value) a ciphertext of the
/// wrong length and (malformed_key) a dk failing the §7.3 checks (length, hash
/// of the embedded ek). Any well-sized ciphertext yields a key: a tampered one
/// gives the implicit-rejection key J(z || c), chosen in constant time.
std::expected<SecretBytes, CryptoError> decapsulate(const SecretBytes& dk, BytesView ciphertext);

/// FIPS 203 §7.2 encapsulation-key check: length and modulus (every
/// coefficient below q, i.e. ByteEncode12(ByteDecode12(ek)) == ek).
bool encapsulation_key_valid(BytesView ek);
/// FIPS 203 §7.3 decapsulation-key check: length and H(ek) == the stored hash.
bool decapsulation_key_valid(BytesView dk);

/// "OpenSSL" when libcrypto's ML-KEM is used, "parley (FIPS 203)" otherwise.
std::string_view implementation();

}  // namespace parley::crypto::mlkem768

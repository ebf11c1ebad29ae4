// ML-KEM-768 (FIPS 203): every ML-KEM-768 case of NIST's ACVP vectors
// (tests/data/mlkem768, see its README.md), plus round trips, implicit
// rejection of a tampered ciphertext checked against an independent J(z || c),
// and refusal of wrong-length and invalid keys.
#include "parley/crypto/mlkem.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace parley;
using namespace parley::crypto;
namespace kem = parley::crypto::mlkem768;

using Case = std::map<std::string, std::string>;

// Reads blocks of `key = value` lines separated by blank lines ('#' lines are comments).
std::vector<Case> load(const std::string& name) {
  const std::string text =
      test::read_text_file(std::filesystem::path(PARLEY_TEST_DATA_DIR) / "mlkem768" / name);
  std::vector<Case> cases;
  Case current;
  std::istringstream in(text);
  std::string line;
  auto flush = [&] {
    if (!current.empty()) cases.push_back(std::move(current));
    current.clear();
  };
  while (std::getline(in, line)) {
    if (line.empty()) {
      flush();
      continue;
    }
    if (line[0] == '#') continue;
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) {
      ADD_FAILURE() << name << ": malformed line " << line;
      continue;
    }
    current[line.substr(0, eq)] = line.substr(eq + 3);
  }
  flush();
  return cases;
}

// A hex field that must be present and non-empty.
Bytes hex(const Case& c, const std::string& key) {
  const auto it = c.find(key);
  if (it == c.end()) {
    ADD_FAILURE() << "missing " << key;
    return {};
  }
  Bytes out = from_hex(it->second);
  EXPECT_FALSE(out.empty()) << key << " is not hex";
  return out;
}

std::string id(const Case& c) {
  return "tcId " + c.at("tcId");
}

// J(z || c) = SHAKE256(z || c, 32 bytes), through libcrypto directly, not parley.
Bytes reference_j(BytesView z, BytesView c) {
  Bytes out(32);
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHAKE256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_TRUE(md != nullptr && ctx != nullptr);
  EXPECT_EQ(EVP_DigestInit_ex2(ctx, md, nullptr), 1);
  EXPECT_EQ(EVP_DigestUpdate(ctx, z.data(), z.size()), 1);
  EXPECT_EQ(EVP_DigestUpdate(ctx, c.data(), c.size()), 1);
  EXPECT_EQ(EVP_DigestFinalXOF(ctx, out.data(), out.size()), 1);
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  return out;
}

Bytes bytes_of(const SecretBytes& s) {
  return Bytes(s.view().begin(), s.view().end());
}

// ---------------------------------------------------------------------------
// ACVP known answers

TEST(MlKem768Acvp, KeyGenFromSeedsGivesEkAndDk) {
  const auto cases = load("keygen.txt");
  ASSERT_EQ(cases.size(), 25u);
  for (const auto& c : cases) {
    const auto pair = kem::generate_from_seed(hex(c, "d"), hex(c, "z"));
    ASSERT_TRUE(pair) << id(c);
    EXPECT_EQ(to_hex(pair->ek), c.at("ek")) << id(c);
    EXPECT_EQ(to_hex(pair->dk.view()), c.at("dk")) << id(c);
  }
}

TEST(MlKem768Acvp, EncapsulateWithMGivesCiphertextAndKey) {
  const auto cases = load("encap.txt");
  ASSERT_EQ(cases.size(), 25u);
  for (const auto& c : cases) {
    const auto enc = kem::encapsulate_with(hex(c, "ek"), hex(c, "m"));
    ASSERT_TRUE(enc) << id(c);
    EXPECT_EQ(to_hex(enc->ciphertext), c.at("c")) << id(c);
    EXPECT_EQ(to_hex(enc->shared.view()), c.at("k")) << id(c);
  }
}

TEST(MlKem768Acvp, DecapsulateGivesKeyForValidAndModifiedCiphertexts) {
  const auto cases = load("decap.txt");
  ASSERT_EQ(cases.size(), 10u);
  int valid = 0, modified = 0;
  for (const auto& c : cases) {
    const std::string& reason = c.at("reason");
    if (reason == "valid decapsulation") ++valid;
    if (reason == "modified ciphertext") ++modified;
    const SecretBytes dk(hex(c, "dk"));
    const auto key = kem::decapsulate(dk, hex(c, "c"));
    ASSERT_TRUE(key) << id(c);
    EXPECT_EQ(to_hex(key->view()), c.at("k")) << id(c) << " (" << reason << ")";
  }
  // Both kinds are present, so implicit rejection is exercised by known answers.
  EXPECT_EQ(valid, 5);
  EXPECT_EQ(modified, 5);
}

TEST(MlKem768Acvp, DecapsulationKeyCheckMatchesAndInvalidKeysAreRefused) {
  const auto cases = load("dk_check.txt");
  ASSERT_EQ(cases.size(), 10u);
  int passed = 0, failed = 0;
  const Bytes ciphertext(kem::ciphertext_size, 0x42);
  for (const auto& c : cases) {
    const bool expected = c.at("testPassed") == "true";
    ASSERT_TRUE(expected || c.at("testPassed") == "false") << id(c);
    const Bytes dk = hex(c, "dk");
    EXPECT_EQ(kem::decapsulation_key_valid(dk), expected) << id(c) << " (" << c.at("reason") << ")";
    const auto key = kem::decapsulate(SecretBytes(dk), ciphertext);
    if (expected) {
      ++passed;
      EXPECT_TRUE(key) << id(c);
    } else {
      ++failed;
      ASSERT_FALSE(key) << id(c);
      EXPECT_EQ(key.error(), CryptoError::malformed_key) << id(c);
    }
  }
  EXPECT_EQ(passed, 5);
  EXPECT_EQ(failed, 5);
}

TEST(MlKem768Acvp, EncapsulationKeyCheckMatchesAndInvalidKeysAreRefused) {
  const auto cases = load("ek_check.txt");
  ASSERT_EQ(cases.size(), 10u);
  int passed = 0, failed = 0;
  SystemRandom rng;
  const Bytes m(kem::seed_size, 0x07);
  for (const auto& c : cases) {
    const bool expected = c.at("testPassed") == "true";
    ASSERT_TRUE(expected || c.at("testPassed") == "false") << id(c);
    const Bytes ek = hex(c, "ek");
    EXPECT_EQ(kem::encapsulation_key_valid(ek), expected) << id(c) << " (" << c.at("reason") << ")";
    const auto enc = kem::encapsulate(ek, rng);
    const auto enc_with = kem::encapsulate_with(ek, m);
    if (expected) {
      ++passed;
      EXPECT_TRUE(enc) << id(c);
      EXPECT_TRUE(enc_with) << id(c);
    } else {
      ++failed;
      ASSERT_FALSE(enc) << id(c);
      ASSERT_FALSE(enc_with) << id(c);
      EXPECT_EQ(enc.error(), CryptoError::invalid_public_value) << id(c);
      EXPECT_EQ(enc_with.error(), CryptoError::invalid_public_value) << id(c);
    }
  }
  EXPECT_EQ(passed, 5);
  EXPECT_EQ(failed, 5);
}

// ---------------------------------------------------------------------------
// Behaviour beyond the vectors

TEST(MlKem768, RoundTripWithSystemRandom) {
  SystemRandom rng;
  for (int i = 0; i < 8; ++i) {
    const auto pair = kem::generate(rng);
    ASSERT_TRUE(pair);
    ASSERT_EQ(pair->ek.size(), kem::encapsulation_key_size);
    ASSERT_EQ(pair->dk.size(), kem::decapsulation_key_size);
    EXPECT_TRUE(kem::encapsulation_key_valid(pair->ek));
    EXPECT_TRUE(kem::decapsulation_key_valid(pair->dk.view()));
    const auto enc = kem::encapsulate(pair->ek, rng);
    ASSERT_TRUE(enc);
    ASSERT_EQ(enc->ciphertext.size(), kem::ciphertext_size);
    ASSERT_EQ(enc->shared.size(), kem::shared_secret_size);
    const auto key = kem::decapsulate(pair->dk, enc->ciphertext);
    ASSERT_TRUE(key);
    EXPECT_TRUE(*key == enc->shared);
  }
}

TEST(MlKem768, KeysFromTheSameRandomStreamAgreeAndDifferentOnesDiffer) {
  DeterministicRandom a(1), b(1), c(2);
  const auto pa = kem::generate(a), pb = kem::generate(b), pc = kem::generate(c);
  ASSERT_TRUE(pa && pb && pc);
  EXPECT_EQ(pa->ek, pb->ek);
  EXPECT_NE(pa->ek, pc->ek);
}

TEST(MlKem768, TamperedCiphertextGivesImplicitRejectionKey) {
  DeterministicRandom rng(7);
  const auto pair = kem::generate(rng);
  ASSERT_TRUE(pair);
  const auto enc = kem::encapsulate(pair->ek, rng);
  ASSERT_TRUE(enc);
  const BytesView z = pair->dk.view().subspan(kem::decapsulation_key_size - 32);
  // One bit in c1 (u) and one in c2 (v): both must be caught by the re-encryption.
  for (const std::size_t byte : {std::size_t{0}, std::size_t{517}, kem::ciphertext_size - 1}) {
    Bytes tampered = enc->ciphertext;
    tampered[byte] ^= 0x10;
    const auto key = kem::decapsulate(pair->dk, tampered);
    ASSERT_TRUE(key) << byte;
    EXPECT_EQ(bytes_of(*key), reference_j(z, tampered)) << byte;
    EXPECT_FALSE(*key == enc->shared) << byte;
  }
  // And the untampered ciphertext still gives the real key, not J(z || c).
  const auto key = kem::decapsulate(pair->dk, enc->ciphertext);
  ASSERT_TRUE(key);
  EXPECT_TRUE(*key == enc->shared);
  EXPECT_NE(bytes_of(*key), reference_j(z, enc->ciphertext));
}

TEST(MlKem768, WrongLengthsAreRefused) {
  DeterministicRandom rng(3);
  const auto pair = kem::generate(rng);
  ASSERT_TRUE(pair);
  const auto enc = kem::encapsulate(pair->ek, rng);
  ASSERT_TRUE(enc);
  const Bytes m(kem::seed_size, 1);

  for (const std::size_t len :
       {std::size_t{0}, kem::encapsulation_key_size - 1, kem::encapsulation_key_size + 1}) {
    Bytes ek = pair->ek;
    ek.resize(len);
    EXPECT_FALSE(kem::encapsulation_key_valid(ek)) << len;
    const auto e1 = kem::encapsulate(ek, rng);
    const auto e2 = kem::encapsulate_with(ek, m);
    ASSERT_FALSE(e1) << len;
    ASSERT_FALSE(e2) << len;
    EXPECT_EQ(e1.error(), CryptoError::invalid_public_value);
    EXPECT_EQ(e2.error(), CryptoError::invalid_public_value);
  }
  for (const std::size_t len :
       {std::size_t{0}, kem::ciphertext_size - 1, kem::ciphertext_size + 1}) {
    Bytes c = enc->ciphertext;
    c.resize(len);
    const auto key = kem::decapsulate(pair->dk, c);
    ASSERT_FALSE(key) << len;
    EXPECT_EQ(key.error(), CryptoError::invalid_public_value);
  }
  for (const std::size_t len :
       {std::size_t{0}, kem::decapsulation_key_size - 1, kem::decapsulation_key_size + 1}) {
    Bytes raw = bytes_of(pair->dk);
    raw.resize(len);
    EXPECT_FALSE(kem::decapsulation_key_valid(raw)) << len;
    const auto key = kem::decapsulate(SecretBytes(raw), enc->ciphertext);
    ASSERT_FALSE(key) << len;
    EXPECT_EQ(key.error(), CryptoError::malformed_key);
  }
  // Seeds of the wrong size are the caller's bug, refused rather than read out of bounds.
  EXPECT_FALSE(kem::generate_from_seed(Bytes(31), Bytes(32)));
  EXPECT_FALSE(kem::generate_from_seed(Bytes(32), Bytes(33)));
  EXPECT_FALSE(kem::encapsulate_with(pair->ek, Bytes(31)));
}

TEST(MlKem768, ModulusCheckRefusesOneCoefficientAtQ) {
  DeterministicRandom rng(5);
  const auto pair = kem::generate(rng);
  ASSERT_TRUE(pair);
  // Set the first 12-bit coefficient of t-hat to q = 3329 = 0xd01 (little-endian bits).
  Bytes ek = pair->ek;
  ek[0] = 0x01;
  ek[1] = static_cast<std::uint8_t>((ek[1] & 0xf0) | 0x0d);
  EXPECT_FALSE(kem::encapsulation_key_valid(ek));
  // q - 1 = 0xd00 is in range.
  ek[0] = 0x00;
  EXPECT_TRUE(kem::encapsulation_key_valid(ek));
}

}  // namespace

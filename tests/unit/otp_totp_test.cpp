// The server side's RFC 6238 code: time_step, code_at and match_code with
// fixed clocks, against the RFC's Appendix B vectors (SHA1, SHA256, SHA512)
// and against oathtool(1) (a missing oathtool fails the test).
#include "parley/otp/totp.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "test_support.hpp"

namespace parley::otp {
namespace {

using crypto::SecretBytes;

SecretBytes bytes(std::string_view s) { return SecretBytes(as_bytes(s)); }
std::string text(const SecretBytes& s) { return std::string(as_chars(s.view())); }

// RFC 6238 Appendix B: the seed is "12345678901234567890" repeated to the
// HMAC's block-independent key sizes of the reference code.
TotpSecret rfc_secret(TotpAlgorithm alg, unsigned digits = 8) {
  TotpSecret s;
  s.algorithm = alg;
  s.digits = digits;
  s.period = std::chrono::seconds(30);
  switch (alg) {
    case TotpAlgorithm::sha1: s.key = bytes("12345678901234567890"); break;
    case TotpAlgorithm::sha256: s.key = bytes("12345678901234567890123456789012"); break;
    case TotpAlgorithm::sha512:
      s.key = bytes("1234567890123456789012345678901234567890123456789012345678901234");
      break;
  }
  return s;
}

struct Vector {
  std::int64_t time;
  const char* sha1;
  const char* sha256;
  const char* sha512;
};

constexpr Vector rfc_vectors[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},
};

TEST(OtpTotp, TimeStepIsUnixTimeOverThePeriod) {
  auto s = rfc_secret(TotpAlgorithm::sha1);
  EXPECT_EQ(time_step(s, 0), 0);
  EXPECT_EQ(time_step(s, 29), 0);
  EXPECT_EQ(time_step(s, 30), 1);
  EXPECT_EQ(time_step(s, 59), 1);
  EXPECT_EQ(time_step(s, 1111111109), 37037036);
  s.period = std::chrono::seconds(60);
  EXPECT_EQ(time_step(s, 119), 1);
  EXPECT_EQ(time_step(s, -1), -1);
  s.period = std::chrono::seconds(0);
  EXPECT_EQ(time_step(s, 100), -1);
}

TEST(OtpTotp, CodeAtMatchesRfc6238AppendixB) {
  for (const Vector& v : rfc_vectors) {
    SCOPED_TRACE(v.time);
    const auto s1 = rfc_secret(TotpAlgorithm::sha1);
    const auto s256 = rfc_secret(TotpAlgorithm::sha256);
    const auto s512 = rfc_secret(TotpAlgorithm::sha512);
    EXPECT_EQ(text(code_at(s1, time_step(s1, v.time))), v.sha1);
    EXPECT_EQ(text(code_at(s256, time_step(s256, v.time))), v.sha256);
    EXPECT_EQ(text(code_at(s512, time_step(s512, v.time))), v.sha512);
  }
}

TEST(OtpTotp, SixDigitCodesAreTheLastSixOfTheDynamicTruncation) {
  // RFC 4226 truncation mod 10^6 is the 8-digit value's last six digits.
  const auto s = rfc_secret(TotpAlgorithm::sha1, 6);
  EXPECT_EQ(text(code_at(s, time_step(s, 59))), "287082");
  EXPECT_EQ(text(code_at(s, time_step(s, 1111111109))), "081804");  // zero-padded
}

TEST(OtpTotp, UnusableSecretsMakeNoCode) {
  auto s = rfc_secret(TotpAlgorithm::sha1);
  EXPECT_TRUE(code_at(s, -1).empty());
  s.digits = 9;
  EXPECT_TRUE(code_at(s, 1).empty());
  s.digits = 6;
  s.key = SecretBytes();
  EXPECT_TRUE(code_at(s, 1).empty());
}

TEST(OtpTotp, MatchCodeAcceptsOneStepEachWayByDefaultAndNoMore) {
  for (auto alg : {TotpAlgorithm::sha1, TotpAlgorithm::sha256, TotpAlgorithm::sha512}) {
    const auto s = rfc_secret(alg);
    const std::int64_t t = 1111111109;
    const std::int64_t now = time_step(s, t);
    EXPECT_EQ(match_code(s, code_at(s, now), t, 1), now);
    EXPECT_EQ(match_code(s, code_at(s, now - 1), t, 1), now - 1);
    EXPECT_EQ(match_code(s, code_at(s, now + 1), t, 1), now + 1);
    EXPECT_EQ(match_code(s, code_at(s, now - 2), t, 1), std::nullopt);
    EXPECT_EQ(match_code(s, code_at(s, now + 2), t, 1), std::nullopt);
    // A wider window reaches further; window 0 only now.
    EXPECT_EQ(match_code(s, code_at(s, now + 2), t, 2), now + 2);
    EXPECT_EQ(match_code(s, code_at(s, now - 1), t, 0), std::nullopt);
    EXPECT_EQ(match_code(s, code_at(s, now), t, 0), now);
  }
}

TEST(OtpTotp, MatchCodeRefusesMalformedCodes) {
  const auto s = rfc_secret(TotpAlgorithm::sha1);
  const std::int64_t t = 59;
  EXPECT_EQ(match_code(s, bytes("94287082"), t, 1), 1);
  EXPECT_EQ(match_code(s, bytes("9428708"), t, 1), std::nullopt);     // short
  EXPECT_EQ(match_code(s, bytes("942870820"), t, 1), std::nullopt);   // long
  EXPECT_EQ(match_code(s, bytes("9428708a"), t, 1), std::nullopt);    // not a digit
  EXPECT_EQ(match_code(s, bytes(" 94287082"), t, 1), std::nullopt);   // padded
  EXPECT_EQ(match_code(s, SecretBytes(), t, 1), std::nullopt);
}

TEST(OtpTotp, AgreesWithOathtool) {
  // oathtool is the reference that pam_oath users have; it must be installed.
  const std::string oathtool = "/usr/bin/oathtool";
  ASSERT_TRUE(std::filesystem::exists(oathtool)) << oathtool << " is missing: apt-get install oathtool";
  struct Case {
    TotpAlgorithm alg;
    const char* flag;
  };
  const Case cases[] = {{TotpAlgorithm::sha1, "--totp=sha1"},
                        {TotpAlgorithm::sha256, "--totp=sha256"},
                        {TotpAlgorithm::sha512, "--totp=sha512"}};
  for (const Case& c : cases) {
    for (std::int64_t t : {std::int64_t{59}, std::int64_t{1700000000}, std::int64_t{1700000029}}) {
      for (unsigned digits : {6u, 8u}) {
        for (int period : {30, 60}) {
          SCOPED_TRACE(std::string(c.flag) + " t=" + std::to_string(t) + " digits=" + std::to_string(digits) +
                       " period=" + std::to_string(period));
          auto s = rfc_secret(c.alg, digits);
          s.period = std::chrono::seconds(period);
          const std::string hex_key = to_hex(s.key.view());
          const auto r = test::run_command({oathtool, c.flag, "-d", std::to_string(digits), "-s",
                                            std::to_string(period) + "s", "-N", "@" + std::to_string(t), hex_key},
                                           std::chrono::seconds(10));
          ASSERT_EQ(r.exit_code, 0) << r.err;
          EXPECT_EQ(text(code_at(s, time_step(s, t))) + "\n", r.out);
          EXPECT_EQ(match_code(s, bytes(r.out.substr(0, digits)), t, 1), time_step(s, t));
        }
      }
    }
  }
}

}  // namespace
}  // namespace parley::otp

// The stores' file parsers taken on their own (otp::parse_users_oath,
// parse_users_oath_scratch, parse_google_authenticator): text in, the result
// or the first bad line out, no file touched. They are what the stores run on
// the text they read, and what fuzz_decoders fuzzes.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "parley/otp/store.hpp"

namespace parley {
namespace {

constexpr std::string_view key_hex = "3132333435363738393031323334353637383930";

TEST(OtpStoreParse, UsersOathCountsTokenLinesAndSkipsComments) {
  const std::string text = "# comment\n\nHOTP/T30/6 alice - " + std::string(key_hex) +
                           "\nHOTP/E bob - " + std::string(key_hex) + " 5\n";
  auto parsed = otp::parse_users_oath(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(*parsed, 2u);
}

TEST(OtpStoreParse, UsersOathNamesTheFirstBadLine) {
  const std::string text = "HOTP/T30/6 alice - " + std::string(key_hex) + "\nHOTP/T30/6 bob - zz\n";
  auto parsed = otp::parse_users_oath(text, "/etc/users.oath");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().file, "/etc/users.oath");
  EXPECT_EQ(parsed.error().line, 2u);
  EXPECT_EQ(parsed.error().message().find(key_hex), std::string::npos) << "no secret in errors";
}

TEST(OtpStoreParse, UsersOathRefusesATruncatedLastLine) {
  auto parsed = otp::parse_users_oath("HOTP/T30/6 alice - " + std::string(key_hex));
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().line, 1u);
}

TEST(OtpStoreParse, ScratchSidecarNeedsSaltAndHash) {
  const std::string good = "alice " + std::string(32, '0') + " " + std::string(64, 'a') + "\n";
  auto parsed = otp::parse_users_oath_scratch("# header\n" + good);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(*parsed, 1u);
  auto bad = otp::parse_users_oath_scratch(good + "alice 00 " + std::string(64, 'a') + "\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().line, 2u);
}

TEST(OtpStoreParse, GoogleAuthenticatorGivesTheSecretAndItsStep) {
  auto parsed = otp::parse_google_authenticator(
      "JBSWY3DPEHPK3PXPJBSWY3DP\n\" RATE_LIMIT 3 30\n\" STEP_SIZE 60\n\" TOTP_AUTH\n12345678\n");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(parsed->period, std::chrono::seconds(60));
  EXPECT_EQ(parsed->digits, 6u);
  EXPECT_EQ(parsed->key.size(), 15u);  // 24 base32 characters
}

TEST(OtpStoreParse, GoogleAuthenticatorRefusesAnOptionGivenTwice) {
  auto parsed = otp::parse_google_authenticator(
      "JBSWY3DPEHPK3PXPJBSWY3DP\n\" TOTP_AUTH\n\" TOTP_AUTH\n", "/home/alice/.google_authenticator");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().line, 3u);
  EXPECT_EQ(parsed.error().file, "/home/alice/.google_authenticator");
}

}  // namespace
}  // namespace parley

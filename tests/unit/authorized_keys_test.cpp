#include <gtest/gtest.h>

#include "parley/auth/authorized_keys.hpp"
#include "transport_pair.hpp"

namespace parley::auth {
namespace {

std::string pub(const std::string& type) {
  return test::read_text_file(std::filesystem::path(PARLEY_TEST_DATA_DIR) / ("test_" + type + ".pub"));
}

TEST(AuthorizedKeys, ReadsKeysAsSshKeygenWritesThem) {
  std::string text = "# keys\n\n" + pub("ed25519") + pub("ecdsa") + "  " + pub("rsa");
  AuthorizedKeys k = parse_authorized_keys(text);
  EXPECT_TRUE(k.problems.empty()) << k.problems.front();
  ASSERT_EQ(k.keys.size(), 3u);
  EXPECT_EQ(k.keys[0], test::test_host_key("ed25519").public_key());
  EXPECT_EQ(k.keys[1], test::test_host_key("ecdsa").public_key());
  EXPECT_EQ(k.keys[2], test::test_host_key("rsa").public_key());
}

TEST(AuthorizedKeys, LinesWithOptionsOrGarbageAreReportedNotUsed) {
  std::string text = "restrict,command=\"true\" " + pub("ed25519") + "ssh-ed25519 AAAA-not-base64\n" +
                     "ssh-dss AAAAB3NzaC1kc3M= old\n" + pub("ecdsa");
  AuthorizedKeys k = parse_authorized_keys(text);
  ASSERT_EQ(k.keys.size(), 1u);
  EXPECT_EQ(k.keys[0], test::test_host_key("ecdsa").public_key());
  ASSERT_EQ(k.problems.size(), 3u);
  EXPECT_EQ(k.problems[0].substr(0, 2), "1:");
  EXPECT_EQ(k.problems[1].substr(0, 2), "2:");
  EXPECT_EQ(k.problems[2].substr(0, 2), "3:");
}

TEST(AuthorizedKeys, MissingFileIsAProblemNotACrash) {
  AuthorizedKeys k = load_authorized_keys("/nonexistent/authorized_keys");
  EXPECT_TRUE(k.keys.empty());
  ASSERT_EQ(k.problems.size(), 1u);
}

}  // namespace
}  // namespace parley::auth

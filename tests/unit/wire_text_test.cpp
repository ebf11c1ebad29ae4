// The text helpers shared by the parsers of line-based files and the pattern
// rules: lines split as authorized_keys and known_hosts expect them, and
// fnmatch(3) shell patterns with and without case folding.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "parley/wire/lines.hpp"
#include "parley/wire/text.hpp"

namespace parley::wire {
namespace {

/// Every line with its number, as "N:text".
std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> out;
  for (const Line& line : split_lines(text))
    out.push_back(std::to_string(line.number) + ":" + std::string(line.text));
  return out;
}

TEST(SplitLines, SplitsAtNewlinesDroppingCarriageReturnsAndNumbersFromOne) {
  EXPECT_EQ(split("a\r\n\nb c\n"), (std::vector<std::string>{"1:a", "2:", "3:b c"}));
  EXPECT_EQ(split("last without newline"), (std::vector<std::string>{"1:last without newline"}));
  EXPECT_EQ(split("x\n\n"), (std::vector<std::string>{"1:x", "2:"}));
  EXPECT_TRUE(split("").empty());
  // Only a '\r' right before the '\n' is a line ending.
  EXPECT_EQ(split("a\rb\r\r\n"), (std::vector<std::string>{"1:a\rb\r"}));
}

TEST(Trim, DropsAsciiWhiteSpaceAtBothEndsOnly) {
  EXPECT_EQ(trim(" \t\r\n\v\fa b\t \n"), "a b");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(trim("\xc2\xa0x"), "\xc2\xa0x");  // U+00A0 is not ASCII white space
  EXPECT_TRUE(is_space('\v'));
  EXPECT_FALSE(is_space('\0'));
}

TEST(GlobMatch, ShellPatternsCaseSensitiveUnlessFolded) {
  EXPECT_TRUE(glob_match("LC_*", "LC_ALL"));
  EXPECT_FALSE(glob_match("LC_*", "lc_all"));
  EXPECT_TRUE(glob_match("LC_*", "lc_all", GlobCase::fold));
  EXPECT_TRUE(glob_match("*.example.com", "Bastion.EXAMPLE.com", GlobCase::fold));
  EXPECT_TRUE(glob_match("host?:22[0-9][0-9]", "host1:2222"));
  EXPECT_FALSE(glob_match("LANG", "LANGUAGE"));
  // Strings, not paths: '/' and a leading '.' match wildcards.
  EXPECT_TRUE(glob_match("*", ".hidden/dir"));
}

TEST(GlobMatch, ANulByteNeverMatches) {
  // fnmatch(3) would see only "LANG" of a peer's "LANG\0evil".
  EXPECT_FALSE(glob_match("LANG", std::string_view("LANG\0evil", 9)));
  EXPECT_FALSE(glob_match(std::string_view("*\0x", 3), "anything"));
}

}  // namespace
}  // namespace parley::wire

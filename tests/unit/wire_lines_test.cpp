// wire::split_lines, the line reader of every line-oriented file parley parses.
#include <gtest/gtest.h>

#include <string>

#include "parley/wire/lines.hpp"

namespace parley::wire {
namespace {

TEST(WireLines, SplitsAtNewlinesAndNumbersFromOne) {
  const auto lines = split_lines("a\nbb\n\nccc\n");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text, "a");
  EXPECT_EQ(lines[1].text, "bb");
  EXPECT_EQ(lines[2].text, "");
  EXPECT_EQ(lines[3].text, "ccc");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].number, i + 1);
    EXPECT_TRUE(lines[i].terminated);
  }
  EXPECT_EQ(lines[1].raw, "bb\n");
}

TEST(WireLines, DropsOneCarriageReturnBeforeTheNewline) {
  const auto lines = split_lines("a\r\nb\r\r\nc\r");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "a");
  EXPECT_EQ(lines[0].raw, "a\r\n");
  EXPECT_EQ(lines[1].text, "b\r");  // only one is a line ending's
  // A last line without '\n' loses a trailing '\r' as well.
  EXPECT_EQ(lines[2].text, "c");
  EXPECT_FALSE(lines[2].terminated);
}

TEST(WireLines, AnUnterminatedLastLineIsALineOfItsOwn) {
  const auto lines = split_lines("one\ntwo");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].terminated);
  EXPECT_FALSE(lines[1].terminated);
  EXPECT_EQ(lines[1].text, "two");
  EXPECT_EQ(lines[1].raw, "two");
}

TEST(WireLines, EmptyTextHasNoLinesAndAFinalNewlineNoEmptyLine) {
  EXPECT_TRUE(split_lines("").empty());
  const auto lines = split_lines("\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].text, "");
  EXPECT_TRUE(lines[0].terminated);
}

TEST(WireLines, RawPartsJoinBackToTheText) {
  for (const std::string_view text : {"", "x", "\n\n", "a\r\nb\nc", "\r\n\r"}) {
    std::string joined;
    for (const Line& line : split_lines(text)) joined += line.raw;
    EXPECT_EQ(joined, text);
  }
  const std::string with_nul("a\0b\nc", 5);
  const auto lines = split_lines(with_nul);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, std::string_view("a\0b", 3));
}

}  // namespace
}  // namespace parley::wire

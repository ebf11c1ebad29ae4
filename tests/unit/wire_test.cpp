// RFC 4251 §5 encodings: every field round-trips; truncated or malformed input
// is an error value; trailing bytes are refused.
#include <gtest/gtest.h>

#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::wire {
namespace {

TEST(Wire, RoundTripsEveryType) {
  Bytes buf;
  auto names = *NameList::parse("zlib,none");
  Writer(buf).byte(7).boolean(true).uint32(0xdeadbeef).uint64(0x0102030405060708).string(std::string_view("hi")).name_list(names);
  Reader r(buf);
  EXPECT_EQ(r.byte(), 7);
  EXPECT_TRUE(r.boolean());
  EXPECT_EQ(r.uint32(), 0xdeadbeefu);
  EXPECT_EQ(r.uint64(), 0x0102030405060708u);
  EXPECT_EQ(r.text(), "hi");
  EXPECT_EQ(r.name_list().names(), (std::vector<std::string>{"zlib", "none"}));
  EXPECT_TRUE(r.finish().has_value());
}

// RFC 4251 §5 mpint examples.
TEST(Wire, MpintExamplesFromRfc4251) {
  struct Case { const char* magnitude; const char* encoded; };
  for (auto c : {Case{"", "00000000"}, Case{"09a378f9b2e332a7", "0000000809a378f9b2e332a7"},
                 Case{"80", "000000020080"}}) {
    Bytes buf;
    Writer(buf).mpint_unsigned(from_hex(c.magnitude));
    EXPECT_EQ(to_hex(buf), c.encoded);
    if (*c.magnitude) {
      Reader r(buf);
      EXPECT_EQ(to_hex(r.mpint_positive()), c.magnitude);
      EXPECT_TRUE(r.finish().has_value());
    }
  }
  Bytes leading_zeros = from_hex("0000");
  Bytes buf;
  Writer(buf).mpint_unsigned(leading_zeros);
  EXPECT_EQ(to_hex(buf), "00000000");
}

TEST(Wire, NegativeAndNonCanonicalMpintsAreRefused) {
  const Bytes neg_bytes = from_hex("00000002edcc");  // -1234
  Reader neg(neg_bytes);
  neg.mpint_positive();
  EXPECT_EQ(neg.finish().error(), DecodeError::negative_mpint);
  const Bytes padded_bytes = from_hex("000000020012");  // needless leading zero
  Reader padded(padded_bytes);
  padded.mpint_positive();
  EXPECT_EQ(padded.finish().error(), DecodeError::non_canonical_mpint);
}

TEST(Wire, EveryTruncationIsAnError) {
  Bytes buf;
  Writer(buf).byte(1).uint32(2).uint64(3).string(std::string_view("four")).name_list(*NameList::parse("a,b"));
  for (std::size_t n = 0; n < buf.size(); ++n) {
    Reader r(BytesView(buf).first(n));
    r.byte();
    r.uint32();
    r.uint64();
    r.string();
    r.name_list();
    EXPECT_EQ(r.finish().error(), DecodeError::truncated) << n;
  }
}

TEST(Wire, StringLengthPastTheEndIsTruncatedNotARead) {
  Bytes buf = from_hex("ffffffff41");
  Reader r(buf);
  EXPECT_TRUE(r.string().empty());
  EXPECT_EQ(r.finish().error(), DecodeError::truncated);
}

TEST(Wire, TrailingBytesAreRefused) {
  Bytes buf = from_hex("0000000100");
  Reader r(buf);
  r.uint32();
  EXPECT_EQ(r.finish().error(), DecodeError::trailing_bytes);
}

TEST(Wire, FirstFailureIsKept) {
  Bytes buf = from_hex("00000003616263");
  Reader r(buf);
  r.string(2);  // too long for the bound
  r.uint64();   // would be truncated too
  EXPECT_EQ(r.finish().error(), DecodeError::too_long);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Wire, NameLists) {
  EXPECT_TRUE(NameList::parse("").has_value());
  EXPECT_TRUE(NameList::parse("").value().empty());
  EXPECT_FALSE(NameList::parse(",a").has_value());
  EXPECT_FALSE(NameList::parse("a,").has_value());
  EXPECT_FALSE(NameList::parse("a,,b").has_value());
  EXPECT_FALSE(NameList::parse("a b").has_value());
  EXPECT_FALSE(NameList::parse(std::string("a\0b", 3)).has_value());
  EXPECT_FALSE(NameList::parse("caf\xc3\xa9").has_value());
  EXPECT_FALSE(NameList::parse(std::string(65, 'x')).has_value());
  EXPECT_TRUE(NameList::parse(std::string(64, 'x')).has_value());
  auto l = NameList::parse("curve25519-sha256,ext-info-c");
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->contains("ext-info-c"));
  EXPECT_EQ(l->joined(), "curve25519-sha256,ext-info-c");
  Bytes buf;
  Writer(buf).string(std::string_view("a,,b"));
  Reader r(buf);
  r.name_list();
  EXPECT_EQ(r.finish().error(), DecodeError::bad_name_list);
}

// The check without a split: the same verdict as parse(), then membership.
TEST(Wire, NameListCheckAgreesWithParse) {
  for (const char* text : {"", ",a", "a,", "a,,b", "a b", "curve25519-sha256,ext-info-c", "x"}) {
    EXPECT_EQ(NameList::check(text, "x").has_value(), NameList::parse(text).has_value()) << text;
  }
  EXPECT_EQ(NameList::check("curve25519-sha256,ext-info-c", "ext-info-c"), std::optional<bool>(true));
  EXPECT_EQ(NameList::check("curve25519-sha256,ext-info-c", "ext-info"), std::optional<bool>(false));
  EXPECT_EQ(NameList::check("", "a"), std::optional<bool>(false));
  Bytes buf;
  Writer(buf).string(std::string_view("a,b")).string(std::string_view("a,,b"));
  Reader r(buf);
  EXPECT_EQ(r.name_list_text(), "a,b");
  r.name_list_text();
  EXPECT_EQ(r.finish().error(), DecodeError::bad_name_list);
}

TEST(Wire, AnEmptyNameIsSkippedOnlyWhenAsked) {
  // libssh 0.10's default cipher list ends in a comma; OpenSSH reads the empty
  // name as one nothing matches, and so does a KEXINIT here (EmptyNames::skip).
  const char* libssh = "chacha20-poly1305@openssh.com,aes256-ctr,";
  EXPECT_FALSE(NameList::parse(libssh));
  auto skipped = NameList::parse(libssh, EmptyNames::skip);
  ASSERT_TRUE(skipped);
  EXPECT_EQ(skipped->names(), (std::vector<std::string>{"chacha20-poly1305@openssh.com", "aes256-ctr"}));
  EXPECT_EQ(NameList::parse(",,a,,", EmptyNames::skip)->names(), std::vector<std::string>{"a"});
  EXPECT_EQ(NameList::check(libssh, "aes256-ctr", EmptyNames::skip), std::optional<bool>(true));
  EXPECT_EQ(NameList::check(libssh, "", EmptyNames::skip), std::optional<bool>(false)) << "matches nothing";
  // Any other bad name is still refused.
  EXPECT_FALSE(NameList::parse("a,b c,", EmptyNames::skip));
  EXPECT_FALSE(NameList::check("a,\x01,", "a", EmptyNames::skip));
  Bytes buf;
  Writer(buf).string(std::string_view("a,")).string(std::string_view("a,"));
  Reader r(buf);
  EXPECT_EQ(r.name_list(EmptyNames::skip).names(), std::vector<std::string>{"a"});
  EXPECT_EQ(r.name_list_text(EmptyNames::skip), "a,");
  EXPECT_TRUE(r.finish());
}

TEST(Wire, Utf8) {
  EXPECT_TRUE(is_utf8_without_nul("plain"));
  EXPECT_TRUE(is_utf8_without_nul("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"));
  EXPECT_FALSE(is_utf8_without_nul(std::string("a\0b", 3)));
  EXPECT_FALSE(is_utf8_without_nul("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_utf8_without_nul("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_utf8_without_nul("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_utf8_without_nul("\xe2\x82"));          // truncated
  Bytes buf;
  Writer(buf).string(std::string_view("\xff"));
  Reader r(buf);
  r.utf8();
  EXPECT_EQ(r.finish().error(), DecodeError::not_utf8);
}

}  // namespace
}  // namespace parley::wire

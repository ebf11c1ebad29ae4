// The PROXY protocol reader (v1 and v2) and the proxy_from address blocks.
#include "parley/driver/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace parley::driver {
namespace {

using namespace std::string_literals;

const std::string v2_sig = "\r\n\r\n\0\r\nQUIT\n"s;
const std::string ssh = "SSH-2.0-OpenSSH_9.2\r\n";

/// A v2 header: signature, ver/cmd, family, length, then `body`.
std::string v2(std::uint8_t ver_cmd, std::uint8_t fam, const std::string& body) {
  std::string h = v2_sig;
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(fam);
  h += static_cast<char>(body.size() >> 8);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

// 192.0.2.7:56324 -> 198.51.100.1:22
const std::string inet_block = "\xC0\x00\x02\x07\xC6\x33\x64\x01\xDC\x04\x00\x16"s;

ProxyResult parse(const std::string& s) { return parse_proxy_header(as_bytes(s)); }

ProxyHeader header_of(const ProxyResult& r) {
  EXPECT_TRUE(std::holds_alternative<ProxyHeader>(r))
      << (std::holds_alternative<ProxyError>(r) ? to_string(std::get<ProxyError>(r)) : "need more");
  return std::holds_alternative<ProxyHeader>(r) ? std::get<ProxyHeader>(r) : ProxyHeader{};
}

ProxyError error_of(const ProxyResult& r) {
  EXPECT_TRUE(std::holds_alternative<ProxyError>(r));
  return std::holds_alternative<ProxyError>(r) ? std::get<ProxyError>(r) : ProxyError::not_a_proxy_header;
}

bool needs_more(const ProxyResult& r) { return std::holds_alternative<ProxyNeedMore>(r); }

TEST(ProxyV1, Tcp4WithSshBytesAfter) {
  const std::string line = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 22\r\n";
  ProxyHeaderReader reader;
  const auto h = header_of(reader.feed(as_bytes(line + ssh)));
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.source, (ProxiedEndpoint{"192.0.2.7", 56324}));
  EXPECT_EQ(h.destination, (ProxiedEndpoint{"198.51.100.1", 22}));
  EXPECT_EQ(h.consumed, line.size());  // the SSH line after it is the caller's
}

TEST(ProxyV1, Tcp6) {
  const auto h = header_of(parse("PROXY TCP6 2001:db8::7 2001:db8::1 65535 2222\r\n"));
  EXPECT_EQ(h.source, (ProxiedEndpoint{"2001:db8::7", 65535}));
  EXPECT_EQ(h.destination, (ProxiedEndpoint{"2001:db8::1", 2222}));
}

TEST(ProxyV1, UnknownKeepsTheSocketAddress) {
  for (const std::string line : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"}) {
    const auto h = header_of(parse(line));
    EXPECT_FALSE(h.source);
    EXPECT_FALSE(h.destination);
    EXPECT_EQ(h.consumed, line.size());
  }
}

TEST(ProxyV1, ByteByByteThenSsh) {
  const std::string line = "PROXY TCP4 10.1.2.3 10.0.0.1 40000 22\r\n";
  ProxyHeaderReader reader;
  for (std::size_t i = 0; i + 1 < line.size(); ++i)
    ASSERT_TRUE(needs_more(reader.feed(as_bytes(line.substr(i, 1))))) << i;
  const std::string last = line.substr(line.size() - 1) + ssh;
  const auto h = header_of(reader.feed(as_bytes(last)));
  EXPECT_EQ(h.consumed, 1u);
  EXPECT_EQ(h.source, (ProxiedEndpoint{"10.1.2.3", 40000}));
}

TEST(ProxyV1, LongestLineIsAccepted) {
  // 107 bytes in all: the spec's worst case.
  const std::string line =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  ASSERT_EQ(line.size(), 104u);
  EXPECT_TRUE(std::holds_alternative<ProxyHeader>(parse(line)));
  const std::string unknown = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";
  ASSERT_EQ(unknown.size(), 107u);
  EXPECT_TRUE(std::holds_alternative<ProxyHeader>(parse(unknown)));
}

TEST(ProxyV1, Malformed) {
  const std::pair<std::string, ProxyError> cases[] = {
      {"PROXY UNKNOWN " + std::string(92, 'x') + "\r\n", ProxyError::v1_line_too_long},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", ProxyError::v1_bad_line_end},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", ProxyError::v1_bad_line_end},
      {"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", ProxyError::v1_bad_line_end},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1\t2\r\n", ProxyError::v1_bad_character},
      {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", ProxyError::v1_unknown_protocol},
      {"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", ProxyError::v1_unknown_protocol},
      {"PROXY \r\n", ProxyError::v1_unknown_protocol},
      {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", ProxyError::v1_unknown_protocol},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", ProxyError::v1_bad_field_count},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", ProxyError::v1_bad_field_count},
      {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", ProxyError::v1_bad_field_count},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", ProxyError::v1_bad_field_count},
      {"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", ProxyError::v1_bad_address},
      {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", ProxyError::v1_bad_address},
      {"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", ProxyError::v1_bad_address},
      {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", ProxyError::v1_bad_address},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", ProxyError::v1_bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", ProxyError::v1_bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", ProxyError::v1_bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 x\r\n", ProxyError::v1_bad_port},
      {"PROXy TCP4", ProxyError::not_a_proxy_header},
      {"SSH-2.0-x\r\n", ProxyError::not_a_proxy_header},
  };
  for (const auto& [text, want] : cases) EXPECT_EQ(error_of(parse(text)), want) << text;
}

TEST(ProxyV1, TooLongFedSlowly) {
  ProxyHeaderReader reader;
  const std::string line = "PROXY UNKNOWN " + std::string(200, 'x');
  ProxyResult r = ProxyNeedMore{};
  std::size_t fed = 0;
  while (needs_more(r) && fed < line.size()) r = reader.feed(as_bytes(line.substr(fed++, 1)));
  EXPECT_EQ(error_of(r), ProxyError::v1_line_too_long);
  EXPECT_EQ(fed, proxy_v1_max_line);  // decided as soon as 107 bytes hold no CRLF
}

TEST(ProxyV2, Inet) {
  const std::string h = v2(0x21, 0x11, inet_block);
  const auto got = header_of(parse(h + ssh));
  EXPECT_EQ(got.version, 2);
  EXPECT_EQ(got.source, (ProxiedEndpoint{"192.0.2.7", 56324}));
  EXPECT_EQ(got.destination, (ProxiedEndpoint{"198.51.100.1", 22}));
  EXPECT_EQ(got.consumed, h.size());
}

TEST(ProxyV2, Inet6WithTlvs) {
  std::string block(36, '\0');
  block[0] = '\x20';
  block[1] = '\x01';
  block[2] = '\x0d';
  block[3] = '\xb8';
  block[15] = '\x07';  // 2001:db8::7
  block[16 + 15] = '\x01';  // ::1
  block[32] = '\x01';
  block[33] = '\x02';  // port 258
  block[34] = '\x00';
  block[35] = '\x16';  // port 22
  const std::string tlvs = "\x04\x00\x03" "abc" "\x02\x00\x00"s;  // NOOP, AUTHORITY (empty)
  const std::string h = v2(0x21, 0x21, block + tlvs);
  const auto got = header_of(parse(h));
  EXPECT_EQ(got.source, (ProxiedEndpoint{"2001:db8::7", 258}));
  EXPECT_EQ(got.destination, (ProxiedEndpoint{"::1", 22}));
  EXPECT_EQ(got.consumed, h.size());
}

TEST(ProxyV2, LocalKeepsTheSocketAddress) {
  for (const std::string& h : {v2(0x20, 0x00, ""), v2(0x20, 0x11, inet_block), v2(0x20, 0xff, "xyz")}) {
    const auto got = header_of(parse(h + ssh));
    EXPECT_FALSE(got.source);
    EXPECT_EQ(got.consumed, h.size());
  }
}

TEST(ProxyV2, UnspecAndUnixKeepTheSocketAddress) {
  EXPECT_FALSE(header_of(parse(v2(0x21, 0x00, ""))).source);
  EXPECT_FALSE(header_of(parse(v2(0x21, 0x31, std::string(216, '/')))).source);
}

TEST(ProxyV2, ByteByByteThenSsh) {
  const std::string h = v2(0x21, 0x11, inet_block + "\x04\x00\x01x"s);
  const std::string all = h + ssh;
  ProxyHeaderReader reader;
  std::size_t i = 0;
  ProxyResult r = ProxyNeedMore{};
  while (needs_more(r)) r = reader.feed(as_bytes(all.substr(i++, 1)));
  EXPECT_EQ(i, h.size());  // decided on the header's last byte, not later
  EXPECT_EQ(header_of(r).consumed, 1u);
}

TEST(ProxyV2, EverySplitKeepsTheSshBytes) {
  const std::string all = v2(0x21, 0x11, inet_block) + ssh;
  for (std::size_t split = 1; split < all.size(); ++split) {
    ProxyHeaderReader reader;
    ProxyResult r = reader.feed(as_bytes(all.substr(0, split)));
    std::string tail;  // what the caller passes on to SSH
    if (needs_more(r)) {
      r = reader.feed(as_bytes(all.substr(split)));
      tail = all.substr(split).substr(header_of(r).consumed);
    } else {
      tail = all.substr(0, split).substr(header_of(r).consumed) + all.substr(split);
    }
    EXPECT_EQ(tail, ssh) << split;
  }
}

TEST(ProxyV2, Malformed) {
  const std::pair<std::string, ProxyError> cases[] = {
      {v2(0x11, 0x11, inet_block), ProxyError::v2_bad_version},
      {v2(0x31, 0x11, inet_block), ProxyError::v2_bad_version},
      {v2(0x22, 0x11, inet_block), ProxyError::v2_unknown_command},
      {v2(0x2f, 0x11, inet_block), ProxyError::v2_unknown_command},
      {v2(0x21, 0x41, inet_block), ProxyError::v2_unknown_family},
      {v2(0x21, 0x13, inet_block), ProxyError::v2_unknown_family},
      {v2(0x21, 0x12, inet_block), ProxyError::v2_unknown_family},  // DGRAM
      {v2(0x21, 0x10, inet_block), ProxyError::v2_unknown_family},
      {v2(0x21, 0x11, inet_block.substr(0, 11)), ProxyError::v2_short_address_block},
      {v2(0x21, 0x21, inet_block), ProxyError::v2_short_address_block},
      {v2(0x21, 0x31, std::string(100, 'x')), ProxyError::v2_short_address_block},
      {v2(0x21, 0x11, inet_block + "\x04\x00\x05xy"s), ProxyError::v2_bad_tlv},
      {v2(0x21, 0x11, inet_block + "\x04\x00"s), ProxyError::v2_bad_tlv},
      {v2(0x21, 0x11, std::string(proxy_v2_max_header - proxy_v2_fixed + 1, 'x')), ProxyError::v2_too_long},
      {v2_sig.substr(0, 11) + "X", ProxyError::not_a_proxy_header},
  };
  for (const auto& [bytes, want] : cases) EXPECT_EQ(error_of(parse(bytes)), want) << to_string(want);
}

TEST(ProxyV2, TooLongIsRefusedFromTheFixedPart) {
  // The length alone decides: nothing past the 16 bytes is waited for.
  std::string h = v2_sig + "\x21\x11\xff\xff"s;
  EXPECT_EQ(error_of(parse(h)), ProxyError::v2_too_long);
  const std::string biggest = v2(0x21, 0x11, inet_block + "\x04\x01\xf9"s + std::string(505, 'p'));
  ASSERT_EQ(biggest.size(), proxy_v2_max_header);
  EXPECT_TRUE(std::holds_alternative<ProxyHeader>(parse(biggest)));
}

TEST(ProxyDetect, StartsProxyHeader) {
  EXPECT_EQ(starts_proxy_header(as_bytes("")), std::nullopt);
  EXPECT_EQ(starts_proxy_header(as_bytes("PROX")), std::nullopt);
  EXPECT_EQ(starts_proxy_header(as_bytes("PROXY ")), true);
  EXPECT_EQ(starts_proxy_header(as_bytes("PROXY TCP4")), true);
  EXPECT_EQ(starts_proxy_header(as_bytes(v2_sig.substr(0, 5))), std::nullopt);
  EXPECT_EQ(starts_proxy_header(as_bytes(v2_sig)), true);
  EXPECT_EQ(starts_proxy_header(as_bytes("SSH-2.0-")), false);
  EXPECT_EQ(starts_proxy_header(as_bytes("PROXYX")), false);
  EXPECT_EQ(starts_proxy_header(as_bytes("\r\n\r\nX")), false);
}

TEST(ProxyDetect, ErrorsHaveNames) {
  for (int e = 0; e <= static_cast<int>(ProxyError::v2_bad_tlv); ++e)
    EXPECT_NE(to_string(static_cast<ProxyError>(e)), "unknown");
}

TEST(AddressBlocks, ParseAndContain) {
  const auto net = AddressBlock::parse("10.0.0.0/8");
  ASSERT_TRUE(net);
  EXPECT_EQ(net->to_string(), "10.0.0.0/8");
  EXPECT_TRUE(net->contains(*SourceAddress::parse("10.200.3.4")));
  EXPECT_TRUE(net->contains(*SourceAddress::parse("::ffff:10.1.1.1")));
  EXPECT_FALSE(net->contains(*SourceAddress::parse("11.0.0.1")));
  const auto one = AddressBlock::parse("127.0.0.2");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->to_string(), "127.0.0.2/32");
  EXPECT_TRUE(in_blocks({*net, *one}, *SourceAddress::parse("127.0.0.2")));
  EXPECT_FALSE(in_blocks({*net, *one}, *SourceAddress::parse("127.0.0.9")));
  const auto v6 = AddressBlock::parse("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*SourceAddress::parse("2001:db8:1::5")));
  EXPECT_FALSE(v6->contains(*SourceAddress::parse("10.0.0.1")));
  EXPECT_TRUE(AddressBlock::parse("0.0.0.0/0"));
}

TEST(AddressBlocks, Refused) {
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8x", "10.0.0.1/8",
                          "host.example", "10.0.0.0/-1", "10.0.0.0 /8"})
    EXPECT_FALSE(AddressBlock::parse(bad)) << bad;
  EXPECT_NE(AddressBlock::parse("10.0.0.1/8").error().find("10.0.0.0/8"), std::string::npos);
}

}  // namespace
}  // namespace parley::driver

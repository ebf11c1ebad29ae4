#include "parley/driver/proxy_protocol.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

#include "parley/wire/enum_names.hpp"
#include "parley/wire/reader.hpp"

namespace parley::driver {
namespace {

constexpr std::string_view v1_prefix = "PROXY ";
// Spec §2.2: the v2 signature, chosen to be invalid in any text protocol.
constexpr std::uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                           0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
const BytesView v2_sig(v2_signature, sizeof v2_signature);

// Spec §2.2: the 13th byte's high nibble is the version, its low one the command.
constexpr std::uint8_t v2_version = 0x2;
constexpr std::uint8_t cmd_local = 0x0;
constexpr std::uint8_t cmd_proxy = 0x1;
// The 14th byte: address family (high nibble) and transport (low nibble).
constexpr std::uint8_t af_unspec = 0x0, af_inet = 0x1, af_inet6 = 0x2, af_unix = 0x3;
constexpr std::uint8_t transport_stream = 0x1, transport_dgram = 0x2;  // 0: UNSPEC
// The address block's size per family (spec §2.2: "src, dst, ports" / unix paths).
constexpr std::size_t inet_block = 12, inet6_block = 36, unix_block = 216;

/// Whether `bytes` and `pattern` agree on the length of the shorter.
bool agrees(BytesView bytes, BytesView pattern) {
  const std::size_t n = std::min(bytes.size(), pattern.size());
  return std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n), pattern.begin());
}

std::uint16_t be16(wire::Reader& r) {
  const std::uint16_t high = r.byte();
  return static_cast<std::uint16_t>(high << 8 | r.byte());
}

std::string address_text(int family, BytesView raw) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, raw.data(), text, sizeof text);
  return text;
}

// ---------------------------------------------------------------------------
// Version 1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 22\r\n"

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t space = line.find(' ', start);
    out.push_back(line.substr(start, space == std::string_view::npos ? space : space - start));
    if (space == std::string_view::npos) return out;
    start = space + 1;
  }
}

/// Spec §2.1: a decimal 0..65535; we also refuse a sign, leading zeros and spaces.
std::optional<std::uint16_t> v1_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

std::optional<std::string> v1_address(std::string_view s, int family) {
  std::array<std::uint8_t, 16> raw{};
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string text(s);
  if (inet_pton(family, text.c_str(), raw.data()) != 1) return std::nullopt;
  return address_text(family, raw);
}

ProxyResult parse_v1_line(std::string_view line, std::size_t length) {
  // The line without "\r\n"; printable ASCII only, as the spec's grammar allows.
  if (!std::ranges::all_of(line, [](char c) { return c >= 0x20 && c < 0x7f; }))
    return ProxyError::v1_bad_character;
  const auto fields = fields_of(line.substr(v1_prefix.size()));
  ProxyHeader header;
  header.version = 1;
  header.consumed = length;
  // Spec §2.1: after UNKNOWN the receiver ignores the rest and keeps the socket's addresses.
  if (fields[0] == "UNKNOWN") return header;
  const int family = fields[0] == "TCP4" ? AF_INET : fields[0] == "TCP6" ? AF_INET6 : AF_UNSPEC;
  if (family == AF_UNSPEC) return ProxyError::v1_unknown_protocol;
  if (fields.size() != 5 || std::ranges::any_of(fields, &std::string_view::empty))
    return ProxyError::v1_bad_field_count;
  auto source = v1_address(fields[1], family);
  auto destination = v1_address(fields[2], family);
  if (!source || !destination) return ProxyError::v1_bad_address;
  auto source_port = v1_port(fields[3]);
  auto destination_port = v1_port(fields[4]);
  if (!source_port || !destination_port) return ProxyError::v1_bad_port;
  header.source = ProxiedEndpoint{std::move(*source), *source_port};
  header.destination = ProxiedEndpoint{std::move(*destination), *destination_port};
  return header;
}

ProxyResult parse_v1(BytesView bytes) {
  const std::string_view text = as_chars(bytes.first(std::min(bytes.size(), proxy_v1_max_line)));
  const std::size_t cr = text.find('\r');
  const std::size_t lf = text.find('\n');
  if (lf != std::string_view::npos && (cr == std::string_view::npos || cr + 1 != lf))
    return ProxyError::v1_bad_line_end;  // an LF first, or a CR elsewhere
  if (cr != std::string_view::npos && cr + 1 < text.size() && text[cr + 1] != '\n')
    return ProxyError::v1_bad_line_end;
  if (lf != std::string_view::npos) return parse_v1_line(text.substr(0, cr), lf + 1);
  if (text.size() >= proxy_v1_max_line) return ProxyError::v1_line_too_long;
  return ProxyNeedMore{};
}

// ---------------------------------------------------------------------------
// Version 2: signature, ver/cmd, family, length, addresses, TLVs.

/// Spec §2.2.1: after the addresses, type-length-value records fill the rest exactly.
bool tlvs_fit(wire::Reader& r) {
  while (r.ok() && r.remaining() > 0) {
    r.byte();  // PP2_TYPE_*: none changes who the client is, so all are skipped
    const std::uint16_t length = be16(r);
    r.raw(length);
  }
  return r.ok();
}

ProxyResult v2_addresses(wire::Reader& r, std::uint8_t family, ProxyHeader header) {
  const int af = family == af_inet ? AF_INET : AF_INET6;
  const std::size_t size = family == af_inet ? 4 : 16;
  const BytesView source = r.raw(size);
  const BytesView destination = r.raw(size);
  const std::uint16_t source_port = be16(r);
  const std::uint16_t destination_port = be16(r);
  if (!r.ok()) return ProxyError::v2_short_address_block;
  header.source = ProxiedEndpoint{address_text(af, source), source_port};
  header.destination = ProxiedEndpoint{address_text(af, destination), destination_port};
  if (!tlvs_fit(r)) return ProxyError::v2_bad_tlv;
  return header;
}

ProxyResult parse_v2(BytesView bytes) {
  if (bytes.size() < proxy_v2_fixed) return ProxyNeedMore{};
  wire::Reader fixed(bytes.first(proxy_v2_fixed));
  fixed.raw(sizeof v2_signature);
  const std::uint8_t ver_cmd = fixed.byte();
  const std::uint8_t fam = fixed.byte();
  const std::size_t length = be16(fixed);
  if (ver_cmd >> 4 != v2_version) return ProxyError::v2_bad_version;
  const std::uint8_t command = ver_cmd & 0x0f;
  if (command != cmd_local && command != cmd_proxy) return ProxyError::v2_unknown_command;
  if (proxy_v2_fixed + length > proxy_v2_max_header) return ProxyError::v2_too_long;
  if (bytes.size() < proxy_v2_fixed + length) return ProxyNeedMore{};
  ProxyHeader header;
  header.version = 2;
  header.consumed = proxy_v2_fixed + length;
  // Spec §2.2: with LOCAL the receiver uses the real connection's addresses and
  // skips the block, whatever family it names (health checks from the balancer).
  if (command == cmd_local) return header;
  const std::uint8_t family = fam >> 4;
  const std::uint8_t transport = fam & 0x0f;
  if (family > af_unix || transport > transport_dgram) return ProxyError::v2_unknown_family;
  wire::Reader block(bytes.subspan(proxy_v2_fixed, length));
  if (family == af_unspec) return header;  // spec: "unknown": keep the socket's
  if (transport != transport_stream) return ProxyError::v2_unknown_family;  // SSH is a stream
  if (family == af_unix) {
    block.raw(unix_block);
    if (!block.ok()) return ProxyError::v2_short_address_block;
    return tlvs_fit(block) ? ProxyResult(header) : ProxyResult(ProxyError::v2_bad_tlv);
  }
  if (length < (family == af_inet ? inet_block : inet6_block)) return ProxyError::v2_short_address_block;
  return v2_addresses(block, family, std::move(header));
}

// In ProxyError's order.
constexpr std::array<std::string_view, 14> error_names = {
    "not a PROXY protocol header",
    "v1 line longer than 107 bytes",
    "v1 line not ended by CRLF",
    "v1 line has a byte that is not printable ASCII",
    "v1 protocol is not TCP4, TCP6 or UNKNOWN",
    "v1 line does not have four fields after the protocol",
    "v1 address is not one of the protocol's family",
    "v1 port is not a number 0..65535",
    "v2 version is not 2",
    "v2 command is neither LOCAL nor PROXY",
    "v2 address family or transport unknown, or not a stream",
    "v2 header longer than 536 bytes",
    "v2 length too short for the family's addresses",
    "v2 TLV runs past the header's end",
};
static_assert(error_names.size() ==
              wire::enum_count(ProxyError::not_a_proxy_header, ProxyError::v2_bad_tlv));

}  // namespace

std::string_view to_string(ProxyError e) {
  return wire::enum_name(e, error_names);
}

std::optional<bool> starts_proxy_header(BytesView first) {
  const bool v1 = agrees(first, as_bytes(v1_prefix));
  const bool v2 = agrees(first, v2_sig);
  if (!v1 && !v2) return false;
  if ((v1 && first.size() >= v1_prefix.size()) || (v2 && first.size() >= v2_sig.size())) return true;
  return std::nullopt;
}

ProxyResult parse_proxy_header(BytesView bytes) {
  const auto starts = starts_proxy_header(bytes);
  if (!starts) return ProxyNeedMore{};
  if (!*starts) return ProxyError::not_a_proxy_header;
  return agrees(bytes, v2_sig) ? parse_v2(bytes) : parse_v1(bytes);
}

ProxyResult ProxyHeaderReader::feed(BytesView bytes) {
  const std::size_t before = size_;
  const std::size_t take = std::min(bytes.size(), buffer_.size() - size_);
  std::copy_n(bytes.begin(), take, buffer_.begin() + static_cast<std::ptrdiff_t>(size_));
  size_ += take;
  ProxyResult result = parse_proxy_header(BytesView(buffer_.data(), size_));
  if (auto* header = std::get_if<ProxyHeader>(&result)) header->consumed -= before;
  // A full buffer always decides (both versions' bounds are within it).
  return result;
}

std::expected<AddressBlock, std::string> AddressBlock::parse(std::string_view text) {
  const std::size_t slash = text.find('/');
  const auto address = SourceAddress::parse(text.substr(0, slash));
  std::string bad(1, '\'');  // (not "'" + string: GCC 12's -Wrestrict misfires on it)
  bad.append(text).append("': ");
  if (!address) return std::unexpected(bad + "not an IPv4 or IPv6 address");
  const unsigned width = address->v6 ? 128 : 32;
  unsigned bits = width;
  if (slash != std::string_view::npos) {
    const std::string_view b = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), bits);
    if (b.empty() || ec != std::errc() || end != b.data() + b.size() || bits > width)
      return std::unexpected(bad + (address->v6 ? "IPv6 prefix length must be 0..128"
                                                : "IPv4 prefix length must be 0..32"));
  }
  if (address->masked(bits) != *address)
    return std::unexpected(bad + "host bits set after the prefix (write " + address->masked(bits).to_string(bits) +
                           ")");
  return AddressBlock{*address, bits};
}

bool in_blocks(const std::vector<AddressBlock>& blocks, const SourceAddress& peer) {
  return std::ranges::any_of(blocks, [&](const AddressBlock& b) { return b.contains(peer); });
}

}  // namespace parley::driver

// HAProxy's PROXY protocol (versions 1 and 2), read by a server behind a TCP
// load balancer: the balancer's first bytes on each connection name the client
// it accepted, so the server can see that client instead of the balancer.
// Spec: https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
//
// Sans-I/O: bytes in, NeedMore | ProxyHeader | ProxyError out; no socket, no
// clock, no exception, and no allocation but the addresses' text of the result.
// Also here: the balancer address list (proxy_from) the server checks peers against.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/driver/source_limiter.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::driver {

/// Spec §2.1: a v1 line is at most 107 bytes, "\r\n" included.
inline constexpr std::size_t proxy_v1_max_line = 107;
/// Spec §2.2: the v2 fixed part (signature, ver/cmd, family, length).
inline constexpr std::size_t proxy_v2_fixed = 16;
/// Our bound on a whole v2 header: 536 bytes, the smallest TCP MSS every host
/// accepts (RFC 879), so a header never spans segments a balancer would split.
/// It holds any address block (at most 216 bytes, AF_UNIX) plus 304 bytes of
/// TLVs, more than balancers send (HAProxy: none unless configured; AWS NLB: a
/// few dozen). A longer header is refused, not buffered.
inline constexpr std::size_t proxy_v2_max_header = 536;

/// What is wrong with the bytes, named for what the balancer (or whoever sent
/// them) did.
enum class ProxyError {
  not_a_proxy_header,     // the first bytes are neither "PROXY " nor the v2 signature
  v1_line_too_long,       // no "\r\n" within 107 bytes
  v1_bad_line_end,        // a CR not followed by LF, or an LF without CR
  v1_bad_character,       // a byte other than printable ASCII in the line
  v1_unknown_protocol,    // not TCP4, TCP6 or UNKNOWN
  v1_bad_field_count,     // TCP4/TCP6 without exactly four fields, or empty fields
  v1_bad_address,         // not an address of the family the line names
  v1_bad_port,            // not a decimal 0..65535 without leading zeros
  v2_bad_version,         // the version nibble is not 2
  v2_unknown_command,     // neither LOCAL (0) nor PROXY (1)
  v2_unknown_family,      // an address family or transport the spec does not define
  v2_too_long,            // the length field takes the header past proxy_v2_max_header
  v2_short_address_block, // the length is less than the family's addresses need
  v2_bad_tlv,             // a TLV runs past the header's end
};
std::string_view to_string(ProxyError e);

/// One end of the proxied connection: an IP address as text and a port.
struct ProxiedEndpoint {
  std::string address;  // "192.0.2.1", "2001:db8::1"
  std::uint16_t port = 0;
  friend bool operator==(const ProxiedEndpoint&, const ProxiedEndpoint&) = default;
};

/// A complete, valid header.
struct ProxyHeader {
  int version = 0;  // 1 or 2
  /// The client and the address it connected to; nullopt: keep the socket's own
  /// (v1 UNKNOWN, v2 LOCAL, v2 AF_UNSPEC or AF_UNIX).
  std::optional<ProxiedEndpoint> source;
  std::optional<ProxiedEndpoint> destination;
  /// How many bytes of the last feed() the header took; the rest are the
  /// client's (SSH) and must be passed on.
  std::size_t consumed = 0;
};

/// More bytes are needed to decide.
struct ProxyNeedMore {};

using ProxyResult = std::variant<ProxyNeedMore, ProxyHeader, ProxyError>;

/// Reads one header from a connection's first bytes, in as many feeds as they
/// arrive in. Holds at most proxy_v2_max_header bytes (a fixed array: no
/// allocation); reads no byte past the header's end.
class ProxyHeaderReader {
 public:
  /// Feeds the next bytes read. NeedMore: call again with what comes next.
  /// ProxyHeader or ProxyError: final; feed no more after it.
  ProxyResult feed(BytesView bytes);

 private:
  std::array<std::uint8_t, proxy_v2_max_header> buffer_{};
  std::size_t size_ = 0;
};

/// Parses `bytes`, a connection's first bytes, statelessly: NeedMore, or the
/// header (ProxyHeader::consumed is then the header's whole length), or what
/// is wrong. ProxyHeaderReader is this over its own buffer.
ProxyResult parse_proxy_header(BytesView bytes);

/// Whether a connection's first bytes are a PROXY header's start ("PROXY " or
/// the v2 signature): yes, no, or nullopt while `first` is a prefix of either.
std::optional<bool> starts_proxy_header(BytesView first);

/// An address or a CIDR block: "10.0.0.0/8", "127.0.0.1", "2001:db8::/32".
struct AddressBlock {
  SourceAddress network;  // masked to `bits`
  unsigned bits = 32;

  /// Errors say what is wrong ("'10.0.0.0/33': IPv4 prefix length must be 0..32").
  static std::expected<AddressBlock, std::string> parse(std::string_view text);
  bool contains(const SourceAddress& a) const {
    return a.v6 == network.v6 && a.masked(bits) == network;
  }
  /// As parse() reads it back: "10.0.0.0/8".
  std::string to_string() const { return network.to_string(bits); }
};

/// True if `peer` is in one of `blocks`.
bool in_blocks(const std::vector<AddressBlock>& blocks, const SourceAddress& peer);

}  // namespace parley::driver

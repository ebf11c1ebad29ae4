// Fuzzes the PROXY protocol reader (driver/proxy_protocol.hpp), v1 and v2: the
// input is a connection's first bytes, parsed whole and fed to a
// ProxyHeaderReader in pieces whose sizes come from the input itself; both must
// reach the same result, a header must lie within the input and within its
// version's bound, and what follows it is left alone. Seeds: tests/fuzz/seeds/proxy/.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <variant>

#include "parley/driver/proxy_protocol.hpp"

using namespace parley;
using namespace parley::driver;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const BytesView input(data, size);
  const ProxyResult whole = parse_proxy_header(input);
  if (const auto* h = std::get_if<ProxyHeader>(&whole)) {
    require(h->consumed <= size);
    require(h->consumed <= (h->version == 1 ? proxy_v1_max_line : proxy_v2_max_header));
    require(h->source.has_value() == h->destination.has_value());
  }
  // The same bytes in pieces of 1..16 bytes, each size taken from the byte before.
  ProxyHeaderReader reader;
  ProxyResult pieces = ProxyNeedMore{};
  std::size_t fed = 0;
  while (fed < size && std::holds_alternative<ProxyNeedMore>(pieces)) {
    const std::size_t n = std::min<std::size_t>(size - fed, 1 + (fed > 0 ? data[fed - 1] % 16 : 0));
    pieces = reader.feed(input.subspan(fed, n));
    if (const auto* h = std::get_if<ProxyHeader>(&pieces)) require(h->consumed <= n);
    fed += n;
  }
  require(whole.index() == pieces.index());
  if (const auto* e = std::get_if<ProxyError>(&whole)) require(*e == std::get<ProxyError>(pieces));
  if (const auto* h = std::get_if<ProxyHeader>(&whole)) {
    const auto& p = std::get<ProxyHeader>(pieces);
    require(h->source == p.source && h->destination == p.destination && h->version == p.version);
  }
  const auto starts = starts_proxy_header(input);
  if (starts && !*starts) require(std::get_if<ProxyError>(&whole) != nullptr);
  return 0;
}

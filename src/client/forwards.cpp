#include "parley/client/forwards.hpp"

#include <algorithm>
#include <vector>

namespace parley::client {
namespace {

constexpr std::size_t max_host = 1024;  // NI_MAXHOST, as ssh bounds both host names

/// ssh's a2port(): 0..65535 in decimal (leading zeros allowed), else a service name.
std::optional<std::uint16_t> port_of(std::string_view text, const ServiceLookup& service) {
  if (!text.empty() && text.size() <= 9 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    long v = 0;
    for (char c : text) v = v * 10 + (c - '0');
    if (v <= 65535) return static_cast<std::uint16_t>(v);
    return std::nullopt;
  }
  if (!text.empty() && service) return service(text);
  return std::nullopt;
}

/// Splits at ':' as ssh's hpdelim2() does: a field in brackets may hold colons
/// (the brackets go) and must be followed by ':' or the end. An empty rest ends
/// the list (so one trailing ':' is allowed). nullopt: not a list ssh takes.
std::optional<std::vector<std::string>> fields_of(std::string_view spec) {
  while (!spec.empty() && (spec.front() == ' ' || spec.front() == '\t')) spec.remove_prefix(1);
  std::vector<std::string> out;
  while (!spec.empty()) {
    if (out.size() == 4) return std::nullopt;  // trailing garbage
    std::size_t end = 0;
    if (spec.front() == '[') {
      const auto close = spec.find(']');
      if (close == std::string_view::npos) return std::nullopt;
      if (close + 1 < spec.size() && spec[close + 1] != ':') return std::nullopt;
      out.emplace_back(spec.substr(1, close - 1));
      end = close + 1;
    } else {
      end = std::min(spec.find(':'), spec.size());
      out.emplace_back(spec.substr(0, end));
    }
    spec.remove_prefix(std::min(end + 1, spec.size()));
  }
  return out;
}

}  // namespace

std::expected<Forward, std::string> parse_forward(std::string_view spec, ForwardKind kind,
                                                  const ServiceLookup& service) {
  const std::unexpected<std::string> bad("bad specification");
  auto fields = fields_of(spec);
  if (!fields || fields->empty()) return bad;
  const auto& f = *fields;
  // A path for the listening side (or, with two fields, the target) is a Unix
  // socket forwarding: ssh's, not parley's.
  const bool path = f.front().find('/') != std::string::npos || (f.size() == 2 && f[1].find('/') != std::string::npos);
  if (path) return std::unexpected(std::string("forwarding Unix-domain sockets is not supported"));
  Forward out;
  std::optional<std::uint16_t> listen, connect;
  const bool dynamic = kind == ForwardKind::dynamic || (kind == ForwardKind::remote && f.size() <= 2);
  if (dynamic) {
    if (f.size() > 2) return bad;
    if (f.size() == 2) out.listen_host = f[0];
    listen = port_of(f.back(), service);
    out.connect_host = "socks";
    connect = 0;
  } else {
    if (f.size() < 3) return bad;
    if (f.size() == 4) out.listen_host = f[0];
    listen = port_of(f[f.size() - 3], service);
    out.connect_host = f[f.size() - 2];
    connect = port_of(f[f.size() - 1], service);
    if (!connect || *connect == 0) return bad;
  }
  // Only a remote forward may leave the listening port to the server (0).
  if (!listen || (*listen == 0 && kind != ForwardKind::remote)) return bad;
  if (out.connect_host.size() >= max_host || (out.listen_host && out.listen_host->size() >= max_host)) return bad;
  out.listen_port = *listen;
  out.connect_port = *connect;
  return out;
}

std::string describe(const Forward& f, ForwardKind kind) {
  std::string out = f.listen_host ? "[" + *f.listen_host + "]:" + std::to_string(f.listen_port)
                                  : std::to_string(f.listen_port);
  if (kind != ForwardKind::dynamic) out += " [" + f.connect_host + "]:" + std::to_string(f.connect_port);
  return out;
}

std::optional<HostPort> split_host_port(std::string_view text) {
  HostPort out;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return std::nullopt;
    if (!rest.empty()) out.port = std::string(rest.substr(1));
    return out;
  }
  const auto colon = text.find(':');  // the first, as ssh: "a:b:1" has the port "b:1"
  out.host = std::string(text.substr(0, colon));
  if (colon != std::string_view::npos) out.port = std::string(text.substr(colon + 1));
  return out;
}

}  // namespace parley::client

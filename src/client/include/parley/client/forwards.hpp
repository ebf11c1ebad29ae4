// Port forwarding specifications as ssh reads them: -L, -R and -D on the command
// line, LocalForward, RemoteForward and DynamicForward in ssh_config, and the
// "host:port" / "[host]:port" pairs of -W and ProxyJump. No I/O: a service name
// for a port ("http") is looked up through an injected function.
//
//   auto f = parse_forward("8080:db.internal:5432", ForwardKind::local);
//   // f->listen_host: nullopt (loopback, unless GatewayPorts), f->listen_port 8080,
//   // f->connect_host "db.internal", f->connect_port 5432
//   describe(*f, ForwardKind::local)  // "8080 [db.internal]:5432", as ssh -G prints it
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace parley::client {

enum class ForwardKind : std::uint8_t {
  local,    // -L: we listen, the server connects (direct-tcpip)
  remote,   // -R: the server listens (tcpip-forward), we connect (forwarded-tcpip)
  dynamic,  // -D: we listen and speak SOCKS 4/5; the server connects where the client asks
};

/// One forwarding. A remote forward without a target is ssh's remote dynamic
/// forward (connect_host "socks", port 0), which parley parses but does not run.
struct Forward {
  /// The address to listen on as written: nullopt when none was given (the
  /// loopback addresses, unless GatewayPorts), "" or "*" for every address.
  std::optional<std::string> listen_host;
  std::uint16_t listen_port = 0;  // 0 only for -R: the server picks one
  std::string connect_host;       // "socks" for dynamic forwards, as ssh keeps it
  std::uint16_t connect_port = 0;
  friend bool operator==(const Forward&, const Forward&) = default;
};

/// A port as a number, or a service name's (`service`, e.g. getservbyname; null: numbers only).
using ServiceLookup = std::function<std::optional<std::uint16_t>(std::string_view name)>;

/// Parses one specification as ssh's parse_forward() does: fields split at ':',
/// an address in brackets may hold colons, at most four fields.
///  local:   [bind_address:]port:host:hostport
///  remote:  [bind_address:]port:host:hostport, or [bind_address:]port (remote dynamic)
///  dynamic: [bind_address:]port
/// The error is short ("bad specification", or why a Unix socket path is refused):
/// the caller words it as ssh does for the command line or the file.
std::expected<Forward, std::string> parse_forward(std::string_view spec, ForwardKind kind,
                                                  const ServiceLookup& service = nullptr);

/// The value ssh -G prints for it: "8080 [host]:80", "[*]:8081 [h]:81", "1080".
std::string describe(const Forward& f, ForwardKind kind);

/// "host:port" or "[host]:port" (an IPv6 address in brackets), as -W and
/// ProxyJump write them: the host (brackets removed) and the port text, which is
/// empty when there was none. nullopt when a bracket is not closed or what follows
/// it is not ":port".
struct HostPort {
  std::string host;
  std::string port;
};
std::optional<HostPort> split_host_port(std::string_view text);

}  // namespace parley::client

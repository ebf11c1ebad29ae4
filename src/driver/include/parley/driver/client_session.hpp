// Runs one client session over a ClientConnection, bridged to local
// descriptors: what `parley host command` does.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "parley/client/forwards.hpp"
#include "parley/session/client_connection.hpp"
#include "parley/connection/session.hpp"

namespace parley::driver {

/// ssh -W host:port: the local descriptors are bridged to a "direct-tcpip"
/// channel to host:port instead of a session (no command, terminal or variables).
struct StdioForward {
  std::string host;
  std::uint16_t port = 0;
};

/// ssh's -L, -R and -D, as ClientOptions keeps them, and how they are set up.
struct PortForwarding {
  std::vector<client::Forward> local, remote, dynamic;
  /// ExitOnForwardFailure: a forward that cannot be set up ends the connection
  /// (255), and the session waits until every -R has been answered.
  bool exit_on_failure = false;
  /// GatewayPorts: -L and -D without an address listen on every address, not
  /// only the loopback ones.
  bool gateway_ports = false;
};

struct ClientSessionOptions {
  /// The command to run; empty: the login shell ("shell").
  std::string command;
  /// false: no session at all (ssh -N): the connection serves the forwards
  /// until it ends.
  bool open_session = true;
  /// true: `command` names a subsystem (SessionType subsystem).
  bool subsystem = false;
  PortForwarding forwarding;
  /// Set: -W, a direct-tcpip channel instead of a session.
  std::optional<StdioForward> stdio_forward;
  /// Request a pseudo-terminal with this type and size.
  std::optional<connection::PtyRequest> pty;
  /// Variables to send ("env"); the server decides which it accepts.
  std::vector<connection::EnvRequest> env;
  /// Called once, when the session channel is open and before its requests go
  /// out (authentication is over): where a local terminal goes raw, never
  /// earlier, since authentication prompts need it as the user had it.
  std::function<void()> on_session_start;
  /// Local ends: the session's input, output and error output.
  int stdin_fd = 0;
  int stdout_fd = 1;
  int stderr_fd = 2;
  /// ssh's ProxyCommand: run with /bin/sh, its standard input and output carry
  /// the connection instead of a TCP connection to host:port; empty: none.
  std::string proxy_command;
  /// ssh's TCPKeepAlive: SO_KEEPALIVE on the connection (default yes, as ssh).
  bool tcp_keepalive = true;
  /// ssh's ConnectionAttempts: tries to connect this many times, a second apart
  /// (the connect timeout bounds them all, and authentication).
  unsigned connection_attempts = 1;
};

struct ClientSessionResult {
  /// How the remote command ended, if it said.
  std::optional<std::uint32_t> exit_status;
  std::optional<connection::ExitSignal> exit_signal;
  /// Set when the session could not run: the connection, the authentication or
  /// the session request failed (one line, for the user).
  std::string error;
};

/// Connects to host:port, drives `connection` through key exchange and
/// authentication, opens one session as `options` says, copies the local
/// descriptors to it and its output back, and returns once the channel and
/// the connection are closed. `connect_timeout` bounds connecting and
/// authenticating, not the session.
ClientSessionResult run_session(const std::string& host, std::uint16_t port,
                                session::ClientConnection& connection,
                                const ClientSessionOptions& options,
                                std::chrono::milliseconds connect_timeout);

}  // namespace parley::driver

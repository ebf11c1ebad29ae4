// What a server connection's channels run on: processes (shell, exec,
// subsystem) and TCP sockets (forwarding), driven on the connection's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "parley/connection/channel_handler.hpp"

namespace parley::driver {

/// One end of a TCP connection.
struct PeerInfo {
  std::string address;
  std::uint16_t port;
};

/// The connection a factory is building an Endpoint for: its addresses and the
/// executor its handlers run on. Outlives the Endpoint and every handler of it.
class ConnectionContext {
 public:
  struct Impl;
  explicit ConnectionContext(std::unique_ptr<Impl> impl);
  ~ConnectionContext();
  ConnectionContext(const ConnectionContext&) = delete;
  ConnectionContext& operator=(const ConnectionContext&) = delete;

  const PeerInfo& peer() const;
  const PeerInfo& local() const;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// How sessions run programs. Programs run as the user the server runs as, in
/// its home directory, with the environment a login would have: HOME, USER,
/// LOGNAME (that account's), SHELL, PATH, SSH_CONNECTION, SSH_CLIENT, (with a
/// terminal) TERM and SSH_TTY, PARLEY_USER (the name the client logged in
/// with), plus what the client set through the env allow-list.
struct ProcessOptions {
  /// The shell for "shell" and for running "exec" commands (as `shell -c
  /// command`); empty: the login shell in the password database.
  std::string shell;
  /// The program for the "sftp" subsystem; empty: sftp is refused.
  std::string sftp_server = "/usr/lib/openssh/sftp-server";
  std::string path = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games";
};

/// A session that runs a program: a login shell, a command or the sftp server,
/// under a pseudo-terminal when one was requested, and reports its exit status
/// or signal. Signals requested by the client reach its process group; when the
/// channel closes early the group gets SIGHUP.
std::unique_ptr<connection::ChannelHandler> make_process_session(ConnectionContext& context,
                                                                 const ProcessOptions& options,
                                                                 std::string user);

/// The standard services: process sessions, outgoing TCP for direct-tcpip and
/// listeners for tcpip-forward. `session_override`, when set, makes session
/// handlers instead (returning nullptr falls back to a process session).
using SessionFactory = std::function<std::unique_ptr<connection::ChannelHandler>(
    ConnectionContext& context, const std::string& user)>;
std::unique_ptr<connection::ChannelServices> make_channel_services(
    ConnectionContext& context, ProcessOptions options, SessionFactory session_override = {});

}  // namespace parley::driver

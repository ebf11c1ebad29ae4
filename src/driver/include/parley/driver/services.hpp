// What a server connection's channels run on: processes (shell, exec,
// subsystem) and TCP sockets (forwarding), driven on the connection's thread.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "parley/connection/channel_handler.hpp"
#include "parley/driver/channel_seams.hpp"
#include "parley/login/account.hpp"

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
  /// Runs `fn` on the connection's thread; callable from any thread while the
  /// connection lives (a caller on another thread must make sure it does).
  void post(std::function<void()> fn);
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// How sessions run programs. Programs run as the account `run_as` names for
/// the user who logged in (without it: the account the server runs as), in that
/// account's home directory, with the environment a login would have: HOME,
/// USER, LOGNAME (that account's), SHELL, PATH, MAIL, SSH_CONNECTION,
/// SSH_CLIENT, (with a terminal) TERM and SSH_TTY, PARLEY_USER (the name the
/// client logged in with), plus what the client set through the env allow-list.
struct ProcessOptions {
  /// The account a session of `user` runs as; an error refuses the session
  /// (and is logged). Empty: this process's own account, unchanged (an
  /// application server). Taking on another account needs root.
  std::function<std::expected<login::Account, std::string>(const std::string& user)> run_as;
  /// Sessions with a terminal are written to utmp, wtmp and lastlog (a server
  /// running as root, as sshd does).
  bool login_records = false;
  /// Lines about sessions for the server's log (refusals, records written).
  std::function<void(std::string_view)> log;
  /// The shell for "shell" and for running "exec" commands (as `shell -c
  /// command`); empty: the login shell in the password database.
  std::string shell;
  /// The program for the "sftp" subsystem; empty: sftp is refused.
  std::string sftp_server = "/usr/lib/openssh/sftp-server";
  std::string path = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games";
  /// Who starts session programs and opens forwarding sockets for a
  /// connection; empty: this process (in_process_session_starter(),
  /// in_process_forward_opener()). A privilege-separated server asks its monitor.
  SessionStarterFactory session_starter;
  ForwardOpenerFactory forward_opener;
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
/// The same with options shared by many connections (a server's), so that an
/// idle connection does not carry its own copy.
std::unique_ptr<connection::ChannelServices> make_channel_services(
    ConnectionContext& context, std::shared_ptr<const ProcessOptions> options, SessionFactory session_override = {});

}  // namespace parley::driver

// The two places where a server's channels reach the operating system on the
// user's behalf: starting a session's program, and opening a forwarding
// socket. By default the connection's own process does both (in_process_*);
// a privilege-separated parleyd plugs in implementations that ask its root
// monitor, which checks the request and hands the descriptors back.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "parley/connection/channel_handler.hpp"
#include "parley/login/session_start.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::driver {

class ConnectionContext;
struct ProcessOptions;

/// What a session channel asks to run (the client's requests, already allowed
/// by the channel policy).
struct SessionStartRequest {
  std::string user;  // the name the client logged in with
  login::ProgramKind kind = login::ProgramKind::shell;
  std::string command;
  std::optional<login::TerminalRequest> pty;
  std::vector<std::pair<std::string, std::string>> env;
};

/// Our ends of a started program's streams: a terminal's master, or three pipes.
struct SessionStreams {
  UniqueFd master;
  UniqueFd stdin_w, stdout_r, stderr_r;
};

/// A started program, as its starter controls it. Window changes need no
/// seam: they are an ioctl on the master the session holds.
class SessionProcess {
 public:
  virtual ~SessionProcess() = default;
  /// Sends signal `number` to the program's process group; false if it has
  /// exited or the signal could not be sent (or asked for).
  virtual bool signal(int number) = 0;
};

/// Starts session programs for one connection.
class SessionStarter {
 public:
  struct Started {
    SessionStreams streams;
    std::shared_ptr<SessionProcess> process;
  };
  /// Called once: the program's streams, or why it did not start (for the log).
  using OnStarted = std::function<void(std::expected<Started, std::string>)>;
  /// Called once, after a successful start, when the program has exited.
  using OnExit = std::function<void(login::ProgramExit)>;

  virtual ~SessionStarter() = default;
  /// Starts the program for `request`. Both callbacks run on the connection's
  /// thread; `on_started` may run before start() returns (in-process) or later
  /// (an answer from the monitor).
  virtual void start(SessionStartRequest request, OnStarted on_started, OnExit on_exit) = 0;
};

/// Opens forwarding sockets for one connection (the policy was checked by the
/// connection core before; a monitor checks it again).
class ForwardOpener {
 public:
  /// Called once, on the connection's thread: a connected socket, or why not.
  using OnConnected = std::function<void(std::expected<UniqueFd, std::string>)>;

  virtual ~ForwardOpener() = default;
  /// direct-tcpip: resolves `host` and connects to `port`.
  virtual void connect(const std::string& host, std::uint32_t port, OnConnected done) = 0;
  /// tcpip-forward: a listening TCP socket bound at `address` ("" or "*":
  /// every IPv4 address; "localhost": 127.0.0.1) and `port` (0: any free one),
  /// or why not. Answered at once: the global request's reply carries the
  /// bound port (a monitor-backed opener waits for the monitor's answer).
  virtual std::expected<UniqueFd, std::string> listen(const std::string& address, std::uint32_t port) = 0;
};

/// Makes a connection's starter or opener; set in ProcessOptions to replace
/// the in-process ones.
using SessionStarterFactory = std::function<std::shared_ptr<SessionStarter>(ConnectionContext&)>;
using ForwardOpenerFactory = std::function<std::shared_ptr<ForwardOpener>(ConnectionContext&)>;

/// The default starter: login::start_session() in this process, as the account
/// `options.run_as` names (this process's own without it), the exit watched
/// through the program's pidfd.
std::shared_ptr<SessionStarter> in_process_session_starter(ConnectionContext& context,
                                                           const ProcessOptions& options);
/// The default opener: this process's own sockets.
std::shared_ptr<ForwardOpener> in_process_forward_opener(ConnectionContext& context);

}  // namespace parley::driver

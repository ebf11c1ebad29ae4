// The embedding API for what runs behind a server channel: a session (a shell,
// a command, a subsystem, or an application's own handler: a built-in command
// shell, a game, a menu) or a forwarded TCP stream.
//
// All calls to a handler, and all its calls to its ChannelIo, happen on the
// connection's own thread (its io_context in the driver), one at a time. A handler that
// finishes work elsewhere (a socket, a process) does so through the driver,
// which brings the completion back to that thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "parley/connection/channels.hpp"
#include "parley/connection/session.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::connection {

/// A handler's side of its channel. Valid from ChannelHandler::attach() until
/// on_closed() returns. Output is flow-controlled: write() takes at most
/// writable() bytes (the peer's window, and less while the connection's output
/// is backed up because the peer is not reading); when it took less than
/// offered, on_writable() follows once there is room.
class ChannelIo {
 public:
  virtual ~ChannelIo() = default;
  virtual std::size_t writable() const = 0;
  virtual std::size_t write(BytesView data) = 0;
  virtual std::size_t write_stderr(BytesView data) = 0;
  /// `n` bytes of on_data() input have been taken: the peer may send that many more.
  virtual void consumed(std::size_t n) = 0;
  /// No more output (CHANNEL_EOF).
  virtual void eof() = 0;
  /// Sessions: how the program ended, sent before eof()/close().
  virtual void exit_status(std::uint32_t status) = 0;
  virtual void exit_signal(const ExitSignal& signal) = 0;
  /// Ends the channel (CHANNEL_CLOSE); on_closed() follows when the peer agrees.
  virtual void close() = 0;
  /// For channels confirmed late (a forward whose connect is in progress):
  /// confirm or refuse the open. Before either, nothing else may be called.
  virtual void confirm() = 0;
  virtual void reject(OpenFailure reason, std::string_view description) = 0;
};

/// What the server runs behind one channel. The defaults refuse every session
/// request, so a handler states what it supports.
class ChannelHandler {
 public:
  virtual ~ChannelHandler() = default;

  /// First call. Return true to confirm the open at once, false to confirm (or
  /// reject) later through io.confirm()/io.reject().
  virtual bool attach(ChannelIo& io) = 0;
  /// Input from the client (stdin, or the forwarded stream). Call io.consumed()
  /// as it is taken; until then the client's window shrinks.
  virtual void on_data(BytesView data) = 0;
  virtual void on_eof() {}
  /// Room to write again after a short write() or writable() == 0.
  virtual void on_writable() {}
  /// The channel is gone (closed by either side, or the connection ended). The
  /// handler is destroyed right after; it must let go of anything it started.
  virtual void on_closed() {}

  // ---- session requests (RFC 4254 §6); return whether the request succeeded
  virtual bool on_pty(const PtyRequest&) { return false; }
  /// Only variables the server's allow-list admits reach a handler.
  virtual bool on_env(const EnvRequest&) { return false; }
  /// "shell", "exec" or "subsystem"; at most one per session.
  virtual bool on_start(const StartRequest&) { return false; }
  virtual void on_window_change(const WindowChange&) {}
  virtual bool on_signal(std::string_view name) {
    (void)name;
    return false;
  }
};

/// Who a session belongs to, for handlers that need it (a process's environment).
struct SessionInfo {
  std::string user;
  std::string peer_address;
  std::uint16_t peer_port = 0;
  std::string local_address;
  std::uint16_t local_port = 0;
};

/// A listening socket for a remote forward (ssh -R); closing it is destroying it.
class Listener {
 public:
  virtual ~Listener() = default;
  virtual std::uint16_t port() const = 0;
};

/// Called on the connection's thread for each connection a Listener accepts:
/// a handler that owns the accepted socket, and the "forwarded-tcpip" open
/// that describes it. The handler's attach() result is ignored: the client
/// confirms such channels, and on_writable() follows its confirmation.
using AcceptHandler = std::function<void(std::unique_ptr<ChannelHandler>, TcpipOpen)>;

/// What a server connection needs from the world to serve channels: the driver
/// implements it (processes and sockets), and an embedding application may
/// wrap it to serve its own sessions. One per connection.
class ChannelServices {
 public:
  virtual ~ChannelServices() = default;
  /// A handler for a new session of the authenticated `user`; nullptr refuses it.
  virtual std::unique_ptr<ChannelHandler> session(std::string_view user) = 0;
  /// A handler that connects to target.host:target.port and then confirms or
  /// rejects its channel ("direct-tcpip"); nullptr refuses it.
  virtual std::unique_ptr<ChannelHandler> connect(const TcpipOpen& target) = 0;
  /// Starts listening for a remote forward at `bind` (port 0: any free port).
  virtual std::expected<std::unique_ptr<Listener>, std::string> listen(const ForwardRequest& bind,
                                                                       AcceptHandler accepted) = 0;
};

}  // namespace parley::connection

// Internal: the client's port forwarding, as ssh's -L, -R and -D, over one
// ClientConnection on its thread.
//  -L: listens here; each connection accepted opens a direct-tcpip channel to
//      the target and moves bytes once the server confirms it.
//  -D: listens here; each connection speaks SOCKS 4/4a/5 (client::SocksHandshake),
//      then opens a direct-tcpip channel where the client asked, and is answered
//      with the outcome.
//  -R: asks the server (tcpip-forward); each forwarded-tcpip channel it opens
//      for a forward we asked for is connected to that forward's target here.
// The session run hands it every connection event first; it takes the ones of
// its channels, the server's channel opens and the replies to its requests.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "parley/driver/client_session.hpp"
#include "parley/driver/services.hpp"

namespace parley::driver::detail {

class ClientForwarding {
 public:
  /// `report` shows a line to the user (ssh's warnings: a port that cannot be
  /// bound, a refused remote forward, a channel that did not open).
  ClientForwarding(asio::any_io_executor executor, const PortForwarding& forwarding,
                   std::function<void(const std::string&)> report);
  ~ClientForwarding();
  ClientForwarding(const ClientForwarding&) = delete;
  ClientForwarding& operator=(const ClientForwarding&) = delete;

  /// Once authenticated: listens for -L and -D, asks for -R. With
  /// ExitOnForwardFailure, a local forward that cannot listen is an error.
  std::expected<void, std::string> start(session::ClientConnection& c);
  /// Every -R request has been answered.
  bool settled() const { return replies_due_.empty(); }
  /// Takes `e` if it is about a forwarding channel, an open the server asks
  /// for, or a reply to a -R request; false if it is the session's.
  bool event(session::ClientConnection& c, connection::Event& e);
  /// Forwarding channels open or opening.
  std::size_t channels() const { return channels_.size(); }
  /// Set when a -R was refused under ExitOnForwardFailure: the connection ends.
  const std::string& failure() const { return failure_; }
  /// The connection is over: stops listening and lets every channel go.
  void stop();

  /// After a -R reply (settled() may have become true) and after a forwarding
  /// channel closed: the session run decides whether it can go on or end.
  std::function<void(session::ClientConnection&)> on_change;

  struct Listening;  // one -L or -D: its sockets
  struct Socks;      // a -D connection in its handshake

 private:
  struct Channel {
    std::unique_ptr<connection::ChannelHandler> handler;
    std::unique_ptr<connection::ChannelIo> io;
    std::shared_ptr<Socks> socks;  // -D: answered when the open succeeds or fails
  };
  struct Remote {
    client::Forward forward;
    std::uint16_t bound_port = 0;  // the server's port (the one it chose for 0)
    bool active = false;
  };

  void listen(const client::Forward& f, bool dynamic, session::ClientConnection& c);
  void accepted(session::ClientConnection& c, const client::Forward& f, bool dynamic, asio::ip::tcp::socket s);
  void open_direct(session::ClientConnection& c, const std::string& host, std::uint16_t port,
                   asio::ip::tcp::socket s, std::shared_ptr<Socks> socks);
  void opened(connection::ChannelId id);
  void open_failed(connection::OpenFailed& e);
  void open_requested(session::ClientConnection& c, connection::OpenRequested& e);
  void remote_reply(session::ClientConnection& c, const connection::GlobalReply& e);
  void closed(session::ClientConnection& c, connection::ChannelId id);

  asio::any_io_executor executor_;
  const PortForwarding& options_;
  std::function<void(const std::string&)> report_;
  ConnectionContext context_;  // for the opener of -R's connections
  std::shared_ptr<ForwardOpener> opener_;
  std::vector<std::shared_ptr<Listening>> listening_;
  std::vector<Remote> remote_;
  std::vector<std::size_t> replies_due_;  // indexes into remote_, in request order
  std::map<connection::ChannelId, Channel> channels_;
  std::vector<std::weak_ptr<Socks>> handshakes_;  // -D connections before their channel
  std::string failure_;
  bool stopped_ = false;
};

}  // namespace parley::driver::detail

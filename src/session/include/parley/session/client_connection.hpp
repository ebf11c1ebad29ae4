// A client connection: the transport core in the client role, client
// authentication once the server's host key is verified, and then the
// connection protocol's channel core for the application, as one Endpoint.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "parley/userauth/client_auth.hpp"
#include "parley/connection/channels.hpp"
#include "parley/transport/endpoint.hpp"

namespace parley::session {

using transport::Instant;

/// ssh's ServerAliveInterval and ServerAliveCountMax: once authenticated, after
/// `interval` with nothing from the server a keepalive@openssh.com global request
/// (want reply) goes out, again every `interval` while nothing comes; anything
/// from the server starts over. When more than `count_max` went unanswered in a
/// row the connection ends ("server not responding"). interval 0: never.
struct ServerAlive {
  std::chrono::seconds interval{0};
  unsigned count_max = 3;
};

class ClientConnection final : public transport::Endpoint {
 public:
  /// `transport_config` must be for Role::client, with the verifier that decides
  /// about the host key (nothing secret leaves before it has said yes). `host` and
  /// `port` name the server for callbacks (the key's type and fingerprint are
  /// filled in once verified).
  ClientConnection(std::shared_ptr<const transport::TransportConfig> transport_config,
                   std::shared_ptr<const userauth::ClientAuthConfig> auth_config, std::string host,
                   std::uint16_t port, crypto::Random& rng, Instant now,
                   connection::ChannelLimits limits = {});
  ~ClientConnection() override;

  // transport::Endpoint
  void receive(BytesView data, Instant now) override;
  void peer_closed(Instant now) override;
  void on_time(Instant now) override;
  std::optional<Instant> next_deadline() const override;
  void take_output(Bytes& out) override { transport_.take_output(out); }
  bool closed() const override { return transport_.closed(); }
  /// A server that stopped answering keep-alives is not waited for.
  bool linger_on_close() const override { return !alive_timed_out_; }
  void set_wake(std::function<void()> wake) override;

  /// Called once authentication has succeeded: open channels from here.
  std::function<void(ClientConnection&)> on_authenticated;
  /// Every connection-layer event, in order (after authentication).
  std::function<void(ClientConnection&, connection::Event&)> on_channel_event;
  /// Channels the server opens (forwarded-tcpip for ssh -R) reach on_channel_event
  /// as OpenRequested, to be answered with channels().accept() or reject(); when
  /// false (the default) they are refused here.
  bool answers_channel_opens = false;
  /// Transport events (key exchanges, the disconnect), for logs.
  std::function<void(const transport::Event&)> on_transport;

  /// Keep-alives (off by default); set before or after connecting.
  void set_server_alive(ServerAlive alive);
  /// True once the connection ended because the server stopped answering them.
  bool server_alive_timed_out() const { return alive_timed_out_; }
  /// A global request of the application's (RFC 4254 §4): its reply comes as a
  /// GlobalReply event, in order. Send them here, not through channels(), so
  /// the replies to keep-alives in between are told apart (and not passed on).
  void global_request(std::string_view name, bool want_reply, BytesView data = {});

  connection::Channels& channels() { return channels_; }
  const transport::Transport& transport() const { return transport_; }
  const userauth::HostIdentity& host() const { return host_; }
  bool authenticated() const { return auth_ && auth_->result() && std::holds_alternative<userauth::ClientAuthSucceeded>(*auth_->result()); }
  /// How authentication ended, once it has.
  std::optional<userauth::ClientAuthResult> auth_result() const;
  /// How the connection ended, once it has (our disconnect or the server's).
  const std::optional<transport::Disconnected>& disconnected() const { return disconnected_; }
  void disconnect(transport::DisconnectReason reason, std::string_view description);
  /// Asks the driver to write what was queued outside an endpoint call (a
  /// local stream's completion); harmless inside one.
  void request_flush() {
    if (wake_) wake_();
  }

 private:
  void dispatch();
  void flush_auth();
  void handle_message(std::span<std::uint8_t> payload, std::uint32_t seq);
  void check_server_alive(Instant now);
  void arm_server_alive();

  std::shared_ptr<const userauth::ClientAuthConfig> auth_config_;
  userauth::HostIdentity host_;
  std::shared_ptr<std::optional<crypto::PublicKey>> verified_key_;
  transport::Transport transport_;
  std::unique_ptr<userauth::ClientAuth> auth_;
  connection::Channels channels_;
  std::function<void()> wake_;
  std::optional<transport::Disconnected> disconnected_;
  ServerAlive alive_;
  Instant now_;
  std::optional<Instant> next_alive_;  // when the next keep-alive is due (authenticated, interval > 0)
  unsigned alive_missed_ = 0;          // keep-alives sent since the server last said anything
  bool alive_timed_out_ = false;
  /// The global requests out that want a reply, oldest first: true for a keep-alive.
  std::deque<bool> global_replies_;
};

}  // namespace parley::session

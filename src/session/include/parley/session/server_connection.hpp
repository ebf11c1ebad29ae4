// A server connection: the transport core, user authentication above it, and
// after authentication the connection protocol (RFC 4254): sessions and TCP
// forwarding served by ChannelHandlers, as one Endpoint for the driver.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "parley/session/delegated_auth.hpp"
#include "parley/userauth/server_auth.hpp"
#include "parley/connection/channel_handler.hpp"
#include "parley/connection/channels.hpp"
#include "parley/transport/endpoint.hpp"

namespace parley::session {

using transport::Instant;

/// What a server allows once a user is in. Shared by every connection.
struct ChannelPolicy {
  connection::ChannelLimits limits;
  /// Session channels open at once per connection (OpenSSH's MaxSessions).
  std::size_t max_sessions = 10;
  /// Environment variables a client may set ("env"); shell-style patterns.
  std::vector<std::string> env_allow = {"LANG", "LC_*"};
  /// Output the connection may hold for a peer that is not reading before
  /// channels are told to stop producing (the peer's windows aside).
  std::size_t max_output_backlog = 1024 * 1024;
  /// "direct-tcpip" (ssh -L, ssh -W): off unless allowed; then only to
  /// destinations matching `permit_open` (see open_permitted(); empty list: any
  /// destination).
  bool allow_local_forwarding = false;
  std::vector<std::string> permit_open;
  /// "tcpip-forward" (ssh -R): off unless allowed; then only on addresses and
  /// ports matching `permit_listen` (see listen_permitted(); empty list: any).
  /// Listeners bind to loopback unless `gateway_ports` (OpenSSH's GatewayPorts)
  /// lets the client choose.
  bool allow_remote_forwarding = false;
  std::vector<std::string> permit_listen;
  bool gateway_ports = false;
  /// "tcpip-forward" listeners one connection may hold at once; requests past
  /// it are refused (each listener is a socket and a port on this host).
  std::size_t max_forward_listeners = 16;
  /// Whether `user` may listen on a port below 1024 (ssh -R 80:...): as sshd,
  /// only the superuser (the server's run-as rule says who that is). Empty:
  /// nobody, so an embedding server never binds privileged ports for a client.
  std::function<bool(std::string_view user)> may_bind_privileged_port;
};

/// OpenSSH's PermitOpen: true if `host`:`port` matches one of `rules`
/// ("host:port", "[address]:port" or "any"; an empty list matches everything).
/// The host part matches the client's text exactly, or "*" matches any: no
/// pattern is matched against a name before it is resolved, since the name a
/// client sends says nothing about the address it resolves to. Port "*" is any.
bool open_permitted(const std::vector<std::string>& rules, std::string_view host,
                    std::uint32_t port);

/// OpenSSH's PermitListen for a "tcpip-forward" bind address and port. The
/// address is normalised before the comparison, on both sides: "", "*",
/// "0.0.0.0" and "::" are one "every interface" address, "localhost",
/// "127.0.0.1" and "::1" one loopback address, so a rule for "localhost" does not
/// let a client ask for "" (every interface) and "0.0.0.0" covers its spellings.
/// A rule host "*" matches any address; other hosts match exactly (case aside).
bool listen_permitted(const std::vector<std::string>& rules, std::string_view address,
                      std::uint32_t port);

/// What the application hears about a connection (for logs): transport events,
/// authentication events and channel activity. Never carries a secret.
struct ConnectionObserver {
  std::function<void(const transport::Event&)> on_transport;
  std::function<void(const userauth::AuthEvent&)> on_auth;
  /// One line of channel activity ("session 0: exec", "direct-tcpip refused ..."),
  /// with peer-chosen text already made printable.
  std::function<void(std::string_view)> on_channel;
};

/// What a server connection asks of whoever holds its secrets and decides its
/// logins (privilege separation's monitor), instead of deciding itself.
struct ServerDelegates {
  /// Each key exchange's reply (the TransportConfig then has host_public_keys).
  transport::KexDelegate kex;
  /// Each userauth message, decoded.
  AuthDelegate auth;
  DelegatedAuthLimits limits;
};

class ServerConnection final : public transport::Endpoint {
 public:
  /// Authenticates users itself with `auth_config` (and signs with the host keys).
  ServerConnection(std::shared_ptr<const transport::TransportConfig> transport_config,
                   std::shared_ptr<const userauth::ServerAuthConfig> auth_config, crypto::Random& rng,
                   std::string peer, Instant now, ConnectionObserver observer = {});
  /// Delegated mode: key exchanges and authentication are decided through
  /// `delegates`, whose answers come back through kex_answered() and
  /// auth_answered(). Once a user is in, channels are served as in the other mode.
  ServerConnection(std::shared_ptr<const transport::TransportConfig> transport_config,
                   ServerDelegates delegates, crypto::Random& rng, Instant now,
                   ConnectionObserver observer = {});
  ~ServerConnection() override;

  /// Serves channels after authentication with `services` under `policy`.
  /// Without it every channel open is refused.
  void set_channel_services(std::shared_ptr<const ChannelPolicy> policy,
                            std::unique_ptr<connection::ChannelServices> services);

  void receive(BytesView data, Instant now) override;
  void peer_closed(Instant now) override;
  void on_time(Instant now) override;
  std::optional<Instant> next_deadline() const override;
  void take_output(Bytes& out) override;
  void on_output_written(Instant now) override;
  bool closed() const override { return transport_.closed(); }
  /// False while replies queued during a pending key exchange pass the
  /// transport's bound (Transport::input_paused()): the driver stops reading.
  /// So is it while a delegated question is out (the next waits for its answer).
  bool wants_input() const override {
    return !transport_.input_paused() && !(delegated_ && delegated_->awaiting());
  }
  void set_wake(std::function<void()> wake) override;
  bool set_preauth_listener(std::function<void(transport::PreauthState)> listener) override;

  /// Delegated mode: the answer to the key exchange delegate's request
  /// (Transport::kex_answered()); then take_output() as after receive().
  void kex_answered(std::expected<transport::KexAnswer, transport::TransportError> answer, Instant now);
  /// Delegated mode: the decision about the authentication delegate's question
  /// (DelegatedAuth::answered()); then take_output() as after receive().
  void auth_answered(AuthDecision decision, Instant now);
  /// Delegated mode: the decider's answer to a first "none" request, given
  /// ahead of it (DelegatedAuth::set_none_reply()).
  void set_none_reply(std::vector<Bytes> packets) {
    if (delegated_) delegated_->set_none_reply(std::move(packets));
  }
  /// Ends the connection (DISCONNECT with `reason`): a delegated mode's owner
  /// does so when the other side's answer cannot be used.
  void disconnect(transport::DisconnectReason reason, std::string_view description, Instant now);

  const transport::Transport& transport() const { return transport_; }
  void set_observer(ConnectionObserver observer) { observer_ = std::move(observer); }
  bool authenticated() const {
    return auth_ ? auth_->authenticated() : delegated_ ? delegated_->authenticated() : true;
  }
  /// Channels in use (for tests and metrics).
  std::size_t channel_count() const { return slots_.size(); }

 private:
  class Io;
  struct Slot;
  struct Call;  // marks "inside an endpoint call": output is flushed by the driver anyway

  void dispatch(Instant now);
  void flush_auth();
  /// Once authentication has succeeded and its last messages and events are
  /// out, drops its state (chains, held requests, the peer's name...): an idle
  /// connection keeps only what it serves channels with (issue 15).
  void release_auth();
  template <class Auth>
  void flush_auth_of(Auth& auth);
  void handle_message(std::span<std::uint8_t> payload, std::uint32_t seq, Instant now);
  void handle_connection_message(BytesView payload, std::uint32_t seq);
  void deliver_data(connection::ChannelId id, std::uint32_t extended, BytesView data);
  void handle_channel_event(connection::Event& e);
  void handle_open(connection::OpenRequested& e);
  void handle_request(Slot& slot, connection::Request& e);
  void handle_global(connection::GlobalRequest& e);
  void accept_forwarded(std::unique_ptr<connection::ChannelHandler> handler,
                        const connection::TcpipOpen& open);
  void fail(connection::ConnectionError e);
  void close_all_channels();
  /// Takes a slot whose open was refused out of service; reap() lets its
  /// handler go at the next call, when none of its code is on the stack.
  void retire(connection::ChannelId id);
  void reap();
  /// Room for output before the backlog limit.
  std::size_t budget() const;
  void wake_blocked();
  void request_flush();
  void note(std::string_view line) {
    if (observer_.on_channel) observer_.on_channel(line);
  }

  transport::Transport transport_;
  std::unique_ptr<userauth::ServerAuth> auth_;  // deciding here, or
  std::unique_ptr<DelegatedAuth> delegated_;    // asking elsewhere; neither once authenticated
  ConnectionObserver observer_;
  std::string user_;
  std::shared_ptr<const ChannelPolicy> policy_;
  std::unique_ptr<connection::ChannelServices> services_;
  connection::Channels channels_;
  std::unordered_map<connection::ChannelId, std::unique_ptr<Slot>> slots_;
  std::map<std::pair<std::string, std::uint32_t>, std::unique_ptr<connection::Listener>> listeners_;
  std::vector<std::unique_ptr<Slot>> retired_;
  std::size_t sessions_ = 0;
  bool no_more_sessions_ = false;
  std::function<void()> wake_;
  Instant now_{};               // the time of the endpoint call in progress
  int depth_ = 0;               // nesting of endpoint calls in progress
  std::size_t unwritten_ = 0;   // taken by the driver, not yet reported written
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace parley::session

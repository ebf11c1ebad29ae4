// A server connection: the transport core with user authentication above it,
// as one Endpoint for the driver. After authentication, connection-layer
// messages (RFC 4254) are refused until the connection core exists.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "parley/auth/server_auth.hpp"
#include "parley/transport/endpoint.hpp"

namespace parley::auth {

/// What the application hears about a connection (for logs): transport events
/// and authentication events. Never carries a secret.
struct ConnectionObserver {
  std::function<void(const transport::Event&)> on_transport;
  std::function<void(const AuthEvent&)> on_auth;
};

class ServerConnection final : public transport::Endpoint {
 public:
  ServerConnection(std::shared_ptr<const transport::TransportConfig> transport_config,
                   std::shared_ptr<const ServerAuthConfig> auth_config, crypto::Random& rng,
                   std::string peer, Instant now, ConnectionObserver observer = {});

  void receive(BytesView data, Instant now) override;
  void peer_closed(Instant now) override;
  void on_time(Instant now) override;
  std::optional<Instant> next_deadline() const override;
  void take_output(Bytes& out) override { transport_.take_output(out); }
  bool closed() const override { return transport_.closed(); }
  void set_wake(std::function<void()> wake) override { auth_.set_wake(std::move(wake)); }

  const transport::Transport& transport() const { return transport_; }
  void set_observer(ConnectionObserver observer) { observer_ = std::move(observer); }
  bool authenticated() const { return auth_.authenticated(); }

 private:
  void dispatch(Instant now);
  void flush_auth();
  void handle_connection_message(const transport::Message& m);

  transport::Transport transport_;
  ServerAuth auth_;
  ConnectionObserver observer_;
};

}  // namespace parley::auth

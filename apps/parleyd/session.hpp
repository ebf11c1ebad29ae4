// What parleyd does with one connection's transport events: logging, and the
// (for now placeholder) authentication layer.
#pragma once

#include <memory>
#include <string>

#include "parley/transport/endpoint.hpp"
#include "reject_all_auth.hpp"

namespace parleyd {

/// Per-connection state behind a TransportEndpoint's handler. Logs the
/// connection's key exchanges and its end (never key material) and hands
/// messages of the layer above to RejectAllAuth.
class Session {
 public:
  /// `peer` is "address:port", used to tag log lines.
  explicit Session(std::string peer) : peer_(std::move(peer)) {}

  void on_event(parley::transport::Transport& transport, parley::transport::Event& event);

 private:
  std::string peer_;
  RejectAllAuth auth_;
};

/// Builds the Endpoint for a new connection: a server-role TransportEndpoint whose
/// events go to a fresh Session. `config` is shared by every connection; `rng`
/// must outlive the endpoint.
std::unique_ptr<parley::transport::Endpoint> make_server_endpoint(
    const std::shared_ptr<const parley::transport::TransportConfig>& config, parley::crypto::Random& rng, std::string peer,
    parley::transport::Instant now);

}  // namespace parleyd

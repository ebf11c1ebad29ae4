// What parleyd does with one connection: the transport and authentication
// cores (auth::ServerConnection) and the log lines about them.
#pragma once

#include <memory>
#include <string>

#include "parley/auth/server_connection.hpp"

namespace parleyd {

/// Builds the Endpoint for a new connection. Logs key exchanges, one audit line
/// per authentication step (user, method, provider, prompt count, round,
/// outcome, peer: never an answer, never prompt text) and the end of the
/// connection. The configs are shared by every connection; `rng` must outlive it.
std::unique_ptr<parley::transport::Endpoint> make_server_endpoint(
    const std::shared_ptr<const parley::transport::TransportConfig>& transport_config,
    const std::shared_ptr<const parley::auth::ServerAuthConfig>& auth_config,
    parley::crypto::Random& rng, std::string peer, parley::transport::Instant now);

}  // namespace parleyd

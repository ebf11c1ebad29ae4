// One connection of a privilege-separated parleyd's network process: a
// delegated session::ServerConnection whose key exchanges and authentication
// the root monitor decides (privsep::NetworkSide over a MonitorLink), and whose
// sessions' programs and forwarding sockets the monitor makes and hands back.
#pragma once

#include <functional>
#include <memory>

#include "parley/crypto/random.hpp"
#include "parley/driver/monitor_link.hpp"
#include "parley/driver/services.hpp"
#include "parley/session/delegated_auth.hpp"
#include "parley/session/server_connection.hpp"
#include "parley/transport/endpoint.hpp"
#include "parley/transport/transport.hpp"

namespace parley::driver {

struct PrivsepConnectionSetup {
  /// The network process's transport configuration: host_public_keys only.
  std::shared_ptr<const transport::TransportConfig> transport;
  session::DelegatedAuthLimits limits;
  /// Lines for the log (never a secret).
  std::function<void(std::string_view)> log;
};

/// Sets up the rest of a new connection (observer, channel services) once it
/// exists: `process` is the caller's ProcessOptions with a session starter and
/// a forward opener that ask the monitor.
using ConfigureConnection =
    std::function<void(session::ServerConnection& connection, ProcessOptions process)>;

/// The Endpoint for a new connection. `link`, `rng` and `setup` must outlive it.
std::unique_ptr<transport::Endpoint> make_privsep_endpoint(MonitorLink& link, const PrivsepConnectionSetup& setup,
                                                           crypto::Random& rng, ConnectionContext& context,
                                                           transport::Instant now, const ProcessOptions& process,
                                                           const ConfigureConnection& configure);

}  // namespace parley::driver

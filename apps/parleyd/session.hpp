// What parleyd does with one connection: the transport and authentication
// cores (session::ServerConnection) and the log lines about them.
#pragma once

#include <memory>
#include <string>

#include "parley/session/server_connection.hpp"
#include "parley/driver/privsep_endpoint.hpp"
#include "parley/driver/services.hpp"

namespace parleyd {

/// How sessions are served, shared by every connection.
struct SessionSetup {
  std::shared_ptr<const parley::session::ChannelPolicy> policy;
  parley::driver::ProcessOptions process;
  /// Text shown at the start of every shell session (the demo's welcome); empty: none.
  std::string welcome;
  /// Sessions are the built-in command shell, never a process (the demo as root).
  bool command_shell = false;
  /// As root with a PAM service (sshd's UsePAM): a PAM login session
  /// (pam_acct_mgmt, pam_setcred, pam_open_session) is opened on `run_blocking`
  /// once the user is in, every session waits for it and gets pam_getenvlist's
  /// variables, and it is closed (on `run_blocking`) when the connection ends.
  std::string pam_service;
  parley::userauth::BlockingRunner run_blocking;
};

/// Builds the Endpoint for a new connection. Logs key exchanges, one audit line
/// per authentication step (user, method, provider, prompt count, round,
/// outcome, peer: never an answer, never prompt text), channel activity and the
/// end of the connection. The configs are shared by every connection; `rng`
/// must outlive it.
std::unique_ptr<parley::transport::Endpoint> make_server_endpoint(
    const std::shared_ptr<const parley::transport::TransportConfig>& transport_config,
    const std::shared_ptr<const parley::userauth::ServerAuthConfig>& auth_config,
    const std::shared_ptr<const SessionSetup>& sessions, parley::crypto::Random& rng,
    parley::driver::ConnectionContext& context, std::string peer, parley::transport::Instant now);

/// The same for the network process of a privilege-separated parleyd: key
/// exchange, authentication, session programs and forwarding sockets are the
/// monitor's, through `link`; authentication is logged by the monitor.
std::unique_ptr<parley::transport::Endpoint> make_separated_endpoint(
    parley::driver::MonitorLink& link, const parley::driver::PrivsepConnectionSetup& setup,
    const std::shared_ptr<const SessionSetup>& sessions, parley::crypto::Random& rng,
    parley::driver::ConnectionContext& context, std::string peer, parley::transport::Instant now);

/// A session handler that shows `text` when a shell starts and otherwise is `inner`:
/// the embedding API's smallest use.
std::unique_ptr<parley::connection::ChannelHandler> with_welcome(
    std::unique_ptr<parley::connection::ChannelHandler> inner, std::string text);

}  // namespace parleyd

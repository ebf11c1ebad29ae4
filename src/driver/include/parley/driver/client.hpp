// Runs one Endpoint as a TCP client on the calling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>

#include "parley/transport/endpoint.hpp"

namespace parley::driver {

/// Connects to host:port and drives `endpoint` until endpoint.closed() (with its
/// output written) or the peer closes (endpoint.peer_closed() is called then).
/// Returns an error if the connection cannot be made or `timeout` passes first;
/// the endpoint's own state says how the protocol ended. Runs its own io_context
/// on the calling thread.
std::expected<void, std::string> run_client(const std::string& host, std::uint16_t port,
                                            transport::Endpoint& endpoint,
                                            std::chrono::milliseconds timeout);

}  // namespace parley::driver

// Private to src/driver: the first event loop of a Server, for the driver's
// own parts that must run on it (MonitorLink). Not in the public headers,
// which keep Asio out.
#pragma once

#include <asio/io_context.hpp>

#include "parley/driver/server.hpp"

namespace parley::driver {

/// The server's first io_context (the one that also accepts). Valid while the
/// server lives; what runs on it must be gone before the server is destroyed.
asio::io_context& first_context(Server& server);

}  // namespace parley::driver

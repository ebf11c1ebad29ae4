// Internal: what a ConnectionContext holds.
#pragma once

#include <asio/any_io_executor.hpp>

#include "parley/driver/services.hpp"

namespace parley::driver {

struct ConnectionContext::Impl {
  /// The connection's executor (its single-threaded io_context): every handler
  /// of the connection runs on it.
  asio::any_io_executor executor;
  PeerInfo peer;
  PeerInfo local;
};

}  // namespace parley::driver

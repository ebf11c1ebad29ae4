// Private to src/driver: the endpoint wrapper that refuses a PROXY protocol
// header from a peer that is not a listed balancer (ServerOptions::proxy_from).
#pragma once

#include <functional>
#include <memory>

#include "parley/transport/endpoint.hpp"

namespace parley::driver::detail {

/// `inner`, except that the connection's first bytes are looked at before it
/// sees them: while they could still be the start of a PROXY header ("PROXY "
/// or the v2 signature, at most 12 bytes) they are held back; once they are
/// one, `on_refused` is called, `inner` never sees them and the endpoint is
/// closed at once (nothing more is written); otherwise they go on to `inner`
/// and every later call passes straight through. An SSH client's first byte
/// ('S') decides at once, so a client that speaks SSH directly loses nothing.
std::unique_ptr<transport::Endpoint> refuse_proxy_headers(std::unique_ptr<transport::Endpoint> inner,
                                                          std::function<void()> on_refused);

}  // namespace parley::driver::detail

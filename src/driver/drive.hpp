// Internal: the loop that moves bytes between one stream socket and one Endpoint.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <span>

#include "parley/transport/endpoint.hpp"

namespace parley::driver::detail {

/// Drives `endpoint` over the connected `socket` until the endpoint closes (its
/// output written, our side shut down) or the peer goes away; closes the socket
/// before returning normally. `timer` must share the socket's executor. Errors
/// of the socket itself (for example, it being closed under us) propagate as
/// exceptions; the caller closes the socket then.
///
/// A write the peer has not taken in full within two minutes ends the connection
/// (endpoint.peer_closed() is called), so a peer that stops reading cannot pin it.
///
/// Idle cost: no buffer is held between reads; the loop waits for readability
/// and reads non-blocking into a per-thread buffer.
/// Socket: asio::ip::tcp::socket or asio::local::stream_protocol::socket (instantiated in drive.cpp).
/// `first_input`: bytes already read from the socket (those after a PROXY
/// header), given to the endpoint before anything else; it must live until
/// drive() returns.
template <class Socket>
asio::awaitable<void> drive(Socket& socket, asio::steady_timer& timer, transport::Endpoint& endpoint,
                            BytesView first_input = {});

/// What read_before() got.
enum class ReadBefore { data, peer_gone, deadline };

/// Waits until `socket` is readable or `deadline` passes, then reads what it
/// has (at most `into.size()` bytes) without blocking; `got` is set to the
/// count. For a connection's first bytes, before there is an endpoint to drive.
asio::awaitable<ReadBefore> read_before(asio::ip::tcp::socket& socket, asio::steady_timer& timer,
                                        transport::Clock::time_point deadline, std::span<std::uint8_t> into,
                                        std::size_t& got);

}  // namespace parley::driver::detail

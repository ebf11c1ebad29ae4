// The TCP channels behind ChannelServices (channel_services.cpp): direct-tcpip
// connects and remote-forward listeners, on the connection's executor.
#pragma once

#include <asio/ip/tcp.hpp>
#include <expected>
#include <memory>
#include <string>

#include "parley/connection/channel_handler.hpp"
#include "parley/driver/channel_seams.hpp"
#include "parley/driver/services.hpp"

namespace parley::driver::detail {

/// A channel that has `opener` connect to target.host:target.port, then
/// confirms or rejects itself; it runs on `executor` (the connection's).
std::unique_ptr<connection::ChannelHandler> tcp_connect_channel(const asio::any_io_executor& executor,
                                                                std::shared_ptr<ForwardOpener> opener,
                                                                const connection::TcpipOpen& target);

/// A channel for a socket that is already connected (one a listener accepted):
/// it moves bytes once the channel is confirmed, that is from the first
/// on_writable() after attach().
std::unique_ptr<connection::ChannelHandler> tcp_stream_channel(asio::ip::tcp::socket connected);

/// A listener for a remote forward at `bind` ("" or "*": every IPv4 address;
/// port 0: any free port) on the socket `opener` gives; each accepted socket
/// becomes a forwarded-tcpip channel.
std::expected<std::unique_ptr<connection::Listener>, std::string> tcp_listen(
    ConnectionContext& context, ForwardOpener& opener, const connection::ForwardRequest& bind,
    connection::AcceptHandler accepted);

/// A TCP socket's protocol (IPv4 or IPv6), from its local address.
asio::ip::tcp protocol_of(int fd);

}  // namespace parley::driver::detail

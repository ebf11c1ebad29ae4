#include "parley/driver/client.hpp"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <optional>

#include "drive.hpp"

namespace parley::driver {
namespace {

using asio::ip::tcp;
using Result = std::expected<void, std::string>;

asio::awaitable<void> connect_and_drive(std::string host, std::uint16_t port,
                                        transport::Endpoint& endpoint,
                                        std::optional<Result>& result) {
  const std::string where = host + ":" + std::to_string(port);
  try {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    std::error_code ec;
    auto endpoints = co_await resolver.async_resolve(host, std::to_string(port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      result = std::unexpected("cannot resolve " + host + ": " + ec.message());
      co_return;
    }
    tcp::socket socket(executor);
    co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      result = std::unexpected("cannot connect to " + where + ": " + ec.message());
      co_return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::steady_timer timer(executor);
    co_await detail::drive(socket, timer, endpoint);
    result = Result{};
  } catch (const std::exception& e) {
    result = std::unexpected("connection to " + where + " failed: " + e.what());
  }
}

}  // namespace

std::expected<void, std::string> run_client(const std::string& host, std::uint16_t port,
                                            transport::Endpoint& endpoint,
                                            std::chrono::milliseconds timeout) {
  std::optional<Result> result;
  asio::io_context io;
  asio::co_spawn(io, connect_and_drive(host, port, endpoint, result), asio::detached);
  io.run_for(timeout);
  if (!result)
    return std::unexpected("timed out after " + std::to_string(timeout.count()) +
                           " ms talking to " + host + ":" + std::to_string(port));
  return *result;
}

}  // namespace parley::driver

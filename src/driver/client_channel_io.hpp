// Internal: a client connection's channel as a ChannelIo, so the pumps and the
// TCP channel handlers that serve the server's channels serve the client's too
// (its session, -W, and the forwards of -L, -R and -D).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "parley/connection/channel_handler.hpp"
#include "parley/session/client_connection.hpp"

namespace parley::driver::detail {

class ClientChannelIo final : public connection::ChannelIo {
 public:
  ClientChannelIo(session::ClientConnection& conn, connection::ChannelId id) : conn_(conn), id_(id) {}
  std::size_t writable() const override { return conn_.channels().send_window(id_); }
  std::size_t write(BytesView data) override { return send(data, 0); }
  std::size_t write_stderr(BytesView data) override { return send(data, 1); }
  void consumed(std::size_t n) override {
    conn_.channels().consumed(id_, n);
    conn_.request_flush();
  }
  void eof() override {
    conn_.channels().send_eof(id_);
    conn_.request_flush();
  }
  void exit_status(std::uint32_t) override {}
  void exit_signal(const connection::ExitSignal&) override {}
  void close() override {
    conn_.channels().close(id_);
    conn_.request_flush();
  }
  /// A channel the server opened (forwarded-tcpip), once our side is connected.
  void confirm() override {
    conn_.channels().accept(id_);
    conn_.request_flush();
  }
  void reject(connection::OpenFailure reason, std::string_view description) override {
    if (on_reject) on_reject(description);
    conn_.channels().reject(id_, reason, description);
    conn_.request_flush();
  }
  /// Told why an open is refused (for the user's line), before the refusal goes.
  std::function<void(std::string_view)> on_reject;

 private:
  std::size_t send(BytesView data, std::uint32_t extended) {
    const std::size_t n = conn_.channels().send_data(id_, data, extended);
    if (n > 0) conn_.request_flush();
    return n;
  }
  session::ClientConnection& conn_;
  connection::ChannelId id_;
};

}  // namespace parley::driver::detail

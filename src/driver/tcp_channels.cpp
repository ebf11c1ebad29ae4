// TCP forwarding on real sockets: the channels of direct-tcpip (we connect) and
// forwarded-tcpip (a remote-forward listener accepted), each pumping one socket
// both ways with the same flow control as process streams.
#include "tcp_channels.hpp"

#include <sys/socket.h>

#include <asio/ip/tcp.hpp>
#include <optional>
#include <utility>

#include "context.hpp"
#include "pumps.hpp"

namespace parley::driver::detail {

namespace {

using asio::ip::tcp;
using connection::ChannelIo;

class StreamState : public std::enable_shared_from_this<StreamState> {
 public:
  explicit StreamState(tcp::socket socket, std::shared_ptr<ForwardOpener> opener = nullptr)
      : socket_(std::move(socket)), opener_(std::move(opener)) {}

  ChannelIo* io = nullptr;
  asio::any_io_executor executor() { return socket_.get_executor(); }

  /// direct-tcpip: the opener resolves and connects, then the channel is confirmed or rejected.
  void connect(const std::string& host, std::uint32_t port) {
    opener_->connect(host, port, [self = shared_from_this()](std::expected<UniqueFd, std::string> fd) {
      if (self->io == nullptr) return;
      // The reason code already says "connect failed"; the text says why, as OpenSSH's does.
      if (!fd) return self->io->reject(connection::OpenFailure::connect_failed, fd.error());
      std::error_code ec;
      const tcp protocol = protocol_of(fd->get());
      self->socket_.assign(protocol, fd->release(), ec);
      if (ec) return self->io->reject(connection::OpenFailure::connect_failed, ec.message());
      self->connected();
      self->io->confirm();
      self->writable();
    });
  }
  void connected() {
    std::error_code ec;
    socket_.non_blocking(true, ec);
    socket_.set_option(tcp::no_delay(true), ec);
    out_ = OutFlow<tcp::socket>{&socket_, 0, false, false, false};
    in_ = InFlow<tcp::socket>{};
    in_.stream = &socket_;
    in_.done = false;
  }
  void data(BytesView d) { queue_input(shared_from_this(), in_, d); }
  void eof() {
    in_.eof = true;
    pump_in(shared_from_this(), in_);
  }
  void writable() { pump_out(shared_from_this(), out_); }
  void closed() {
    io = nullptr;
    std::error_code ec;
    socket_.close(ec);
  }

  void output_done() {  // the far end closed its side
    if (io == nullptr) return;
    io->eof();
    maybe_close();
  }
  void input_eof() {  // the client's EOF, after everything before it was written
    std::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    maybe_close();
  }
  void input_failed() {
    if (io) io->close();
  }

 private:
  void maybe_close() {
    if (io != nullptr && out_.done && in_.done) io->close();
  }
  tcp::socket socket_;
  std::shared_ptr<ForwardOpener> opener_;  // direct-tcpip only
  OutFlow<tcp::socket> out_;
  InFlow<tcp::socket> in_;
};

class StreamChannel final : public connection::ChannelHandler {
 public:
  /// `connect_to` set: connect first (direct-tcpip); otherwise the socket is connected.
  StreamChannel(std::shared_ptr<StreamState> s, std::optional<connection::TcpipOpen> connect_to)
      : s_(std::move(s)), connect_to_(std::move(connect_to)) {}
  ~StreamChannel() override { s_->closed(); }

  bool attach(ChannelIo& io) override {
    s_->io = &io;
    if (connect_to_) s_->connect(connect_to_->host, connect_to_->port);
    return false;  // confirmed once connected (or, when forwarded, by the client)
  }
  void on_data(BytesView data) override { s_->data(data); }
  void on_eof() override { s_->eof(); }
  void on_writable() override { s_->writable(); }
  void on_closed() override { s_->closed(); }

 private:
  std::shared_ptr<StreamState> s_;
  std::optional<connection::TcpipOpen> connect_to_;
};

class TcpListener final : public connection::Listener {
 public:
  struct State {
    explicit State(asio::any_io_executor ex) : executor(ex), acceptor(ex) {}
    asio::any_io_executor executor;
    tcp::acceptor acceptor;
    connection::AcceptHandler accepted;
    std::string address;
    std::uint16_t port = 0;
    bool closed = false;
  };
  explicit TcpListener(std::shared_ptr<State> s) : s_(std::move(s)) { accept(s_); }
  ~TcpListener() override {
    s_->closed = true;
    std::error_code ec;
    s_->acceptor.close(ec);
  }
  std::uint16_t port() const override { return s_->port; }

 private:
  static void accept(const std::shared_ptr<State>& s) {
    s->acceptor.async_accept(s->executor, [s](std::error_code ec, tcp::socket socket) {
      if (s->closed) return;
      if (!ec) {
        std::error_code rec;
        const auto remote = socket.remote_endpoint(rec);
        if (!rec) {
          connection::TcpipOpen open{s->address, s->port, remote.address().to_string(), remote.port()};
          s->accepted(tcp_stream_channel(std::move(socket)), std::move(open));
        }
      }
      if (!s->closed) accept(s);
    });
  }
  std::shared_ptr<State> s_;
};

}  // namespace

std::unique_ptr<connection::ChannelHandler> tcp_connect_channel(const asio::any_io_executor& executor,
                                                                std::shared_ptr<ForwardOpener> opener,
                                                                const connection::TcpipOpen& target) {
  auto state = std::make_shared<StreamState>(tcp::socket(executor), std::move(opener));
  return std::make_unique<StreamChannel>(std::move(state), target);
}

std::unique_ptr<connection::ChannelHandler> tcp_stream_channel(tcp::socket connected) {
  auto state = std::make_shared<StreamState>(std::move(connected));
  state->connected();
  return std::make_unique<StreamChannel>(std::move(state), std::nullopt);
}

std::expected<std::unique_ptr<connection::Listener>, std::string> tcp_listen(
    ConnectionContext& context, ForwardOpener& opener, const connection::ForwardRequest& bind,
    connection::AcceptHandler accepted) {
  auto fd = opener.listen(bind.address, bind.port);
  if (!fd) return std::unexpected(fd.error());
  auto state = std::make_shared<TcpListener::State>(context.impl().executor);
  std::error_code ec;
  const tcp protocol = protocol_of(fd->get());
  state->acceptor.assign(protocol, fd->release(), ec);
  if (!ec) state->port = state->acceptor.local_endpoint(ec).port();
  if (ec) return std::unexpected("cannot listen on " + bind.address + ":" + std::to_string(bind.port) + ": " + ec.message());
  state->address = state->acceptor.local_endpoint(ec).address().to_string();
  state->accepted = std::move(accepted);
  return std::make_unique<TcpListener>(std::move(state));
}

tcp protocol_of(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 && address.ss_family == AF_INET6)
    return tcp::v6();
  return tcp::v4();
}

}  // namespace parley::driver::detail

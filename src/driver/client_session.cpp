#include "parley/driver/client_session.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "drive.hpp"
#include "parley/userauth/server_text.hpp"
#include "pumps.hpp"

namespace parley::driver {
namespace {

using asio::ip::tcp;
using Descriptor = asio::posix::stream_descriptor;

/// The session channel as the pumps see it.
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
  void confirm() override {}
  void reject(connection::OpenFailure, std::string_view) override {}

 private:
  std::size_t send(BytesView data, std::uint32_t extended) {
    const std::size_t n = conn_.channels().send_data(id_, data, extended);
    if (n > 0) conn_.request_flush();
    return n;
  }
  session::ClientConnection& conn_;
  connection::ChannelId id_;
};

/// Local stdin → the channel; the channel's output → local stdout and stderr.
struct Bridge : std::enable_shared_from_this<Bridge> {
  explicit Bridge(asio::any_io_executor ex) : executor_(std::move(ex)) {}
  connection::ChannelIo* io = nullptr;
  const asio::any_io_executor& executor() const { return executor_; }

  void output_done() {  // our stdin ended: so does the session's input
    if (io) io->eof();
  }
  void input_eof() {}
  void input_failed() {  // our stdout went away: nobody reads the output any more
    if (io) io->close();
  }

  /// Cancels every wait on the local descriptors (the session is over).
  void stop_local_io() {
    std::error_code ignored;
    for (auto* d : {in.get(), out.get(), err.get()})
      if (d) d->cancel(ignored);
  }

  asio::any_io_executor executor_;
  std::unique_ptr<Descriptor> in, out, err;
  detail::OutFlow<Descriptor> from_stdin;
  detail::InFlow<Descriptor> to_stdout, to_stderr;
};

/// A local descriptor made non-blocking for the session, and put back after.
struct LocalFd {
  LocalFd(asio::any_io_executor ex, int fd) : original(fd), flags(::fcntl(fd, F_GETFL)) {
    const int copy = ::dup(fd);
    if (copy < 0) return;
    descriptor = std::make_unique<Descriptor>(ex, copy);
    std::error_code ec;
    descriptor->non_blocking(true, ec);  // shared with our parent: restored below
  }
  ~LocalFd() {
    if (flags >= 0) ::fcntl(original, F_SETFL, flags);
  }
  int original;
  int flags;
  std::unique_ptr<Descriptor> descriptor;
};

/// Writes what a flow still holds, blocking (the session is over).
void drain(int fd, detail::InFlow<Descriptor>& f) {
  while (f.offset < f.pending.size()) {
    const ssize_t n = ::write(fd, f.pending.data() + f.offset, f.pending.size() - f.offset);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) {
        ::usleep(1000);
        continue;
      }
      return;
    }
    f.offset += static_cast<std::size_t>(n);
  }
}

}  // namespace

ClientSessionResult run_session(const std::string& host, std::uint16_t port,
                                session::ClientConnection& conn, const ClientSessionOptions& options,
                                std::chrono::milliseconds connect_timeout) {
  ClientSessionResult result;
  asio::io_context io(1);
  auto ex = io.get_executor();
  LocalFd in(ex, options.stdin_fd), out(ex, options.stdout_fd), err(ex, options.stderr_fd);
  auto bridge = std::make_shared<Bridge>(ex);
  std::unique_ptr<ClientChannelIo> channel_io;
  std::optional<connection::ChannelId> channel;
  std::size_t replies_expected = 0;
  bool started = false;

  conn.on_authenticated = [&](session::ClientConnection& c) {
    channel = c.channels().open("session");
    if (!channel) {
      result.error = "cannot open a session channel";
      c.disconnect(transport::DisconnectReason::by_application, "no channel");
    }
  };
  conn.on_channel_event = [&](session::ClientConnection& c, connection::Event& event) {
    std::visit(
        [&](auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, connection::OpenConfirmed>) {
            if (options.on_session_start) options.on_session_start();
            for (const auto& v : options.env) c.channels().request(e.id, "env", false, connection::encode(v));
            if (options.pty) {
              c.channels().request(e.id, "pty-req", true, connection::encode(*options.pty));
              ++replies_expected;
            }
            connection::StartRequest start;
            start.kind = options.command.empty() ? connection::StartRequest::Kind::shell
                                                 : connection::StartRequest::Kind::exec;
            start.command = options.command;
            c.channels().request(e.id, connection::request_type(start), true, connection::encode(start));
            ++replies_expected;
            channel_io = std::make_unique<ClientChannelIo>(c, e.id);
            bridge->io = channel_io.get();
            bridge->in = std::move(in.descriptor);
            bridge->out = std::move(out.descriptor);
            bridge->err = std::move(err.descriptor);
            bridge->from_stdin = detail::OutFlow<Descriptor>{bridge->in.get(), 0, false, bridge->in == nullptr, false};
            bridge->to_stdout.stream = bridge->out.get();
            bridge->to_stdout.done = bridge->out == nullptr;
            bridge->to_stderr.stream = bridge->err.get();
            bridge->to_stderr.done = bridge->err == nullptr;
            detail::pump_out(bridge, bridge->from_stdin);
          } else if constexpr (std::is_same_v<E, connection::OpenFailed>) {
            // Server text, shown to the user: made safe like every other.
            result.error =
                "channel open failed: " + userauth::sanitize_server_text(e.description, 256, false);
            c.disconnect(transport::DisconnectReason::by_application, "channel open failed");
          } else if constexpr (std::is_same_v<E, connection::RequestReply>) {
            if (replies_expected == 0) return;
            --replies_expected;
            if (replies_expected == 0) {  // the start request's reply
              started = e.success;
              if (!e.success) {
                result.error = (options.command.empty() ? "shell" : "exec") +
                               std::string(" request failed on channel 0");
                c.channels().close(e.id);
              }
            } else if (!e.success) {
              // As ssh: a refused terminal is reported and the session goes on.
              const std::string_view text = "PTY allocation request failed on channel 0\r\n";
              (void)!::write(options.stderr_fd, text.data(), text.size());
            }
          } else if constexpr (std::is_same_v<E, connection::Data>) {
            auto& flow = e.extended == 1 ? bridge->to_stderr : bridge->to_stdout;
            detail::queue_input(bridge, flow, e.bytes);
          } else if constexpr (std::is_same_v<E, connection::Writable>) {
            detail::pump_out(bridge, bridge->from_stdin);
          } else if constexpr (std::is_same_v<E, connection::Request>) {
            if (e.type == "exit-status") {
              if (auto s = connection::parse_exit_status(e.data)) result.exit_status = s->status;
            } else if (e.type == "exit-signal") {
              if (auto s = connection::parse_exit_signal(e.data)) {
                // The signal name and message are the server's words, printed by parley.
                s->name = userauth::sanitize_server_text(s->name, 64, false);
                s->message = userauth::sanitize_server_text(s->message, 256, false);
                result.exit_signal = std::move(*s);
              }
            } else if (e.want_reply) {
              c.channels().reply(e.id, false);
            }
          } else if constexpr (std::is_same_v<E, connection::Closed>) {
            // As ssh: the session is over when the server closes the channel, whatever
            // our stdin is (a terminal or a pipe that stays open). A read still waiting
            // on it would keep the loop, and parley, alive until the user typed ^D.
            bridge->io = nullptr;
            bridge->stop_local_io();
            c.disconnect(transport::DisconnectReason::by_application, "disconnected by user");
          } else if constexpr (std::is_same_v<E, connection::GlobalRequest>) {
            if (e.want_reply) c.channels().global_reply(false);  // as ssh: hostkeys-00 etc.
          }
        },
        event);
  };

  std::string connect_error;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          tcp::resolver resolver(ex);
          std::error_code ec;
          auto endpoints = co_await resolver.async_resolve(host, std::to_string(port),
                                                           asio::redirect_error(asio::use_awaitable, ec));
          if (ec) {
            connect_error = "Could not resolve hostname " + host + ": " + ec.message();
            co_return;
          }
          tcp::socket socket(ex);
          asio::steady_timer deadline(ex);
          deadline.expires_after(connect_timeout);
          deadline.async_wait([&](std::error_code wec) {
            if (wec || conn.authenticated() || conn.closed()) return;
            connect_error = "Connection timed out during banner exchange or authentication";
            std::error_code ignored;
            socket.close(ignored);
          });
          co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
          if (ec) {
            connect_error = "connect to host " + host + " port " + std::to_string(port) + ": " + ec.message();
            deadline.cancel();
            co_return;
          }
          socket.set_option(tcp::no_delay(true), ec);
          asio::steady_timer timer(ex);
          co_await detail::drive(socket, timer, conn);
          deadline.cancel();
        } catch (const std::exception& e) {
          connect_error = std::string("connection failed: ") + e.what();
        }
        // The connection is gone (or never came): nothing more to read locally.
        bridge->io = nullptr;
        bridge->stop_local_io();
      },
      asio::detached);
  io.run();

  // What the session wrote and we had not yet passed on.
  drain(options.stdout_fd, bridge->to_stdout);
  drain(options.stderr_fd, bridge->to_stderr);
  bridge->io = nullptr;
  if (result.error.empty()) {
    if (!connect_error.empty()) {
      result.error = connect_error;
    } else if (auto auth = conn.auth_result(); auth && std::holds_alternative<userauth::ClientAuthFailed>(*auth)) {
      result.error = std::get<userauth::ClientAuthFailed>(*auth).reason;
    } else if (!conn.authenticated()) {
      const auto& d = conn.disconnected();
      result.error = d ? "Connection closed: " + d->description : "Connection closed";
    } else if (!started && !result.exit_status && !result.exit_signal) {
      result.error = "the session ended before it started";
    }
  }
  return result;
}

}  // namespace parley::driver

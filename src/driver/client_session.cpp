#include "parley/driver/client_session.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <expected>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "client_channel_io.hpp"
#include "client_forwarding.hpp"
#include "drive.hpp"
#include "parley/userauth/server_text.hpp"
#include "pumps.hpp"

namespace parley::driver {
namespace {

using asio::ip::tcp;
using Descriptor = asio::posix::stream_descriptor;

using detail::ClientChannelIo;

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

/// One session over a connection: opens the channel once authenticated, sends
/// its requests, bridges the local descriptors to it and records how it ended.
/// Touched only on the connection's thread.
class SessionRun {
 public:
  SessionRun(asio::any_io_executor ex, const ClientSessionOptions& options)
      : options_(options),
        in_(ex, options.stdin_fd),
        out_(ex, options.stdout_fd),
        err_(ex, options.stderr_fd),
        bridge_(std::make_shared<Bridge>(ex)),
        forwarding_(ex, options.forwarding, [this](const std::string& line) { report(line); }) {
    forwarding_.on_change = [this](session::ClientConnection& c) { forwarding_changed(c); };
  }

  void authenticated(session::ClientConnection& c) {
    // As ssh: the forwards first, then the session (which, under
    // ExitOnForwardFailure, waits until the server has answered every -R).
    if (auto r = forwarding_.start(c); !r) return fail(c, r.error());
    if (!options_.open_session && !options_.stdio_forward) return;  // -N
    if (options_.forwarding.exit_on_failure && !forwarding_.settled()) {
      session_waits_ = true;
      return;
    }
    open_session(c);
  }
  void event(session::ClientConnection& c, connection::Event& event) {
    if (forwarding_.event(c, event)) return;
    std::visit([&](auto& e) { on(c, e); }, event);
  }
  /// The connection is gone (or never came): nothing more to read locally.
  void stop() {
    bridge_->io = nullptr;
    bridge_->stop_local_io();
    forwarding_.stop();
  }
  /// After the loop: writes what the session sent and we had not yet passed on,
  /// and says why the session did not run, if it did not.
  ClientSessionResult finish(const session::ClientConnection& conn, const std::string& connect_error);

 private:
  void on(session::ClientConnection& c, connection::OpenConfirmed& e);
  void on(session::ClientConnection& c, connection::OpenFailed& e) {
    // Server text, shown to the user: made safe like every other.
    result_.error = "channel open failed: " + userauth::sanitize_server_text(e.description, 256, false);
    c.disconnect(transport::DisconnectReason::by_application, "channel open failed");
  }
  void on(session::ClientConnection& c, connection::RequestReply& e);
  void on(session::ClientConnection&, connection::Data& e) {
    detail::queue_input(bridge_, e.extended == 1 ? bridge_->to_stderr : bridge_->to_stdout, e.bytes);
  }
  void on(session::ClientConnection&, connection::Writable&) { detail::pump_out(bridge_, bridge_->from_stdin); }
  void on(session::ClientConnection& c, connection::Request& e);
  void on(session::ClientConnection& c, connection::Closed&) {
    // As ssh: the session is over when the server closes the channel, whatever
    // our stdin is (a terminal or a pipe that stays open). A read still waiting
    // on it would keep the loop, and parley, alive until the user typed ^D.
    // Forwarded connections still open are served to their end (as ssh).
    bridge_->io = nullptr;
    bridge_->stop_local_io();
    session_over_ = true;
    forwarding_changed(c);
  }
  void on(session::ClientConnection& c, connection::GlobalRequest& e) {
    if (e.want_reply) c.channels().global_reply(false);  // as ssh: hostkeys-00 etc.
  }
  template <class Other>
  void on(session::ClientConnection&, Other&) {}  // nothing to do

  /// The local descriptors, handed to the bridge once the channel is open.
  void bridge_to(session::ClientConnection& c, connection::ChannelId id);
  void open_session(session::ClientConnection& c);
  void forwarding_changed(session::ClientConnection& c);
  void fail(session::ClientConnection& c, const std::string& why) {
    if (result_.error.empty()) result_.error = why;
    stop();
    c.disconnect(transport::DisconnectReason::by_application, "disconnected by user");
  }
  /// A line for the user, as ssh prints its warnings (CR LF once the terminal is raw).
  void report(const std::string& line) {
    const std::string text = line + (options_.pty && started_ ? "\r\n" : "\n");
    (void)!::write(options_.stderr_fd, text.data(), text.size());
  }

  const ClientSessionOptions& options_;
  LocalFd in_, out_, err_;
  std::shared_ptr<Bridge> bridge_;
  std::unique_ptr<ClientChannelIo> channel_io_;
  std::size_t replies_expected_ = 0;
  bool started_ = false;
  bool session_waits_ = false;  // for the -R replies (ExitOnForwardFailure)
  bool session_over_ = false;   // the session channel closed
  ClientSessionResult result_;
  detail::ClientForwarding forwarding_;
};

void SessionRun::open_session(session::ClientConnection& c) {
  if (const auto& w = options_.stdio_forward) {
    // As ssh -W: the originator is 127.0.0.1 port 65535.
    if (c.channels().open("direct-tcpip", connection::encode(connection::TcpipOpen{w->host, w->port, "127.0.0.1", 65535})))
      return;
  } else if (c.channels().open("session")) {
    return;
  }
  fail(c, "cannot open a session channel");
}

void SessionRun::forwarding_changed(session::ClientConnection& c) {
  if (!forwarding_.failure().empty()) return fail(c, forwarding_.failure());
  if (session_waits_ && forwarding_.settled()) {
    session_waits_ = false;
    open_session(c);
  }
  if (session_over_ && forwarding_.channels() == 0) {
    stop();
    c.disconnect(transport::DisconnectReason::by_application, "disconnected by user");
  }
}

void SessionRun::on(session::ClientConnection& c, connection::OpenConfirmed& e) {
  if (options_.stdio_forward) {  // -W: bytes only, no requests
    started_ = true;
    bridge_to(c, e.id);
    return;
  }
  if (options_.on_session_start) options_.on_session_start();
  for (const auto& v : options_.env) c.channels().request(e.id, "env", false, connection::encode(v));
  if (options_.pty) {
    c.channels().request(e.id, "pty-req", true, connection::encode(*options_.pty));
    ++replies_expected_;
  }
  connection::StartRequest start;
  using Kind = connection::StartRequest::Kind;
  start.kind = options_.subsystem ? Kind::subsystem : options_.command.empty() ? Kind::shell : Kind::exec;
  start.command = options_.command;
  c.channels().request(e.id, connection::request_type(start), true, connection::encode(start));
  ++replies_expected_;
  bridge_to(c, e.id);
}

void SessionRun::bridge_to(session::ClientConnection& c, connection::ChannelId id) {
  channel_io_ = std::make_unique<ClientChannelIo>(c, id);
  Bridge& b = *bridge_;
  b.io = channel_io_.get();
  b.in = std::move(in_.descriptor);
  b.out = std::move(out_.descriptor);
  b.err = std::move(err_.descriptor);
  b.from_stdin = detail::OutFlow<Descriptor>{b.in.get(), 0, false, b.in == nullptr, false};
  b.to_stdout.stream = b.out.get();
  b.to_stdout.done = b.out == nullptr;
  b.to_stderr.stream = b.err.get();
  b.to_stderr.done = b.err == nullptr;
  detail::pump_out(bridge_, b.from_stdin);
}

void SessionRun::on(session::ClientConnection& c, connection::RequestReply& e) {
  if (replies_expected_ == 0) return;
  --replies_expected_;
  if (replies_expected_ == 0) {  // the start request's reply
    started_ = e.success;
    if (!e.success) {
      result_.error = (options_.subsystem ? "subsystem" : options_.command.empty() ? "shell" : "exec") +
                      std::string(" request failed on channel 0");
      c.channels().close(e.id);
    }
  } else if (!e.success) {
    // As ssh: a refused terminal is reported and the session goes on.
    const std::string_view text = "PTY allocation request failed on channel 0\r\n";
    (void)!::write(options_.stderr_fd, text.data(), text.size());
  }
}

void SessionRun::on(session::ClientConnection& c, connection::Request& e) {
  if (e.type == "exit-status") {
    if (auto s = connection::parse_exit_status(e.data)) result_.exit_status = s->status;
  } else if (e.type == "exit-signal") {
    if (auto s = connection::parse_exit_signal(e.data)) {
      // The signal name and message are the server's words, printed by parley.
      s->name = userauth::sanitize_server_text(s->name, 64, false);
      s->message = userauth::sanitize_server_text(s->message, 256, false);
      result_.exit_signal = std::move(*s);
    }
  } else if (e.want_reply) {
    c.channels().reply(e.id, false);
  }
}

ClientSessionResult SessionRun::finish(const session::ClientConnection& conn, const std::string& connect_error) {
  drain(options_.stdout_fd, bridge_->to_stdout);
  drain(options_.stderr_fd, bridge_->to_stderr);
  bridge_->io = nullptr;
  if (!result_.error.empty()) return result_;
  // -W ends well when its channel closes: no command, so no status but 0 (as ssh).
  if (options_.stdio_forward && started_ && conn.authenticated() && !result_.exit_status) result_.exit_status = 0;
  if (conn.server_alive_timed_out()) {
    result_.error = "Timeout, server " + conn.host().host + " not responding.";  // as ssh
  } else if (!connect_error.empty()) {
    result_.error = connect_error;
  } else if (auto auth = conn.auth_result(); auth && std::holds_alternative<userauth::ClientAuthFailed>(*auth)) {
    result_.error = std::get<userauth::ClientAuthFailed>(*auth).reason;
  } else if (!conn.authenticated()) {
    const auto& d = conn.disconnected();
    result_.error = d ? "Connection closed: " + d->description : "Connection closed";
  } else if (!options_.open_session && !options_.stdio_forward) {  // -N ends only when the server ends it
    const auto& d = conn.disconnected();
    result_.error = "Connection to " + conn.host().host + " closed by remote host" +
                    (d && !d->description.empty() ? ": " + userauth::sanitize_server_text(d->description, 256, false) : "");
  } else if (!started_ && !result_.exit_status && !result_.exit_signal) {
    result_.error = "the session ended before it started";
  }
  return result_;
}

/// ConnectTimeout: unless `conn` has authenticated (or closed) by then, `error`
/// says so and `socket` is closed, which ends the connect or the drive.
template <class Socket>
void arm_connect_deadline(asio::steady_timer& deadline, std::chrono::milliseconds connect_timeout,
                          session::ClientConnection& conn, Socket& socket, std::string& error) {
  deadline.expires_after(connect_timeout);
  deadline.async_wait([&conn, &socket, &error](std::error_code wec) {
    if (wec || conn.authenticated() || conn.closed()) return;
    error = "Connection timed out during banner exchange or authentication";
    std::error_code ignored;
    socket.close(ignored);
  });
}

/// Resolves and connects to host:port, then drives `conn` until it closes;
/// `connect_timeout` bounds everything up to authentication. Why it could not
/// connect goes to `error`.
asio::awaitable<void> connect_and_drive(asio::any_io_executor ex, const std::string& host, std::uint16_t port,
                                        session::ClientConnection& conn, const ClientSessionOptions& options,
                                        std::chrono::milliseconds connect_timeout, std::string& error) {
  tcp::resolver resolver(ex);
  std::error_code ec;
  auto endpoints =
      co_await resolver.async_resolve(host, std::to_string(port), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    error = "Could not resolve hostname " + host + ": " + ec.message();
    co_return;
  }
  tcp::socket socket(ex);
  asio::steady_timer deadline(ex);
  arm_connect_deadline(deadline, connect_timeout, conn, socket, error);
  bool timed_out = false;
  for (unsigned attempt = 1;; ++attempt) {
    co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec || attempt >= std::max(1u, options.connection_attempts) || !error.empty()) break;
    // As ssh: ConnectionAttempts, a second apart.
    asio::steady_timer pause(ex);
    pause.expires_after(std::chrono::seconds(1));
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!error.empty()) break;  // the connect timeout passed meanwhile
    socket = tcp::socket(ex);
  }
  timed_out = !error.empty();
  if (ec || timed_out) {
    if (!timed_out) error = "connect to host " + host + " port " + std::to_string(port) + ": " + ec.message();
    deadline.cancel();
    co_return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  socket.set_option(asio::socket_base::keep_alive(options.tcp_keepalive), ec);  // TCPKeepAlive
  asio::steady_timer timer(ex);
  co_await detail::drive(socket, timer, conn);
  deadline.cancel();
}

/// ProxyCommand: `/bin/sh -c "exec COMMAND"` with one end of a socketpair as its
/// standard input and output (its standard error is ours, as ssh leaves it).
/// Returns our end, or why it could not start.
std::expected<std::pair<int, pid_t>, std::string> start_proxy(const std::string& command) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
    return std::unexpected(std::string("ProxyCommand: socketpair: ") + std::strerror(errno));
  const std::string script = "exec " + command;  // made before fork: the child only dups and execs
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(ends[0]);
    ::close(ends[1]);
    return std::unexpected(std::string("ProxyCommand: fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // dup2 leaves the copies without FD_CLOEXEC: they survive the exec, nothing else does.
    if (::dup2(ends[1], 0) < 0 || ::dup2(ends[1], 1) < 0) ::_exit(127);
    // The command starts with the signals as a shell expects them (parley blocks and
    // ignores some), so SIGHUP ends it and a closed pipe stops it.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGHUP, SIG_DFL);
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(ends[1]);
  return std::pair{ends[0], pid};
}

/// Ends a ProxyCommand once the connection is over, as ssh does (SIGHUP), and reaps it;
/// one that ignores SIGHUP for a second is killed.
void end_proxy(pid_t pid) {
  ::kill(pid, SIGHUP);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) != 0) return;
    ::usleep(10000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

/// As connect_and_drive() over a ProxyCommand's standard input and output.
asio::awaitable<void> proxy_and_drive(asio::any_io_executor ex, session::ClientConnection& conn,
                                      const ClientSessionOptions& options,
                                      std::chrono::milliseconds connect_timeout, std::string& error) {
  auto started = start_proxy(options.proxy_command);
  if (!started) {
    error = started.error();
    co_return;
  }
  const auto [fd, pid] = *started;
  asio::local::stream_protocol::socket socket(ex);
  std::error_code ec;
  socket.assign(asio::local::stream_protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    end_proxy(pid);
    error = "ProxyCommand: " + ec.message();
    co_return;
  }
  asio::steady_timer deadline(ex);
  arm_connect_deadline(deadline, connect_timeout, conn, socket, error);
  asio::steady_timer timer(ex);
  try {
    co_await detail::drive(socket, timer, conn);
  } catch (...) {
    deadline.cancel();
    end_proxy(pid);
    throw;
  }
  deadline.cancel();
  end_proxy(pid);
}

}  // namespace

ClientSessionResult run_session(const std::string& host, std::uint16_t port,
                                session::ClientConnection& conn, const ClientSessionOptions& options,
                                std::chrono::milliseconds connect_timeout) {
  asio::io_context io(1);
  auto ex = io.get_executor();
  SessionRun run(ex, options);
  conn.on_authenticated = [&run](session::ClientConnection& c) { run.authenticated(c); };
  conn.on_channel_event = [&run](session::ClientConnection& c, connection::Event& e) { run.event(c, e); };
  conn.answers_channel_opens = true;  // the forwarding answers them (-R), refusing the others
  std::string connect_error;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          if (options.proxy_command.empty())
            co_await connect_and_drive(ex, host, port, conn, options, connect_timeout, connect_error);
          else
            co_await proxy_and_drive(ex, conn, options, connect_timeout, connect_error);
        } catch (const std::exception& e) {
          connect_error = std::string("connection failed: ") + e.what();
        }
        run.stop();
      },
      asio::detached);
  io.run();
  return run.finish(conn, connect_error);
}

}  // namespace parley::driver

// Channel handlers backed by real I/O: processes for sessions, TCP sockets for
// forwarding. Everything here runs on the connection's thread.
//
// Flow control both ways without buffers that grow: a stream is read only
// while its channel has room (the client's window and the connection's output
// backlog), into the per-thread buffer, and written straight to the channel;
// client input is held only until the stream takes it, and the client's window
// grows as it does, so what is held never exceeds the window we granted.
#include <signal.h>
#include <sys/ioctl.h>

#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "context.hpp"
#include "pumps.hpp"
#include "tcp_channels.hpp"
#include "parley/driver/services.hpp"
#include "parley/login/session_start.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::driver {

ConnectionContext::ConnectionContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConnectionContext::~ConnectionContext() = default;
const PeerInfo& ConnectionContext::peer() const { return impl_->peer; }
const PeerInfo& ConnectionContext::local() const { return impl_->local; }
void ConnectionContext::post(std::function<void()> fn) { asio::post(impl_->executor, std::move(fn)); }

namespace {

using detail::InFlow;
using detail::OutFlow;
using detail::pump_in;
using detail::pump_out;
using detail::queue_input;
using Descriptor = asio::posix::stream_descriptor;
using connection::ChannelIo;

// ---- processes -------------------------------------------------------------

login::ProgramKind program_kind(connection::StartRequest::Kind kind) {
  switch (kind) {
    case connection::StartRequest::Kind::shell: return login::ProgramKind::shell;
    case connection::StartRequest::Kind::exec: return login::ProgramKind::exec;
    case connection::StartRequest::Kind::subsystem: return login::ProgramKind::subsystem;
  }
  return login::ProgramKind::shell;
}

/// A session channel's program: started through the connection's
/// SessionStarter, its streams pumped on the connection's thread.
class ProcessState : public std::enable_shared_from_this<ProcessState> {
 public:
  ProcessState(ConnectionContext& context, std::shared_ptr<SessionStarter> starter,
               std::function<void(std::string_view)> log, std::string user, std::string sftp_server)
      : executor_(context.impl().executor), starter_(std::move(starter)), log_(std::move(log)),
        user_(std::move(user)), sftp_server_(std::move(sftp_server)) {}

  ChannelIo* io = nullptr;  // null once the channel is gone
  const asio::any_io_executor& executor() const { return executor_; }

  bool set_pty(const connection::PtyRequest& p) {
    pty_ = login::TerminalRequest{p.term, p.cols, p.rows, p.width_px, p.height_px, p.modes};
    return true;
  }
  bool add_env(const connection::EnvRequest& e) {
    if (env_.size() >= 256) return false;
    env_.emplace_back(e.name, e.value);
    return true;
  }
  bool start(const connection::StartRequest& request);
  void data(BytesView d) {
    if (in_.stream == nullptr && phase_ == Phase::starting) {
      // Started asynchronously (by a monitor): held for the program, not
      // consumed, so the client's window bounds it.
      in_.pending.insert(in_.pending.end(), d.begin(), d.end());
      return;
    }
    if (in_.stream == nullptr) {  // not started: nothing reads it
      if (io) io->consumed(d.size());
      return;
    }
    queue_input(shared_from_this(), in_, d);
  }
  void eof() {
    if (master_) return;  // a terminal has no EOF to pass on (OpenSSH ignores it too)
    in_.eof = true;  // while starting: passed on once the program runs
    if (in_.stream != nullptr) pump_in(shared_from_this(), in_);
  }
  void writable() {
    auto self = shared_from_this();
    pump_out(self, out_);
    pump_out(self, err_);
  }
  void resize(const connection::WindowChange& w) {
    if (!master_) return;
    winsize ws{};
    ws.ws_col = static_cast<unsigned short>(w.cols);
    ws.ws_row = static_cast<unsigned short>(w.rows);
    ws.ws_xpixel = static_cast<unsigned short>(w.width_px);
    ws.ws_ypixel = static_cast<unsigned short>(w.height_px);
    ::ioctl(master_->native_handle(), TIOCSWINSZ, &ws);  // the kernel sends SIGWINCH
  }
  bool signal(std::string_view name) {
    const int sig = login::signal_number(name);
    if (sig == 0 || !process_ || status_) return false;
    return process_->signal(sig);
  }
  void closed() {
    io = nullptr;
    if (process_ && !status_) process_->signal(SIGHUP);  // as a terminal hang-up would
    master_.reset();
    stdout_.reset();
    stderr_.reset();
    stdin_.reset();
    // The exit watch stays: it holds this state until the process is reaped.
  }

  // Flow callbacks.
  void output_done() { try_finish(); }
  void input_eof() { stdin_.reset(); }  // the program sees EOF on stdin
  void input_failed() {}

 private:
  enum class Phase { idle, starting, running, failed };
  void log(std::string_view line) const {
    if (log_) log_(line);
  }
  void started(std::expected<SessionStarter::Started, std::string> result);
  /// Takes our ends of `streams` as the flows' streams.
  void own_streams(SessionStreams& streams);
  void exited(login::ProgramExit exit);
  void try_finish();

  asio::any_io_executor executor_;
  std::shared_ptr<SessionStarter> starter_;
  std::function<void(std::string_view)> log_;
  std::string user_;
  std::string sftp_server_;
  std::optional<login::TerminalRequest> pty_;
  std::vector<std::pair<std::string, std::string>> env_;
  Phase phase_ = Phase::idle;
  bool in_start_ = false;  // inside starter_->start(): a refusal is start()'s answer
  std::shared_ptr<SessionProcess> process_;
  std::optional<login::ProgramExit> status_;
  bool finished_ = false;
  std::unique_ptr<Descriptor> master_, stdout_, stderr_, stdin_;
  OutFlow<Descriptor> out_, err_;
  InFlow<Descriptor> in_;
};

bool ProcessState::start(const connection::StartRequest& request) {
  if (phase_ != Phase::idle) return false;
  // What no program serves is refused now, not after a monitor's answer
  // (RFC 4254 §6.5: the request fails; an in-process start fails the same way).
  if (!login::names_a_program(program_kind(request.kind), request.command, sftp_server_)) {
    phase_ = Phase::failed;
    return false;
  }
  phase_ = Phase::starting;
  SessionStartRequest r{user_, program_kind(request.kind), request.command, pty_, env_};
  auto self = shared_from_this();
  in_start_ = true;
  starter_->start(
      std::move(r), [self](auto result) { self->started(std::move(result)); },
      [self](login::ProgramExit exit) { self->exited(exit); });
  in_start_ = false;
  // Answered later (by a monitor): the channel request succeeds now and the
  // channel closes if the program does not start.
  return phase_ != Phase::failed;
}

void ProcessState::started(std::expected<SessionStarter::Started, std::string> result) {
  if (!result) {
    log(result.error());
    phase_ = Phase::failed;
    if (!in_start_ && io != nullptr) io->close();
    return;
  }
  phase_ = Phase::running;
  process_ = std::move(result->process);
  if (io == nullptr) {  // the channel went while the program started
    closed();
    return;
  }
  own_streams(result->streams);
  writable();
  if (!in_.pending.empty() || in_.eof) pump_in(shared_from_this(), in_);  // what came while it started
}

void ProcessState::own_streams(SessionStreams& streams) {
  auto own = [&](UniqueFd& fd) {
    auto d = std::make_unique<Descriptor>(executor_, fd.release());
    std::error_code ec;
    d->non_blocking(true, ec);  // Asio's read_some/write_some must not wait
    return d;
  };
  // Input that arrived while the program started is kept; so is an EOF, but
  // not for a terminal (which has none to pass on).
  InFlow<Descriptor> held = std::move(in_);
  in_ = InFlow<Descriptor>{};
  in_.done = false;
  in_.pending = std::move(held.pending);
  if (streams.master.get() >= 0) {
    master_ = own(streams.master);
    out_ = OutFlow<Descriptor>{master_.get(), 0, false, false, false};
    in_.stream = master_.get();
    return;
  }
  in_.eof = held.eof;
  stdin_ = own(streams.stdin_w);
  stdout_ = own(streams.stdout_r);
  stderr_ = own(streams.stderr_r);
  out_ = OutFlow<Descriptor>{stdout_.get(), 0, false, false, false};
  err_ = OutFlow<Descriptor>{stderr_.get(), 1, false, false, false};
  in_.stream = stdin_.get();
}

void ProcessState::exited(login::ProgramExit exit) {
  status_ = exit;
  if (io == nullptr) return;
  if (master_) {
    // The terminal stays open while anything the shell left behind holds it:
    // send what is there now and finish, as sshd does.
    auto self = shared_from_this();
    out_.drain_only = true;
    if (out_.waiting) {
      master_->cancel();  // the pending wait ends; drain from here
      out_.waiting = false;
    }
    pump_out(self, out_);
  }
  try_finish();
}

void ProcessState::try_finish() {
  if (finished_ || !status_ || io == nullptr) return;
  if (!out_.done || !err_.done) return;
  finished_ = true;
  if (status_->signalled) {
    io->exit_signal(connection::ExitSignal{login::signal_name(status_->code), status_->core_dumped, ""});
  } else {
    io->exit_status(static_cast<std::uint32_t>(status_->code));
  }
  io->eof();
  io->close();
}

class ProcessSession final : public connection::ChannelHandler {
 public:
  explicit ProcessSession(std::shared_ptr<ProcessState> s) : s_(std::move(s)) {}
  ~ProcessSession() override { s_->closed(); }

  bool attach(ChannelIo& io) override {
    s_->io = &io;
    return true;
  }
  void on_data(BytesView data) override { s_->data(data); }
  void on_eof() override { s_->eof(); }
  void on_writable() override { s_->writable(); }
  void on_closed() override { s_->closed(); }
  bool on_pty(const connection::PtyRequest& p) override { return s_->set_pty(p); }
  bool on_env(const connection::EnvRequest& e) override { return s_->add_env(e); }
  bool on_start(const connection::StartRequest& r) override { return s_->start(r); }
  void on_window_change(const connection::WindowChange& w) override { s_->resize(w); }
  bool on_signal(std::string_view name) override { return s_->signal(name); }

 private:
  std::shared_ptr<ProcessState> s_;
};

class StandardServices final : public connection::ChannelServices {
 public:
  StandardServices(ConnectionContext& context, std::shared_ptr<const ProcessOptions> options,
                   SessionFactory session_override)
      : context_(context), options_(std::move(options)), override_(std::move(session_override)) {}

  std::unique_ptr<connection::ChannelHandler> session(std::string_view user) override {
    const std::string u(user);
    if (override_)
      if (auto h = override_(context_, u)) return h;
    return make_process_session(context_, *options_, u);
  }

  std::unique_ptr<connection::ChannelHandler> connect(const connection::TcpipOpen& target) override {
    return detail::tcp_connect_channel(context_.impl().executor, opener(), target);
  }

  std::expected<std::unique_ptr<connection::Listener>, std::string> listen(
      const connection::ForwardRequest& bind, connection::AcceptHandler accepted) override {
    return detail::tcp_listen(context_, *opener(), bind, std::move(accepted));
  }

 private:
  /// The connection's ForwardOpener, made on first use.
  const std::shared_ptr<ForwardOpener>& opener() {
    if (!opener_)
      opener_ = options_->forward_opener ? options_->forward_opener(context_) : in_process_forward_opener(context_);
    return opener_;
  }

  ConnectionContext& context_;
  std::shared_ptr<const ProcessOptions> options_;  // shared: not a copy per connection
  SessionFactory override_;
  std::shared_ptr<ForwardOpener> opener_;
};

}  // namespace

std::unique_ptr<connection::ChannelHandler> make_process_session(ConnectionContext& context,
                                                                 const ProcessOptions& options,
                                                                 std::string user) {
  auto starter = options.session_starter ? options.session_starter(context)
                                         : in_process_session_starter(context, options);
  return std::make_unique<ProcessSession>(
      std::make_shared<ProcessState>(context, std::move(starter), options.log, std::move(user), options.sftp_server));
}

std::unique_ptr<connection::ChannelServices> make_channel_services(ConnectionContext& context,
                                                                   ProcessOptions options,
                                                                   SessionFactory session_override) {
  return make_channel_services(context, std::make_shared<const ProcessOptions>(std::move(options)),
                               std::move(session_override));
}

std::unique_ptr<connection::ChannelServices> make_channel_services(ConnectionContext& context,
                                                                   std::shared_ptr<const ProcessOptions> options,
                                                                   SessionFactory session_override) {
  return std::make_unique<StandardServices>(context, std::move(options), std::move(session_override));
}

}  // namespace parley::driver

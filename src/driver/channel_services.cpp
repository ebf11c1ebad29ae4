// Channel handlers backed by real I/O: processes for sessions, TCP sockets for
// forwarding. Everything here runs on the connection's thread.
//
// Flow control both ways without buffers that grow: a stream is read only
// while its channel has room (the client's window and the connection's output
// backlog), into the per-thread buffer, and written straight to the channel;
// client input is held only until the stream takes it, and the client's window
// grows as it does, so what is held never exceeds the window we granted.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "context.hpp"
#include "pumps.hpp"
#include "tcp_channels.hpp"
#include "parley/driver/services.hpp"
#include "parley/login/records.hpp"
#include "parley/login/spawn.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/unique_fd.hpp"

extern char** environ;

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
using asio::ip::tcp;
using Descriptor = asio::posix::stream_descriptor;
using connection::ChannelIo;

// ---- processes -------------------------------------------------------------

struct SignalName {
  const char* name;
  int number;
};
// RFC 4254 §6.10 signal names.
constexpr SignalName signal_names[] = {
    {"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"FPE", SIGFPE},   {"HUP", SIGHUP},
    {"ILL", SIGILL},   {"INT", SIGINT},   {"KILL", SIGKILL}, {"PIPE", SIGPIPE},
    {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2},
};

int signal_number(std::string_view name) {
  for (const auto& s : signal_names)
    if (name == s.name) return s.number;
  return 0;
}

std::string signal_name(int number) {
  for (const auto& s : signal_names)
    if (number == s.number) return s.name;
  return std::to_string(number) + "@parley";
}

/// Applies RFC 4254 §8 encoded terminal modes to `t`. Unknown opcodes are skipped
/// (each carries a uint32); parsing stops at TTY_OP_END or an opcode >= 160.
void apply_modes(BytesView modes, termios& t) {
  struct Flag {
    std::uint8_t op;
    tcflag_t termios::*field;
    tcflag_t bit;
  };
  static constexpr std::pair<std::uint8_t, int> chars[] = {
      {1, VINTR}, {2, VQUIT}, {3, VERASE}, {4, VKILL},  {5, VEOF},      {6, VEOL},
      {7, VEOL2}, {8, VSTART}, {9, VSTOP}, {10, VSUSP}, {12, VREPRINT}, {13, VWERASE},
      {14, VLNEXT}, {18, VDISCARD}};
  static const Flag flags[] = {
      {30, &termios::c_iflag, IGNPAR}, {31, &termios::c_iflag, PARMRK}, {32, &termios::c_iflag, INPCK},
      {33, &termios::c_iflag, ISTRIP}, {34, &termios::c_iflag, INLCR},  {35, &termios::c_iflag, IGNCR},
      {36, &termios::c_iflag, ICRNL},  {38, &termios::c_iflag, IXON},   {39, &termios::c_iflag, IXANY},
      {40, &termios::c_iflag, IXOFF},  {41, &termios::c_iflag, IMAXBEL}, {42, &termios::c_iflag, IUTF8},
      {50, &termios::c_lflag, ISIG},   {51, &termios::c_lflag, ICANON}, {53, &termios::c_lflag, ECHO},
      {54, &termios::c_lflag, ECHOE},  {55, &termios::c_lflag, ECHOK},  {56, &termios::c_lflag, ECHONL},
      {57, &termios::c_lflag, NOFLSH}, {58, &termios::c_lflag, TOSTOP}, {59, &termios::c_lflag, IEXTEN},
      {60, &termios::c_lflag, ECHOCTL}, {61, &termios::c_lflag, ECHOKE}, {62, &termios::c_lflag, PENDIN},
      {70, &termios::c_oflag, OPOST},  {72, &termios::c_oflag, ONLCR},  {73, &termios::c_oflag, OCRNL},
      {74, &termios::c_oflag, ONOCR},  {75, &termios::c_oflag, ONLRET}, {92, &termios::c_cflag, PARENB},
      {93, &termios::c_cflag, PARODD}};
  wire::Reader r(modes);
  while (r.remaining() > 0) {
    const std::uint8_t op = r.byte();
    if (op == 0 || op >= 160) break;
    const std::uint32_t arg = r.uint32();
    if (!r.ok()) break;
    for (const auto& [code, index] : chars)
      if (code == op) t.c_cc[index] = static_cast<cc_t>(arg);
    for (const auto& f : flags)
      if (f.op == op) {
        if (arg != 0)
          t.*f.field |= f.bit;
        else
          t.*f.field &= ~f.bit;
      }
    if (op == 90 || op == 91) {  // CS7 / CS8
      t.c_cflag &= ~CSIZE;
      t.c_cflag |= (op == 91) == (arg != 0) ? CS8 : CS7;
    }
  }
}

/// The account a session of `user` runs as: the one run_as names, or ours.
std::expected<login::Account, std::string> session_account(const ProcessOptions& options,
                                                           const std::string& user) {
  if (options.run_as) return options.run_as(user);
  return login::current_account();
}

using Fd = parley::UniqueFd;

/// A session process's standard streams: a terminal's master and slave, or
/// three pipes (our end and the program's of each).
struct ProcessFds {
  Fd master, slave, in_r, in_w, out_r, out_w, err_r, err_w;
  std::string tty;  // the terminal's name, empty for pipes
};

/// The program a session runs and its argv (argv[0] included).
struct SessionProgram {
  std::string path;
  std::vector<std::string> argv;
};

class ProcessState : public std::enable_shared_from_this<ProcessState> {
 public:
  ProcessState(ConnectionContext& context, ProcessOptions options, std::string user)
      : executor_(context.impl().executor),
        peer_(context.peer()),
        local_(context.local()),
        options_(std::move(options)),
        user_(std::move(user)) {}

  ChannelIo* io = nullptr;  // null once the channel is gone
  const asio::any_io_executor& executor() const { return executor_; }

  bool set_pty(const connection::PtyRequest& p) {
    pty_ = p;
    return true;
  }
  bool add_env(const connection::EnvRequest& e) {
    if (env_.size() >= 256) return false;
    env_.push_back(e);
    return true;
  }
  bool start(const connection::StartRequest& request);
  void data(BytesView d) {
    if (in_.stream == nullptr) {  // not started: nothing reads it
      if (io) io->consumed(d.size());
      return;
    }
    queue_input(shared_from_this(), in_, d);
  }
  void eof() {
    if (master_) return;  // a terminal has no EOF to pass on (OpenSSH ignores it too)
    in_.eof = true;
    pump_in(shared_from_this(), in_);
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
    const int sig = signal_number(name);
    if (sig == 0 || pid_ <= 0 || status_) return false;
    return ::kill(-pid_, sig) == 0 || ::kill(pid_, sig) == 0;
  }
  void closed() {
    io = nullptr;
    if (pid_ > 0 && !status_) ::kill(-pid_, SIGHUP);  // as a terminal hang-up would
    master_.reset();
    stdout_.reset();
    stderr_.reset();
    stdin_.reset();
    // The pidfd wait stays: it holds this state until the process is reaped.
  }

  // Flow callbacks.
  void output_done() { try_finish(); }
  void input_eof() { stdin_.reset(); }  // the program sees EOF on stdin
  void input_failed() {}

 private:
  std::vector<std::string> environment(const login::Account& account, const std::string& shell,
                                       const std::string& tty) const;
  void log(std::string_view line) const {
    if (options_.log) options_.log(line);
  }
  bool open_terminal(ProcessFds& fds, const login::Account& account, bool give_to_account);
  /// Starts the program; its pidfd, or nullopt (logged) if it did not start.
  std::optional<int> spawn(const login::SpawnSpec& spec, const login::Account& account, const std::string& tty);
  /// Takes our ends of `fds` as the flows' streams.
  void own_streams(ProcessFds& fds);
  void end_login_record();
  void watch_exit(int pidfd);
  void try_finish();

  asio::any_io_executor executor_;
  PeerInfo peer_, local_;
  ProcessOptions options_;
  std::string user_;
  std::optional<connection::PtyRequest> pty_;
  std::vector<connection::EnvRequest> env_;
  pid_t pid_ = -1;
  std::optional<int> status_;
  bool finished_ = false;
  std::unique_ptr<Descriptor> master_, stdout_, stderr_, stdin_, pidfd_;
  std::optional<login::LoginRecord> record_;  // written to utmp at start: ended at exit
  OutFlow<Descriptor> out_, err_;
  InFlow<Descriptor> in_;
};

std::vector<std::string> ProcessState::environment(const login::Account& account, const std::string& shell,
                                                   const std::string& tty) const {
  std::vector<std::string> env;
  auto set = [&](const std::string& name, const std::string& value) {
    for (auto& e : env)
      if (e.compare(0, name.size() + 1, name + "=") == 0) {
        e = name + "=" + value;
        return;
      }
    env.push_back(name + "=" + value);
  };
  // The client's allowed variables first, so the login's own cannot be overridden.
  for (const auto& e : env_)
    if (!e.name.empty() && e.name.find('=') == std::string::npos &&
        e.name.find('\0') == std::string::npos && e.value.find('\0') == std::string::npos)
      set(e.name, e.value);
  // USER, LOGNAME and HOME are the account's the program runs as (what whoami
  // says); the name the client logged in with is PARLEY_USER, for programs that
  // serve several logins from one account (a virtual user's session_user).
  const std::string account_name = account.name.empty() ? user_ : account.name;
  set("USER", account_name);
  set("LOGNAME", account_name);
  set("HOME", account.home);
  set("MAIL", "/var/mail/" + account_name);
  set("PARLEY_USER", user_);
  set("SHELL", shell);
  set("PATH", options_.path);
  set("SSH_CLIENT", peer_.address + " " + std::to_string(peer_.port) + " " + std::to_string(local_.port));
  set("SSH_CONNECTION", peer_.address + " " + std::to_string(peer_.port) + " " + local_.address + " " +
                            std::to_string(local_.port));
  if (pty_) {
    set("TERM", pty_->term.empty() ? "dumb" : pty_->term);
    set("SSH_TTY", tty);
  }
  return env;
}

bool make_pipe(Fd& read_end, Fd& write_end) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return false;
  read_end = Fd(p[0]);
  write_end = Fd(p[1]);
  // Larger than the default 64 KiB, so a bulk transfer wakes the program (or us)
  // once per batch instead of per packet. The kernel takes pages only as data
  // fills the pipe, so an idle session pays nothing for it. Best effort.
  ::fcntl(p[0], F_SETPIPE_SZ, 1024 * 1024);
  return true;
}

bool open_pipes(ProcessFds& fds) {
  return make_pipe(fds.in_r, fds.in_w) && make_pipe(fds.out_r, fds.out_w) && make_pipe(fds.err_r, fds.err_w);
}

/// What runs for `request` under `shell`: a login shell, `shell -c command`, or
/// the sftp server; nullopt if it may not run.
std::optional<SessionProgram> session_program(const connection::StartRequest& request, const std::string& shell,
                                              const ProcessOptions& options) {
  const auto slash = shell.rfind('/');
  const std::string shell_name = slash == std::string::npos ? shell : shell.substr(slash + 1);
  switch (request.kind) {
    case connection::StartRequest::Kind::shell:
      return SessionProgram{shell, {"-" + shell_name}};  // a login shell, as login(1) and sshd start it
    case connection::StartRequest::Kind::exec:
      if (request.command.find('\0') != std::string::npos) return std::nullopt;
      return SessionProgram{shell, {shell_name, "-c", request.command}};
    case connection::StartRequest::Kind::subsystem:
      if (request.command != "sftp" || options.sftp_server.empty()) return std::nullopt;
      return SessionProgram{options.sftp_server, {options.sftp_server}};
  }
  return std::nullopt;
}

bool ProcessState::start(const connection::StartRequest& request) {
  if (pid_ > 0) return false;
  auto found = session_account(options_, user_);
  if (!found) {
    log("session refused: " + found.error());
    return false;
  }
  const login::Account& account = *found;
  // Another account's credentials: taken on in the child (we are root).
  std::optional<login::Credentials> as;
  if (options_.run_as) as = login::Credentials{account.uid, account.gid, account.groups};
  const std::string shell = options_.shell.empty() ? account.shell : options_.shell;
  auto program = session_program(request, shell, options_);
  if (!program) return false;

  login::SpawnSpec spec;
  ProcessFds fds;
  if (pty_ ? !open_terminal(fds, account, as.has_value()) : !open_pipes(fds)) return false;
  if (pty_) {
    spec.tty = fds.tty;
  } else {
    spec.stdin_fd = fds.in_r.get();
    spec.stdout_fd = fds.out_w.get();
    spec.stderr_fd = fds.err_w.get();
  }
  spec.program = std::move(program->path);
  spec.argv = std::move(program->argv);
  spec.env = environment(account, shell, fds.tty);
  spec.cwd = account.home;
  spec.as = std::move(as);
  const auto pidfd = spawn(spec, account, fds.tty);
  if (!pidfd) return false;
  own_streams(fds);
  watch_exit(*pidfd);
  writable();
  return true;
}

bool ProcessState::open_terminal(ProcessFds& fds, const login::Account& account, bool give_to_account) {
  fds.master = Fd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (fds.master.get() < 0 || ::grantpt(fds.master.get()) != 0 || ::unlockpt(fds.master.get()) != 0) return false;
  std::array<char, 128> name{};
  if (::ptsname_r(fds.master.get(), name.data(), name.size()) != 0) return false;
  fds.tty = name.data();
  fds.slave = Fd(::open(fds.tty.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (fds.slave.get() < 0) return false;
  // The terminal is the user's while the session runs (as login and sshd).
  if (give_to_account && !login::claim_terminal(fds.slave.get(), account.uid, account.gid)) {
    log("session refused: cannot give " + fds.tty + " to " + account.name + ": " + std::strerror(errno));
    return false;
  }
  termios t{};
  if (::tcgetattr(fds.slave.get(), &t) == 0) {
    apply_modes(pty_->modes, t);
    ::tcsetattr(fds.slave.get(), TCSANOW, &t);
  }
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(pty_->cols);
  ws.ws_row = static_cast<unsigned short>(pty_->rows);
  ws.ws_xpixel = static_cast<unsigned short>(pty_->width_px);
  ws.ws_ypixel = static_cast<unsigned short>(pty_->height_px);
  ::ioctl(fds.master.get(), TIOCSWINSZ, &ws);
  return true;
}

std::optional<int> ProcessState::spawn(const login::SpawnSpec& spec, const login::Account& account,
                                       const std::string& tty) {
  auto spawned = login::spawn(spec);
  if (!spawned) {
    log("session for " + account.name + " failed: " + spawned.error());
    return std::nullopt;
  }
  const pid_t pid = *spawned;
  pid_ = pid;
  if (pty_ && options_.login_records) {
    record_ = login::LoginRecord{account.name, account.uid, tty, peer_.address, pid};
    const std::string written = login::record_login(*record_);
    log("login recorded on " + tty + (written.empty() ? std::string(": no record file writable") : " in " + written));
  }
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {  // cannot watch it: do not leave it running unwatched
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid_ = -1;
    return std::nullopt;
  }
  return pidfd;
}

void ProcessState::own_streams(ProcessFds& fds) {
  auto own = [&](Fd& fd) {
    auto d = std::make_unique<Descriptor>(executor_, fd.release());
    std::error_code ec;
    d->non_blocking(true, ec);  // Asio's read_some/write_some must not wait
    return d;
  };
  in_ = InFlow<Descriptor>{};
  in_.done = false;
  if (pty_) {
    fds.slave.reset();
    master_ = own(fds.master);
    out_ = OutFlow<Descriptor>{master_.get(), 0, false, false, false};
    in_.stream = master_.get();
    return;
  }
  fds.in_r.reset();
  fds.out_w.reset();
  fds.err_w.reset();
  stdin_ = own(fds.in_w);
  stdout_ = own(fds.out_r);
  stderr_ = own(fds.err_r);
  out_ = OutFlow<Descriptor>{stdout_.get(), 0, false, false, false};
  err_ = OutFlow<Descriptor>{stderr_.get(), 1, false, false, false};
  in_.stream = stdin_.get();
}

void ProcessState::watch_exit(int pidfd) {
  pidfd_ = std::make_unique<Descriptor>(executor_, pidfd);
  pidfd_->async_wait(Descriptor::wait_read, [self = shared_from_this()](std::error_code) {
    int st = 0;
    if (::waitpid(self->pid_, &st, WNOHANG) != self->pid_) {
      // Cancelled before exit (the io_context is going away): reap it if we can.
      if (::waitpid(self->pid_, &st, WNOHANG) != self->pid_) return;
    }
    self->status_ = st;
    self->pidfd_.reset();
    self->end_login_record();
    if (self->io == nullptr) return;
    if (self->master_) {
      // The terminal stays open while anything the shell left behind holds it:
      // send what is there now and finish, as sshd does.
      self->out_.drain_only = true;
      if (!self->out_.waiting) {
        pump_out(self, self->out_);
      } else {
        self->master_->cancel();  // the pending wait ends; drain from here
        self->out_.waiting = false;
        pump_out(self, self->out_);
      }
    }
    self->try_finish();
  });
}

void ProcessState::end_login_record() {
  if (!record_) return;
  login::record_logout(*record_);
  record_.reset();
}

void ProcessState::try_finish() {
  if (finished_ || !status_ || io == nullptr) return;
  if (!out_.done || !err_.done) return;
  finished_ = true;
  const int st = *status_;
  if (WIFSIGNALED(st)) {
    io->exit_signal(connection::ExitSignal{signal_name(WTERMSIG(st)), WCOREDUMP(st) != 0, ""});
  } else {
    io->exit_status(static_cast<std::uint32_t>(WEXITSTATUS(st)));
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
  StandardServices(ConnectionContext& context, ProcessOptions options, SessionFactory session_override)
      : context_(context), options_(std::move(options)), override_(std::move(session_override)) {}

  std::unique_ptr<connection::ChannelHandler> session(std::string_view user) override {
    const std::string u(user);
    if (override_)
      if (auto h = override_(context_, u)) return h;
    return make_process_session(context_, options_, u);
  }

  std::unique_ptr<connection::ChannelHandler> connect(const connection::TcpipOpen& target) override {
    return detail::tcp_connect_channel(context_, target);
  }

  std::expected<std::unique_ptr<connection::Listener>, std::string> listen(
      const connection::ForwardRequest& bind, connection::AcceptHandler accepted) override {
    return detail::tcp_listen(context_, bind, std::move(accepted));
  }

 private:
  ConnectionContext& context_;
  ProcessOptions options_;
  SessionFactory override_;
};

}  // namespace

std::unique_ptr<connection::ChannelHandler> make_process_session(ConnectionContext& context,
                                                                 const ProcessOptions& options,
                                                                 std::string user) {
  return std::make_unique<ProcessSession>(
      std::make_shared<ProcessState>(context, options, std::move(user)));
}

std::unique_ptr<connection::ChannelServices> make_channel_services(ConnectionContext& context,
                                                                   ProcessOptions options,
                                                                   SessionFactory session_override) {
  return std::make_unique<StandardServices>(context, std::move(options), std::move(session_override));
}

}  // namespace parley::driver

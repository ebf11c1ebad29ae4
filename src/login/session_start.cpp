// start_session(): the program, its terminal or pipes, its environment, its
// login record, spawn() and the pidfd, for the in-process server and the monitor.
#include "parley/login/session_start.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "parley/login/spawn.hpp"
#include "parley/wire/reader.hpp"

namespace parley::login {
namespace {

using Fd = UniqueFd;

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

/// Applies RFC 4254 §8 encoded terminal modes to `t`. Each unknown opcode
/// carries a uint32 and is skipped.
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

std::vector<std::string> environment(const SessionRequest& request, const std::string& shell,
                                     const std::string& tty) {
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
  for (const auto& [name, value] : request.env)
    if (!name.empty() && name.find('=') == std::string::npos && name.find('\0') == std::string::npos &&
        value.find('\0') == std::string::npos)
      set(name, value);
  // USER, LOGNAME and HOME are the account's the program runs as (what whoami
  // says); the name the client logged in with is PARLEY_USER, for programs that
  // serve several logins from one account (a virtual user's session_user).
  const Account& account = request.account;
  const std::string account_name = account.name.empty() ? request.user : account.name;
  const auto& peer = request.peer;
  const auto& local = request.local;
  set("USER", account_name);
  set("LOGNAME", account_name);
  set("HOME", account.home);
  set("MAIL", "/var/mail/" + account_name);
  set("PARLEY_USER", request.user);
  set("SHELL", shell);
  set("PATH", request.path);
  set("SSH_CLIENT", peer.address + " " + std::to_string(peer.port) + " " + std::to_string(local.port));
  set("SSH_CONNECTION", peer.address + " " + std::to_string(peer.port) + " " + local.address + " " +
                            std::to_string(local.port));
  if (request.pty) {
    set("TERM", request.pty->term.empty() ? "dumb" : request.pty->term);
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
std::optional<SessionProgram> session_program(const SessionRequest& request, const std::string& shell) {
  const auto slash = shell.rfind('/');
  const std::string shell_name = slash == std::string::npos ? shell : shell.substr(slash + 1);
  switch (request.kind) {
    case ProgramKind::shell:
      return SessionProgram{shell, {"-" + shell_name}};  // a login shell, as login(1) and sshd start it
    case ProgramKind::exec:
      if (request.command.find('\0') != std::string::npos) return std::nullopt;
      return SessionProgram{shell, {shell_name, "-c", request.command}};
    case ProgramKind::subsystem:
      if (request.command != "sftp" || request.sftp_server.empty()) return std::nullopt;
      return SessionProgram{request.sftp_server, {request.sftp_server}};
  }
  return std::nullopt;
}

void set_size(int master, std::uint32_t cols, std::uint32_t rows, std::uint32_t width_px,
              std::uint32_t height_px) {
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(cols);
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_xpixel = static_cast<unsigned short>(width_px);
  ws.ws_ypixel = static_cast<unsigned short>(height_px);
  ::ioctl(master, TIOCSWINSZ, &ws);
}

/// Opens a pseudo-terminal for `request.pty`; an error says why not.
std::expected<void, std::string> open_terminal(ProcessFds& fds, const SessionRequest& request) {
  fds.master = Fd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (fds.master.get() < 0 || ::grantpt(fds.master.get()) != 0 || ::unlockpt(fds.master.get()) != 0)
    return std::unexpected(std::string("cannot open a terminal: ") + std::strerror(errno));
  std::array<char, 128> name{};
  if (::ptsname_r(fds.master.get(), name.data(), name.size()) != 0)
    return std::unexpected(std::string("cannot name the terminal: ") + std::strerror(errno));
  fds.tty = name.data();
  fds.slave = Fd(::open(fds.tty.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (fds.slave.get() < 0) return std::unexpected("cannot open " + fds.tty + ": " + std::strerror(errno));
  // The terminal is the user's while the session runs (as login and sshd).
  const Account& account = request.account;
  if (request.switch_user && !claim_terminal(fds.slave.get(), account.uid, account.gid))
    return std::unexpected("cannot give " + fds.tty + " to " + account.name + ": " + std::strerror(errno));
  apply_terminal_modes(fds.slave.get(), request.pty->modes);
  const TerminalRequest& p = *request.pty;
  set_size(fds.master.get(), p.cols, p.rows, p.width_px, p.height_px);
  return {};
}

/// Spawns `spec` and opens its pidfd; a program that cannot be watched is killed.
std::expected<std::pair<pid_t, Fd>, std::string> spawn_watched(const SpawnSpec& spec) {
  auto spawned = spawn(spec);
  if (!spawned) return std::unexpected(spawned.error());
  const pid_t pid = *spawned;
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.get() < 0) {  // cannot watch it: do not leave it running unwatched
    const std::string why = std::strerror(errno);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return std::unexpected("cannot watch the program (pidfd_open: " + why + ")");
  }
  return std::pair{pid, std::move(pidfd)};
}

}  // namespace

bool names_a_program(ProgramKind kind, const std::string& command, const std::string& sftp_server) {
  SessionRequest r;
  r.kind = kind;
  r.command = command;
  r.sftp_server = sftp_server;
  return session_program(r, "/bin/sh").has_value();
}

std::vector<std::pair<std::string, std::string>> assignments(const std::vector<std::string>& entries) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry : entries)
    if (const auto eq = entry.find('='); eq != std::string::npos && eq > 0)
      out.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  return out;
}

std::expected<StartedSession, std::string> start_session(const SessionRequest& request) {
  const Account& account = request.account;
  const std::string shell = request.shell.empty() ? account.shell : request.shell;
  auto program = session_program(request, shell);
  if (!program) return std::unexpected("no program for this request");
  ProcessFds fds;
  if (request.pty) {
    if (auto opened = open_terminal(fds, request); !opened) return std::unexpected(opened.error());
  } else if (!open_pipes(fds)) {
    return std::unexpected(std::string("cannot make pipes: ") + std::strerror(errno));
  }
  SpawnSpec spec;
  if (request.pty) {
    spec.tty = fds.tty;
  } else {
    spec.stdin_fd = fds.in_r.get();
    spec.stdout_fd = fds.out_w.get();
    spec.stderr_fd = fds.err_w.get();
  }
  spec.program = std::move(program->path);
  spec.argv = std::move(program->argv);
  spec.env = environment(request, shell, fds.tty);
  spec.cwd = account.home;
  if (request.switch_user) spec.as = Credentials{account.uid, account.gid, account.groups};
  auto watched = spawn_watched(spec);
  if (!watched) return std::unexpected("session for " + account.name + " failed: " + watched.error());
  StartedSession started;
  started.pid = watched->first;
  started.pidfd = std::move(watched->second);
  if (request.pty && request.login_records) {
    started.record = LoginRecord{account.name, account.uid, fds.tty, request.peer.address, started.pid};
    const std::string written = record_login(*started.record);
    started.note = "login recorded on " + fds.tty +
                   (written.empty() ? std::string(": no record file writable") : " in " + written);
  }
  started.master = std::move(fds.master);
  started.stdin_w = std::move(fds.in_w);
  started.stdout_r = std::move(fds.out_r);
  started.stderr_r = std::move(fds.err_r);
  return started;
}

ProgramExit ProgramExit::from_wait_status(int status) {
  if (WIFSIGNALED(status)) return {true, WTERMSIG(status), WCOREDUMP(status) != 0};
  return {false, WEXITSTATUS(status), false};
}

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

void apply_terminal_modes(int fd, BytesView modes) {
  termios t{};
  if (::tcgetattr(fd, &t) != 0) return;
  apply_modes(modes, t);
  ::tcsetattr(fd, TCSANOW, &t);
}

}  // namespace parley::login

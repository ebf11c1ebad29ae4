// Performs the monitor's actions with real processes and sockets: the one
// place in privsep, with channel.cpp, that touches the operating system.
#include "parley/privsep/executor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "parley/login/session_start.hpp"
#include "parley/userauth/server_text.hpp"

namespace parley::privsep {
namespace {

login::ProgramKind program_kind(SessionKind kind) {
  switch (kind) {
    case SessionKind::shell: return login::ProgramKind::shell;
    case SessionKind::exec: return login::ProgramKind::exec;
    case SessionKind::subsystem: return login::ProgramKind::subsystem;
  }
  return login::ProgramKind::shell;
}

std::expected<login::Account, std::string> named_account(const std::string& user) {
  auto found = login::find_account(user);
  if (!found) return std::unexpected(found.error());
  if (!*found) return std::unexpected("no account named " + user);
  return login::with_groups(std::move(**found));
}

login::SessionRequest session_request(const SpawnAction& a, login::Account account, const ExecutorOptions& o) {
  const SessionSpawn& m = a.request;
  login::SessionRequest r;
  r.kind = program_kind(m.kind);
  r.command = m.command;
  if (m.pty) r.pty = login::TerminalRequest{m.pty->term, m.pty->cols, m.pty->rows, m.pty->width_px,
                                            m.pty->height_px, m.pty->modes};
  for (const auto& e : m.env) r.env.emplace_back(e.name, e.value);
  r.user = a.user;
  r.account = std::move(account);
  // As root the program takes on the account's credentials; otherwise (a
  // test, or an embedding monitor) it runs as this process.
  r.switch_user = ::geteuid() == 0;
  r.shell = o.shell;
  r.sftp_server = o.sftp_server;
  r.path = o.path;
  r.peer = {a.peer_address, a.peer_port};
  r.local = {m.local_address, m.local_port};
  r.login_records = o.login_records;
  return r;
}

/// "" and "*" are every IPv4 address, "localhost" is 127.0.0.1 (as the
/// in-process listener); anything else must be a numeric address.
std::optional<std::pair<sockaddr_storage, socklen_t>> listen_address(std::string address, std::uint16_t port) {
  if (address.empty() || address == "*") address = "0.0.0.0";
  if (address == "localhost") address = "127.0.0.1";
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return std::pair{storage, static_cast<socklen_t>(sizeof(sockaddr_in))};
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return std::pair{storage, static_cast<socklen_t>(sizeof(sockaddr_in6))};
  }
  return std::nullopt;
}

/// "host:port" of a connect, for the log (the host is the client's text).
std::string where(const ConnectAction& a) {
  return userauth::printable_for_log(a.host, 256) + ":" + std::to_string(a.port);
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return 0;
  if (storage.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

}  // namespace

Executor::Executor(ExecutorOptions options) : options_(std::move(options)) {}
Executor::~Executor() = default;

std::vector<Outgoing> Executor::take_outgoing() { return std::exchange(outgoing_, {}); }
std::vector<std::pair<std::uint64_t, std::uint64_t>> Executor::take_ended() { return std::exchange(ended_, {}); }

void Executor::perform(Action action, Clock::time_point now) {
  std::visit(
      [&](auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, SpawnAction>) spawn(a);
        else if constexpr (std::is_same_v<T, SignalAction>) signal(a);
        else if constexpr (std::is_same_v<T, HangUpAction>) hang_up(a);
        else if constexpr (std::is_same_v<T, ConnectAction>) connect(a, now);
        else listen(a);
      },
      action);
}

std::expected<LoginSession*, std::string> Executor::login_for(const SpawnAction& a) {
  if (!options_.open_login) return nullptr;
  if (auto it = logins_.find(a.conn); it != logins_.end()) return it->second.get();
  auto opened = options_.open_login(a.user, a.peer_address);
  if (!opened) return std::unexpected("login session: " + opened.error());
  return logins_.emplace(a.conn, std::move(*opened)).first->second.get();
}

void Executor::close_login_if_idle(std::uint64_t conn) {
  auto it = logins_.find(conn);
  if (it == logins_.end()) return;
  for (const auto& [handle, child] : children_)
    if (child.conn == conn) return;
  logins_.erase(it);
}

void Executor::spawn(const SpawnAction& a) {
  auto started = [&]() -> std::expected<login::StartedSession, std::string> {
    auto account = options_.run_as ? options_.run_as(a.user) : named_account(a.user);
    if (!account) return std::unexpected("no account for " + a.user + ": " + account.error());
    auto session = login_for(a);
    if (!session) return std::unexpected(session.error());
    auto request = session_request(a, std::move(*account), options_);
    if (*session)
      for (auto& variable : login::assignments((*session)->environment())) request.env.push_back(std::move(variable));
    return login::start_session(std::move(request));
  }();
  if (!started) {
    ended_.emplace_back(a.conn, a.handle);
    close_login_if_idle(a.conn);
    return refuse(a.conn, a.req, RefusalReason::spawn_failed, started.error());
  }
  if (!started->note.empty()) log(started->note);
  log("started a session program for " + a.user + " (pid " + std::to_string(started->pid) + ")");
  Outgoing out{SessionSpawned{{a.conn, a.req}, a.handle}.encode(), {}};
  if (started->master.get() >= 0) {
    out.fds.push_back(std::move(started->master));
  } else {
    out.fds.push_back(std::move(started->stdin_w));
    out.fds.push_back(std::move(started->stdout_r));
    out.fds.push_back(std::move(started->stderr_r));
  }
  outgoing_.push_back(std::move(out));
  children_[a.handle] = Child{a.conn, started->pid, std::move(started->pidfd), std::move(started->record)};
}

void Executor::signal(const SignalAction& a) {
  auto it = children_.find(a.handle);
  if (it == children_.end() || it->second.conn != a.conn) return;  // exited meanwhile
  const pid_t pid = it->second.pid;
  if (::kill(-pid, a.signal) != 0) ::kill(pid, a.signal);
}

void Executor::hang_up(const HangUpAction& a) {
  for (auto& [handle, child] : children_)
    if (child.conn == a.conn && ::kill(-child.pid, SIGHUP) != 0) ::kill(child.pid, SIGHUP);
  for (auto it = connects_.begin(); it != connects_.end();)
    it = it->conn == a.conn ? connects_.erase(it) : it + 1;
}

void Executor::connect(const ConnectAction& a, Clock::time_point now) {
  if (connects_.size() >= options_.max_pending_connects)
    return connect_failed(a.conn, a.req, where(a), "too many connects in progress");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  // The resolver's own timeouts bound this wait (resolv.conf: timeout, attempts).
  const int rc = ::getaddrinfo(a.host.c_str(), std::to_string(a.port).c_str(), &hints, &found);
  if (rc != 0) return connect_failed(a.conn, a.req, where(a), ::gai_strerror(rc));
  Connect c{a.conn, a.req, {}, {}, now + options_.connect_timeout, where(a)};
  for (addrinfo* i = found; i != nullptr; i = i->ai_next) {
    sockaddr_storage s{};
    std::memcpy(&s, i->ai_addr, i->ai_addrlen);
    c.addresses.emplace_back(s, i->ai_addrlen);
  }
  ::freeaddrinfo(found);
  if (!try_next(c)) return connect_failed(a.conn, a.req, c.where, "no address could be reached");
  if (!finish_connect(c, now)) connects_.push_back(std::move(c));
}

bool Executor::try_next(Connect& c) {
  while (!c.addresses.empty()) {
    auto [address, length] = c.addresses.front();
    c.addresses.erase(c.addresses.begin());
    c.socket = UniqueFd(::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (c.socket.get() < 0) continue;
    if (::connect(c.socket.get(), reinterpret_cast<sockaddr*>(&address), length) == 0 || errno == EINPROGRESS)
      return true;
  }
  c.socket.reset();
  return false;
}

bool Executor::finish_connect(Connect& c, Clock::time_point now) {
  pollfd p{c.socket.get(), POLLOUT, 0};
  if (::poll(&p, 1, 0) == 1) {
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(c.socket.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error == 0) {
      Outgoing out{ForwardConnected{{c.conn, c.req}}.encode(), {}};
      out.fds.push_back(std::move(c.socket));
      outgoing_.push_back(std::move(out));
      return true;
    }
    if (try_next(c)) return false;
    connect_failed(c.conn, c.req, c.where, std::strerror(error));
    return true;
  }
  if (now < c.deadline) return false;
  connect_failed(c.conn, c.req, c.where, "timed out");
  return true;
}

void Executor::listen(const ListenAction& a) {
  auto address = listen_address(a.address, a.port);
  if (!address) return refuse(a.conn, a.req, RefusalReason::listen_failed, a.address + " is not an IP address");
  UniqueFd fd(::socket(address->first.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int yes = 1;
  if (fd.get() < 0 || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0 ||
      ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address->first), address->second) != 0 ||
      ::listen(fd.get(), SOMAXCONN) != 0)
    return refuse(a.conn, a.req, RefusalReason::listen_failed, std::strerror(errno));
  Outgoing out{ForwardListening{{a.conn, a.req}, bound_port(fd.get())}.encode(), {}};
  out.fds.push_back(std::move(fd));
  outgoing_.push_back(std::move(out));
}

std::vector<Executor::Watch> Executor::watches() const {
  std::vector<Watch> out;
  for (const auto& [handle, child] : children_) out.push_back({child.pidfd.get(), false});
  for (const auto& c : connects_) out.push_back({c.socket.get(), true});
  return out;
}

std::optional<Executor::Clock::time_point> Executor::next_deadline() const {
  std::optional<Clock::time_point> next;
  for (const auto& c : connects_)
    if (!next || c.deadline < *next) next = c.deadline;
  return next;
}

void Executor::poll(Clock::time_point now) {
  for (auto it = children_.begin(); it != children_.end();) {
    Child& child = it->second;
    int status = 0;
    if (::waitpid(child.pid, &status, WNOHANG) != child.pid) {
      ++it;
      continue;
    }
    if (child.record) login::record_logout(*child.record);
    const auto exit = login::ProgramExit::from_wait_status(status);
    SessionExited exited{{child.conn, it->first}, exit.signalled, static_cast<std::uint32_t>(exit.code),
                         exit.core_dumped};
    outgoing_.push_back({exited.encode(), {}});
    ended_.emplace_back(child.conn, it->first);
    const std::uint64_t conn = child.conn;
    it = children_.erase(it);
    close_login_if_idle(conn);
  }
  for (auto it = connects_.begin(); it != connects_.end();)
    it = finish_connect(*it, now) ? connects_.erase(it) : it + 1;
}

void Executor::wait(std::chrono::milliseconds max) {
  std::vector<pollfd> fds;
  for (const Watch& w : watches()) fds.push_back({w.fd, static_cast<short>(w.write ? POLLOUT : POLLIN), 0});
  auto timeout = max;
  if (auto d = next_deadline())
    timeout = std::min(timeout, std::chrono::ceil<std::chrono::milliseconds>(*d - Clock::now()));
  ::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(timeout.count(), 0)));
  poll(Clock::now());
}

void Executor::refuse(std::uint64_t conn, std::uint64_t req, RefusalReason reason, std::string why) {
  log("refused: " + std::string(to_string(reason)) + " (" + why + ")");
  outgoing_.push_back({Refused{{conn, req}, reason}.encode(), {}});
}

void Executor::connect_failed(std::uint64_t conn, std::uint64_t req, const std::string& where, std::string_view why) {
  // The words the one-process server logs for a forwarding connect that failed.
  log("connect to " + where + ": open failed: " + std::string(why));
  outgoing_.push_back({Refused{{conn, req}, RefusalReason::connect_failed}.encode(), {}});
}

void Executor::log(std::string_view line) const {
  if (options_.log) options_.log(line);
}

}  // namespace parley::privsep

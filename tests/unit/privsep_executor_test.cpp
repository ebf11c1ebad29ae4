// The monitor's executor over a real socketpair, as root (CI runs tests as
// root): the Monitor core decides, the executor starts the program as the
// session account or opens the socket, and the network side receives the
// descriptors by SCM_RIGHTS and uses them.
#include "parley/privsep/executor.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "parley/login/account.hpp"
#include "parley/privsep/channel.hpp"
#include "privsep_network.hpp"

namespace parley::privsep {
namespace {

using namespace monitor_test;
using namespace std::chrono_literals;

constexpr const char* session_account = "parley-session-test";

/// The Monitor core and an executor joined as in parleyd's monitor, with the
/// network process's end of a socketpair.
struct MonitorSide {
  Network n;
  Executor executor;
  Channel monitor_end, network_end;

  explicit MonitorSide(std::chrono::milliseconds connect_timeout = 10s) : MonitorSide(options(connect_timeout)) {}
  explicit MonitorSide(ExecutorOptions o) : MonitorSide(*Channel::pair(), std::move(o)) {}
  MonitorSide(std::pair<Channel, Channel> ends, ExecutorOptions o)
      : executor(std::move(o)), monitor_end(std::move(ends.first)), network_end(std::move(ends.second)) {}

  static ExecutorOptions options(std::chrono::milliseconds connect_timeout) {
    ExecutorOptions o;
    o.connect_timeout = connect_timeout;
    // parleyd's session_user: every login runs as the session account.
    o.run_as = [](const std::string&) -> std::expected<login::Account, std::string> {
      auto found = login::find_account(session_account);
      if (!found || !*found) return std::unexpected("no session account");
      return login::with_groups(std::move(**found));
    };
    o.login_records = false;
    return o;
  }

  /// Sends `frame` from the network side; the monitor decides, the executor acts.
  void request(const Bytes& frame) {
    n.monitor->handle(frame, n.now);
    for (auto& action : n.monitor->take_actions()) executor.perform(std::move(action), Executor::Clock::now());
    flush();
  }
  /// Whatever the monitor and the executor have to send goes over the socketpair.
  void flush() {
    for (auto& f : n.monitor->take_frames()) ASSERT_TRUE(monitor_end.send(f));
    for (auto& o : executor.take_outgoing()) {
      std::vector<int> fds;
      for (auto& fd : o.fds) fds.push_back(fd.get());
      ASSERT_TRUE(monitor_end.send(o.frame, fds));
    }
    for (auto [conn, handle] : executor.take_ended()) n.monitor->session_ended(conn, handle);
  }
  /// The next frame the network side receives, waiting for the executor as needed.
  Channel::Received receive() {
    for (int i = 0; i < 500; ++i) {
      pollfd p{network_end.fd(), POLLIN, 0};
      if (::poll(&p, 1, 0) == 1) break;
      executor.wait(10ms);
      flush();
    }
    auto r = network_end.receive();
    EXPECT_TRUE(r);
    return r ? std::move(*r) : Channel::Received{};
  }
};

std::string read_all(int fd) {
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

SessionSpawn spawn_request(std::uint64_t req, std::string command, std::optional<Terminal> pty = std::nullopt) {
  SessionSpawn m;
  m.conn = 1;
  m.req = req;
  m.user = "alice";
  m.kind = SessionKind::exec;
  m.command = std::move(command);
  m.pty = std::move(pty);
  return m;
}

class PrivsepExecutor : public ::testing::Test {
 public:
  PrivsepExecutor() : m(300ms) {}

 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to start programs as another account";
    auto found = login::find_account(session_account);
    ASSERT_TRUE(found && *found) << session_account << " must exist";
    account = login::with_groups(**found).value();
    expect_served(m.n, 1);
    ASSERT_TRUE(only<SessionGranted>(m.n.send(SessionStart{{1, 1}, "alice"}.encode())));
  }
  MonitorSide m;
  login::Account account;
};

TEST_F(PrivsepExecutor, SessionRunsAsTheAccountAndItsExitComesBack) {
  m.request(spawn_request(2, "id -u; id -G; exit 3").encode());
  auto spawned = m.receive();
  auto reply = decode_reply(spawned.frame);
  ASSERT_TRUE(reply && std::holds_alternative<SessionSpawned>(*reply));
  const auto handle = std::get<SessionSpawned>(*reply).handle;
  ASSERT_EQ(spawned.fds.size(), 3u);  // stdin, stdout, stderr
  spawned.fds[0].reset();
  std::string groups;
  for (gid_t g : account.groups) groups += (groups.empty() ? "" : " ") + std::to_string(g);
  EXPECT_EQ(read_all(spawned.fds[1].get()), std::to_string(account.uid) + "\n" + groups + "\n");
  EXPECT_NE(account.uid, 0u);

  auto exited = decode_reply(m.receive().frame);
  ASSERT_TRUE(exited && std::holds_alternative<SessionExited>(*exited));
  EXPECT_EQ(std::get<SessionExited>(*exited).handle, handle);
  EXPECT_FALSE(std::get<SessionExited>(*exited).signalled);
  EXPECT_EQ(std::get<SessionExited>(*exited).code, 3u);
  // It has ended: a signal to it is refused.
  m.request(SessionSignal{1, handle, "TERM"}.encode());
  auto refused = decode_reply(m.receive().frame);
  ASSERT_TRUE(refused && std::holds_alternative<Refused>(*refused));
  EXPECT_EQ(std::get<Refused>(*refused).reason, RefusalReason::unknown_session);
}

TEST_F(PrivsepExecutor, SignalThroughTheMonitorEndsTheProgram) {
  m.request(spawn_request(2, "exec sleep 30").encode());
  auto spawned = m.receive();
  const auto handle = std::get<SessionSpawned>(*decode_reply(spawned.frame)).handle;
  m.request(SessionSignal{1, handle, "TERM"}.encode());
  auto exited = decode_reply(m.receive().frame);
  ASSERT_TRUE(exited && std::holds_alternative<SessionExited>(*exited));
  EXPECT_TRUE(std::get<SessionExited>(*exited).signalled);
  EXPECT_EQ(std::get<SessionExited>(*exited).code, static_cast<std::uint32_t>(SIGTERM));
}

TEST_F(PrivsepExecutor, ClosingTheConnectionHangsItsProgramsUp) {
  m.request(spawn_request(2, "exec sleep 30").encode());
  const auto handle = std::get<SessionSpawned>(*decode_reply(m.receive().frame)).handle;
  m.request(ConnectionClosed{1}.encode());
  auto exited = decode_reply(m.receive().frame);
  ASSERT_TRUE(exited && std::holds_alternative<SessionExited>(*exited));
  EXPECT_EQ(std::get<SessionExited>(*exited).handle, handle);
  EXPECT_TRUE(std::get<SessionExited>(*exited).signalled);
  EXPECT_EQ(std::get<SessionExited>(*exited).code, static_cast<std::uint32_t>(SIGHUP));
}

TEST_F(PrivsepExecutor, WindowChangeOnThePassedTerminalReachesTheProgram) {
  m.request(spawn_request(2, "read line; stty size", Terminal{"xterm", 80, 24, 0, 0, {}}).encode());
  auto spawned = m.receive();
  ASSERT_TRUE(std::holds_alternative<SessionSpawned>(*decode_reply(spawned.frame)));
  ASSERT_EQ(spawned.fds.size(), 1u);  // the terminal's master
  const int master = spawned.fds[0].get();
  winsize ws{};
  ws.ws_row = 50;
  ws.ws_col = 132;
  ASSERT_EQ(::ioctl(master, TIOCSWINSZ, &ws), 0);  // what the network process does on window-change
  ASSERT_EQ(::write(master, "\n", 1), 1);
  std::string out;
  char buf[256];
  while (out.find("50 132") == std::string::npos) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) break;
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_NE(out.find("50 132"), std::string::npos) << out;
}

/// A login session that records its opening and closing in `events`.
struct RecordedLogin final : LoginSession {
  RecordedLogin(std::vector<std::string>& to, std::string name) : events(to), user(std::move(name)) {
    events.push_back("open " + user);
  }
  ~RecordedLogin() override { events.push_back("close " + user); }
  const std::vector<std::string>& environment() const override { return env; }
  std::vector<std::string>& events;
  std::string user;
  std::vector<std::string> env{"LOGIN_MARK=from-the-login-session"};
};

/// The monitor and an executor whose login sessions are RecordedLogins (or
/// refused with `refusal`), with conn 1 authenticated as alice.
struct WithLogins {
  std::vector<std::string> events;
  std::string refusal;
  MonitorSide m{options()};

  WithLogins() {
    expect_served(m.n, 1);
    EXPECT_TRUE(only<SessionGranted>(m.n.send(SessionStart{{1, 1}, "alice"}.encode())));
  }
  ExecutorOptions options() {
    ExecutorOptions o = MonitorSide::options(10s);
    o.open_login = [this](const std::string& user,
                          const std::string&) -> std::expected<std::unique_ptr<LoginSession>, std::string> {
      if (!refusal.empty()) return std::unexpected(refusal);
      return std::make_unique<RecordedLogin>(events, user);
    };
    return o;
  }
  /// Starts `command` and returns its handle and its stdout descriptor.
  std::pair<std::uint64_t, UniqueFd> start(std::uint64_t req, std::string command) {
    m.request(spawn_request(req, std::move(command)).encode());
    auto spawned = m.receive();
    auto reply = decode_reply(spawned.frame);
    if (!reply || !std::holds_alternative<SessionSpawned>(*reply) || spawned.fds.size() != 3) return {0, UniqueFd()};
    return {std::get<SessionSpawned>(*reply).handle, std::move(spawned.fds[1])};
  }
};

// sshd's UsePAM in the monitor: the connection's programs run inside one login
// session, opened before the first and closed after the last, and they get its
// variables.
TEST_F(PrivsepExecutor, ProgramsRunInsideTheConnectionsLoginSessionWithItsVariables) {
  WithLogins w;
  auto [first, first_out] = w.start(2, "echo mark=$LOGIN_MARK; exec sleep 30");
  ASSERT_NE(first, 0u);
  auto [second, second_out] = w.start(3, "echo second=$LOGIN_MARK");
  ASSERT_NE(second, 0u);
  EXPECT_EQ(w.events, std::vector<std::string>{"open alice"});  // one for the connection
  EXPECT_EQ(read_all(second_out.get()), "second=from-the-login-session\n");
  ASSERT_TRUE(std::holds_alternative<SessionExited>(*decode_reply(w.m.receive().frame)));
  EXPECT_EQ(w.events, std::vector<std::string>{"open alice"});  // the first still runs

  w.m.request(ConnectionClosed{1}.encode());  // SIGHUP ends the first
  ASSERT_TRUE(std::holds_alternative<SessionExited>(*decode_reply(w.m.receive().frame)));
  char buf[64];
  const ssize_t n = ::read(first_out.get(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0))), "mark=from-the-login-session\n");
  EXPECT_EQ(w.events, (std::vector<std::string>{"open alice", "close alice"}));
}

TEST_F(PrivsepExecutor, AProgramIsRefusedWhenItsLoginSessionCannotOpen) {
  WithLogins w;
  w.refusal = "pam_acct_mgmt: User account has expired";
  w.m.request(spawn_request(2, "echo ran").encode());
  auto reply = decode_reply(w.m.receive().frame);
  ASSERT_TRUE(reply && std::holds_alternative<Refused>(*reply));
  EXPECT_EQ(std::get<Refused>(*reply).reason, RefusalReason::spawn_failed);
  EXPECT_TRUE(w.events.empty());
}

/// A listener on 127.0.0.1 and its port.
std::pair<UniqueFd, std::uint16_t> local_listener(int backlog = 4) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof a;
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(fd.get(), backlog), 0);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &length);
  return {std::move(fd), ntohs(a.sin_port)};
}

TEST_F(PrivsepExecutor, ForwardConnectPassesAConnectedSocketARefusedOneNothing) {
  auto [listener, port] = local_listener();
  m.n.backend.policy.allow_local_forwarding = true;
  m.n.backend.policy.permit_open = {"127.0.0.1:" + std::to_string(port)};
  m.request(ForwardConnect{{1, 5}, "127.0.0.1", port}.encode());
  auto connected = m.receive();
  auto reply = decode_reply(connected.frame);
  ASSERT_TRUE(reply && std::holds_alternative<ForwardConnected>(*reply));
  ASSERT_EQ(connected.fds.size(), 1u);
  UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(accepted.get(), 0);
  ASSERT_EQ(::send(connected.fds[0].get(), "hi", 2, MSG_NOSIGNAL), 2);
  char buf[2];
  ASSERT_EQ(::recv(accepted.get(), buf, 2, MSG_WAITALL), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");

  m.request(ForwardConnect{{1, 6}, "127.0.0.1", static_cast<std::uint32_t>(port == 1 ? 2 : port - 1)}.encode());
  auto refused = m.receive();
  auto r = decode_reply(refused.frame);
  ASSERT_TRUE(r && std::holds_alternative<Refused>(*r));
  EXPECT_EQ(std::get<Refused>(*r).reason, RefusalReason::forward_not_permitted);
  EXPECT_TRUE(refused.fds.empty());
}

// A listener whose accept queue is full drops further SYNs: the connect never
// completes, and is refused once connect_timeout (300 ms here) has passed.
TEST_F(PrivsepExecutor, AConnectThatDoesNotCompleteIsRefusedAfterItsTimeout) {
  auto [listener, port] = local_listener(0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::vector<UniqueFd> fillers;  // never accepted
  for (int i = 0; i < 4; ++i) {
    fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ::connect(fillers.back().get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  m.n.backend.policy.allow_local_forwarding = true;
  const auto start = std::chrono::steady_clock::now();
  m.request(ForwardConnect{{1, 5}, "127.0.0.1", port}.encode());
  auto answer = m.receive();
  const auto took = std::chrono::steady_clock::now() - start;
  auto reply = decode_reply(answer.frame);
  ASSERT_TRUE(reply && std::holds_alternative<Refused>(*reply));
  EXPECT_EQ(std::get<Refused>(*reply).reason, RefusalReason::connect_failed);
  EXPECT_TRUE(answer.fds.empty());
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
}

TEST_F(PrivsepExecutor, ForwardListenPassesAListeningSocketOnTheBoundPort) {
  m.n.backend.policy.allow_remote_forwarding = true;
  m.request(ForwardListen{{1, 7}, "", 0}.encode());
  auto listening = m.receive();
  auto reply = decode_reply(listening.frame);
  ASSERT_TRUE(reply && std::holds_alternative<ForwardListening>(*reply));
  ASSERT_EQ(listening.fds.size(), 1u);
  const std::uint16_t port = std::get<ForwardListening>(*reply).port;
  ASSERT_NE(port, 0);
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  UniqueFd accepted(::accept4(listening.fds[0].get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_GE(accepted.get(), 0);
}

}  // namespace
}  // namespace parley::privsep

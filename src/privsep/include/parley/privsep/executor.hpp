// The monitor's hands: it performs the actions the sans-I/O Monitor decided
// (start a session's program as the user, connect, listen, signal) and
// watches the programs it started, producing the frames that answer the
// network process with the descriptors they carry (SCM_RIGHTS through
// privsep::Channel). OS-facing, like channel.cpp; it runs in the root monitor.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "parley/login/account.hpp"
#include "parley/login/records.hpp"
#include "parley/privsep/monitor.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::privsep {

/// A login session the monitor holds for a connection's user while programs of
/// that connection run (sshd's UsePAM: parleyd's is a PAM session, whose
/// account and session stacks run at its opening). Destroying it closes it;
/// both may block, as PAM's modules may.
class LoginSession {
 public:
  virtual ~LoginSession() = default;
  /// Variables ("NAME=value") every program of the connection gets, after the client's.
  virtual const std::vector<std::string>& environment() const = 0;
};

/// Opens the login session of `user`, authenticated, connected from `rhost`;
/// the error says what refused it.
using OpenLoginSession = std::function<std::expected<std::unique_ptr<LoginSession>, std::string>(
    const std::string& user, const std::string& rhost)>;

struct ExecutorOptions {
  /// Empty: no login session. Otherwise opened before a connection's first
  /// program (a program is refused, spawn_failed, if it cannot be) and closed
  /// once the last of that connection's programs has exited, as sshd opens one
  /// PAM session for the sessions of a connection; a later program opens it again.
  OpenLoginSession open_login;
  /// The account a session of `user` runs as; empty: the account of that name
  /// with its groups (login::find_account, login::with_groups).
  std::function<std::expected<login::Account, std::string>(const std::string& user)> run_as;
  bool login_records = true;
  std::string shell;  // empty: the account's login shell
  std::string sftp_server = "/usr/lib/openssh/sftp-server";
  std::string path = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games";
  /// How long a forwarding connect may take before it is refused.
  std::chrono::milliseconds connect_timeout{10000};
  /// Connects in progress at once, over every connection.
  std::size_t max_pending_connects = 256;
  /// Lines for the monitor's log (what started, what failed and why).
  std::function<void(std::string_view)> log;
};

/// A frame for the network process and the descriptors that go with it.
struct Outgoing {
  Bytes frame;
  std::vector<UniqueFd> fds;
};

class Executor {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Executor(ExecutorOptions options);
  /// Programs still running are left running (the monitor is exiting).
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// A reload: programs started from now on follow `options` (the shell, the
  /// sftp server, the session account and the login session). Programs
  /// running and login sessions open are left as they are.
  void replace_options(ExecutorOptions options) { options_ = std::move(options); }
  /// Performs one of the Monitor's actions; its answer (if any) is in take_outgoing().
  void perform(Action action, Clock::time_point now);
  /// What to wait on: each descriptor, and whether for writing (a connect in
  /// progress) or reading (a program's pidfd).
  struct Watch {
    int fd;
    bool write;
  };
  std::vector<Watch> watches() const;
  std::optional<Clock::time_point> next_deadline() const;
  /// Checks every program for exit and every connect for completion or its
  /// deadline; call when a watch is ready or at next_deadline().
  void poll(Clock::time_point now);
  /// Waits (poll(2)) up to `max` for a watch to be ready, then poll().
  void wait(std::chrono::milliseconds max);

  /// Frames to send, with their descriptors, in order.
  std::vector<Outgoing> take_outgoing();
  /// (conn, handle) of programs that exited or failed to start since the last
  /// call: pass each to Monitor::session_ended().
  std::vector<std::pair<std::uint64_t, std::uint64_t>> take_ended();

 private:
  struct Child {
    std::uint64_t conn = 0;
    pid_t pid = -1;
    UniqueFd pidfd;
    std::optional<login::LoginRecord> record;
  };
  struct Connect {
    std::uint64_t conn = 0, req = 0;
    std::vector<std::pair<sockaddr_storage, socklen_t>> addresses;  // still to try
    UniqueFd socket;
    Clock::time_point deadline;
    std::string where;  // "host:port", for the log
  };

  /// The login session programs of `a`'s connection run in (opened now if
  /// none is open), or why there is none.
  std::expected<LoginSession*, std::string> login_for(const SpawnAction& a);
  /// Closes the login session of `conn` once it has no program left.
  void close_login_if_idle(std::uint64_t conn);
  void spawn(const SpawnAction& a);
  void signal(const SignalAction& a);
  void hang_up(const HangUpAction& a);
  void connect(const ConnectAction& a, Clock::time_point now);
  void listen(const ListenAction& a);
  /// Starts a non-blocking connect to the next address of `c`; false when none is left.
  bool try_next(Connect& c);
  /// Finishes `c` if its connect is done; true when it is no longer pending.
  bool finish_connect(Connect& c, Clock::time_point now);
  void refuse(std::uint64_t conn, std::uint64_t req, RefusalReason reason, std::string why);
  /// Refuses a connect (connect_failed), logging where to and why.
  void connect_failed(std::uint64_t conn, std::uint64_t req, const std::string& where, std::string_view why);
  void log(std::string_view line) const;

  ExecutorOptions options_;
  std::map<std::uint64_t, Child> children_;  // by handle
  std::map<std::uint64_t, std::unique_ptr<LoginSession>> logins_;  // by connection
  std::vector<Connect> connects_;
  std::vector<Outgoing> outgoing_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ended_;
};

}  // namespace parley::privsep

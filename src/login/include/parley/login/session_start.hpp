// Starting a session's program, everything a login does before exec: the
// program for shell/exec/subsystem, a pseudo-terminal (opened, given to the
// user, its modes and size set) or three pipes, the login environment, the
// utmp/wtmp/lastlog records, spawn() as the account, and a pidfd to watch its
// exit. One function, used by the in-process server and by the root monitor
// (which hands the descriptors it returns to the network process).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "parley/login/account.hpp"
#include "parley/login/records.hpp"
#include "parley/wire/bytes.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::login {

/// What the session runs: the login shell, `shell -c command`, or a subsystem
/// (only "sftp", run as `sftp_server`).
enum class ProgramKind : std::uint8_t { shell = 1, exec, subsystem };

/// A pseudo-terminal as the client asked for it (RFC 4254 §6.2).
struct TerminalRequest {
  std::string term;
  std::uint32_t cols = 80, rows = 24, width_px = 0, height_px = 0;
  Bytes modes;  // RFC 4254 §8 encoded terminal modes
};

/// One end of the TCP connection, for SSH_CLIENT and SSH_CONNECTION.
struct Endpoint {
  std::string address;
  std::uint16_t port = 0;
};

/// Everything start_session() needs; the caller has looked the account up.
struct SessionRequest {
  ProgramKind kind = ProgramKind::shell;
  std::string command;  // exec: the command line; subsystem: its name
  std::optional<TerminalRequest> pty;
  /// The client's variables that passed the server's allow-list, in order.
  std::vector<std::pair<std::string, std::string>> env;
  std::string user;  // the name the client logged in with (PARLEY_USER)
  Account account;   // whom the program runs as, with its groups
  /// Take on `account`'s credentials (root only); false: run as this process.
  bool switch_user = false;
  std::string shell;  // overrides the account's login shell when not empty
  std::string sftp_server;  // empty: the sftp subsystem is refused
  std::string path;         // PATH
  Endpoint peer, local;
  bool login_records = false;  // write utmp/wtmp/lastlog for a terminal session
};

/// A started program and our ends of its streams.
struct StartedSession {
  UniqueFd master;                      // the terminal's master side (pty sessions)
  UniqueFd stdin_w, stdout_r, stderr_r; // pipe ends (sessions without a terminal)
  pid_t pid = -1;
  UniqueFd pidfd;  // readable once the program has exited (then reap it with waitpid)
  /// The login record written at start; pass it to record_logout() once the program exits.
  std::optional<LoginRecord> record;
  /// A line for the server's log (where the login was recorded), maybe empty.
  std::string note;
};

/// Whether a request of `kind` with `command` names a program at all, whatever
/// the account: a subsystem other than sftp, sftp without `sftp_server` or a
/// command holding a NUL does not, and start_session() refuses it. A server
/// that starts programs later (through a monitor) refuses these at once.
bool names_a_program(ProgramKind kind, const std::string& command, const std::string& sftp_server);

/// "NAME=value" entries (pam_getenvlist's) as (name, value) pairs; an entry
/// without '=' names nothing and is left out.
std::vector<std::pair<std::string, std::string>> assignments(const std::vector<std::string>& entries);

/// Starts the program for `request`. The error says why it did not start
/// (an exec of a command with NUL, a subsystem other than sftp, no terminal,
/// the terminal could not be given to the user, spawn's own errors), for the log.
std::expected<StartedSession, std::string> start_session(const SessionRequest& request);

/// How a program ended, from a waitpid(2) status.
struct ProgramExit {
  bool signalled = false;
  int code = 0;  // the exit status, or the signal's number
  bool core_dumped = false;
  static ProgramExit from_wait_status(int status);
};

/// RFC 4254 §6.10 signal names ("TERM") and numbers; 0 for a name not on the list.
int signal_number(std::string_view name);
/// The RFC 4254 name of `number`, or "<number>@parley" for one not on the list.
std::string signal_name(int number);

/// Applies RFC 4254 §8 encoded terminal modes to the terminal `fd`. Unknown
/// opcodes are skipped; parsing stops at TTY_OP_END or an opcode >= 160.
void apply_terminal_modes(int fd, BytesView modes);

}  // namespace parley::login

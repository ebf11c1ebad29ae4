// Starting a session's program as the user who logged in: fork, a new session,
// the terminal or pipes on 0-2, the user's groups, gid and uid (checked not to
// be reversible), the home directory, then exec. Everything the child needs is
// prepared before fork, so the child makes only async-signal-safe calls.
#pragma once

#include <sys/types.h>

#include <expected>
#include <optional>
#include <string>
#include <vector>

namespace parley::login {

/// Whom the program runs as. The caller must be root to take on another uid.
struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (getgrouplist)
};

struct SpawnSpec {
  std::string program;             // absolute path, run with execve
  std::vector<std::string> argv;   // argv[0] included
  std::vector<std::string> env;    // "NAME=value"
  std::string cwd;                 // tried first; "/" if it cannot be entered (as sshd)
  std::optional<Credentials> as;   // nullopt: keep this process's credentials
  /// Either a terminal (opened after setsid, so it becomes the controlling
  /// terminal, on 0, 1 and 2) or three descriptors for 0, 1 and 2.
  std::string tty;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
};

/// Starts the program; returns its pid once it has exec'd. An error says which
/// step failed in the child (credentials, exec) with its errno text. Signal
/// dispositions are reset and the mask emptied; no descriptor but 0-2 is left
/// open in the program.
std::expected<pid_t, std::string> spawn(const SpawnSpec& spec);

}  // namespace parley::login

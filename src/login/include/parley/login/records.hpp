// Login records and terminal ownership for sessions with a pseudo-terminal,
// as login(1) and sshd keep them: utmp (who), wtmp (last) and lastlog, and
// the terminal owned by the user, group tty, mode 0620 while the session runs.
#pragma once

#include <sys/types.h>

#include <string>

namespace parley::login {

/// What a login record says.
struct LoginRecord {
  std::string user;
  uid_t uid = 0;
  std::string tty;   // "/dev/pts/3"
  std::string host;  // the client's address
  pid_t pid = 0;     // the session's process
};

/// Writes the login to utmp, wtmp and lastlog. Best effort, as sshd: a file
/// that does not exist or cannot be written is skipped; the return value says
/// which were written ("utmp wtmp lastlog"), for the log.
std::string record_login(const LoginRecord& record);

/// Marks the terminal's utmp entry dead and appends the logout to wtmp.
void record_logout(const LoginRecord& record);

/// Gives the terminal `fd` (the pty's slave side) to `uid`, group tty (or the
/// user's `gid` where there is no tty group), mode 0620. False with errno set
/// on failure.
bool claim_terminal(int fd, uid_t uid, gid_t gid);

}  // namespace parley::login

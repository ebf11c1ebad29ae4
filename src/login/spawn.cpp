#include "parley/login/spawn.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "parley/wire/unique_fd.hpp"

namespace parley::login {
namespace {

/// What the child reports through the error pipe when a step fails.
struct ChildError {
  int step;
  int error;
};
enum Step : int { step_tty = 1, step_stdio, step_groups, step_gid, step_uid, step_check, step_exec };

const char* step_name(int step) {
  switch (step) {
    case step_tty: return "open the terminal";
    case step_stdio: return "set up standard descriptors";
    case step_groups: return "set the supplementary groups";
    case step_gid: return "set the group id";
    case step_uid: return "set the user id";
    case step_check: return "drop privileges for good";
    case step_exec: return "exec";
  }
  return "start";
}

[[noreturn]] void child_fail(int fd, int step) {
  const ChildError e{step, errno};
  [[maybe_unused]] auto n = ::write(fd, &e, sizeof e);
  ::_exit(127);
}

void say(const char* text) {
  [[maybe_unused]] auto n = ::write(2, text, std::strlen(text));
}

/// The child, after fork: async-signal-safe calls only (raw syscalls for the
/// credentials, which touch only this, the one thread of the child).
[[noreturn]] void child(const SpawnSpec& spec, char* const* argv, char* const* envp, int err) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setsid();
  if (!spec.tty.empty()) {
    const int fd = ::open(spec.tty.c_str(), O_RDWR);  // the first terminal: controlling
    if (fd < 0) child_fail(err, step_tty);
    if (::dup2(fd, 0) < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) child_fail(err, step_stdio);
  } else {
    if (::dup2(spec.stdin_fd, 0) < 0 || ::dup2(spec.stdout_fd, 1) < 0 || ::dup2(spec.stderr_fd, 2) < 0)
      child_fail(err, step_stdio);
  }
  // Keep the error pipe at 3 (close-on-exec) and close everything above it.
  if (err != 3) {
    if (::dup3(err, 3, O_CLOEXEC) < 0) child_fail(err, step_stdio);
    err = 3;
  }
  ::syscall(SYS_close_range, 4u, UINT_MAX, 0u);
  if (spec.as) {
    const Credentials& c = *spec.as;
    if (::syscall(SYS_setgroups, c.groups.size(), c.groups.data()) != 0) child_fail(err, step_groups);
    if (::syscall(SYS_setresgid, c.gid, c.gid, c.gid) != 0) child_fail(err, step_gid);
    if (::syscall(SYS_setresuid, c.uid, c.uid, c.uid) != 0) child_fail(err, step_uid);
    // As sshd's permanently_set_uid: the change must stick, and root must be out of reach.
    if (::getuid() != c.uid || ::geteuid() != c.uid || ::getgid() != c.gid || ::getegid() != c.gid)
      child_fail(err, step_check);
    if (c.uid != 0) {
      if (::syscall(SYS_setresuid, 0, 0, 0) == 0) {
        errno = EPERM;
        child_fail(err, step_check);
      }
      if (c.gid != 0 && ::syscall(SYS_setresgid, 0, 0, 0) == 0) {
        errno = EPERM;
        child_fail(err, step_check);
      }
    }
  }
  if (spec.cwd.empty() || ::chdir(spec.cwd.c_str()) != 0) {
    if (!spec.cwd.empty()) {
      say("Could not chdir to home directory ");
      say(spec.cwd.c_str());
      say("\n");
    }
    if (::chdir("/") != 0) child_fail(err, step_exec);
  }
  ::execve(spec.program.c_str(), argv, envp);
  child_fail(err, step_exec);
}

}  // namespace

std::expected<pid_t, std::string> spawn(const SpawnSpec& spec) {
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return std::unexpected(std::string("pipe: ") + std::strerror(errno));
  UniqueFd read_end(p[0]), write_end(p[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return std::unexpected(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) child(spec, argv.data(), envp.data(), write_end.get());
  write_end.reset();
  // The pipe closes at exec (close-on-exec) or carries why the child failed.
  ChildError e{};
  ssize_t n;
  do n = ::read(read_end.get(), &e, sizeof e);
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof e)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return std::unexpected(std::string("cannot ") + step_name(e.step) + ": " + std::strerror(e.error));
  }
  return pid;
}

}  // namespace parley::login

// Runs a function in a forked child after confine(), and reports how the child
// ended: killed by SIGSYS (the seccomp filter), an exit code the function chose
// (0: the attempt worked; else its errno), or confine()'s own failure. Shared by
// tests/unit/sandbox_test.cpp and tests/sandbox_probe.cpp (no GoogleTest here).
// The child ends with _exit: a confined process cannot fork or ptrace, which is
// what LeakSanitizer's exit-time check does.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "parley/sandbox/sandbox.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::test {

struct ChildOutcome {
  bool confined = false;      // confine() returned success in the child
  std::string confine_error;  // to_string(Failure) when it did not
  int signal = 0;             // the signal that ended the child, 0 if it exited
  int exit_code = -1;         // its exit code when it exited
  bool killed_by_sigsys() const { return signal == SIGSYS; }
};

/// Forks; the child runs `before_confine()`, confine(plan) and then `attempt()`,
/// whose int is its exit code. In the parent, `while_confined(pid)` runs once the
/// child is confined (and before it is waited for), then the child is reaped.
template <class Attempt, class WhileConfined, class BeforeConfine>
ChildOutcome run_confined(const sandbox::Plan& plan, Attempt&& attempt,
                          WhileConfined&& while_confined, BeforeConfine&& before_confine) {
  ChildOutcome outcome;
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return outcome;
  pid_t pid = ::fork();
  if (pid < 0) return outcome;
  if (pid == 0) {
    ::close(report[0]);
    std::forward<BeforeConfine>(before_confine)();
    auto confined = sandbox::confine(plan);
    if (!confined) {
      std::string text = sandbox::to_string(confined.error());
      (void)!::write(report[1], text.data(), text.size());
      ::_exit(125);
    }
    (void)!::write(report[1], "+", 1);
    ::close(report[1]);
    ::_exit(std::forward<Attempt>(attempt)());
  }
  ::close(report[1]);
  std::string said;
  char buf[256];
  for (ssize_t n; (n = ::read(report[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    said.append(buf, static_cast<size_t>(n));
    if (said == "+") break;  // confined: the attempt runs now
  }
  if (said == "+") {
    outcome.confined = true;
    std::forward<WhileConfined>(while_confined)(pid);
  } else {
    outcome.confine_error = said;
  }
  ::close(report[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
  return outcome;
}

template <class Attempt, class WhileConfined>
ChildOutcome run_confined(const sandbox::Plan& plan, Attempt&& attempt,
                          WhileConfined&& while_confined) {
  return run_confined(plan, std::forward<Attempt>(attempt),
                      std::forward<WhileConfined>(while_confined), [] {});
}

template <class Attempt>
ChildOutcome run_confined(const sandbox::Plan& plan, Attempt&& attempt) {
  return run_confined(
      plan, std::forward<Attempt>(attempt), [](pid_t) {}, [] {});
}

/// What an attempt returns: 0 when `rc` says the call worked, else the errno.
inline int attempt_result(long rc) {
  return rc >= 0 ? 0 : (errno == 0 ? 255 : errno);
}

/// A TCP listener on 127.0.0.1 at a port the kernel picks, and that port (host
/// order); an empty descriptor when it could not be made.
inline std::pair<UniqueFd, std::uint16_t> loopback_listener() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(fd.get(), 8) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return {};
  return {std::move(fd), ntohs(addr.sin_port)};
}

/// Connects a new TCP socket of `domain` to 127.0.0.1:`port`: 0 or the errno of
/// socket() or connect(). The socket goes to `keep` when given.
inline int connect_loopback(std::uint16_t port, UniqueFd* keep = nullptr, int domain = AF_INET) {
  UniqueFd fd(::socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return attempt_result(-1);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  int result = attempt_result(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr));
  if (keep) *keep = std::move(fd);
  return result;
}

}  // namespace parley::test

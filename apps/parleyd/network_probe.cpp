// TEST BUILD ONLY (parleyd_probe; never compiled into parleyd): the network
// process's probe of issue 14. Once confined and serving, it tries the one
// forbidden thing PARLEY_PROBE names and prints what happened (stderr, the log); a seccomp kill
// prints nothing, and the monitor logs the network process's end instead.
//   open:PATH     open a file (the host key, /etc/shadow, a ~/.google_authenticator)
//   execve        execve("/bin/sh")
//   setuid        setuid(0)
//   ptrace        PTRACE_ATTACH to the monitor (the parent)
//   connect:PORT  a TCP connection to 127.0.0.1:PORT
#include "network_probe.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace parleyd {
namespace {

/// 0 if the attempt succeeded, else the errno it failed with.
int attempt(const std::string& what, pid_t monitor) {
  if (what.starts_with("open:")) {
    const int fd = ::open(what.substr(5).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ::close(fd);
    return 0;
  }
  if (what == "execve") {
    char sh[] = "/bin/sh";
    char* argv[] = {sh, nullptr};
    ::execve(sh, argv, nullptr);
    return errno;
  }
  if (what == "setuid") return ::setuid(0) == 0 ? 0 : errno;
  if (what == "ptrace") return ::ptrace(PTRACE_ATTACH, monitor, nullptr, nullptr) == 0 ? 0 : errno;
  if (what.starts_with("connect:")) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(std::atoi(what.substr(8).c_str())));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    const int err = rc == 0 ? 0 : errno;
    ::close(fd);
    return err;
  }
  return EINVAL;
}

}  // namespace

void run_network_probe(pid_t monitor) {
  const char* what = std::getenv("PARLEY_PROBE");
  if (what == nullptr) return;
  std::fprintf(stderr, "probe trying %s\n", what);  // so a kill is known to come from the attempt
  const int err = attempt(what, monitor);
  std::fprintf(stderr, "probe %s: %s\n", what, err == 0 ? "succeeded" : std::strerror(err));
}

}  // namespace parleyd

// The fork of a privilege-separated parleyd. The listening socket is bound
// while root (port 22 needs it) and handed to the network process, which then
// confines itself; the pair dies together (PR_SET_PDEATHSIG one way, the
// socketpair's end of stream the other).
#include "separation.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace parleyd {
namespace {

/// A TCP socket bound to address:port and listening, or -1 with errno.
int listen_on(const std::string& address, std::uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    errno = EINVAL;
    return -1;
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

}  // namespace

int split_processes(const std::string& address, std::uint16_t port,
                    const std::function<int(NetworkHalf)>& network,
                    const std::function<int(parley::privsep::Channel, pid_t)>& monitor,
                    const std::function<void(const std::string&)>& fail,
                    const std::function<void(int wait_status)>& ended) {
  const int listen_fd = listen_on(address, port);
  if (listen_fd < 0) {
    fail("cannot listen on " + address + ":" + std::to_string(port) + ": " + std::strerror(errno));
    return 1;
  }
  auto ends = parley::privsep::Channel::pair();
  if (!ends) {
    ::close(listen_fd);
    fail("cannot make the monitor's socketpair: " + ends.error().message());
    return 1;
  }
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    fail(std::string("cannot fork the network process: ") + std::strerror(errno));
    return 1;
  }
  if (child == 0) {
    // The network process ends with the monitor, even one killed outright.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    { auto drop = std::move(ends->second); }  // the monitor's end is not the child's
    ::_exit(network(NetworkHalf{std::move(ends->first), listen_fd}));
  }
  ::close(listen_fd);
  { auto drop = std::move(ends->first); }
  const int status = monitor(std::move(ends->second), child);
  int wstatus = 0;
  bool stopped_here = false;
  if (::waitpid(child, &wstatus, WNOHANG) == 0) {
    ::kill(child, SIGTERM);
    stopped_here = true;
    ::waitpid(child, &wstatus, 0);
  }
  // The SIGTERM sent just now is no news (the monitor has said why it ends).
  const bool news = !(stopped_here && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGTERM);
  if (ended && news) ended(wstatus);
  return status;
}

std::string describe_wait_status(int wait_status) {
  if (WIFSIGNALED(wait_status))
    return "killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" +
           ::strsignal(WTERMSIG(wait_status)) + ")";
  return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
}

}  // namespace parleyd

// sandbox_probe: proves what parley::sandbox::confine() takes away and what it
// leaves. A test executable only, never part of parleyd. Run as root, it forks one
// child per attempt; each child confines itself with the Plan from the arguments
// and then tries one forbidden thing (read the host key, /etc/shadow, a user's
// ~/.google_authenticator; execve a shell; setuid(0); ptrace or signal the
// monitor; a TCP connection; fork). One line per attempt:
//   open /etc/shadow: EPERM
//   setuid(0): killed by SIGSYS
// A last child shows the positive side: after confine() it runs an Asio event
// loop on two threads that echoes bytes over a socketpair and over a connection it
// accepts on a listening socket created before confine().
// Exit status: 0 when every attempt failed and the loop worked, 1 when an attempt
// SUCCEEDED or the loop failed, 2 on bad arguments.
// Usage: sandbox_probe --host-key PATH --otp-file PATH --connect-port N
//                      [--monitor-pid PID] [--account NAME] [--empty-dir PATH]
#include <poll.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "confined_child.hpp"
#include "parley/sandbox/sandbox.hpp"
#include "parley/wire/unique_fd.hpp"

namespace {

using parley::UniqueFd;
using parley::sandbox::Plan;
using parley::test::attempt_result;
using parley::test::ChildOutcome;
using parley::test::run_confined;

struct Options {
  Plan plan;
  std::string host_key, otp_file;
  std::uint16_t connect_port = 0;
  pid_t monitor = ::getppid();  // the driver that started the probe stands in for it
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--host-key")
      o.host_key = value;
    else if (key == "--otp-file")
      o.otp_file = value;
    else if (key == "--connect-port")
      o.connect_port = static_cast<std::uint16_t>(std::atoi(value));
    else if (key == "--monitor-pid")
      o.monitor = std::atoi(value);
    else if (key == "--account")
      o.plan.account = value;
    else if (key == "--empty-dir")
      o.plan.empty_dir = value;
    else
      return false;
  }
  return argc % 2 == 1 && !o.host_key.empty() && !o.otp_file.empty() && o.connect_port > 0 &&
         o.monitor > 1;
}

std::string describe(const ChildOutcome& outcome) {
  if (!outcome.confined) return "confine failed: " + outcome.confine_error;
  if (outcome.signal == SIGSYS) return "killed by SIGSYS";
  if (outcome.signal != 0) return std::string("killed by ") + ::sigabbrev_np(outcome.signal);
  if (outcome.exit_code == 0) return "SUCCEEDED";
  const char* name = ::strerrorname_np(outcome.exit_code);
  return name ? name : "exit " + std::to_string(outcome.exit_code);
}

int open_file(const std::string& path) {
  return attempt_result(::open(path.c_str(), O_RDONLY));
}

// The forbidden attempts, each run in its own confined child.
std::vector<std::pair<std::string, std::function<int()>>> attempts(const Options& o) {
  const pid_t monitor = o.monitor;
  return {
      {"open " + o.host_key, [&o] { return open_file(o.host_key); }},
      {"open /etc/shadow", [] { return open_file("/etc/shadow"); }},
      {"open " + o.otp_file, [&o] { return open_file(o.otp_file); }},
      {"execve /bin/sh",
       [] {
         char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                               const_cast<char*>("exit 0"), nullptr};
         return attempt_result(::execve("/bin/sh", argv, environ));
       }},
      {"setuid(0)", [] { return attempt_result(::setuid(0)); }},
      {"ptrace(PTRACE_ATTACH, monitor)",
       [monitor] { return attempt_result(::ptrace(PTRACE_ATTACH, monitor, nullptr, nullptr)); }},
      {"kill(monitor, SIGTERM)", [monitor] { return attempt_result(::kill(monitor, SIGTERM)); }},
      {"connect 127.0.0.1:" + std::to_string(o.connect_port),
       [port = o.connect_port] { return parley::test::connect_loopback(port); }},
      {"fork",
       [] {
         pid_t pid = ::fork();
         if (pid == 0) ::_exit(0);
         return attempt_result(pid);
       }},
  };
}

// --- the positive side -------------------------------------------------------

constexpr std::string_view kPayload = "parley sandbox echo";

// One echo: read what arrives, write it back, until the peer closes; then
// `finished()`.
template <class Socket, class Finished>
void echo(Socket& socket, std::array<char, 256>& buffer, Finished finished) {
  socket.async_read_some(
      asio::buffer(buffer), [&socket, &buffer, finished](std::error_code ec, size_t n) {
        if (ec) return finished();  // EOF: this echo is over
        asio::async_write(socket, asio::buffer(buffer.data(), n),
                          [&socket, &buffer, finished](std::error_code wec, size_t) {
                            if (!wec) echo(socket, buffer, finished);
                          });
      });
}

// In the confined child: an io_context made after confine() (epoll, eventfd,
// timerfd), run on this thread and a second one (clone, futex), echoing on the
// socketpair end and on the one connection accepted from `listener`. Every
// object lives on one strand, so handlers never run at once. 0 when both echoes
// ran to the peer's close before the 10 s deadline, 3 when the deadline passed, 4
// when the loop ended early.
int event_loop(int pair_end, int listener) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  asio::local::stream_protocol::socket pair(strand);
  pair.assign(asio::local::stream_protocol(), pair_end);
  asio::ip::tcp::acceptor acceptor(strand);
  acceptor.assign(asio::ip::tcp::v4(), listener);
  asio::ip::tcp::socket accepted(strand);
  std::array<char, 256> pair_buffer{}, tcp_buffer{};
  asio::steady_timer deadline(strand, std::chrono::seconds(10));
  bool timed_out = false;
  deadline.async_wait([&](std::error_code ec) {
    if (!ec) timed_out = true;
    io.stop();
  });
  int done = 0;
  auto finished = [&] {
    if (++done == 2) deadline.cancel();
  };
  echo(pair, pair_buffer, finished);
  acceptor.async_accept(accepted, [&](std::error_code ec) {
    if (!ec) echo(accepted, tcp_buffer, finished);
  });
  std::thread second([&io] { io.run(); });
  io.run();
  second.join();
  if (timed_out) return 3;
  return done == 2 ? 0 : 4;
}

// The parent's side: send the payload on `fd`, read it back within 10 s, close.
bool round_trip(UniqueFd fd) {
  if (::write(fd.get(), kPayload.data(), kPayload.size()) != static_cast<ssize_t>(kPayload.size()))
    return false;
  std::string back;
  while (back.size() < kPayload.size()) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return false;
    char buf[256];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return false;
    back.append(buf, static_cast<size_t>(n));
  }
  return back == kPayload;
}

bool positive_side(const Options& o) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return false;
  UniqueFd mine(pair[0]), theirs(pair[1]);
  auto [listener, port] = parley::test::loopback_listener();
  if (listener.get() < 0) return false;
  bool pair_ok = false, tcp_ok = false;
  auto outcome = run_confined(
      o.plan,
      [&] {
        mine.reset();  // the parent's end: closed here, so its close reaches the loop as EOF
        return event_loop(theirs.release(), listener.release());
      },
      [&](pid_t) {
        theirs.reset();
        listener.reset();
        pair_ok = round_trip(std::move(mine));
        UniqueFd client;
        tcp_ok =
            parley::test::connect_loopback(port, &client) == 0 && round_trip(std::move(client));
      });
  std::printf("event loop after confine: socketpair echo %s, accepted TCP echo %s, loop %s\n",
              pair_ok ? "ok" : "FAILED", tcp_ok ? "ok" : "FAILED",
              outcome.exit_code == 0   ? "ended cleanly"
              : outcome.signal != 0    ? describe(outcome).c_str()
              : outcome.exit_code == 3 ? "timed out"
                                       : "ended early");
  return pair_ok && tcp_ok && outcome.exit_code == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: sandbox_probe --host-key PATH --otp-file PATH --connect-port N "
                 "[--monitor-pid PID] [--account NAME] [--empty-dir PATH]\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  bool any_succeeded = false;
  for (auto& [what, attempt] : attempts(o)) {
    auto outcome = run_confined(o.plan, attempt);
    std::printf("%s: %s\n", what.c_str(), describe(outcome).c_str());
    if (!outcome.confined || (outcome.signal == 0 && outcome.exit_code == 0)) any_succeeded = true;
  }
  bool loop_ok = positive_side(o);
  return any_succeeded || !loop_ok ? 1 : 0;
}

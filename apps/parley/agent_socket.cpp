#include "agent_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "parley/crypto/secret.hpp"

namespace parley::app {
namespace {

using Clock = std::chrono::steady_clock;

/// Milliseconds left until `deadline` (0 once it has passed).
int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60 * 60 * 1000));
}

/// Waits until `fd` is ready for `events` or the deadline passes.
std::expected<void, std::string> wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return {};
    if (n == 0) return std::unexpected(std::string("the agent did not answer in time"));
    if (errno != EINTR) return std::unexpected(std::string("poll: ") + std::strerror(errno));
  }
}

}  // namespace

std::expected<AgentSocket, std::string> AgentSocket::connect(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return std::unexpected("agent socket path '" + path + "' is empty or too long");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
  int rc = 0;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return std::unexpected("connect to " + path + ": " + std::strerror(errno));
  return AgentSocket(std::move(fd));
}

void AgentSocket::shutdown() {
  // No lock: this is what wakes a round trip holding it.
  if (fd_.get() >= 0) ::shutdown(fd_.get(), SHUT_RDWR);
}

std::expected<Bytes, std::string> AgentSocket::round_trip(const Bytes& request, std::chrono::milliseconds timeout) {
  if (broken_) return std::unexpected(std::string("the agent connection failed earlier"));
  const auto deadline = Clock::now() + timeout;
  auto fail = [this](std::string why) -> std::expected<Bytes, std::string> {
    broken_ = true;
    return std::unexpected(std::move(why));
  };
  // Non-blocking I/O under poll(): no step waits past the deadline.
  for (std::size_t sent = 0; sent < request.size();) {
    if (auto w = wait_for(fd_.get(), POLLOUT, deadline); !w) return fail(w.error());
    const ssize_t n = ::send(fd_.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) return fail(std::string("writing to the agent: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
  client::agent::Deframer in;
  std::uint8_t buf[16384];
  while (!in.ready()) {
    if (auto w = wait_for(fd_.get(), POLLIN, deadline); !w) return fail(w.error());
    // Never more than the deframer wants: a stream of garbage cannot grow anything.
    const std::size_t want = std::min(in.wanted(), sizeof(buf));
    const ssize_t n = ::recv(fd_.get(), buf, want, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) return fail(std::string("reading from the agent: ") + std::strerror(errno));
    if (n == 0) return fail("the agent closed the connection");
    if (auto fed = in.feed(BytesView(buf, static_cast<std::size_t>(n))); !fed)
      return fail(std::string(client::agent::to_string(fed.error())));
  }
  return *in.take();
}

std::expected<std::vector<client::agent::Identity>, std::string> AgentSocket::identities(
    std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  auto answer = round_trip(client::agent::request_identities(), timeout);
  if (!answer) return std::unexpected(answer.error());
  auto parsed = client::agent::parse_identities_answer(*answer);
  if (!parsed) {
    broken_ = true;
    return std::unexpected(std::string(client::agent::to_string(parsed.error())));
  }
  return std::move(*parsed);
}

std::expected<Bytes, std::string> AgentSocket::sign(BytesView key_blob, BytesView data, crypto::SignatureAlg alg,
                                                    std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  Bytes request = client::agent::sign_request(key_blob, data, alg);
  auto answer = round_trip(request, timeout);
  crypto::secure_wipe(request.data(), request.size());
  if (!answer) return std::unexpected(answer.error());
  auto signature = client::agent::parse_sign_response(*answer);
  if (!signature) {
    if (signature.error() != client::agent::AgentError::refused) broken_ = true;
    return std::unexpected(std::string(client::agent::to_string(signature.error())));
  }
  return std::move(*signature);
}

}  // namespace parley::app

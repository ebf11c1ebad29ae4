#include "drive.hpp"

#include <array>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

namespace parley::driver::detail {
namespace {

using asio::ip::tcp;
using transport::Clock;

/// Stop reading (and write first) once this much output is waiting, so a peer
/// that sends faster than it reads cannot make us buffer without bound.
constexpr std::size_t max_pending_output = 256 * 1024;
/// Yield to other connections after reading this much in one turn.
constexpr std::size_t max_read_per_turn = 1024 * 1024;
/// A peer that has not taken all of one write's bytes after this long is dropped:
/// otherwise a client that stops reading pins its connection and our output forever.
constexpr auto write_stall_timeout = std::chrono::seconds(120);
/// After our last byte, how long to wait for the peer to close before we do.
constexpr auto linger_time = std::chrono::seconds(2);

/// One read buffer per thread, shared by every connection that thread serves.
/// Never hold a reference to it across a suspension point: the coroutine may
/// resume on another thread.
std::array<std::uint8_t, 64 * 1024>& read_buffer() {
  thread_local std::array<std::uint8_t, 64 * 1024> buffer;
  return buffer;
}

bool would_block(const std::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

/// Cancels the socket's pending operation if a deadline passes first.
///
/// This replaces racing two awaitables with asio's experimental `||`: that
/// starts both waits in posted sub-coroutines, so a Server::stop() landing in
/// between could close the socket before the waits began and leave the timer
/// wait sleeping until its (possibly hour-long) deadline. Here the timer's
/// handler runs on the connection's thread and simply cancels the socket
/// operation; a closed socket fails the operation at once.
template <class Socket>
class Watchdog {
 public:
  Watchdog(Socket& socket, asio::steady_timer& timer, Clock::time_point deadline)
      : timer_(timer), state_(std::make_shared<State>()) {
    timer.expires_at(deadline);
    timer.async_wait([state = state_, &socket](std::error_code ec) {
      // A handler already queued when disarm() ran must not cancel a later operation.
      if (ec || state->disarmed) return;
      state->fired = true;
      std::error_code ignored;
      socket.cancel(ignored);
    });
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { disarm(); }

  /// Stops the watchdog; true if the deadline had passed (the operation was cancelled).
  bool disarm() {
    if (!state_->disarmed) {
      state_->disarmed = true;
      timer_.cancel();
    }
    return state_->fired;
  }

 private:
  struct State {
    bool fired = false;
    bool disarmed = false;
  };
  asio::steady_timer& timer_;
  std::shared_ptr<State> state_;
};

enum class WaitResult { readable, deadline, failed };

/// Waits until the socket is readable or `deadline` (if any) passes.
template <class Socket>
asio::awaitable<WaitResult> wait_readable(Socket& socket, asio::steady_timer& timer,
                                          std::optional<Clock::time_point> deadline) {
  std::error_code ec;
  if (!deadline) {
    co_await socket.async_wait(Socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    co_return ec ? WaitResult::failed : WaitResult::readable;
  }
  Watchdog<Socket> watchdog(socket, timer, *deadline);
  co_await socket.async_wait(Socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  if (watchdog.disarm()) co_return WaitResult::deadline;
  co_return ec ? WaitResult::failed : WaitResult::readable;
}

/// Lets work that finishes on another thread (an asynchronous authentication
/// provider) interrupt the connection's wait. Touched only on the connection's thread.
template <class Socket>
struct WakeLink {
  Socket* socket = nullptr;        // null once drive() has returned
  asio::steady_timer* timer = nullptr;  // null once drive() has returned
  bool waiting = false;                 // in the readability wait: cancelling it is safe
  bool pausing = false;                 // in pause(): cancelling the timer is safe
  bool woken = false;
};

/// Waits, reading nothing, until `deadline` (if any) passes; true if it did.
/// A wake or Server::stop() (which expires the timer) ends the wait early.
asio::awaitable<bool> pause(asio::steady_timer& timer, std::optional<Clock::time_point> deadline) {
  timer.expires_at(deadline ? *deadline : Clock::time_point::max());
  std::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

enum class ReadResult { drained, peer_gone, endpoint_closed, yield };

/// Reads what the socket has (non-blocking) into the endpoint, collecting its
/// output in `out`.
template <class Socket>
ReadResult read_available(Socket& socket, transport::Endpoint& endpoint, Bytes& out) {
  std::size_t total = 0;
  for (;;) {
    auto& buffer = read_buffer();
    std::error_code ec;
    const std::size_t n = socket.read_some(asio::buffer(buffer), ec);
    if (would_block(ec)) return ReadResult::drained;
    if (ec) {  // EOF, reset, ...: the peer is gone either way
      endpoint.peer_closed(Clock::now());
      return ReadResult::peer_gone;
    }
    endpoint.receive(BytesView(buffer.data(), n), Clock::now());
    if (endpoint.closed()) return ReadResult::endpoint_closed;
    endpoint.take_output(out);
    total += n;
    if (out.size() >= max_pending_output || total >= max_read_per_turn || !endpoint.wants_input())
      return ReadResult::yield;
  }
}

/// Shuts down our sending side and waits (briefly) for the peer's EOF before
/// closing: closing with unread input makes the kernel send RST, which can
/// destroy our last packets (the DISCONNECT) before the peer reads them.
template <class Socket>
asio::awaitable<void> linger_close(Socket& socket, asio::steady_timer& timer) {
  std::error_code ec;
  socket.shutdown(Socket::shutdown_send, ec);
  if (!ec) {
    const auto deadline = Clock::now() + linger_time;
    for (bool done = false; !done;) {
      if (co_await wait_readable(socket, timer, deadline) != WaitResult::readable) break;
      for (;;) {
        std::error_code rec;
        socket.read_some(asio::buffer(read_buffer()), rec);  // discarded
        if (would_block(rec)) break;
        if (rec) {
          done = true;
          break;
        }
      }
    }
  }
  socket.close(ec);
}

/// Lets wakes reach this connection's waits until drive() returns.
template <class Socket>
std::shared_ptr<WakeLink<Socket>> link_wake(Socket& socket, asio::steady_timer& timer, transport::Endpoint& endpoint) {
  auto link = std::make_shared<WakeLink<Socket>>();
  link->socket = &socket;
  link->timer = &timer;
  endpoint.set_wake([link, executor = socket.get_executor()] {
    asio::post(executor, [link] {
      if (link->socket == nullptr) return;
      link->woken = true;
      std::error_code ignored;
      if (link->waiting) link->socket->cancel(ignored);  // never a write in progress
      if (link->pausing) link->timer->cancel();
    });
  });
  return link;
}

/// Undoes link_wake() when drive() returns, however it does.
template <class Socket>
struct Unlink {
  WakeLink<Socket>& link;
  transport::Endpoint& endpoint;
  ~Unlink() {
    link.socket = nullptr;
    link.timer = nullptr;
    endpoint.set_wake(nullptr);
  }
};

/// Whether drive() goes on after a step.
enum class Step { go_on, over };

/// Writes `out` (everything the last step produced) as one write. Over when the
/// write failed or stalled: the socket is closed then.
template <class Socket>
asio::awaitable<Step> write_output(Socket& socket, asio::steady_timer& timer, transport::Endpoint& endpoint,
                                   Bytes& out, bool peer_gone) {
  std::error_code ec;
  bool stalled = false;
  {
    Watchdog<Socket> watchdog(socket, timer, Clock::now() + write_stall_timeout);
    co_await asio::async_write(socket, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
    stalled = watchdog.disarm();
  }
  Bytes().swap(out);    // hold no buffer while idle
  if (stalled || ec) {  // stalled (the write was cancelled part-way) or failed
    if (!peer_gone) endpoint.peer_closed(Clock::now());
    std::error_code ignored;
    socket.close(ignored);
    co_return Step::over;
  }
  endpoint.on_output_written(Clock::now());
  co_return Step::go_on;
}

/// Closes the socket once nothing is left to do: the endpoint is closed (after
/// a linger, unless the peer is gone) or the peer is gone.
template <class Socket>
asio::awaitable<Step> close_when_over(Socket& socket, asio::steady_timer& timer, transport::Endpoint& endpoint,
                                      bool peer_gone) {
  std::error_code ignored;
  if (endpoint.closed()) {
    if (peer_gone || !endpoint.linger_on_close())
      socket.close(ignored);
    else
      co_await linger_close(socket, timer);
    co_return Step::over;
  }
  if (peer_gone) {  // an endpoint that stays open after EOF has nothing left to read
    socket.shutdown(Socket::shutdown_both, ignored);
    socket.close(ignored);
    co_return Step::over;
  }
  co_return Step::go_on;
}

/// Waits for input, the endpoint's next deadline or a wake, whichever comes
/// first, and reads what came; `peer_gone` is set when the peer went away.
template <class Socket>
asio::awaitable<void> wait_and_read(Socket& socket, asio::steady_timer& timer, transport::Endpoint& endpoint,
                                    WakeLink<Socket>& link, Bytes& out, bool& peer_gone) {
  if (!endpoint.wants_input()) {
    // The endpoint holds all the output it may (replies queued behind a key
    // exchange): read nothing more, so the peer cannot make it queue without
    // bound, until a deadline (the kex timeout) or a wake changes that.
    link.pausing = true;
    const bool deadline_passed = co_await pause(timer, endpoint.next_deadline());
    link.pausing = false;
    if (deadline_passed) endpoint.on_time(Clock::now());
    co_return;
  }
  // No read is started while a write is pending: the caller's write completes first.
  link.waiting = true;
  const WaitResult waited = co_await wait_readable(socket, timer, endpoint.next_deadline());
  link.waiting = false;
  switch (waited) {
    case WaitResult::deadline:
      endpoint.on_time(Clock::now());
      co_return;
    case WaitResult::failed:
      if (link.woken) co_return;  // handled at the top of drive()'s loop
      if (socket.is_open()) {     // an error on an open socket: treat the peer as gone
        endpoint.peer_closed(Clock::now());
        peer_gone = true;
      }
      co_return;  // (closed under us: the loop's first check ends it)
    case WaitResult::readable:
      break;
  }
  if (read_available(socket, endpoint, out) == ReadResult::peer_gone) peer_gone = true;
}

}  // namespace

template <class Socket>
asio::awaitable<void> drive(Socket& socket, asio::steady_timer& timer,
                            transport::Endpoint& endpoint, BytesView first_input) {
  socket.non_blocking(true);
  const auto link = link_wake(socket, timer, endpoint);
  const Unlink<Socket> unlink{*link, endpoint};
  Bytes out;
  bool peer_gone = false;
  if (!first_input.empty()) endpoint.receive(first_input, Clock::now());
  for (;;) {
    if (link->woken && socket.is_open()) {
      link->woken = false;
      endpoint.on_time(Clock::now());
    }
    if (!socket.is_open()) {  // closed under us (Server::stop)
      if (!peer_gone && !endpoint.closed()) endpoint.peer_closed(Clock::now());
      co_return;
    }
    // Everything the last step produced goes out as one write, and what the
    // endpoint produced meanwhile goes out before the next wait.
    endpoint.take_output(out);
    if (!out.empty()) {
      if (co_await write_output(socket, timer, endpoint, out, peer_gone) == Step::over) co_return;
      continue;
    }
    if (co_await close_when_over(socket, timer, endpoint, peer_gone) == Step::over) co_return;
    co_await wait_and_read(socket, timer, endpoint, *link, out, peer_gone);
  }
}

// The driver's two kinds of connection: TCP, and a ProxyCommand's socketpair.
template asio::awaitable<void> drive(tcp::socket&, asio::steady_timer&, transport::Endpoint&, BytesView);
template asio::awaitable<void> drive(asio::local::stream_protocol::socket&, asio::steady_timer&,
                                     transport::Endpoint&, BytesView);

asio::awaitable<ReadBefore> read_before(tcp::socket& socket, asio::steady_timer& timer,
                                        Clock::time_point deadline, std::span<std::uint8_t> into,
                                        std::size_t& got) {
  got = 0;
  socket.non_blocking(true);
  for (;;) {
    const WaitResult waited = co_await wait_readable(socket, timer, deadline);
    if (waited == WaitResult::deadline) co_return ReadBefore::deadline;
    if (waited == WaitResult::failed) co_return ReadBefore::peer_gone;
    std::error_code ec;
    got = socket.read_some(asio::buffer(into.data(), into.size()), ec);
    if (would_block(ec)) continue;  // woken without data (a spurious readiness)
    co_return ec ? ReadBefore::peer_gone : ReadBefore::data;
  }
}

}  // namespace parley::driver::detail

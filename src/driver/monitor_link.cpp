// Both ends of the monitor's socketpair on Asio: readiness waits on the
// SOCK_SEQPACKET descriptor, then privsep::Channel's sendmsg/recvmsg, so every
// frame keeps its boundary and its descriptors.
#include "parley/driver/monitor_link.hpp"

#include <fcntl.h>
#include <poll.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <span>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>

#include "parley/crypto/secret.hpp"
#include "server_context.hpp"

namespace parley::driver {
namespace {

void set_non_blocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

bool would_block(const std::error_code& ec) {
  return ec == std::errc::resource_unavailable_try_again || ec == std::errc::operation_would_block;
}

void wipe(Bytes& frame) { crypto::secure_wipe(frame.data(), frame.size()); }

std::uint64_t conn_of(const privsep::Reply& reply) {
  return std::visit([](const auto& m) { return m.conn; }, reply);
}

}  // namespace

// ---------------------------------------------------------------------------
// The network process's end

struct MonitorLink::Impl {
  Impl(privsep::Channel c, std::function<void()> when_lost)
      : channel(std::move(c)), wait_fd(::dup(channel.fd())), on_lost(std::move(when_lost)) {
    set_non_blocking(channel.fd());
  }

  /// Waits on `context`, with the descriptor dup()ed before any sandbox.
  void attach_to(asio::io_context& context) {
    io = &context;
    socket.emplace(context, wait_fd.release());
    hold_timer.emplace(context);
    read();
    std::lock_guard lock(mutex);
    if (!outgoing.empty()) asio::post(context, [this] { flush(); });  // sent before start
  }

  /// Sends `frame` after everything before it (under `mutex`): at once from
  /// this thread when nothing is queued, else queued for flush(). True if the
  /// caller must post a flush().
  bool send_locked(Bytes frame) {
    if (!writing && outgoing.empty()) {
      // The lock keeps frames in order; a datagram is sent whole or not at all.
      auto sent = channel.send(frame);
      if (sent || !would_block(sent.error())) {
        wipe(frame);
        return false;  // a lost monitor shows on the read side
      }
    }
    outgoing.push_back(std::move(frame));
    if (writing || io == nullptr) return false;  // not started: attach_to() flushes
    writing = true;
    return true;
  }

  /// Sends the held notices (under `mutex`); true if the caller must post a flush().
  bool release_held() {
    bool post = false;
    for (auto& notice : held) post = send_locked(std::move(notice)) || post;
    held.clear();
    return post;
  }

  void post_flush() {
    asio::post(*io, [this] { flush(); });
  }

  /// On the link's loop: sends what is still held when the hold ends.
  void arm_hold() {
    hold_timer->expires_after(hold_limit);
    hold_timer->async_wait([this](std::error_code ec) {
      if (ec) return;
      bool post = false;
      {
        std::lock_guard lock(mutex);
        hold_armed = false;
        post = release_held();
      }
      if (post) flush();
    });
  }

  privsep::Channel channel;
  UniqueFd wait_fd;  // a second descriptor of the channel's socket, for waits
  std::function<void()> on_lost;
  std::unique_ptr<asio::io_context> own_io;  // start() without a server: its own loop and thread
  asio::io_context* io = nullptr;
  std::optional<asio::posix::stream_descriptor> socket;
  std::thread thread;

  std::mutex mutex;  // guards outgoing, held, hold_armed, receivers, next_conn, dropped
  std::deque<Bytes> outgoing;
  bool writing = false;
  // Notices (send_later) wait here for the next frame, at most hold_limit (the
  // timer then wakes this loop at most four times a second, whatever the rate): a
  // login's ConnectionOpened goes with its KexSign, and a ConnectionClosed with
  // whatever comes next, instead of waking the monitor by themselves.
  static constexpr auto hold_limit = std::chrono::milliseconds(250);
  static constexpr std::size_t hold_most = 64;
  std::vector<Bytes> held;
  bool hold_armed = false;
  std::optional<asio::steady_timer> hold_timer;  // on `io`
  std::unordered_map<std::uint64_t, Deliver> receivers;
  std::uint64_t next_conn = 1;
  std::uint64_t dropped = 0;
  // Held while frames are taken from the socket and delivered, by the event
  // loop's wait or by pump(): replies keep their order whichever thread reads.
  std::mutex reading;
  std::atomic<bool> lost{false};

  void lose() {
    if (lost.exchange(true)) return;
    if (on_lost) on_lost();
  }

  /// Sends what is queued until the socket is full; then waits for room.
  void flush() {
    for (;;) {
      Bytes frame;
      {
        std::lock_guard lock(mutex);
        if (outgoing.empty()) {
          writing = false;
          return;
        }
        frame = std::move(outgoing.front());
        outgoing.pop_front();
      }
      auto sent = channel.send(frame);
      if (!sent && would_block(sent.error())) {
        std::lock_guard lock(mutex);
        outgoing.push_front(std::move(frame));
        socket->async_wait(asio::posix::stream_descriptor::wait_write,
                          [this](std::error_code ec) {
                            if (!ec) flush();
                          });
        return;
      }
      wipe(frame);
      if (!sent) return lose();
    }
  }

  void read() {
    socket->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this](std::error_code ec) {
                         if (ec) return;
                         if (drain()) read();
                      });
  }

  /// Takes and delivers every frame waiting on the socket; false once the
  /// monitor has gone.
  bool drain() {
    std::lock_guard hold(reading);
    if (lost) return false;
    for (;;) {
      auto got = channel.receive();
      if (!got && would_block(got.error())) return true;
      if (!got) {
        lose();
        return false;
      }
      auto reply = privsep::decode_reply(got->frame);
      wipe(got->frame);  // a KexSigned frame holds K
      Deliver deliver;
      if (reply) {
        std::lock_guard lock(mutex);
        if (auto it = receivers.find(conn_of(*reply)); it != receivers.end()) deliver = it->second;
      }
      if (!deliver) {
        std::lock_guard lock(mutex);
        ++dropped;
        continue;
      }
      deliver(std::move(*reply), std::move(got->fds));
    }
  }
};

MonitorLink::MonitorLink(privsep::Channel channel, std::function<void()> on_lost)
    : impl_(std::make_unique<Impl>(std::move(channel), std::move(on_lost))) {}

MonitorLink::~MonitorLink() { stop(); }

void MonitorLink::start() {
  impl_->own_io = std::make_unique<asio::io_context>(1);
  impl_->attach_to(*impl_->own_io);
  impl_->thread = std::thread([impl = impl_.get()] {
    auto guard = asio::make_work_guard(*impl->own_io);
    impl->own_io->run();
  });
}

void MonitorLink::start(Server& server) { impl_->attach_to(first_context(server)); }

bool MonitorLink::pump(std::chrono::milliseconds limit) {
  pollfd p{impl_->channel.fd(), POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(limit.count()));
  if (ready < 0) return !impl_->lost;  // EINTR: the caller asks again
  return impl_->drain();
}

void MonitorLink::stop() {
  if (impl_->own_io) impl_->own_io->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Both descriptors of the socket close now, so the monitor sees the end at
  // once, whatever handlers the stopped loop still holds.
  impl_->socket.reset();
  impl_->hold_timer.reset();
  impl_->wait_fd.reset();
  impl_->channel = privsep::Channel(UniqueFd());
}

std::uint64_t MonitorLink::attach(Deliver deliver) {
  std::lock_guard lock(impl_->mutex);
  const std::uint64_t conn = impl_->next_conn++;
  impl_->receivers.emplace(conn, std::move(deliver));
  return conn;
}

void MonitorLink::detach(std::uint64_t conn) {
  std::lock_guard lock(impl_->mutex);
  impl_->receivers.erase(conn);
}

void MonitorLink::send(Bytes frame) {
  bool post = false;
  {
    std::lock_guard lock(impl_->mutex);
    post = impl_->release_held();
    post = impl_->send_locked(std::move(frame)) || post;
  }
  if (post) impl_->post_flush();
}

void MonitorLink::send_later(Bytes notice) {
  bool post = false;
  bool arm = false;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->held.push_back(std::move(notice));
    if (impl_->held.size() >= Impl::hold_most || impl_->io == nullptr) {
      post = impl_->release_held();
    } else if (!impl_->hold_armed) {
      impl_->hold_armed = arm = true;
    }
  }
  if (post) impl_->post_flush();
  if (arm) asio::post(*impl_->io, [impl = impl_.get()] { impl->arm_hold(); });
}

std::uint64_t MonitorLink::dropped_replies() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->dropped;
}

// ---------------------------------------------------------------------------
// The monitor's end

struct MonitorLoop::Impl {
  Impl(privsep::Channel c, privsep::Monitor& m, MonitorLog l, privsep::Executor* e)
      : channel(std::move(c)), socket(io, ::dup(channel.fd())), monitor(m), log(std::move(l)), executor(e) {}

  asio::io_context io{1};
  privsep::Channel channel;
  asio::posix::stream_descriptor socket;
  privsep::Monitor& monitor;
  MonitorLog log;
  privsep::Executor* executor;
  asio::steady_timer timer{io};
  std::optional<transport::Instant> armed_for;  // what `timer` waits for
  asio::steady_timer tick{io};  // while the executor watches programs or connects
  bool ticking = false;
  bool peer_gone = false;

  static transport::Instant now() { return transport::Clock::now(); }

  /// Sends what the monitor answered and logs what it reports; then re-arms
  /// its deadline. Sends block: the monitor has nothing else to do meanwhile.
  void answer() {
    if (executor) {
      for (auto& action : monitor.take_actions()) executor->perform(std::move(action), now());
    }
    for (auto& frame : monitor.take_frames()) {
      if (!send(frame, {})) return;
    }
    if (executor) {
      for (auto& out : executor->take_outgoing()) {
        std::vector<int> fds;
        for (const auto& fd : out.fds) fds.push_back(fd.get());
        if (!send(out.frame, fds)) return;
      }
      for (const auto& [conn, handle] : executor->take_ended()) monitor.session_ended(conn, handle);
    }
    for (const auto& event : monitor.take_log())
      if (log) log(event);
    arm();
    watch();
  }

  bool send(Bytes& frame, std::span<const int> fds) {
    auto sent = channel.send(frame, fds);
    wipe(frame);
    if (sent) return true;
    peer_gone = true;
    io.stop();
    return false;
  }

  /// Programs and connects are checked every few milliseconds while there are any.
  void watch() {
    if (!executor || ticking || (executor->watches().empty() && !executor->next_deadline())) return;
    ticking = true;
    tick.expires_after(std::chrono::milliseconds(20));
    tick.async_wait([this](std::error_code ec) {
      ticking = false;
      if (ec) return;
      executor->poll(now());
      answer();
    });
  }

  /// Re-arms the deadline timer only when the deadline moved (most frames
  /// leave it where it was).
  void arm() {
    const auto deadline = monitor.next_deadline();
    if (deadline == armed_for) return;
    armed_for = deadline;
    if (!deadline) {
      timer.cancel();
      return;
    }
    timer.expires_at(*deadline);
    timer.async_wait([this](std::error_code ec) {
      if (ec) return;
      armed_for.reset();
      monitor.on_time(now());
      answer();
    });
  }

  /// Takes every frame waiting, then answers them together: frames that came
  /// together (a notice and a request) cost one wake.
  void read() {
    socket.async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
      if (ec) return;
      for (;;) {
        // Without waiting: the monitor's sends stay blocking on the same socket.
        auto got = channel.receive(privsep::Channel::Wait::no);
        if (!got && would_block(got.error())) break;
        if (!got) {
          peer_gone = true;
          io.stop();
          return;
        }
        // The network process never sends descriptors: any that came are closed here.
        monitor.handle(got->frame, now());
        wipe(got->frame);  // a password or answers
      }
      answer();
      read();
    });
  }
};

MonitorLoop::MonitorLoop(privsep::Channel channel, privsep::Monitor& monitor, MonitorLog log,
                         privsep::Executor* executor)
    : impl_(std::make_unique<Impl>(std::move(channel), monitor, std::move(log), executor)) {
  Impl* impl = impl_.get();
  monitor.set_wake([impl] {
    asio::post(impl->io, [impl] {
      impl->monitor.on_time(Impl::now());
      impl->answer();
    });
  });
}

MonitorLoop::~MonitorLoop() { impl_->monitor.set_wake({}); }

bool MonitorLoop::run() {
  impl_->read();
  impl_->arm();
  impl_->io.run();
  return impl_->peer_gone;
}

void MonitorLoop::stop() { impl_->io.stop(); }

}  // namespace parley::driver

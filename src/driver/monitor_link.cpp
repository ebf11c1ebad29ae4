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
    socket.emplace(context, wait_fd.release());
    hold_timer.emplace(context);
    read();
    std::lock_guard lock(mutex);
    io = &context;
    if (!outgoing.empty()) post_flush_locked();  // queued before start
  }

  /// Posts one flush for everything queued so far (under `mutex`): the frames
  /// of one pass of the event loop go to the monitor together.
  void post_flush_locked() {
    if (flush_posted || io == nullptr) return;
    flush_posted = true;
    asio::post(*io, [this] { flush(true); });
  }

  /// Moves the held notices to the queue, before what comes next (under `mutex`).
  void release_held_locked() {
    for (auto& notice : held) outgoing.push_back(std::move(notice));
    held.clear();
  }

  /// On the link's loop: sends what is still held when the hold ends.
  void arm_hold() {
    hold_timer->expires_after(hold_limit);
    hold_timer->async_wait([this](std::error_code ec) {
      if (ec) return;
      {
        std::lock_guard lock(mutex);
        hold_armed = false;
        release_held_locked();
      }
      flush(true);
    });
  }

  privsep::Channel channel;
  UniqueFd wait_fd;  // a second descriptor of the channel's socket, for waits
  std::function<void()> on_lost;
  std::unique_ptr<asio::io_context> own_io;  // start() without a server: its own loop and thread
  asio::io_context* io = nullptr;            // under `mutex` once started
  std::optional<asio::posix::stream_descriptor> socket;
  std::thread thread;

  std::mutex mutex;  // guards io, outgoing, flush_posted, held, hold_armed, receivers, next_conn, dropped
  std::deque<Bytes> outgoing;
  bool flush_posted = false;  // a flush is posted, or waits for room on the socket
  std::mutex sending;         // one flush at a time, so frames leave in order
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

  /// Sends everything queued, in one sendmmsg where it fits. When the socket is
  /// full (the monitor has not read yet), the rest waits for room: on the loop
  /// (`on_loop`) by a write wait, elsewhere (pump()) by a posted flush.
  void flush(bool on_loop) {
    std::lock_guard order(sending);
    std::deque<Bytes> batch;
    {
      std::lock_guard lock(mutex);
      batch.swap(outgoing);
      flush_posted = false;
    }
    if (batch.empty()) return;
    std::vector<privsep::Channel::Outgoing> frames;
    frames.reserve(batch.size());
    for (const auto& frame : batch) frames.push_back({frame, {}});
    auto sent = channel.send_batch(frames);
    const std::size_t went = sent ? *sent : 0;
    for (std::size_t i = 0; i < went; ++i) wipe(batch[i]);
    if (!sent && !would_block(sent.error())) {
      for (auto& frame : batch) wipe(frame);
      return lose();
    }
    if (went == batch.size()) return;
    std::lock_guard lock(mutex);
    for (std::size_t i = batch.size(); i-- > went;) outgoing.push_front(std::move(batch[i]));
    if (!on_loop) return post_flush_locked();
    flush_posted = true;
    socket->async_wait(asio::posix::stream_descriptor::wait_write, [this](std::error_code ec) {
      if (!ec) flush(true);
    });
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
  impl_->flush(false);  // the question this caller waits on may still be queued
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

void MonitorLink::set_control(Deliver deliver) {
  std::lock_guard lock(impl_->mutex);
  impl_->receivers[0] = std::move(deliver);  // attach() hands out ids from 1
}

void MonitorLink::send(Bytes frame) {
  std::lock_guard lock(impl_->mutex);
  impl_->release_held_locked();
  impl_->outgoing.push_back(std::move(frame));
  impl_->post_flush_locked();
}

void MonitorLink::send_later(Bytes notice) {
  bool arm = false;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->held.push_back(std::move(notice));
    if (impl_->held.size() >= Impl::hold_most || impl_->io == nullptr) {
      impl_->release_held_locked();
      impl_->post_flush_locked();
    } else if (!impl_->hold_armed) {
      impl_->hold_armed = arm = true;
    }
  }
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
  // Replies the network process's socket had no room for (the socket is
  // non-blocking: Asio made it so), sent in order once there is room. Meanwhile
  // no request is read, so a network process that stops reading holds the
  // monitor to one drain's replies.
  struct Pending {
    Bytes frame;
    std::vector<UniqueFd> fds;
  };
  std::deque<Pending> pending;
  bool waiting_room = false;
  // Frames taken per wake at most, so the replies of one wake stay bounded.
  static constexpr int drain_most = 64;

  static transport::Instant now() { return transport::Clock::now(); }

  /// Sends what the monitor answered and logs what it reports; then re-arms
  /// its deadline.
  void answer() {
    if (executor) {
      for (auto& action : monitor.take_actions()) executor->perform(std::move(action), now());
    }
    for (auto& frame : monitor.take_frames()) pending.push_back({std::move(frame), {}});
    if (executor) {
      for (auto& out : executor->take_outgoing()) pending.push_back({std::move(out.frame), std::move(out.fds)});
      for (const auto& [conn, handle] : executor->take_ended()) monitor.session_ended(conn, handle);
    }
    for (const auto& event : monitor.take_log())
      if (log) log(event);
    flush();
    if (peer_gone) return;
    arm();
    watch();
  }

  /// Sends every pending reply, as few sendmmsg() calls as fit: the network
  /// process wakes once for all the replies of one wake. Each frame is wiped
  /// once sent (K, or a session's details).
  void flush() {
    while (!waiting_room && !pending.empty()) {
      std::vector<std::vector<int>> fds(pending.size());
      std::vector<privsep::Channel::Outgoing> batch;
      batch.reserve(pending.size());
      for (std::size_t i = 0; i < pending.size(); ++i) {
        for (const auto& fd : pending[i].fds) fds[i].push_back(fd.get());
        batch.push_back({pending[i].frame, fds[i]});
      }
      auto sent = channel.send_batch(batch);
      if (!sent && !would_block(sent.error())) {
        for (auto& p : pending) wipe(p.frame);
        pending.clear();
        peer_gone = true;
        io.stop();
        return;
      }
      for (std::size_t i = 0; i < (sent ? *sent : 0); ++i) {
        wipe(pending.front().frame);
        pending.pop_front();
      }
      if (!pending.empty() && (!sent || *sent < batch.size())) wait_for_room();
    }
  }

  void wait_for_room() {
    waiting_room = true;
    socket.async_wait(asio::posix::stream_descriptor::wait_write, [this](std::error_code ec) {
      waiting_room = false;
      if (ec) return;
      flush();
      if (pending.empty() && !peer_gone) read();
    });
  }

  /// Reads on: at once if frames of the last datagram are still in the
  /// channel's buffer (the socket would not wake for them), else when readable.
  void read() {
    if (!channel.buffered()) return wait_readable();
    asio::post(io, [this] { take_frames(); });
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

  /// take_frames() takes the frames waiting (up to drain_most), then answers
  /// them together: frames that came together cost one wake. It reads again
  /// once every reply has gone.
  void wait_readable() {
    socket.async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
      if (!ec) take_frames();
    });
  }

  void take_frames() {
    for (int i = 0; i < drain_most; ++i) {
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
    if (!peer_gone && !waiting_room) read();
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

void MonitorLoop::post(std::function<std::optional<privsep::Outgoing>()> job) {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl, job = std::move(job)] {
    if (auto out = job()) impl->pending.push_back({std::move(out->frame), std::move(out->fds)});
    impl->answer();
  });
}

}  // namespace parley::driver

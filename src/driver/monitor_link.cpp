// Both ends of the monitor's socketpair on Asio: readiness waits on the
// SOCK_SEQPACKET descriptor, then privsep::Channel's sendmsg/recvmsg, so every
// frame keeps its boundary and its descriptors.
#include "parley/driver/monitor_link.hpp"

#include <fcntl.h>

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
    read();
    std::lock_guard lock(mutex);
    if (!outgoing.empty()) asio::post(context, [this] { flush(); });  // sent before start
  }

  privsep::Channel channel;
  UniqueFd wait_fd;  // a second descriptor of the channel's socket, for waits
  std::function<void()> on_lost;
  std::unique_ptr<asio::io_context> own_io;  // the link's own loop, run by `thread`
  asio::io_context* io = nullptr;
  std::optional<asio::posix::stream_descriptor> socket;
  std::thread thread;

  std::mutex mutex;  // guards outgoing, receivers, next_conn, dropped
  std::deque<Bytes> outgoing;
  bool writing = false;
  std::unordered_map<std::uint64_t, Deliver> receivers;
  std::uint64_t next_conn = 1;
  std::uint64_t dropped = 0;
  bool lost = false;  // link thread only

  void lose() {
    if (lost) return;
    lost = true;
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
                         drain();
                      });
  }

  /// Takes every frame waiting on the socket, then waits for more.
  void drain() {
    for (;;) {
      auto got = channel.receive();
      if (!got && would_block(got.error())) return read();
      if (!got) return lose();
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

void MonitorLink::stop() {
  if (impl_->own_io) impl_->own_io->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Both descriptors of the socket close now, so the monitor sees the end at
  // once, whatever handlers the stopped loop still holds.
  impl_->socket.reset();
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
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->writing && impl_->outgoing.empty()) {
      // Nothing queued: send from this thread, without a hop to the link's.
      // The lock keeps frames in order; a datagram is sent whole or not at all.
      auto sent = impl_->channel.send(frame);
      if (sent || !would_block(sent.error())) {
        wipe(frame);
        return;  // a lost monitor shows on the read side
      }
    }
    impl_->outgoing.push_back(std::move(frame));
    if (impl_->writing || impl_->io == nullptr) return;  // not started: attach_to() flushes
    impl_->writing = true;
  }
  asio::post(*impl_->io, [impl = impl_.get()] { impl->flush(); });
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

  void arm() {
    const auto deadline = monitor.next_deadline();
    if (!deadline) {
      timer.cancel();
      return;
    }
    timer.expires_at(*deadline);
    timer.async_wait([this](std::error_code ec) {
      if (ec) return;
      monitor.on_time(now());
      answer();
    });
  }

  void read() {
    socket.async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
      if (ec) return;
      auto got = channel.receive();
      if (!got) {
        peer_gone = true;
        io.stop();
        return;
      }
      // The network process never sends descriptors: any that came are closed here.
      monitor.handle(got->frame, now());
      wipe(got->frame);  // a password or answers
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

// The two ends of the socketpair between parleyd's root monitor and its
// unprivileged network process (issue 14), as the driver runs them.
//
// MonitorLink is the network process's end: frames from any connection's thread
// go out in order, and each reply goes back to the connection it is about (its
// `conn`). run_monitor() is the monitor's end: it feeds the frames to the
// sans-I/O privsep::Monitor and sends back what it answers. When either process
// is gone the other learns it here and parleyd exits: the pair lives and dies
// together.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "parley/driver/server.hpp"
#include "parley/privsep/channel.hpp"
#include "parley/privsep/executor.hpp"
#include "parley/privsep/monitor.hpp"
#include "parley/privsep/protocol.hpp"
#include "parley/wire/bytes.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::driver {

class MonitorLink {
 public:
  /// A reply for one connection, with the descriptors that came with it.
  /// Called on the thread that reads the link (its own, the server's first
  /// event loop's, or a pump()ing caller's): the receiver hands it to its connection.
  using Deliver = std::function<void(privsep::Reply reply, std::vector<UniqueFd> fds)>;

  /// `on_lost` runs once, on the thread that reads the link, when the monitor
  /// has gone (end of stream or an error on the socket).
  MonitorLink(privsep::Channel channel, std::function<void()> on_lost);
  /// stop().
  ~MonitorLink();
  MonitorLink(const MonitorLink&) = delete;
  MonitorLink& operator=(const MonitorLink&) = delete;

  /// Starts the link on a thread of its own. Call start() or start(server) once.
  void start();
  /// Runs the link on `server`'s first event loop, so a reply reaches a
  /// connection there without a hop between threads (each is a context switch,
  /// which a login through the monitor pays per question). Call before the
  /// server starts; stop() the link after the server has stopped, before it goes.
  void start(Server& server);
  /// Stops the link's own thread, if any, and closes its end of the socket;
  /// frames not yet sent are dropped. Idempotent.
  void stop();

  /// For a caller that must wait in place for a reply (Deliver() hands it over):
  /// waits at most `limit` for frames and delivers them on this thread, so the
  /// wait also works on the thread whose event loop reads the link. False once
  /// the monitor has gone.
  bool pump(std::chrono::milliseconds limit);

  /// A connection id for a new connection whose replies go to `deliver`.
  std::uint64_t attach(Deliver deliver);
  /// No more replies for `conn` (those still arriving are dropped).
  void detach(std::uint64_t conn);
  /// Where frames about no connection (conn 0: Reconfigure) go, with their descriptors.
  void set_control(Deliver deliver);
  /// Queues one frame (any thread). Frames queued in one pass of the link's
  /// event loop leave together, in order, in one sendmmsg(): the monitor then
  /// wakes once for them all. The frame is wiped once sent: it may hold a
  /// password or answers.
  void send(Bytes frame);
  /// Queues a notice nothing waits for (ConnectionOpened, ConnectionClosed): it
  /// goes out just before the next send(), or within 250 ms, so it does not wake
  /// the monitor by itself. Order with send() is kept.
  void send_later(Bytes notice);

  /// Frames the monitor sent that did not decode, or were for no connection.
  std::uint64_t dropped_replies() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// What run_monitor() reports for the log.
using MonitorLog = std::function<void(const privsep::LogEvent&)>;

/// Serves the network process at the other end of `channel` with `monitor`
/// until it is gone or `stop` (see below) is called; returns then. Runs on the
/// calling thread, one frame at a time, with the monitor's deadlines and wakes.
class MonitorLoop {
 public:
  /// `executor` (may be null: no session or forwarding) carries out what the
  /// monitor decides the operating system must do.
  MonitorLoop(privsep::Channel channel, privsep::Monitor& monitor, MonitorLog log,
              privsep::Executor* executor = nullptr);
  ~MonitorLoop();
  MonitorLoop(const MonitorLoop&) = delete;
  MonitorLoop& operator=(const MonitorLoop&) = delete;
  /// Runs until the network process is gone or stop(); true if it ended because
  /// the other end went away.
  bool run();
  /// Thread-safe: makes run() return.
  void stop();
  /// Thread-safe: runs `job` on the loop's thread, between frames (it may use
  /// the Monitor and the Executor); the frame it returns, if any, goes to the
  /// network process after the replies already queued.
  void post(std::function<std::optional<privsep::Outgoing>()> job);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::driver

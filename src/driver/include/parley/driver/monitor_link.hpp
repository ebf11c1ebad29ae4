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

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

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
  /// Called on the link's own thread: the receiver hands it to its connection.
  using Deliver = std::function<void(privsep::Reply reply, std::vector<UniqueFd> fds)>;

  /// `on_lost` runs once, on the link's thread, when the monitor has gone (end
  /// of stream or an error on the socket).
  MonitorLink(privsep::Channel channel, std::function<void()> on_lost);
  /// stop().
  ~MonitorLink();
  MonitorLink(const MonitorLink&) = delete;
  MonitorLink& operator=(const MonitorLink&) = delete;

  /// Starts the link on a thread of its own, never a connection's: a remote
  /// forward's listen waits on its connection's thread for the monitor. Call once.
  void start();
  /// Stops the link's thread and closes its end of the socket;
  /// frames not yet sent are dropped. Idempotent.
  void stop();

  /// A connection id for a new connection whose replies go to `deliver`.
  std::uint64_t attach(Deliver deliver);
  /// No more replies for `conn` (those still arriving are dropped).
  void detach(std::uint64_t conn);
  /// Queues one frame (any thread). The frame is wiped once sent: it may hold a
  /// password or answers.
  void send(Bytes frame);

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

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::driver

// Per-source penalties shared between parleyd instances through a SharedState
// (docs/scale-out.md): each accrual a SourceLimiter reports is added to the
// backend's netblock penalty, and about once a second the backend's active
// penalties are fetched and handed back (to SourceLimiter::import, or, in a
// privilege-separated parleyd, to the monitor's relay to the network process).
//
// SharedState calls block (up to the backend's timeout), so they run on this
// class's own thread, never on the caller's: accrued() only queues. A backend
// that cannot answer is reported at most once per error_log_interval and
// stops nothing; local penalties keep working meanwhile.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parley/driver/source_limiter.hpp"
#include "parley/state/shared_state.hpp"

namespace parley::driver {

struct PenaltySharingOptions {
  /// How often the backend's penalties are fetched.
  std::chrono::milliseconds poll_interval{1000};
  /// At most this many penalties per fetch (the latest ending).
  std::size_t limit = 1024;
  /// Accruals waiting to be pushed; beyond this they are dropped (and counted
  /// in the next error line), so a slow backend cannot grow memory.
  std::size_t max_queued = 4096;
  /// At most one error line per this interval.
  std::chrono::seconds error_log_interval{30};
};

class PenaltySharing {
 public:
  /// The backend's penalties, fetched at `unix_now`; called on this class's thread.
  using OnPenalties = std::function<void(std::vector<SharedPenalty> penalties, std::int64_t unix_now)>;
  /// A line for the log (an error, rate-limited, or the backend answering again).
  using OnLog = std::function<void(bool error, const std::string& line)>;

  /// Starts the thread. `state` must not be null.
  PenaltySharing(std::shared_ptr<state::SharedState> state, OnPenalties on_penalties, OnLog log,
                 PenaltySharingOptions options = {});
  /// Stops and joins the thread (waiting for at most the call in progress).
  ~PenaltySharing();
  PenaltySharing(const PenaltySharing&) = delete;
  PenaltySharing& operator=(const PenaltySharing&) = delete;

  /// Queues `accrual` for the backend; never blocks. Thread-safe.
  void accrued(PenaltyAccrual accrual);

 private:
  void run();
  void push(std::vector<PenaltyAccrual> batch);
  void fetch();
  void failed(const state::StateError& e);
  void answered();
  void say(bool error, const std::string& line);

  const std::shared_ptr<state::SharedState> state_;
  const OnPenalties on_penalties_;
  const OnLog log_;
  const PenaltySharingOptions options_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<PenaltyAccrual> queue_;
  std::size_t dropped_ = 0;
  bool stopping_ = false;

  // The thread's own (no lock).
  bool failing_ = false;
  std::chrono::steady_clock::time_point last_error_log_{};
  std::size_t errors_not_logged_ = 0;

  std::thread thread_;  // last: started once everything above is built
};

}  // namespace parley::driver

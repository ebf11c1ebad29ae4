// A bounded pool of worker threads for work that blocks or burns CPU (password
// hashing, PAM), so that it never runs on an I/O thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace parley::driver {

class WorkerPool {
 public:
  /// `threads` workers; at most `max_queued` jobs waiting (beyond that, submit() refuses).
  WorkerPool(unsigned threads, std::size_t max_queued);
  /// Runs the jobs already queued, then joins.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues `job`; false (job not run) if the queue is full or the pool is stopping,
  /// so a flood of logins cannot grow memory without bound.
  bool submit(std::function<void()> job);
  std::size_t queued() const;

  /// What the queue has been through, for logs and tests.
  struct Stats {
    std::size_t max_queued = 0;  // the bound
    std::size_t high_water = 0;  // the most jobs ever waiting at once (<= max_queued)
    std::size_t refused = 0;     // submit() calls turned away
  };
  Stats stats() const;

 private:
  void run();
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::size_t max_queued_;
  std::size_t high_water_ = 0;
  std::size_t refused_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace parley::driver

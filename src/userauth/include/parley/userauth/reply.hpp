// One answer handed back to a sans-I/O core, now or later, from any thread: the
// one mechanism behind the server's provider Responder and the client's ReplyTo.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace parley::userauth {

/// Where an answer waits for the core to collect it. The core owns it (shared
/// with the ReplyTo handles it gives out); an answerer only deliver()s.
template <class T>
class ReplyBox {
 public:
  /// Called after an answer is left, to have the driver run the core again.
  void set_wake(std::function<void()> wake) {
    std::lock_guard lock(mutex_);
    wake_ = std::move(wake);
  }
  /// Leaves `value` unless the box is cancelled or already holds an answer.
  /// The wake runs under the box's lock: the core cancels under the same lock
  /// (an aborted attempt, a connection that went away), so once it has, no
  /// wake is still running on a worker or PAM thread to reach a driver the
  /// server has freed. A wake only posts to the driver; it never takes this lock.
  void deliver(T&& value) {
    std::lock_guard lock(mutex_);
    if (cancelled_ || value_) return;
    value_ = std::move(value);
    if (wake_) wake_();
  }
  /// The answer left so far, if any; the box then waits for the next one.
  std::optional<T> take() {
    std::lock_guard lock(mutex_);
    std::optional<T> out = std::move(value_);
    value_.reset();
    return out;
  }
  /// From now on answers are dropped and no wake runs.
  void cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    wake_ = nullptr;
  }
  bool cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<T> value_;
  bool cancelled_ = false;
  std::function<void()> wake_;
};

/// Delivers one answer to the core: call it once, now or later, from any
/// thread. A call after the box was cancelled, or while it still holds an
/// uncollected answer, is ignored.
template <class T>
class ReplyTo {
 public:
  explicit ReplyTo(std::shared_ptr<ReplyBox<T>> box) : box_(std::move(box)) {}
  void operator()(T value) const { box_->deliver(std::move(value)); }

 private:
  std::shared_ptr<ReplyBox<T>> box_;
};

}  // namespace parley::userauth

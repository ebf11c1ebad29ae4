// A first-in first-out queue that holds no memory while empty.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace parley {

/// The queues of a connection (events, messages held back) are empty nearly all
/// the time, and there are several per connection: libstdc++'s std::deque
/// allocates about 600 bytes even when empty, which an idle connection would pay
/// for each of them. This one is a vector read from the front, given back to the
/// allocator once drained.
template <class T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  void push_back(T value) { items_.push_back(std::move(value)); }
  template <class... Args>
  T& emplace_back(Args&&... args) {
    return items_.emplace_back(std::forward<Args>(args)...);
  }
  void pop_front() {
    ++head_;
    if (head_ == items_.size()) clear();
  }
  void clear() {
    std::vector<T>().swap(items_);
    head_ = 0;
  }
  /// The items still queued, oldest first.
  auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return items_.end(); }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace parley

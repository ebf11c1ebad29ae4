#include "parley/driver/penalty_sharing.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace parley::driver {
namespace {

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

PenaltySharing::PenaltySharing(std::shared_ptr<state::SharedState> state, OnPenalties on_penalties,
                               OnLog log, PenaltySharingOptions options)
    : state_(std::move(state)),
      on_penalties_(std::move(on_penalties)),
      log_(std::move(log)),
      options_(options),
      thread_([this] { run(); }) {}

PenaltySharing::~PenaltySharing() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void PenaltySharing::accrued(PenaltyAccrual accrual) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (queue_.size() >= options_.max_queued) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(accrual));
  }
  wake_.notify_one();
}

void PenaltySharing::run() {
  auto next_fetch = std::chrono::steady_clock::now();
  for (;;) {
    std::vector<PenaltyAccrual> batch;
    std::size_t dropped = 0;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_fetch, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      batch.swap(queue_);
      std::swap(dropped, dropped_);
    }
    if (dropped != 0)
      failed(state::StateError{std::to_string(dropped) + " penalties not shared (backend too slow)"});
    push(std::move(batch));
    if (std::chrono::steady_clock::now() >= next_fetch) {
      fetch();
      next_fetch = std::chrono::steady_clock::now() + options_.poll_interval;
    }
  }
}

void PenaltySharing::push(std::vector<PenaltyAccrual> batch) {
  // One call per netblock however many accruals it had since the last pass:
  // a flood from one source is not a flood of backend calls.
  std::map<std::string, PenaltyAccrual> merged;
  for (auto& a : batch) {
    auto [it, fresh] = merged.try_emplace(a.netblock, a);
    if (fresh) continue;
    it->second.seconds += a.seconds;
    it->second.max = std::max(it->second.max, a.max);
  }
  for (const auto& [netblock, a] : merged) {
    auto added = state_->add_penalty(netblock, unix_seconds(), a.seconds, a.max);
    if (!added) {
      failed(added.error());
      return;  // the backend is failing: the rest would fail too (the limiter still has them)
    }
    answered();
  }
}

void PenaltySharing::fetch() {
  const std::int64_t now = unix_seconds();
  auto list = state_->penalties(now, options_.limit);
  if (!list) {
    failed(list.error());
    return;
  }
  answered();
  std::vector<SharedPenalty> penalties;
  penalties.reserve(std::min(list->size(), options_.limit));
  for (auto& p : *list) {
    if (penalties.size() >= options_.limit) break;
    penalties.push_back(SharedPenalty{std::move(p.netblock), p.until});
  }
  try {
    if (on_penalties_) on_penalties_(std::move(penalties), now);
  } catch (...) {  // the receiver's failure must not end the thread
  }
}

void PenaltySharing::failed(const state::StateError& e) {
  failing_ = true;
  const auto now = std::chrono::steady_clock::now();
  if (last_error_log_ != std::chrono::steady_clock::time_point{} &&
      now - last_error_log_ < options_.error_log_interval) {
    ++errors_not_logged_;
    return;
  }
  std::string line = "shared penalties: " + e.what + " (local penalties still apply)";
  if (errors_not_logged_ != 0)
    line += "; " + std::to_string(errors_not_logged_) + " more errors not logged";
  errors_not_logged_ = 0;
  last_error_log_ = now;
  say(true, line);
}

void PenaltySharing::say(bool error, const std::string& line) {
  try {
    if (log_) log_(error, line);
  } catch (...) {  // a logging failure must not end the thread
  }
}

void PenaltySharing::answered() {
  if (!failing_) return;
  failing_ = false;
  say(false, "shared penalties: " + state_->describe() + " answers again");
}

}  // namespace parley::driver

// memory_state(): SharedState in this process, behind one mutex, bounded.
//
// The memory implementation has no clock: it expires records against the
// latest time it was handed (the `now` of try_acquire, add_penalty and
// penalties, and a claimed step's start), which is "now" to within a TOTP
// window for a server that calls it as parleyd does.
#include <algorithm>
#include <limits>
#include <map>
#include <mutex>

#include "digest.hpp"
#include "parley/state/shared_state.hpp"

namespace parley::state {
namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();

// Drops from a full `map` the entries `expired` says are over, then, if it is
// still full, the one `stalest` orders first, so that one more fits.
template <class Map, class Expired, class Older>
void make_room(Map& map, std::size_t max_keys, Expired expired, Older older) {
  if (map.size() < max_keys) return;
  std::erase_if(map, [&](const auto& entry) { return expired(entry.second); });
  while (map.size() >= max_keys) {
    map.erase(std::min_element(map.begin(), map.end(),
                               [&](const auto& a, const auto& b) { return older(a.second, b.second); }));
  }
}

class MemoryState final : public SharedState {
 public:
  explicit MemoryState(std::size_t max_keys) : max_keys_(std::max<std::size_t>(max_keys, 1)) {}

  std::string describe() const override { return "memory"; }

  std::expected<bool, StateError> claim_totp_step(std::string_view user, std::int64_t step_time,
                                                  std::chrono::seconds keep) override {
    std::lock_guard lock(mutex_);
    saw(step_time);
    auto it = steps_.find(user);
    if (it != steps_.end() && it->second.expires > now_ && it->second.step >= step_time) return false;
    const Step record{step_time, std::max(now_, step_time) + std::max<std::int64_t>(keep.count(), 1)};
    if (it != steps_.end()) {
      it->second = record;
      return true;
    }
    make_room(steps_, max_keys_, [&](const Step& s) { return s.expires <= now_; },
              [](const Step& a, const Step& b) { return a.expires < b.expires; });
    steps_.emplace(user, record);
    return true;
  }

  std::expected<bool, StateError> claim_scratch_code(std::string_view user, std::string_view digest) override {
    if (!is_hex_digest(digest)) return std::unexpected(StateError{"memory: a scratch digest must be hex"});
    std::string key = std::to_string(user.size()) + ':' + std::string(user) + std::string(digest);
    std::lock_guard lock(mutex_);
    if (scratch_.contains(key)) return false;
    // Only the oldest claims are forgotten, and only past max_keys of them.
    while (scratch_.size() >= max_keys_) {
      scratch_.erase(scratch_order_.begin()->second);
      scratch_order_.erase(scratch_order_.begin());
    }
    const std::uint64_t seq = next_scratch_++;
    scratch_order_.emplace(seq, key);
    scratch_.emplace(std::move(key), seq);
    return true;
  }

  // As parley::otp::RateLimiter::try_acquire, with max_failures and period per call.
  std::expected<bool, StateError> try_acquire(std::string_view user, std::int64_t now, std::size_t max_failures,
                                              std::chrono::seconds period) override {
    const std::size_t max = std::max<std::size_t>(max_failures, 1);
    const std::int64_t p = std::max<std::int64_t>(period.count(), 1);
    std::lock_guard lock(mutex_);
    saw(now);
    auto it = failures_.find(user);
    if (it != failures_.end()) {
      const auto recent = std::count_if(it->second.begin(), it->second.end(), [&](std::int64_t t) { return t > now - p; });
      if (static_cast<std::size_t>(recent) >= max) return false;
    } else {
      // Full: drop the users whose failures have all aged out; if none have,
      // the one with the stalest last failure.
      make_room(failures_, max_keys_, [&](const Times& t) { return t.back() <= now - p; },
                [](const Times& a, const Times& b) { return a.back() < b.back(); });
      it = failures_.emplace(std::string(user), Times{}).first;
    }
    Times& times = it->second;
    std::erase_if(times, [&](std::int64_t t) { return t <= now - p; });
    times.push_back(now);
    // Only the last `max` can matter to the check above.
    if (times.size() > max) times.erase(times.begin(), times.end() - static_cast<std::ptrdiff_t>(max));
    return true;
  }

  std::expected<void, StateError> clear_failures(std::string_view user) override {
    std::lock_guard lock(mutex_);
    if (auto it = failures_.find(user); it != failures_.end()) failures_.erase(it);
    return {};
  }

  std::expected<std::int64_t, StateError> add_penalty(std::string_view netblock, std::int64_t now,
                                                      std::chrono::seconds seconds,
                                                      std::chrono::seconds max) override {
    std::lock_guard lock(mutex_);
    saw(now);
    auto it = penalties_.find(netblock);
    const std::int64_t base = it != penalties_.end() && it->second > now ? it->second : now;
    const std::int64_t end = std::min(base + seconds.count(), now + max.count());
    if (end <= now) {
      if (it != penalties_.end()) penalties_.erase(it);
      return end;
    }
    if (it != penalties_.end()) {
      it->second = end;
      return end;
    }
    make_room(penalties_, max_keys_, [&](std::int64_t until) { return until <= now; },
              [](std::int64_t a, std::int64_t b) { return a < b; });
    penalties_.emplace(std::string(netblock), end);
    return end;
  }

  std::expected<std::vector<Penalty>, StateError> penalties(std::int64_t now, std::size_t limit) override {
    std::lock_guard lock(mutex_);
    saw(now);
    std::erase_if(penalties_, [&](const auto& entry) { return entry.second <= now; });
    std::vector<Penalty> out;
    out.reserve(penalties_.size());
    for (const auto& [netblock, until] : penalties_) out.push_back(Penalty{netblock, until});
    // Latest end first (ties: netblock descending, as Redis's ZREVRANGEBYSCORE).
    std::sort(out.begin(), out.end(), [](const Penalty& a, const Penalty& b) {
      return a.until != b.until ? a.until > b.until : a.netblock > b.netblock;
    });
    if (out.size() > limit) out.resize(limit);
    return out;
  }

 private:
  struct Step {
    std::int64_t step = 0;
    std::int64_t expires = 0;
  };
  using Times = std::vector<std::int64_t>;

  void saw(std::int64_t t) { now_ = std::max(now_, t); }  // with mutex_ held

  const std::size_t max_keys_;
  std::mutex mutex_;
  std::int64_t now_ = kNever;
  std::map<std::string, Step, std::less<>> steps_;
  std::map<std::string, std::uint64_t, std::less<>> scratch_;  // key -> claim number
  std::map<std::uint64_t, std::string> scratch_order_;         // claim number -> key
  std::uint64_t next_scratch_ = 0;
  std::map<std::string, Times, std::less<>> failures_;
  std::map<std::string, std::int64_t, std::less<>> penalties_;  // netblock -> end
};

}  // namespace

std::shared_ptr<SharedState> memory_state(std::size_t max_keys) { return std::make_shared<MemoryState>(max_keys); }

}  // namespace parley::state

#include "parley/otp/provider.hpp"

#include <algorithm>
#include <chrono>

namespace parley::otp {

RateLimiter::RateLimiter(std::size_t max_failures, std::chrono::seconds period, std::size_t max_users)
    : max_failures_(std::max<std::size_t>(max_failures, 1)),
      period_(std::max<std::int64_t>(period.count(), 1)),
      max_users_(std::max<std::size_t>(max_users, 1)) {}

bool RateLimiter::allow(const std::string& user, std::int64_t now) const {
  std::lock_guard lock(mutex_);
  const auto it = failures_.find(user);
  if (it == failures_.end()) return true;
  const auto recent = std::count_if(it->second.begin(), it->second.end(),
                                    [&](std::int64_t t) { return t > now - period_; });
  return static_cast<std::size_t>(recent) < max_failures_;
}

bool RateLimiter::try_acquire(const std::string& user, std::int64_t now) {
  std::lock_guard lock(mutex_);
  if (const auto it = failures_.find(user); it != failures_.end()) {
    const auto recent = std::count_if(it->second.begin(), it->second.end(),
                                      [&](std::int64_t t) { return t > now - period_; });
    if (static_cast<std::size_t>(recent) >= max_failures_) return false;
  }
  record_failure(user, now);
  return true;
}

void RateLimiter::failed(const std::string& user, std::int64_t now) {
  std::lock_guard lock(mutex_);
  record_failure(user, now);
}

void RateLimiter::record_failure(const std::string& user, std::int64_t now) {
  if (!failures_.contains(user) && failures_.size() >= max_users_) {
    // Full: drop the entries whose failures have all aged out; if none have,
    // the one with the stalest last failure.
    std::erase_if(failures_, [&](const auto& entry) { return entry.second.back() <= now - period_; });
    if (failures_.size() >= max_users_) {
      auto stalest = std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
        return a.second.back() < b.second.back();
      });
      failures_.erase(stalest);
    }
  }
  auto& times = failures_[user];
  std::erase_if(times, [&](std::int64_t t) { return t <= now - period_; });
  times.push_back(now);
  // Only the last max_failures_ matter to allow().
  if (times.size() > max_failures_) times.erase(times.begin(), times.end() - static_cast<std::ptrdiff_t>(max_failures_));
}

void RateLimiter::succeeded(const std::string& user) {
  std::lock_guard lock(mutex_);
  failures_.erase(user);
}

std::size_t RateLimiter::tracked() const {
  std::lock_guard lock(mutex_);
  return failures_.size();
}

UnixClock system_unix_clock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

void TotpProvider::start(const userauth::AttemptInfo& attempt, userauth::Responder respond) {
  user_ = attempt.user;
  peer_ = attempt.peer;
  respond(userauth::Challenge{"", "", {userauth::Prompt{config_->prompt, false}}});
}

namespace {

std::string_view describe(Verdict v) {
  switch (v) {
    case Verdict::accepted: return "accepted";
    case Verdict::accepted_scratch: return "accepted a scratch code";
    case Verdict::wrong: return "wrong code";
    case Verdict::replayed: return "code already used (replayed)";
    case Verdict::rate_limited: return "rate limited by the store";
    case Verdict::no_secret: return "no TOTP secret for this user";
  }
  return "?";
}

}  // namespace

void TotpProvider::answer(std::vector<crypto::SecretBytes> answers, userauth::Responder respond) {
  if (answers.size() != 1) return respond(userauth::Reject{});
  auto config = config_;
  const std::int64_t now = config->clock();
  auto report = [config, user = user_, peer = peer_](std::string_view what) {
    if (config->on_result) config->on_result(user, peer, what);
  };
  // The try counts as a failure from here until the store accepts the code:
  // checking and counting apart would let parallel guesses all pass the check.
  if (config->limiter && !config->limiter->try_acquire(user_, now)) {
    report("too many wrong codes: refused without checking");
    return respond(userauth::Reject{});
  }
  auto code = std::make_shared<crypto::SecretBytes>(std::move(answers[0]));
  auto job = [config, code, now, report, user = user_, respond] {
    auto verdict = config->store->redeem(user, *code, now, config->policy);
    if (!verdict) {
      // The state could not be read or saved: fail closed.
      report("store error: " + verdict.error().message());
      return respond(userauth::Reject{});
    }
    report(describe(*verdict));
    if (accepted(*verdict)) {
      if (config->limiter) config->limiter->succeeded(user);
      return respond(userauth::Accept{});
    }
    respond(userauth::Reject{});  // already counted by try_acquire()
  };
  if (!config->run) return job();
  if (!config->run(job)) {
    report("worker pool full: refused");
    respond(userauth::Reject{});
  }
}

}  // namespace parley::otp

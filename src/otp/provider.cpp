#include "parley/otp/provider.hpp"

#include <algorithm>
#include <chrono>

namespace parley::otp {

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
  auto code = std::make_shared<crypto::SecretBytes>(std::move(answers[0]));
  auto job = [config, code, now, report, user = user_, respond] {
    // The try counts as a failure from here until the store accepts the code:
    // checking and counting apart would let parallel guesses all pass the check.
    if (config->failures) {
      auto allowed = config->failures->try_acquire(user, now, config->max_failures, config->failure_period);
      if (!allowed) {
        report("shared state error (code refused): " + allowed.error().what);
        return respond(userauth::Reject{});
      }
      if (!*allowed) {
        report("too many wrong codes: refused without checking");
        return respond(userauth::Reject{});
      }
    }
    auto verdict = config->store->redeem(user, *code, now, config->policy);
    if (!verdict) {
      // The state could not be read or saved: fail closed.
      report("store error: " + verdict.error().message());
      return respond(userauth::Reject{});
    }
    report(describe(*verdict));
    if (accepted(*verdict)) {
      if (config->failures) {
        if (auto cleared = config->failures->clear_failures(user); !cleared)
          report("shared state error (the failed tries stay counted): " + cleared.error().what);
      }
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

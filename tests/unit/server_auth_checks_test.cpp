// Pre-authentication work is bounded: password and TOTP checks of aborted
// attempts are dropped before they run, a connection holds at most
// max_pending_checks of them, and the core reports its pre-authentication
// phase for the server's admission control.
#include <gtest/gtest.h>

#include <atomic>

#include "parley/userauth/server_auth.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley::userauth {
namespace {

using namespace std::chrono_literals;
using transport::PreauthState;

Bytes password_request(std::string_view user, std::string_view password) {
  Bytes p;
  wire::Writer w(p);
  w.byte(transport::msg::userauth_request).string(user).string(std::string_view("ssh-connection"));
  w.string(std::string_view("password")).boolean(false).string(password);
  return p;
}

Bytes kbdint_request(std::string_view user) {
  Bytes p;
  wire::Writer w(p);
  w.byte(transport::msg::userauth_request).string(user).string(std::string_view("ssh-connection"));
  w.string(std::string_view("keyboard-interactive"))
      .string(std::string_view{})
      .string(std::string_view{});
  return p;
}

Bytes none_request(std::string_view user) {
  Bytes p;
  wire::Writer w(p);
  w.byte(transport::msg::userauth_request).string(user).string(std::string_view("ssh-connection"));
  w.string(std::string_view("none"));
  return p;
}

Bytes info_response(std::string_view answer) {
  Bytes p;
  wire::Writer(p).byte(61).uint32(1).string(answer);
  return p;
}

/// A password server whose "worker pool" is a queue the test runs by hand.
struct Checks {
  std::shared_ptr<ServerAuthConfig> config = std::make_shared<ServerAuthConfig>();
  std::shared_ptr<std::atomic<int>> hashed = std::make_shared<std::atomic<int>>(0);
  std::vector<std::function<void()>> queue;
  transport::Instant now = test::test_epoch();
  std::unique_ptr<ServerAuth> auth;
  std::vector<Bytes> sent;
  std::vector<PreauthState> phases;
  Bytes sid{1, 2, 3};

  Checks() {
    config->limits.failure_delay = 0ms;
    config->password = std::make_shared<const PasswordVerifier>(
        [hashed = hashed](std::string_view user, const crypto::SecretBytes& pw) {
          ++*hashed;  // the expensive part
          return user == "alice" && answer_text(pw) == "correct horse";
        });
    config->run_blocking = [this](std::function<void()> job) {
      queue.push_back(std::move(job));
      return true;
    };
  }
  ServerAuth& get() {
    if (!auth) {
      auth = std::make_unique<ServerAuth>(config, "127.0.0.1:1", now);
      auth->set_preauth_listener([this](PreauthState s) { phases.push_back(s); });
    }
    return *auth;
  }
  void feed(const Bytes& p) {
    get().handle(p, sid, now);
    drain();
  }
  void drain() {
    for (auto& m : get().take_messages()) sent.push_back(m);
    while (get().poll_event()) {
    }
  }
  void run_queue() {
    auto jobs = std::move(queue);
    queue.clear();
    for (auto& j : jobs) j();
    if (auth) {
      auth->on_time(now);
      drain();
    }
  }
  std::uint8_t last_sent() const { return sent.empty() ? 0 : sent.back()[0]; }
};

TEST(PreauthChecks, AbortedPasswordCheckIsDroppedBeforeItRuns) {
  Checks c;
  c.feed(password_request("alice", "guess 1"));
  ASSERT_EQ(c.queue.size(), 1u);
  c.feed(none_request("alice"));  // RFC 4252 §5: a new request aborts the attempt
  c.run_queue();
  EXPECT_EQ(*c.hashed, 0);  // the hash was never computed
}

TEST(PreauthChecks, CheckOfADisconnectedClientIsDroppedBeforeItRuns) {
  Checks c;
  c.feed(password_request("alice", "correct horse"));
  ASSERT_EQ(c.queue.size(), 1u);
  c.auth.reset();  // the connection ended
  c.run_queue();
  EXPECT_EQ(*c.hashed, 0);
}

TEST(PreauthChecks, KeyboardInteractivePasswordCheckOfAnAbortedAttemptIsDropped) {
  Checks c;
  c.feed(kbdint_request("alice"));
  c.feed(info_response("guess"));
  ASSERT_EQ(c.queue.size(), 1u);
  c.feed(none_request("alice"));
  c.run_queue();
  EXPECT_EQ(*c.hashed, 0);
}

TEST(PreauthChecks, AConnectionHoldsAtMostOneQueuedOrRunningCheck) {
  Checks c;
  c.config->limits.max_requests = 1000;
  c.config->limits.max_failures = 1000;
  c.feed(password_request("alice", "guess 1"));
  c.feed(password_request("alice", "guess 2"));  // aborts 1; 1 still holds the slot
  EXPECT_EQ(c.queue.size(), 1u);                 // 2 failed closed instead of queueing
  EXPECT_EQ(c.last_sent(), transport::msg::userauth_failure);
  for (int i = 0; i < 50; ++i) c.feed(password_request("alice", "guess n"));
  EXPECT_EQ(c.queue.size(), 1u);
  c.run_queue();  // the aborted check is dropped and frees the slot
  EXPECT_EQ(*c.hashed, 0);
  c.feed(password_request("alice", "correct horse"));
  ASSERT_EQ(c.queue.size(), 1u);
  c.run_queue();
  EXPECT_EQ(*c.hashed, 1);
  EXPECT_EQ(c.last_sent(), transport::msg::userauth_success);
}

TEST(PreauthChecks, TheBoundIsConfigurable) {
  Checks c;
  c.config->limits.max_pending_checks = 3;
  c.config->limits.max_requests = 1000;
  c.config->limits.max_failures = 1000;
  for (int i = 0; i < 10; ++i) c.feed(password_request("alice", "guess"));
  EXPECT_EQ(c.queue.size(), 3u);
}

TEST(PreauthChecks, ProvidersGetTheAttemptsBoundedCancellableRunner) {
  // The TOTP provider (and any other that blocks) runs its work through
  // AttemptInfo::run_blocking: the same rules apply to it.
  Checks c;
  c.config->password = nullptr;
  auto ran = std::make_shared<int>(0);
  struct Blocking final : KeyboardInteractiveProvider {
    explicit Blocking(AttemptInfo info, std::shared_ptr<int> ran)
        : info_(std::move(info)), ran_(std::move(ran)) {}
    std::string_view name() const override { return "blocking"; }
    void start(const AttemptInfo&, Responder r) override {
      r(Challenge{"", "", {Prompt{"Code: ", false}}});
    }
    void answer(std::vector<crypto::SecretBytes>, Responder r) override {
      if (!info_.run_blocking([ran = ran_, r] {
            ++*ran;
            r(Reject{});
          }))
        r(Reject{});
    }
    AttemptInfo info_;
    std::shared_ptr<int> ran_;
  };
  c.config->named_providers["blocking"] = [ran](const AttemptInfo& info) {
    EXPECT_TRUE(info.run_blocking);
    return std::make_unique<Blocking>(info, ran);
  };
  c.config->chains = {{{ChainMethod::keyboard_interactive, "blocking"}}};
  c.feed(kbdint_request("alice"));
  c.feed(info_response("123456"));
  ASSERT_EQ(c.queue.size(), 1u);
  c.feed(kbdint_request("alice"));  // aborts the first attempt
  c.feed(info_response("654321"));  // its check is refused: the slot is still held
  EXPECT_EQ(c.queue.size(), 1u);
  c.run_queue();
  EXPECT_EQ(*ran, 0);
}

TEST(PreauthChecks, PoolRefusalReleasesTheSlot) {
  Checks c;
  bool full = true;
  c.config->run_blocking = [&](std::function<void()> job) {
    if (full) return false;
    c.queue.push_back(std::move(job));
    return true;
  };
  c.feed(password_request("alice", "correct horse"));
  EXPECT_EQ(c.last_sent(), transport::msg::userauth_failure);  // failed closed
  full = false;
  c.feed(password_request("alice", "correct horse"));
  ASSERT_EQ(c.queue.size(), 1u);
  c.run_queue();
  EXPECT_EQ(c.last_sent(), transport::msg::userauth_success);
}

TEST(PreauthChecks, ACollectedAnswerFreesItsSlotBeforeItsJobReturns) {
  // A job answers, then its worker thread still has to return. Once the core
  // has collected the answer, the client's next request (a signed publickey
  // request right after PK_OK, an INFO_RESPONSE right after a challenge) is
  // checked: it is not failed closed as if the connection had a check pending.
  Checks c;
  c.config->password = nullptr;
  auto refused = std::make_shared<int>(0);
  auto between = std::make_shared<std::function<void()>>();  // after the answer, before the return
  struct Pooled final : KeyboardInteractiveProvider {
    Pooled(AttemptInfo info, std::shared_ptr<int> refused, std::shared_ptr<std::function<void()>> between)
        : info_(std::move(info)), refused_(std::move(refused)), between_(std::move(between)) {}
    std::string_view name() const override { return "pooled"; }
    void start(const AttemptInfo&, Responder r) override {
      run([r, between = between_] {
        r(Challenge{"", "", {Prompt{"Code: ", false}}});
        (*between)();
      }, r);
    }
    void answer(std::vector<crypto::SecretBytes>, Responder r) override {
      run([r] { r(Accept{}); }, r);
    }
    void run(std::function<void()> job, const Responder& r) {
      if (info_.run_blocking(std::move(job))) return;
      ++*refused_;
      r(Reject{});
    }
    AttemptInfo info_;
    std::shared_ptr<int> refused_;
    std::shared_ptr<std::function<void()>> between_;
  };
  c.config->named_providers["pooled"] = [refused, between](const AttemptInfo& info) {
    return std::make_unique<Pooled>(info, refused, between);
  };
  c.config->chains = {{{ChainMethod::keyboard_interactive, "pooled"}}};
  *between = [&c] {
    c.auth->on_time(c.now);  // the driver, woken, collects the challenge
    c.drain();
    ASSERT_EQ(c.last_sent(), 60);  // USERAUTH_INFO_REQUEST
    c.feed(info_response("123456"));  // the client answers at once
  };
  c.feed(kbdint_request("alice"));
  ASSERT_EQ(c.queue.size(), 1u);
  c.run_queue();
  EXPECT_EQ(*refused, 0);
  ASSERT_EQ(c.queue.size(), 1u);  // the answer's check was queued
  c.run_queue();
  EXPECT_EQ(c.last_sent(), transport::msg::userauth_success);
}

TEST(PreauthPhase, NoneIsNotAnAttempt) {
  Checks c;
  c.feed(none_request("alice"));
  EXPECT_TRUE(c.phases.empty());
}

TEST(PreauthPhase, ReportsAttemptThenSuccess) {
  Checks c;
  c.feed(password_request("alice", "correct horse"));
  c.run_queue();
  EXPECT_EQ(c.phases,
            (std::vector<PreauthState>{PreauthState::attempted, PreauthState::authenticated}));
}

TEST(PreauthPhase, ReportsLoginGraceExceeded) {
  Checks c;
  c.get();
  c.now += c.config->limits.login_grace;
  c.get().on_time(c.now);
  EXPECT_EQ(c.phases, std::vector<PreauthState>{PreauthState::grace_exceeded});
}

}  // namespace
}  // namespace parley::userauth

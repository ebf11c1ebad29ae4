// The TOTP keyboard-interactive provider and its per-user rate limit (counted in
// state::memory_state(), or a backend that cannot be reached), with a
// fixed clock. The store here is an in-memory TotpStore (the file stores have
// their own tests in otp_store_test); it counts what reaches it, so the tests
// can tell a code that was checked from one refused before checking.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "parley/otp/provider.hpp"
#include "parley/state/shared_state.hpp"
#include "unreachable_state.hpp"

namespace parley::otp {
namespace {

using userauth::Accept;
using userauth::Challenge;
using userauth::Outcome;
using userauth::Reject;

crypto::SecretBytes secret_of(std::string_view text) { return crypto::SecretBytes(as_bytes(text)); }

/// Accepts "123456" once per step for "alice"; "error" users make the store fail.
class MemoryStore final : public TotpStore {
 public:
  std::string describe() const override { return "memory"; }
  std::expected<Verdict, StoreError> redeem(std::string_view user, const crypto::SecretBytes& code,
                                            std::int64_t unix_time, const Policy& policy) override {
    ++calls;
    last_window = policy.window;
    if (user == "error") return std::unexpected(StoreError{"state", 3, "cannot be saved"});
    if (user != "alice") return Verdict::no_secret;
    if (as_chars(code.view()) != "123456") return Verdict::wrong;
    const std::int64_t step = unix_time / 30;
    if (step <= last_step) return Verdict::replayed;
    last_step = step;
    return Verdict::accepted;
  }
  std::expected<void, StoreError> enroll(std::string_view, const Enrollment&) override { return {}; }

  std::atomic<int> calls{0};
  unsigned last_window = 99;
  std::int64_t last_step = -1;
};

struct Harness {
  std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
  std::int64_t now = 1'700'000'000;
  std::vector<std::string> results;
  std::shared_ptr<TotpProviderConfig> config = [this] {
    auto c = std::make_shared<TotpProviderConfig>();
    c->store = store;
    c->failures = state::memory_state();
    c->max_failures = 3;
    c->failure_period = std::chrono::seconds(60);
    c->clock = [this] { return now; };
    c->policy.window = 2;
    c->on_result = [this](std::string_view, std::string_view, std::string_view what) {
      results.emplace_back(what);
    };
    return c;
  }();

  /// Runs one attempt for `user` answering `code`; returns the final outcome.
  Outcome attempt(const std::string& user, std::string_view code) {
    TotpProvider provider(config);
    auto box = std::make_shared<userauth::detail::Mailbox>();
    provider.start(userauth::AttemptInfo{user, "ssh-connection", "127.0.0.1:5", {}, {}, {}, {}}, userauth::Responder(box));
    const std::optional<Outcome> first = box->take();
    EXPECT_TRUE(first.has_value());
    const auto* challenge = first ? std::get_if<Challenge>(&*first) : nullptr;
    EXPECT_NE(challenge, nullptr);
    if (!challenge) return Reject{};
    EXPECT_EQ(challenge->prompts.size(), 1u);
    EXPECT_EQ(challenge->prompts[0].text, "Verification code: ");
    EXPECT_FALSE(challenge->prompts[0].echo);
    auto box2 = std::make_shared<userauth::detail::Mailbox>();
    std::vector<crypto::SecretBytes> answers;
    answers.push_back(secret_of(code));
    provider.answer(std::move(answers), userauth::Responder(box2));
    std::optional<Outcome> second = box2->take();
    EXPECT_TRUE(second.has_value());
    return second ? *second : Outcome{Reject{}};
  }
};

bool is_accept(const Outcome& o) { return std::holds_alternative<Accept>(o); }

TEST(TotpProvider, RightCodeOnceThenReplayRefused) {
  Harness h;
  EXPECT_TRUE(is_accept(h.attempt("alice", "123456")));
  EXPECT_EQ(h.store->last_window, 2u) << "the policy's window reaches the store";
  EXPECT_FALSE(is_accept(h.attempt("alice", "123456")));
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.results[0], "accepted");
  EXPECT_EQ(h.results[1], "code already used (replayed)");
}

TEST(TotpProvider, UsersWithoutSecretAreAskedAndRejected) {
  Harness h;
  EXPECT_FALSE(is_accept(h.attempt("mallory", "123456")));  // attempt() checked the prompt
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0], "no TOTP secret for this user");
}

TEST(TotpProvider, StoreErrorFailsClosed) {
  Harness h;
  EXPECT_FALSE(is_accept(h.attempt("error", "123456")));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0], "store error: state:3: cannot be saved");
}

TEST(TotpProvider, RateLimitRefusesWithoutCheckingThenRecovers) {
  Harness h;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(is_accept(h.attempt("alice", "000000")));
  EXPECT_EQ(h.store->calls.load(), 3);
  EXPECT_FALSE(is_accept(h.attempt("alice", "123456"))) << "limited: even the right code";
  EXPECT_EQ(h.store->calls.load(), 3) << "the store was not consulted";
  EXPECT_EQ(h.results.back(), "too many wrong codes: refused without checking");
  h.now += 61;  // the failures age out
  EXPECT_TRUE(is_accept(h.attempt("alice", "123456")));
}

TEST(TotpProvider, ASuccessClearsTheUsersFailures) {
  Harness h;
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(is_accept(h.attempt("alice", "000000")));
  EXPECT_TRUE(is_accept(h.attempt("alice", "123456")));  // the third try, within the limit
  h.now += 30;
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(is_accept(h.attempt("alice", "000000")));
  EXPECT_TRUE(is_accept(h.attempt("alice", "123456"))) << "the earlier tries were forgotten";
}

TEST(TotpProvider, AnUnreachableFailureCounterFailsClosed) {
  Harness h;
  h.config->failures = std::make_shared<test::UnreachableState>();
  EXPECT_FALSE(is_accept(h.attempt("alice", "123456"))) << "the right code, but its tries cannot be counted";
  EXPECT_EQ(h.store->calls.load(), 0) << "refused before the store was asked";
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0], "shared state error (code refused): redis 127.0.0.1:1: connection refused");
}

TEST(TotpProvider, RateLimitIsPerUser) {
  Harness h;
  for (int i = 0; i < 3; ++i) h.attempt("bob", "000000");
  EXPECT_TRUE(is_accept(h.attempt("alice", "123456")));
}

TEST(TotpProvider, RunsOnTheRunnerAndFailsClosedWhenItIsFull) {
  Harness h;
  std::vector<std::function<void()>> queued;
  bool full = false;
  h.config->run = [&](std::function<void()> job) {
    if (full) return false;
    queued.push_back(std::move(job));
    return true;
  };
  TotpProvider provider(h.config);
  auto box = std::make_shared<userauth::detail::Mailbox>();
  provider.start(userauth::AttemptInfo{"alice", "ssh-connection", "p", {}, {}, {}, {}}, userauth::Responder(box));
  auto box2 = std::make_shared<userauth::detail::Mailbox>();
  std::vector<crypto::SecretBytes> answers;
  answers.push_back(secret_of("123456"));
  provider.answer(std::move(answers), userauth::Responder(box2));
  EXPECT_FALSE(box2->take().has_value()) << "nothing decided on the calling thread";
  ASSERT_EQ(queued.size(), 1u);
  std::thread worker(queued[0]);
  worker.join();
  const std::optional<Outcome> decided = box2->take();
  ASSERT_TRUE(decided.has_value());
  EXPECT_TRUE(is_accept(*decided));

  full = true;
  h.now += 30;
  EXPECT_FALSE(is_accept(h.attempt("alice", "123456")));
  EXPECT_EQ(h.results.back(), "worker pool full: refused");
}

/// A store that takes a moment over each code, so guesses overlap.
class SlowStore final : public TotpStore {
 public:
  std::string describe() const override { return "slow"; }
  std::expected<Verdict, StoreError> redeem(std::string_view, const crypto::SecretBytes&,
                                            std::int64_t, const Policy&) override {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return Verdict::wrong;
  }
  std::expected<void, StoreError> enroll(std::string_view, const Enrollment&) override {
    return {};
  }
  std::atomic<int> calls{0};
};

TEST(TotpProvider, RateLimitCheckedAndCountedInOneStepUnderParallelGuesses) {
  // Many connections guessing at once: a check-then-count limiter lets every
  // guess past the check before the first failure is counted.
  auto store = std::make_shared<SlowStore>();
  auto config = std::make_shared<TotpProviderConfig>();
  config->store = store;
  config->failures = state::memory_state();
  config->max_failures = 3;
  config->failure_period = std::chrono::seconds(60);
  config->clock = [] { return std::int64_t{1'700'000'000}; };
  constexpr int guessers = 32;
  std::atomic<int> rejected{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < guessers; ++i) {
    threads.emplace_back([&] {
      TotpProvider provider(config);
      auto box = std::make_shared<userauth::detail::Mailbox>();
      provider.start(userauth::AttemptInfo{"alice", "ssh-connection", "p", {}, {}, {}, {}},
                     userauth::Responder(box));
      while (!go.load()) std::this_thread::yield();
      auto box2 = std::make_shared<userauth::detail::Mailbox>();
      std::vector<crypto::SecretBytes> answers;
      answers.push_back(secret_of("000000"));
      provider.answer(std::move(answers), userauth::Responder(box2));
      const std::optional<Outcome> decided = box2->take();
      if (decided && std::holds_alternative<Reject>(*decided)) ++rejected;
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(rejected.load(), guessers);
  EXPECT_EQ(store->calls.load(), 3) << "only max_failures guesses may reach the store";
}

TEST(TotpProvider, WrongNumberOfAnswersRejected) {
  Harness h;
  TotpProvider provider(h.config);
  auto box = std::make_shared<userauth::detail::Mailbox>();
  provider.start(userauth::AttemptInfo{"alice", "ssh-connection", "p", {}, {}, {}, {}}, userauth::Responder(box));
  auto box2 = std::make_shared<userauth::detail::Mailbox>();
  std::vector<crypto::SecretBytes> answers;
  answers.push_back(secret_of("123456"));
  answers.push_back(secret_of("123456"));
  provider.answer(std::move(answers), userauth::Responder(box2));
  const std::optional<Outcome> decided = box2->take();
  ASSERT_TRUE(decided.has_value());
  EXPECT_FALSE(is_accept(*decided));
  EXPECT_EQ(h.store->calls.load(), 0);
}

}  // namespace
}  // namespace parley::otp

// The userauth core on its own (sans-I/O): protocol rules and limits are the
// core's, whatever the provider does.
#include "parley/userauth/server_auth.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "parley/userauth/higher_or_lower.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace parley::userauth {
namespace {

using namespace std::chrono_literals;
using transport::DisconnectReason;

Bytes request(std::string_view user, std::string_view method = "keyboard-interactive",
              std::string_view service = "ssh-connection") {
  Bytes p;
  wire::Writer w(p);
  w.byte(transport::msg::userauth_request).string(user).string(service).string(method);
  if (method == "keyboard-interactive") w.string(std::string_view{}).string(std::string_view{});
  return p;
}

Bytes info_response(std::initializer_list<std::string_view> answers) {
  Bytes p;
  wire::Writer w(p);
  w.byte(61).uint32(static_cast<std::uint32_t>(answers.size()));
  for (auto a : answers) w.string(a);
  return p;
}

/// A provider scripted by the test: a sequence of outcomes, and a log of calls.
struct Script {
  std::vector<Outcome> outcomes;
  std::size_t next = 0;
  std::vector<std::vector<std::string>> answers_seen;
  int destroyed = 0;
};

class ScriptedProvider final : public KeyboardInteractiveProvider {
 public:
  explicit ScriptedProvider(Script& s) : s_(s) {}
  ~ScriptedProvider() override { ++s_.destroyed; }
  std::string_view name() const override { return "scripted"; }
  void start(const AttemptInfo&, Responder r) override { reply(std::move(r)); }
  void answer(std::vector<crypto::SecretBytes> answers, Responder r) override {
    std::vector<std::string> seen;
    for (auto& a : answers) seen.emplace_back(answer_text(a));
    s_.answers_seen.push_back(seen);
    reply(std::move(r));
  }

 private:
  void reply(Responder r) {
    r(s_.next < s_.outcomes.size() ? s_.outcomes[s_.next++] : Outcome{});
  }
  Script& s_;
};

Challenge one_prompt(std::string text = "Code: ") { return Challenge{"n", "i", {Prompt{text, false}}}; }

struct Harness {
  Script script;
  std::shared_ptr<ServerAuthConfig> config = std::make_shared<ServerAuthConfig>();
  transport::Instant now = test::test_epoch();
  std::unique_ptr<ServerAuth> auth;
  std::vector<Bytes> sent;
  std::vector<AuthEvent> events;
  Bytes sid{1, 2, 3};

  Harness() {
    config->keyboard_interactive = [this](const AttemptInfo&) {
      return std::make_unique<ScriptedProvider>(script);
    };
    config->limits.failure_delay = 0ms;
  }
  ServerAuth& get() {
    if (!auth) auth = std::make_unique<ServerAuth>(config, "127.0.0.1:1", now);
    return *auth;
  }
  void feed(const Bytes& p) {
    get().handle(p, sid, now);
    drain();
  }
  void drain() {
    for (auto& m : get().take_messages()) sent.push_back(m);
    while (auto e = get().poll_event()) events.push_back(*e);
  }
  std::uint8_t last_sent() const { return sent.empty() ? 0 : sent.back()[0]; }
  std::optional<AuthDisconnect> disconnect() const {
    for (auto& e : events)
      if (auto* d = std::get_if<AuthDisconnect>(&e)) return *d;
    return std::nullopt;
  }
  std::vector<std::string> outcomes() const {
    std::vector<std::string> out;
    for (auto& e : events)
      if (auto* a = std::get_if<AuditRecord>(&e)) out.push_back(a->outcome);
    return out;
  }
};

TEST(ServerAuth, TheAuditLineHasFixedFieldsAndPrintableNames) {
  AuditRecord r{"al\nice", "password", "", 0, 1, "reject", std::nullopt};
  EXPECT_EQ(audit_line(r, "192.0.2.1:2200"),
            "auth: user='al?ice' method=password provider=- prompts=0 round=1 outcome=reject peer=192.0.2.1:2200")
      << "a newline in a user name cannot start a forged line";
  r.provider = "higher-or-lower";
  r.prompts = 1;
  r.outcome = "challenge";
  EXPECT_EQ(audit_line(r, "p"), "auth: user='al?ice' method=password provider=higher-or-lower prompts=1 round=1 outcome=challenge peer=p");
}

TEST(ServerAuth, NoneListsKeyboardInteractive) {
  Harness h;
  h.feed(request("admin", "none"));
  ASSERT_EQ(h.last_sent(), transport::msg::userauth_failure);
  wire::Reader r(h.sent.back());
  r.byte();
  EXPECT_EQ(r.text(), "keyboard-interactive");
  EXPECT_FALSE(r.boolean());
}

TEST(ServerAuth, FirstNoneReplyIsWhatAFirstNoneGets) {
  // A separated network process answers with it, so it must be exactly that.
  for (std::string banner : {"", "Authorized use only\n"}) {
    Harness h;
    h.config->banner = banner;
    const auto promised = h.get().first_none_reply();
    ASSERT_EQ(promised.size(), banner.empty() ? 1u : 2u);
    h.feed(request("admin", "none"));
    EXPECT_EQ(h.sent, promised);
    EXPECT_TRUE(h.get().first_none_reply().empty()) << "only before any request";
    // A second "none" gets the methods again, without the banner.
    h.feed(request("admin", "none"));
    EXPECT_EQ(h.sent.back(), promised.back());
    EXPECT_EQ(h.sent.size(), promised.size() + 1);
  }
  // After another first request, a "none" gets no banner.
  Harness h;
  h.config->banner = "Authorized use only\n";
  h.feed(request("admin", "hostbased"));  // not offered: a failed attempt
  const std::size_t before = h.sent.size();
  h.feed(request("admin", "none"));
  ASSERT_EQ(h.sent.size(), before + 1);
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
}

TEST(ServerAuth, ChallengeThenAccept) {
  Harness h;
  h.script.outcomes = {one_prompt(), Accept{}};
  h.feed(request("admin"));
  ASSERT_EQ(h.last_sent(), 60);
  h.feed(info_response({"123456"}));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);
  EXPECT_TRUE(h.get().authenticated());
  ASSERT_EQ(h.script.answers_seen.size(), 1u);
  EXPECT_EQ(h.script.answers_seen[0], std::vector<std::string>{"123456"});
  EXPECT_EQ(h.outcomes(), (std::vector<std::string>{"challenge", "accept"}));
}

TEST(ServerAuth, ZeroPromptRoundsAreAllowed) {
  Harness h;
  h.script.outcomes = {Challenge{"Note", "Read this.", {}}, Accept{}};
  h.feed(request("admin"));
  ASSERT_EQ(h.last_sent(), 60);
  h.feed(info_response({}));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);
}

TEST(ServerAuth, ResponseCountMustEqualPromptCount) {
  Harness h;
  h.script.outcomes = {one_prompt(), Accept{}};
  h.feed(request("admin"));
  h.feed(info_response({"a", "b"}));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_FALSE(h.get().authenticated());
  EXPECT_TRUE(h.script.answers_seen.empty());  // the provider never saw them
  EXPECT_EQ(h.outcomes().back(), "count-mismatch");
}

TEST(ServerAuth, InfoResponseWithoutRequestEndsTheConnection) {
  Harness h;
  h.feed(info_response({"x"}));
  ASSERT_TRUE(h.disconnect());
  EXPECT_EQ(h.disconnect()->reason, DisconnectReason::protocol_error);
}

TEST(ServerAuth, SecondInfoResponseForOneRequestEndsTheConnection) {
  Harness h;
  h.script.outcomes = {one_prompt(), one_prompt()};
  h.feed(request("admin"));
  h.feed(info_response({"1"}));  // answers round 1; the provider asks round 2
  h.feed(info_response({"2"}));  // answers round 2; the script then rejects
  EXPECT_FALSE(h.disconnect().has_value());
  h.feed(info_response({"3"}));  // nothing outstanding
  ASSERT_TRUE(h.disconnect());
}

TEST(ServerAuth, AnswersMustBeUtf8WithoutNulAndBounded) {
  for (const std::string& bad : {std::string("a\0b", 3), std::string("\xff"), std::string(4097, 'x')}) {
    Harness h;
    h.script.outcomes = {one_prompt(), Accept{}};
    h.feed(request("admin"));
    h.feed(info_response({bad}));
    EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
    EXPECT_FALSE(h.get().authenticated());
  }
  Harness h;
  h.script.outcomes = {one_prompt(), Accept{}};
  h.feed(request("admin"));
  h.feed(info_response({std::string(4096, 'x')}));
  EXPECT_TRUE(h.get().authenticated());
}

TEST(ServerAuth, TooManyPromptsOrRoundsFailTheAttempt) {
  Harness h;
  Challenge big{"n", "i", std::vector<Prompt>(33, Prompt{"q", true})};
  h.script.outcomes = {big};
  h.feed(request("admin"));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_EQ(h.outcomes().back(), "too-many-prompts");

  Harness r;
  r.script.outcomes = std::vector<Outcome>(20, one_prompt());
  r.feed(request("admin"));
  for (int i = 0; i < 16; ++i) r.feed(info_response({"x"}));
  EXPECT_EQ(r.last_sent(), transport::msg::userauth_failure);
  EXPECT_EQ(r.outcomes().back(), "too-many-rounds");
}

TEST(ServerAuth, NewRequestAbortsAndDestroysThePendingProvider) {
  Harness h;
  h.script.outcomes = {one_prompt(), one_prompt()};
  h.feed(request("admin"));
  EXPECT_EQ(h.script.destroyed, 0);
  h.feed(request("admin", "none"));
  EXPECT_EQ(h.script.destroyed, 1);
  EXPECT_EQ(h.outcomes().back(), "aborted");
  h.feed(info_response({"late"}));  // nothing outstanding any more
  ASSERT_TRUE(h.disconnect());
}

TEST(ServerAuth, ChangingUserOrServiceEndsTheConnection) {
  Harness h;
  h.feed(request("admin", "none"));
  h.feed(request("root", "none"));
  ASSERT_TRUE(h.disconnect());
  EXPECT_EQ(h.disconnect()->reason, DisconnectReason::protocol_error);
  Harness s;
  s.feed(request("admin", "none"));
  s.feed(request("admin", "none", "ssh-other"));
  ASSERT_TRUE(s.disconnect());
}

TEST(ServerAuth, SixFailuresEndTheConnection) {
  Harness h;
  h.script.outcomes = std::vector<Outcome>(10, Reject{});
  for (int i = 0; i < 5; ++i) h.feed(request("admin"));
  EXPECT_FALSE(h.disconnect());
  h.feed(request("admin"));
  ASSERT_TRUE(h.disconnect());
  EXPECT_NE(h.disconnect()->description.find("too many authentication failures"), std::string::npos);
}

TEST(ServerAuth, UnknownUserGetsTheSameChallengeAndFails) {
  Harness h;
  h.config->look_up_user = [](std::string_view u) { return UserVerdict{u == "admin", {}}; };
  h.script.outcomes = {one_prompt(), Accept{}};
  h.feed(request("mallory"));
  EXPECT_EQ(h.last_sent(), 60);
  h.feed(info_response({"right"}));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_FALSE(h.get().authenticated());
}

TEST(ServerAuth, FailuresAreDelayedToAUniformMinimum) {
  Harness h;
  h.config->limits.failure_delay = 300ms;
  h.script.outcomes = {Reject{}, Reject{}};
  h.feed(request("admin"));
  EXPECT_TRUE(h.sent.empty());  // held back
  ASSERT_TRUE(h.get().next_deadline().has_value());
  EXPECT_EQ(*h.get().next_deadline(), h.now + 300ms);
  h.feed(request("admin", "none"));  // queued behind the held reply
  h.get().on_time(h.now + 299ms);
  h.drain();
  EXPECT_TRUE(h.sent.empty());
  h.get().on_time(h.now + 300ms);
  h.drain();
  ASSERT_EQ(h.sent.size(), 2u);  // the held failure, then the "none" reply, in order
  EXPECT_EQ(h.sent[0][0], transport::msg::userauth_failure);
  EXPECT_EQ(h.sent[1][0], transport::msg::userauth_failure);
}

TEST(ServerAuth, LoginGraceTime) {
  Harness h;
  h.get();
  h.get().on_time(h.now + 119s);
  h.drain();
  EXPECT_FALSE(h.disconnect());
  h.get().on_time(h.now + 120s);
  h.drain();
  ASSERT_TRUE(h.disconnect());
}

TEST(ServerAuth, TooManyRequests) {
  Harness h;
  for (int i = 0; i < 128; ++i) h.feed(request("admin", "none"));
  EXPECT_FALSE(h.disconnect());
  h.feed(request("admin", "none"));
  ASSERT_TRUE(h.disconnect());
}

/// An asynchronous provider: answers from another thread after start() returned.
class ThreadedProvider final : public KeyboardInteractiveProvider {
 public:
  explicit ThreadedProvider(std::vector<std::thread>& threads) : threads_(threads) {}
  std::string_view name() const override { return "threaded"; }
  void start(const AttemptInfo&, Responder r) override {
    threads_.emplace_back([r] {
      std::this_thread::sleep_for(20ms);
      r(Challenge{"n", "i", {Prompt{"q", true}}});
    });
  }
  void answer(std::vector<crypto::SecretBytes>, Responder r) override {
    threads_.emplace_back([r] { r(Accept{}); });
  }

 private:
  std::vector<std::thread>& threads_;
};

TEST(ServerAuth, AsynchronousProviderWakesTheConnection) {
  std::vector<std::thread> threads;
  Harness h;
  h.config->keyboard_interactive = [&](const AttemptInfo&) {
    return std::make_unique<ThreadedProvider>(threads);
  };
  std::atomic<int> wakes{0};
  h.get().set_wake([&] { ++wakes; });
  h.feed(request("admin"));
  EXPECT_TRUE(h.sent.empty());  // nothing yet: the provider has not answered
  for (auto& t : threads) t.join();
  threads.clear();
  EXPECT_EQ(wakes.load(), 1);
  h.get().on_time(h.now);  // what the driver does when woken
  h.drain();
  ASSERT_EQ(h.last_sent(), 60);
  h.feed(info_response({"x"}));
  for (auto& t : threads) t.join();
  h.get().on_time(h.now);
  h.drain();
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);
}

TEST(ServerAuth, LateAsynchronousAnswerAfterAbortIsDropped) {
  Harness h;
  std::optional<Responder> held;
  struct Holder final : KeyboardInteractiveProvider {
    std::optional<Responder>& held;
    explicit Holder(std::optional<Responder>& h) : held(h) {}
    std::string_view name() const override { return "holder"; }
    void start(const AttemptInfo&, Responder r) override { held = r; }
    void answer(std::vector<crypto::SecretBytes>, Responder r) override { held = r; }
  };
  h.config->keyboard_interactive = [&](const AttemptInfo&) { return std::make_unique<Holder>(held); };
  h.feed(request("admin"));
  ASSERT_TRUE(held);
  h.feed(request("admin", "none"));  // aborts the attempt
  std::size_t before = h.sent.size();
  (*held)(Accept{});  // too late
  h.get().on_time(h.now);
  h.drain();
  EXPECT_EQ(h.sent.size(), before);
  EXPECT_FALSE(h.get().authenticated());
}

// The seed's provider, through the core.
TEST(ServerAuth, LateCompletionNeverWakesAfterTheAttemptIsGone) {
  // A worker (password pool, PAM thread) answers just as the connection goes
  // away. Its wake reaches the driver (an executor that dies with the server):
  // once the attempt is cancelled no wake may be running or start, or the
  // wake touches what the server freed.
  auto mailbox = std::make_shared<detail::Mailbox>();
  auto driver_state = std::make_unique<int>(7);  // stands for the driver's io_context
  int* state = driver_state.get();
  std::atomic<bool> in_wake{false};
  std::atomic<int> seen{0};
  mailbox->set_wake([&in_wake, &seen, state] {
    in_wake = true;
    std::this_thread::sleep_for(100ms);  // the wake is slow to reach the executor
    seen = *state;
  });
  std::thread worker([mailbox] {
    const Responder respond(mailbox);
    respond(Accept{});
  });
  while (!in_wake) std::this_thread::yield();
  mailbox->cancel();  // what ~Attempt does when the connection is destroyed...
  driver_state.reset();  // ...and then the server frees its state.
  worker.join();
  EXPECT_EQ(seen.load(), 7);
}

TEST(HigherOrLower, AsksTheSeedsQuestionAndChecksTheAnswer) {
  crypto::DeterministicRandom rng(4);
  HigherOrLower p(rng, 3);
  Outcome o = p.begin(AttemptInfo{});
  auto* c = std::get_if<Challenge>(&o);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "Higher or Lower");
  EXPECT_EQ(c->instruction, "Answer the question to show me you are human.");
  ASSERT_EQ(c->prompts.size(), 1u);
  EXPECT_TRUE(c->prompts[0].echo);
  unsigned a = 0, b = 0;
  ASSERT_EQ(std::sscanf(c->prompts[0].text.c_str(), "What is the highest number: %u or %u? ", &a, &b), 2);
  EXPECT_NE(a, b);
  EXPECT_EQ(c->prompts[0].text, "What is the highest number: " + std::to_string(a) + " or " +
                                    std::to_string(b) + "? ");
  std::vector<crypto::SecretBytes> wrong;
  wrong.emplace_back(as_bytes(std::to_string(std::min(a, b))));
  EXPECT_TRUE(std::holds_alternative<Challenge>(p.check(wrong)));  // a new question
  Outcome second = p.check(wrong);
  EXPECT_TRUE(std::holds_alternative<Challenge>(second));
  EXPECT_TRUE(std::holds_alternative<Reject>(p.check(wrong)));  // third wrong: the limit
}

TEST(HigherOrLower, RightAnswerIsAccepted) {
  crypto::DeterministicRandom rng(8);
  HigherOrLower p(rng);
  Outcome o = p.begin(AttemptInfo{});
  unsigned a = 0, b = 0;
  std::sscanf(std::get<Challenge>(o).prompts[0].text.c_str(), "What is the highest number: %u or %u? ", &a, &b);
  std::vector<crypto::SecretBytes> right;
  right.emplace_back(as_bytes(std::to_string(std::max(a, b))));
  EXPECT_TRUE(std::holds_alternative<Accept>(p.check(right)));
}

}  // namespace
}  // namespace parley::userauth

namespace parley::userauth {
namespace {

Bytes password_request(std::string_view user, std::string_view password, bool change = false) {
  Bytes p;
  wire::Writer w(p);
  w.byte(transport::msg::userauth_request).string(user).string(std::string_view("ssh-connection"));
  w.string(std::string_view("password")).boolean(change).string(password);
  if (change) w.string(std::string_view("new"));
  return p;
}

struct PasswordHarness : Harness {
  std::vector<std::function<void()>> jobs;  // the "worker pool": run by the test
  PasswordHarness() {
    config->keyboard_interactive = nullptr;
    config->password = std::make_shared<const PasswordVerifier>(
        [](std::string_view user, const crypto::SecretBytes& pw) {
          return user == "alice" && answer_text(pw) == "correct horse";
        });
    config->run_blocking = [this](std::function<void()> job) {
      jobs.push_back(std::move(job));
      return true;
    };
  }
  void run_jobs() {
    for (auto& j : jobs) j();
    jobs.clear();
    get().on_time(now);
    drain();
  }
};

TEST(Password, OffersPasswordAndKeyboardInteractive) {
  PasswordHarness h;
  h.feed(request("alice", "none"));
  wire::Reader r(h.sent.back());
  r.byte();
  EXPECT_EQ(r.text(), "password,keyboard-interactive");
}

TEST(Password, MethodChecksOffTheIoThread) {
  PasswordHarness h;
  h.feed(password_request("alice", "correct horse"));
  EXPECT_TRUE(h.sent.empty());  // the check is queued on the runner
  ASSERT_EQ(h.jobs.size(), 1u);
  h.run_jobs();
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);
}

TEST(Password, WrongPasswordAndPasswordChangeFail) {
  PasswordHarness h;
  h.feed(password_request("alice", "Tr0ub4dor&3"));
  h.run_jobs();
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  h.feed(password_request("alice", "correct horse", /*change=*/true));
  EXPECT_TRUE(h.jobs.empty());
  EXPECT_EQ(h.outcomes().back(), "password-change-unsupported");
  EXPECT_FALSE(h.get().authenticated());
}

TEST(Password, KeyboardInteractiveAsksPasswordWithEchoOff) {
  PasswordHarness h;
  h.feed(request("alice"));
  ASSERT_EQ(h.last_sent(), 60);
  wire::Reader r(h.sent.back());
  r.byte();
  r.text();  // name
  r.text();  // instruction
  r.text();  // language
  ASSERT_EQ(r.uint32(), 1u);
  EXPECT_EQ(r.text(), "Password: ");
  EXPECT_FALSE(r.boolean());
  h.feed(info_response({"correct horse"}));
  h.run_jobs();
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);
}

TEST(Password, FullPoolFailsClosed) {
  PasswordHarness h;
  h.config->run_blocking = [](std::function<void()>) { return false; };
  h.feed(password_request("alice", "correct horse"));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_FALSE(h.get().authenticated());
}

}  // namespace
}  // namespace parley::userauth

namespace parley::userauth {
namespace {

struct KeyHarness : Harness {
  crypto::PrivateKey alice_key = test::test_host_key("ed25519");  // any committed key will do
  crypto::PrivateKey other_key = test::test_host_key("ecdsa");
  KeyHarness() {
    config->keyboard_interactive = nullptr;
    config->authorized_keys = [this](std::string_view user) {
      return user == "alice" ? std::vector<crypto::PublicKey>{alice_key.public_key()}
                             : std::vector<crypto::PublicKey>{};
    };
  }
  /// A publickey request; with `sign`, signed by `key` over `signed_sid` (RFC 4252 §7).
  Bytes pk_request(std::string_view user, const crypto::PrivateKey& key, bool sign,
                   crypto::SignatureAlg alg, const Bytes& signed_sid) {
    const std::string_view alg_name = crypto::name(alg);
    Bytes p;
    wire::Writer w(p);
    w.byte(transport::msg::userauth_request).string(user).string(std::string_view("ssh-connection"));
    w.string(std::string_view("publickey")).boolean(sign).string(alg_name).string(key.public_key().blob());
    if (sign) {
      Bytes data;
      wire::Writer(data).string(signed_sid).byte(50).string(user).string(std::string_view("ssh-connection"))
          .string(std::string_view("publickey")).boolean(true).string(alg_name).string(key.public_key().blob());
      w.string(key.sign(alg, data));
    }
    return p;
  }
};

TEST(Publickey, QueryForAnAuthorizedKeyGetsPkOk) {
  KeyHarness h;
  h.feed(h.pk_request("alice", h.alice_key, false, crypto::SignatureAlg::ssh_ed25519, h.sid));
  ASSERT_EQ(h.last_sent(), 60);  // SSH_MSG_USERAUTH_PK_OK
  wire::Reader r(h.sent.back());
  r.byte();
  EXPECT_EQ(r.text(), "ssh-ed25519");
  BytesView blob = r.string();
  EXPECT_EQ(Bytes(blob.begin(), blob.end()), h.alice_key.public_key().blob());
  EXPECT_TRUE(r.finish().has_value());
  h.feed(h.pk_request("alice", h.other_key, false, crypto::SignatureAlg::ecdsa_sha2_nistp256, h.sid));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_FALSE(h.get().authenticated());
}

TEST(Publickey, ValidSignatureLogsIn) {
  KeyHarness h;
  h.feed(h.pk_request("alice", h.alice_key, true, crypto::SignatureAlg::ssh_ed25519, h.sid));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);
  EXPECT_TRUE(h.get().authenticated());
}

TEST(Publickey, SignatureOverAnotherSessionOrByAnotherKeyFails) {
  KeyHarness h;
  h.feed(h.pk_request("alice", h.alice_key, true, crypto::SignatureAlg::ssh_ed25519, Bytes{9, 9, 9}));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_EQ(h.outcomes().back(), "bad-signature");
  KeyHarness u;
  u.feed(u.pk_request("mallory", u.alice_key, true, crypto::SignatureAlg::ssh_ed25519, u.sid));
  EXPECT_EQ(u.last_sent(), transport::msg::userauth_failure);
  EXPECT_FALSE(u.get().authenticated());
}

TEST(Publickey, AlgorithmMustMatchTheKeyAndNotBeSha1) {
  KeyHarness h;
  Bytes p;
  wire::Writer w(p);
  w.byte(50).string(std::string_view("alice")).string(std::string_view("ssh-connection"))
      .string(std::string_view("publickey")).boolean(false).string(std::string_view("ssh-rsa"))
      .string(h.alice_key.public_key().blob());
  h.feed(p);
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
}

class CapturingProvider final : public SyncProvider {
 public:
  explicit CapturingProvider(std::vector<CompletedMethod>& seen) : seen_(seen) {}
  std::string_view name() const override { return "capture"; }
  Outcome begin(const AttemptInfo& a) override {
    seen_ = a.completed;
    return Challenge{"", "", {Prompt{"Code: ", false}}};
  }
  Outcome check(const std::vector<crypto::SecretBytes>& answers) override {
    return answers.size() == 1 && answer_text(answers[0]) == "42" ? Outcome{Accept{}} : Outcome{Reject{}};
  }

 private:
  std::vector<CompletedMethod>& seen_;
};

TEST(Chains, PublickeyThenKeyboardInteractive) {
  KeyHarness h;
  std::vector<CompletedMethod> seen;
  h.config->named_providers["code"] = [&](const AttemptInfo&) {
    return std::make_unique<CapturingProvider>(seen);
  };
  h.config->chains = {{{ChainMethod::publickey, ""}, {ChainMethod::keyboard_interactive, "code"}}};
  h.feed(request("alice", "none"));
  {
    wire::Reader r(h.sent.back());
    r.byte();
    EXPECT_EQ(r.text(), "publickey");  // only the first step is offered
  }
  // Keyboard-interactive first is not allowed by the chain.
  h.feed(request("alice"));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  // A mere query gives no partial success.
  h.feed(h.pk_request("alice", h.alice_key, false, crypto::SignatureAlg::ssh_ed25519, h.sid));
  EXPECT_EQ(h.last_sent(), 60);
  h.feed(h.pk_request("alice", h.alice_key, true, crypto::SignatureAlg::ssh_ed25519, h.sid));
  ASSERT_EQ(h.last_sent(), transport::msg::userauth_failure);
  {
    wire::Reader r(h.sent.back());
    r.byte();
    EXPECT_EQ(r.text(), "keyboard-interactive");
    EXPECT_TRUE(r.boolean());  // partial success
  }
  EXPECT_FALSE(h.get().authenticated());
  h.feed(request("alice"));
  ASSERT_EQ(h.last_sent(), 60);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "publickey");
  EXPECT_EQ(seen[0].key_fingerprint, h.alice_key.public_key().fingerprint());
  h.feed(info_response({"42"}));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);
  EXPECT_TRUE(h.get().authenticated());
}

TEST(Chains, AlternativesAreOffered) {
  KeyHarness h;
  h.config->password = std::make_shared<const PasswordVerifier>(
      [](std::string_view, const crypto::SecretBytes& pw) { return answer_text(pw) == "pw"; });
  h.config->chains = {{{ChainMethod::publickey, ""}, {ChainMethod::password, ""}},
                      {{ChainMethod::password, ""}}};
  h.feed(request("alice", "none"));
  wire::Reader r(h.sent.back());
  r.byte();
  EXPECT_EQ(r.text(), "publickey,password");
  h.feed(password_request("alice", "pw"));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);  // the second alternative alone
}

TEST(Chains, PublickeyStepCannotBeSatisfiedTwiceBySameKey) {
  // OpenSSH (auth2-pubkey.c) refuses a key already used in a completed step:
  // "publickey,publickey" must take two different keys.
  KeyHarness h;
  h.config->authorized_keys = [&h](std::string_view) {
    return std::vector<crypto::PublicKey>{h.alice_key.public_key(), h.other_key.public_key()};
  };
  h.config->chains = {{{ChainMethod::publickey, ""}, {ChainMethod::publickey, ""}}};
  h.feed(h.pk_request("alice", h.alice_key, true, crypto::SignatureAlg::ssh_ed25519, h.sid));
  ASSERT_EQ(h.last_sent(), transport::msg::userauth_failure);
  {
    wire::Reader r(h.sent.back());
    r.byte();
    EXPECT_EQ(r.text(), "publickey");
    EXPECT_TRUE(r.boolean());  // partial success: one step done
  }
  // The same key again: no PK_OK to a query, no second step from a signature.
  h.feed(h.pk_request("alice", h.alice_key, false, crypto::SignatureAlg::ssh_ed25519, h.sid));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_EQ(h.outcomes().back(), "key-already-used");
  h.feed(h.pk_request("alice", h.alice_key, true, crypto::SignatureAlg::ssh_ed25519, h.sid));
  ASSERT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_EQ(h.outcomes().back(), "key-already-used");
  EXPECT_FALSE(h.get().authenticated());
  {
    wire::Reader r(h.sent.back());
    r.byte();
    EXPECT_EQ(r.text(), "publickey");
    EXPECT_FALSE(r.boolean());
  }
  // Another key completes the chain.
  h.feed(
      h.pk_request("alice", h.other_key, true, crypto::SignatureAlg::ecdsa_sha2_nistp256, h.sid));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);
  EXPECT_TRUE(h.get().authenticated());
}

TEST(Publickey, AuthorizedKeysAreReadOffTheIoThread) {
  // Reading authorized_keys may block (a slow or hostile home directory): it
  // runs on the BlockingRunner, as password checks do, never in handle().
  KeyHarness h;
  std::vector<std::function<void()>> jobs;
  h.config->run_blocking = [&](std::function<void()> job) {
    jobs.push_back(std::move(job));
    return true;
  };
  std::atomic<int> lookups{0};
  std::thread::id lookup_thread;
  h.config->authorized_keys = [&](std::string_view user) {
    ++lookups;
    lookup_thread = std::this_thread::get_id();
    return user == "alice" ? std::vector<crypto::PublicKey>{h.alice_key.public_key()}
                           : std::vector<crypto::PublicKey>{};
  };
  int woken = 0;
  h.get().set_wake([&] { ++woken; });
  auto run_on_worker = [&] {
    std::thread worker([&] {
      for (auto& j : jobs) j();
    });
    worker.join();
    jobs.clear();
    h.get().on_time(h.now);
    h.drain();
  };

  h.feed(h.pk_request("alice", h.alice_key, false, crypto::SignatureAlg::ssh_ed25519, h.sid));
  EXPECT_EQ(lookups.load(), 0) << "authorized_keys was read on the I/O thread";
  EXPECT_TRUE(h.sent.empty());
  ASSERT_EQ(jobs.size(), 1u);
  run_on_worker();
  EXPECT_EQ(lookups.load(), 1);
  EXPECT_NE(lookup_thread, std::this_thread::get_id());
  EXPECT_GE(woken, 1);
  ASSERT_EQ(h.last_sent(), 60);  // PK_OK

  h.feed(h.pk_request("alice", h.alice_key, true, crypto::SignatureAlg::ssh_ed25519, h.sid));
  EXPECT_EQ(lookups.load(), 1);
  ASSERT_EQ(jobs.size(), 1u);
  run_on_worker();
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_success);
  EXPECT_TRUE(h.get().authenticated());

  // A full pool fails closed, and the log says why: not the key's fault.
  KeyHarness full;
  full.config->run_blocking = [](std::function<void()>) { return false; };
  full.feed(
      full.pk_request("alice", full.alice_key, true, crypto::SignatureAlg::ssh_ed25519, full.sid));
  EXPECT_EQ(full.last_sent(), transport::msg::userauth_failure);
  EXPECT_EQ(full.outcomes().back(), "checks-busy");
  EXPECT_FALSE(full.get().authenticated());
}

}  // namespace
}  // namespace parley::userauth

// Issue 11: PermitRootLogin and refused accounts go through the user's method_permitted,
// asked only once a step would succeed; a refusal is the same failure reply as a
// wrong answer, and a PK_OK query is still answered.
namespace parley::userauth {
namespace {

TEST(MethodPermitted, RefusedPasswordLooksLikeAWrongPassword) {
  PasswordHarness h;
  std::vector<std::string> asked;
  h.config->look_up_user = [&asked](std::string_view user) {
    return UserVerdict{true, [&asked, user = std::string(user)](std::string_view method) {
                         asked.push_back(user + "/" + std::string(method));
                         return method != "password";
                       }};
  };
  h.feed(password_request("alice", "correct horse"));
  h.run_jobs();
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_FALSE(h.get().authenticated());
  EXPECT_EQ(h.outcomes().back(), "not-permitted");
  EXPECT_EQ(asked, std::vector<std::string>{"alice/password"});
  const Bytes refused = h.sent.back();

  // A wrong password gets the very same bytes back.
  PasswordHarness wrong;
  wrong.config->look_up_user = h.config->look_up_user;
  wrong.feed(password_request("alice", "Tr0ub4dor&3"));
  wrong.run_jobs();
  EXPECT_EQ(wrong.sent.back(), refused);
  EXPECT_EQ(asked.size(), 1u);  // not asked for a step that failed anyway
}

TEST(MethodPermitted, KeyboardInteractivePasswordIsAskedAsKeyboardInteractive) {
  PasswordHarness h;
  std::vector<std::string> methods;
  h.config->look_up_user = [&methods](std::string_view) {
    return UserVerdict{true, [&methods](std::string_view method) {
                         methods.emplace_back(method);
                         return false;
                       }};
  };
  h.feed(request("alice", "keyboard-interactive"));
  h.feed(info_response({"correct horse"}));
  h.run_jobs();
  EXPECT_FALSE(h.get().authenticated());
  EXPECT_EQ(methods, std::vector<std::string>{"keyboard-interactive"});
}

TEST(MethodPermitted, PublickeyQueryAnsweredSignatureRefusedWhenNotPermitted) {
  KeyHarness h;
  h.config->look_up_user = [](std::string_view) {
    return UserVerdict{true, [](std::string_view method) { return method != "publickey"; }};
  };
  h.feed(h.pk_request("alice", h.alice_key, false, crypto::SignatureAlg::ssh_ed25519, h.sid));
  EXPECT_EQ(h.last_sent(), 60);  // PK_OK, as sshd: the rule is applied when the step completes
  h.feed(h.pk_request("alice", h.alice_key, true, crypto::SignatureAlg::ssh_ed25519, h.sid));
  EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  EXPECT_FALSE(h.get().authenticated());
  EXPECT_EQ(h.outcomes().back(), "not-permitted");
}

}  // namespace
}  // namespace parley::userauth

// Issue 15: the user is looked up once per connection, as OpenSSH's
// getpwnamallow() once per Authctxt: every rule of the login uses that answer,
// and nothing is kept from one connection to the next.
namespace parley::userauth {
namespace {

/// look_up_user counting its calls; `known` says whether the user exists.
std::function<UserVerdict(std::string_view)> counting_lookup(int& calls, const bool& known) {
  return [&calls, &known](std::string_view) {
    ++calls;
    return UserVerdict{known, [](std::string_view) { return true; }};
  };
}

TEST(LookUpUser, OncePerPasswordLoginAfterAWrongPassword) {
  PasswordHarness h;
  int calls = 0;
  const bool known = true;
  h.config->look_up_user = counting_lookup(calls, known);
  h.feed(password_request("alice", "wrong"));
  h.run_jobs();
  h.feed(password_request("alice", "correct horse"));
  h.run_jobs();
  EXPECT_TRUE(h.get().authenticated());
  EXPECT_EQ(calls, 1);
}

TEST(LookUpUser, OncePerPasswordConnectionOfAnUnknownUser) {
  PasswordHarness h;
  int calls = 0;
  const bool known = false;  // the verifier knows "alice", the system does not
  h.config->look_up_user = counting_lookup(calls, known);
  for (int i = 0; i < 2; ++i) {
    h.feed(password_request("alice", "correct horse"));
    h.run_jobs();
    EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  }
  EXPECT_FALSE(h.get().authenticated());
  EXPECT_EQ(calls, 1);
}

TEST(LookUpUser, OncePerConnectionForAnUnknownUserWhateverItAnswers) {
  Harness h;
  int calls = 0;
  const bool known = false;
  h.config->look_up_user = counting_lookup(calls, known);
  h.script.outcomes = {one_prompt(), Accept{}, one_prompt(), Accept{}};
  for (int i = 0; i < 2; ++i) {
    h.feed(request("mallory"));
    h.feed(info_response({"right"}));
    EXPECT_EQ(h.last_sent(), transport::msg::userauth_failure);
  }
  EXPECT_FALSE(h.get().authenticated());
  EXPECT_EQ(calls, 1);
}

TEST(LookUpUser, EachConnectionLooksAgain) {
  Harness h;  // one configuration, two connections
  int calls = 0;
  bool known = true;
  h.config->look_up_user = counting_lookup(calls, known);
  h.script.outcomes = {one_prompt(), Accept{}, one_prompt(), Accept{}};
  h.feed(request("admin"));
  h.feed(info_response({"right"}));
  EXPECT_TRUE(h.get().authenticated());
  known = false;  // the account was removed between the two logins
  h.auth.reset();
  h.feed(request("admin"));
  h.feed(info_response({"right"}));
  EXPECT_FALSE(h.get().authenticated());
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace parley::userauth

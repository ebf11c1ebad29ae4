// The client authentication core and ClientConnection against an in-process
// parleyd-like server: Higher or Lower answered by an on_user_info_request
// callback, several rounds, zero-prompt rounds, asynchronous answers, publickey,
// a host key that is refused (nothing is sent), and hostile servers (10 000
// prompts, a huge prompt, endless rounds) refused cleanly.
#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <mutex>
#include <thread>

#include "parley/auth/client_connection.hpp"
#include "parley/auth/higher_or_lower.hpp"
#include "parley/auth/server_connection.hpp"
#include "parley/connection/session.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/client.hpp"
#include "parley/driver/server.hpp"
#include "parley/driver/services.hpp"
#include "test_support.hpp"
#include "transport_pair.hpp"

namespace parley::test {
namespace {

using namespace std::chrono_literals;
namespace auth = parley::auth;
namespace connection = parley::connection;

crypto::SecretBytes secret(std::string_view s) { return crypto::SecretBytes(as_bytes(s)); }

/// A provider scripted round by round: each entry is the next Challenge, and the
/// last answer decides (accept if it equals `expected`).
class ScriptedProvider final : public auth::SyncProvider {
 public:
  ScriptedProvider(std::vector<auth::Challenge> rounds, std::string expected)
      : rounds_(std::move(rounds)), expected_(std::move(expected)) {}
  std::string_view name() const override { return "scripted"; }
  auth::Outcome begin(const auth::AttemptInfo&) override { return next(); }
  auth::Outcome check(const std::vector<crypto::SecretBytes>& answers) override {
    if (i_ < rounds_.size()) return next();
    if (answers.size() == 1 && auth::answer_text(answers[0]) == expected_) return auth::Accept{};
    return auth::Reject{};
  }

 private:
  auth::Outcome next() { return rounds_[i_++]; }
  std::vector<auth::Challenge> rounds_;
  std::string expected_;
  std::size_t i_ = 0;
};

class ClientAuthTest : public ::testing::Test {
 public:
  /// Starts a server whose keyboard-interactive provider comes from `provider`.
  void start(auth::ProviderFactory provider, auth::AuthLimits limits = {}) {
    auto [client, server] = default_configs();
    client_transport_ = std::make_shared<transport::TransportConfig>(client);
    auto tconfig = std::make_shared<transport::TransportConfig>(server);
    auto aconfig = std::make_shared<auth::ServerAuthConfig>();
    aconfig->keyboard_interactive = std::move(provider);
    limits.failure_delay = 0ms;
    aconfig->limits = limits;
    user_key_ = crypto::PrivateKey::generate_ed25519(rng_);
    aconfig->authorized_keys = [pub = user_key_->public_key()](std::string_view user) {
      return user == "keyuser" ? std::vector<crypto::PublicKey>{pub} : std::vector<crypto::PublicKey>{};
    };
    auto policy = std::make_shared<auth::ChannelPolicy>();
    driver::ServerOptions options;
    options.port = 0;
    options.threads = 1;
    server_ = std::make_unique<driver::Server>(
        options, driver::ConnectionFactory([tconfig, aconfig, policy, this](driver::ConnectionContext& context,
                                                                            transport::Instant now) {
          auto conn = std::make_unique<auth::ServerConnection>(tconfig, aconfig, rng_, "peer", now);
          driver::ProcessOptions process;
          process.shell = "/bin/sh";
          conn->set_channel_services(policy, driver::make_channel_services(context, process));
          return conn;
        }));
    ASSERT_TRUE(server_->start().has_value());
  }

  struct Run {
    std::optional<auth::ClientAuthResult> result;
    std::optional<transport::Disconnected> disconnected;
    std::string out;
    std::optional<std::uint32_t> exit_status;
    std::string fingerprint_seen;  // what the callback saw as the host
  };

  /// Connects, authenticates with `config`, and (once in) runs `command`.
  Run run(std::shared_ptr<auth::ClientAuthConfig> config, std::string command = "echo hi; exit 3",
          std::shared_ptr<const transport::TransportConfig> tconfig = nullptr) {
    Run r;
    auth::ClientConnection conn(tconfig ? tconfig : client_transport_, config, "127.0.0.1",
                                server_->port(), rng_, transport::Clock::now());
    conn.on_authenticated = [&](auth::ClientConnection& c) {
      c.channels().open("session");
    };
    conn.on_channel_event = [&](auth::ClientConnection& c, connection::Event& e) {
      if (auto* o = std::get_if<connection::OpenConfirmed>(&e)) {
        c.channels().request(o->id, "exec", true,
                             connection::encode(connection::StartRequest{connection::StartRequest::Kind::exec, command}));
      } else if (auto* d = std::get_if<connection::Data>(&e)) {
        r.out.append(reinterpret_cast<const char*>(d->bytes.data()), d->bytes.size());
        c.channels().consumed(d->id, d->bytes.size());
      } else if (auto* q = std::get_if<connection::Request>(&e)) {
        if (q->type == "exit-status")
          if (auto s = connection::parse_exit_status(q->data)) r.exit_status = s->status;
      } else if (auto* x = std::get_if<connection::Eof>(&e)) {
        c.channels().close(x->id);
      } else if (std::holds_alternative<connection::Closed>(e)) {
        c.disconnect(transport::DisconnectReason::by_application, "done");
      }
    };
    auto ran = driver::run_client("127.0.0.1", server_->port(), conn, 20s);
    EXPECT_TRUE(ran.has_value()) << (ran ? "" : ran.error());
    r.result = conn.auth_result();
    r.disconnected = conn.disconnected();
    return r;
  }

  static std::shared_ptr<auth::ClientAuthConfig> config(std::string user = "admin") {
    auto c = std::make_shared<auth::ClientAuthConfig>();
    c->user = std::move(user);
    return c;
  }

  crypto::SystemRandom rng_;
  std::optional<crypto::PrivateKey> user_key_;
  std::shared_ptr<const transport::TransportConfig> client_transport_;
  std::unique_ptr<driver::Server> server_;
};

/// Seed 004's question answered the way a program would: parse, compare, reply.
/// (Parsed by hand: std::regex trips a false maybe-uninitialized warning in g++ 12
/// with ASan, an error under -Werror.)
std::string highest(const std::string& prompt) {
  const std::string_view head = "What is the highest number: ";
  if (prompt.rfind(head, 0) != 0) return "";
  unsigned a = 0, b = 0;
  const char* p = prompt.data() + head.size();
  const char* end = prompt.data() + prompt.size();
  auto [after_a, ea] = std::from_chars(p, end, a);
  if (ea != std::errc() || std::string_view(after_a, static_cast<std::size_t>(end - after_a)).rfind(" or ", 0) != 0)
    return "";
  auto [after_b, eb] = std::from_chars(after_a + 4, end, b);
  if (eb != std::errc() || std::string_view(after_b, static_cast<std::size_t>(end - after_b)) != "? ") return "";
  return std::to_string(std::max(a, b));
}

TEST_F(ClientAuthTest, HigherOrLowerThroughACallbackThenACommand) {
  start([this](const auth::AttemptInfo&) { return std::make_unique<auth::HigherOrLower>(rng_); });
  auto c = config();
  std::vector<auth::UserInfoRequest> seen;
  c->on_user_info_request = [&](const auth::UserInfoRequest& request, auth::ReplyTo<auth::InfoReply> reply) {
    seen.push_back(request);
    auth::Answers a;
    for (const auto& p : request.prompts) a.values.push_back(secret(highest(p.text)));
    reply(std::move(a));
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<auth::ClientAuthSucceeded>(*r.result));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].name, "Higher or Lower");
  EXPECT_EQ(seen[0].instruction, "Answer the question to show me you are human.");
  ASSERT_EQ(seen[0].prompts.size(), 1u);
  EXPECT_TRUE(seen[0].prompts[0].echo);
  EXPECT_EQ(seen[0].round, 1u);
  EXPECT_EQ(seen[0].attempt, 1u);
  // The callback sees the verified host.
  EXPECT_EQ(seen[0].host.port, server_->port());
  EXPECT_EQ(seen[0].host.fingerprint.rfind("SHA256:", 0), 0u);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(3));
}

TEST_F(ClientAuthTest, WrongAnswerGetsAnotherRoundThenIn) {
  start([this](const auth::AttemptInfo&) { return std::make_unique<auth::HigherOrLower>(rng_); });
  auto c = config();
  std::size_t rounds = 0;
  c->on_user_info_request = [&](const auth::UserInfoRequest& request, auth::ReplyTo<auth::InfoReply> reply) {
    ++rounds;
    EXPECT_EQ(request.round, rounds);
    auth::Answers a;
    a.values.push_back(secret(rounds == 1 ? "-1" : highest(request.prompts.at(0).text)));
    reply(std::move(a));
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<auth::ClientAuthSucceeded>(*r.result));
  EXPECT_EQ(rounds, 2u);
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(3));
}

TEST_F(ClientAuthTest, ZeroPromptRoundsAreAcknowledgedAndSeveralRoundsFollow) {
  start([](const auth::AttemptInfo&) {
    return std::make_unique<ScriptedProvider>(
        std::vector<auth::Challenge>{{"Notice", "Read this first.", {}},
                                     {"Step 2", "", {{"Colour? ", true}}},
                                     {"", "Almost there.", {}},
                                     {"Step 4", "", {{"Word: ", false}}}},
        "open sesame");
  });
  auto c = config();
  std::vector<std::size_t> prompt_counts;
  c->on_user_info_request = [&](const auth::UserInfoRequest& request, auth::ReplyTo<auth::InfoReply> reply) {
    prompt_counts.push_back(request.prompts.size());
    auth::Answers a;
    for (const auto& p : request.prompts) a.values.push_back(secret(p.text == "Word: " ? "open sesame" : "blue"));
    reply(std::move(a));
  };
  auto r = run(c, "exit 0");
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<auth::ClientAuthSucceeded>(*r.result));
  EXPECT_EQ(prompt_counts, (std::vector<std::size_t>{0, 1, 0, 1}));
}

TEST_F(ClientAuthTest, AnswersMayArriveLaterFromAnotherThread) {
  start([this](const auth::AttemptInfo&) { return std::make_unique<auth::HigherOrLower>(rng_); });
  auto c = config();
  std::vector<std::thread> threads;
  c->on_user_info_request = [&](const auth::UserInfoRequest& request, auth::ReplyTo<auth::InfoReply> reply) {
    threads.emplace_back([reply, text = request.prompts.at(0).text] {
      std::this_thread::sleep_for(100ms);
      auth::Answers a;
      a.values.push_back(secret(highest(text)));
      reply(std::move(a));
    });
  };
  auto r = run(c);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<auth::ClientAuthSucceeded>(*r.result));
  EXPECT_EQ(r.out, "hi\n");
}

TEST_F(ClientAuthTest, TheLibraryEnforcesOneAnswerPerPrompt) {
  start([this](const auth::AttemptInfo&) { return std::make_unique<auth::HigherOrLower>(rng_); });
  auto c = config();
  c->on_user_info_request = [&](const auth::UserInfoRequest&, auth::ReplyTo<auth::InfoReply> reply) {
    auth::Answers a;
    a.values.push_back(secret("1"));
    a.values.push_back(secret("2"));  // one too many
    reply(std::move(a));
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  auto* failed = std::get_if<auth::ClientAuthFailed>(&*r.result);
  ASSERT_NE(failed, nullptr);
  EXPECT_NE(failed->reason.find("2 answers to 1 prompts"), std::string::npos) << failed->reason;
}

TEST_F(ClientAuthTest, DecliningEndsWithPermissionDenied) {
  start([this](const auth::AttemptInfo&) { return std::make_unique<auth::HigherOrLower>(rng_); });
  auto c = config();
  c->on_user_info_request = [](const auth::UserInfoRequest&, auth::ReplyTo<auth::InfoReply> reply) {
    reply(auth::Decline{});
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  auto* failed = std::get_if<auth::ClientAuthFailed>(&*r.result);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->reason, "Permission denied (publickey,keyboard-interactive).");
}

TEST_F(ClientAuthTest, PublickeyFirst) {
  start([this](const auth::AttemptInfo&) { return std::make_unique<auth::HigherOrLower>(rng_); });
  auto c = config("keyuser");
  c->keys.push_back(*user_key_);
  bool asked = false;
  c->on_user_info_request = [&](const auth::UserInfoRequest&, auth::ReplyTo<auth::InfoReply> reply) {
    asked = true;
    reply(auth::Decline{});
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<auth::ClientAuthSucceeded>(*r.result));
  EXPECT_FALSE(asked) << "publickey comes first and succeeded: no prompt should be shown";
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(3));
}

TEST_F(ClientAuthTest, RefusedHostKeyMeansNoCallbackAndNoSecret) {
  start([this](const auth::AttemptInfo&) { return std::make_unique<auth::HigherOrLower>(rng_); });
  auto refusing = std::make_shared<transport::TransportConfig>(*client_transport_);
  refusing->verify_host_key = [](const crypto::PublicKey&) { return false; };
  auto c = config();
  bool asked = false;
  c->on_user_info_request = [&](const auth::UserInfoRequest&, auth::ReplyTo<auth::InfoReply> reply) {
    asked = true;
    reply(auth::Decline{});
  };
  c->on_password_request = [&](const auth::PasswordRequest&, auth::ReplyTo<auth::PasswordReply> reply) {
    asked = true;
    reply(auth::Decline{});
  };
  auto r = run(c, "true", refusing);
  EXPECT_FALSE(r.result) << "authentication must not even start";
  EXPECT_FALSE(asked);
  ASSERT_TRUE(r.disconnected);
  EXPECT_EQ(r.disconnected->reason, transport::DisconnectReason::host_key_not_verifiable);
}

/// A hostile server's challenge; the client must refuse it before the application sees it.
void expect_refused(ClientAuthTest::Run& r, const std::string& words) {
  ASSERT_TRUE(r.result);
  auto* failed = std::get_if<auth::ClientAuthFailed>(&*r.result);
  ASSERT_NE(failed, nullptr);
  EXPECT_NE(failed->reason.find(words), std::string::npos) << failed->reason;
  EXPECT_EQ(failed->disconnect, transport::DisconnectReason::protocol_error);
}

TEST_F(ClientAuthTest, TenThousandPromptsAreRefused) {
  auth::AuthLimits limits;
  limits.max_prompts = 20000;
  start([](const auth::AttemptInfo&) {
    auth::Challenge c{"Many", "", std::vector<auth::Prompt>(10000, auth::Prompt{"Q: ", true})};
    return std::make_unique<ScriptedProvider>(std::vector<auth::Challenge>{c}, "x");
  }, limits);
  auto c = config();
  bool asked = false;
  c->on_user_info_request = [&](const auth::UserInfoRequest&, auth::ReplyTo<auth::InfoReply> reply) {
    asked = true;
    reply(auth::Decline{});
  };
  auto r = run(c);
  expect_refused(r, "server asked 10000 questions in one round (limit 64)");
  EXPECT_FALSE(asked);
}

TEST_F(ClientAuthTest, AHugePromptIsRefused) {
  start([](const auth::AttemptInfo&) {
    auth::Challenge c{"Big", "", {auth::Prompt{std::string(200 * 1024, 'A'), true}}};
    return std::make_unique<ScriptedProvider>(std::vector<auth::Challenge>{c}, "x");
  });
  auto c = config();
  bool asked = false;
  c->on_user_info_request = [&](const auth::UserInfoRequest&, auth::ReplyTo<auth::InfoReply> reply) {
    asked = true;
    reply(auth::Decline{});
  };
  auto r = run(c);
  expect_refused(r, "server sent a prompt of more than 65536 bytes");
  EXPECT_FALSE(asked);
}

TEST_F(ClientAuthTest, EndlessRoundsAreRefused) {
  auth::AuthLimits limits;
  limits.max_rounds = 1000;
  start([](const auth::AttemptInfo&) {
    return std::make_unique<ScriptedProvider>(
        std::vector<auth::Challenge>(100, auth::Challenge{"Again", "", {{"Q: ", true}}}), "never");
  }, limits);
  auto c = config();
  std::size_t rounds = 0;
  c->on_user_info_request = [&](const auth::UserInfoRequest& request, auth::ReplyTo<auth::InfoReply> reply) {
    ++rounds;
    auth::Answers a;
    a.values.resize(request.prompts.size());
    reply(std::move(a));
  };
  auto r = run(c);
  expect_refused(r, "server asked more than 32 keyboard-interactive rounds");
  EXPECT_EQ(rounds, 32u);
}

}  // namespace
}  // namespace parley::test

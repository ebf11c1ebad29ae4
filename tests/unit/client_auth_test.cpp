// The client authentication core and ClientConnection against an in-process
// parleyd-like server: Higher or Lower answered by an on_user_info_request
// callback, several rounds, zero-prompt rounds, asynchronous answers, publickey,
// a host key that is refused (nothing is sent), and hostile servers (10 000
// prompts, a huge prompt, endless rounds) refused cleanly. Keys held by an
// ssh-agent: the agent protocol's encoder and its parsers against a hostile agent,
// and ExternalKey signers (now, later from another thread, refusing, wrong) both
// against the sans-I/O core message by message and against a real server.
#include <gtest/gtest.h>

#include <utility>

#include <atomic>
#include <charconv>
#include <mutex>
#include <thread>

#include "parley/client/agent.hpp"
#include "parley/session/client_connection.hpp"
#include "parley/userauth/higher_or_lower.hpp"
#include "parley/session/server_connection.hpp"
#include "parley/connection/session.hpp"
#include "parley/crypto/key_file.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/client.hpp"
#include "parley/driver/server.hpp"
#include "parley/driver/services.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "test_support.hpp"
#include "transport_pair.hpp"

namespace parley::test {
namespace {

using namespace std::chrono_literals;
namespace client = parley::client;
namespace session = parley::session;
namespace userauth = parley::userauth;
namespace connection = parley::connection;

crypto::SecretBytes secret(std::string_view s) { return crypto::SecretBytes(as_bytes(s)); }

/// A provider scripted round by round: each entry is the next Challenge, and the
/// last answer decides (accept if it equals `expected`).
class ScriptedProvider final : public userauth::SyncProvider {
 public:
  ScriptedProvider(std::vector<userauth::Challenge> rounds, std::string expected)
      : rounds_(std::move(rounds)), expected_(std::move(expected)) {}
  std::string_view name() const override { return "scripted"; }
  userauth::Outcome begin(const userauth::AttemptInfo&) override { return next(); }
  userauth::Outcome check(const std::vector<crypto::SecretBytes>& answers) override {
    if (i_ < rounds_.size()) return next();
    if (answers.size() == 1 && userauth::answer_text(answers[0]) == expected_) return userauth::Accept{};
    return userauth::Reject{};
  }

 private:
  userauth::Outcome next() { return rounds_[i_++]; }
  std::vector<userauth::Challenge> rounds_;
  std::string expected_;
  std::size_t i_ = 0;
};

class ClientAuthTest : public ::testing::Test {
 public:
  /// Starts a server whose keyboard-interactive provider comes from `provider`.
  void start(userauth::ProviderFactory provider, userauth::AuthLimits limits = {}) {
    auto [client, server] = default_configs();
    client_transport_ = std::make_shared<transport::TransportConfig>(client);
    auto tconfig = std::make_shared<transport::TransportConfig>(server);
    auto aconfig = std::make_shared<userauth::ServerAuthConfig>();
    aconfig->keyboard_interactive = std::move(provider);
    limits.failure_delay = 0ms;
    aconfig->limits = limits;
    user_key_ = crypto::PrivateKey::generate_ed25519(rng_);
    std::vector<crypto::PublicKey> authorized{user_key_->public_key()};
    for (const auto& k : extra_authorized_) authorized.push_back(k);
    aconfig->authorized_keys = [authorized](std::string_view user) {
      return user == "keyuser" ? authorized : std::vector<crypto::PublicKey>{};
    };
    auto policy = std::make_shared<session::ChannelPolicy>();
    driver::ServerOptions options;
    options.port = 0;
    options.threads = 1;
    server_ = std::make_unique<driver::Server>(
        options, driver::ConnectionFactory([tconfig, aconfig, policy, this](driver::ConnectionContext& context,
                                                                            transport::Instant now) {
          auto conn = std::make_unique<session::ServerConnection>(tconfig, aconfig, rng_, "peer", now);
          driver::ProcessOptions process;
          process.shell = "/bin/sh";
          conn->set_channel_services(policy, driver::make_channel_services(context, process));
          return conn;
        }));
    ASSERT_TRUE(server_->start().has_value());
  }

  struct Run {
    std::optional<userauth::ClientAuthResult> result;
    std::optional<transport::Disconnected> disconnected;
    std::string out;
    std::optional<std::uint32_t> exit_status;
    std::string fingerprint_seen;  // what the callback saw as the host
  };

  /// Connects, authenticates with `config`, and (once in) runs `command`.
  Run run(std::shared_ptr<userauth::ClientAuthConfig> config, std::string command = "echo hi; exit 3",
          std::shared_ptr<const transport::TransportConfig> tconfig = nullptr) {
    Run r;
    session::ClientConnection conn(tconfig ? tconfig : client_transport_, config, "127.0.0.1",
                                server_->port(), rng_, transport::Clock::now());
    conn.on_authenticated = [&](session::ClientConnection& c) {
      c.channels().open("session");
    };
    conn.on_channel_event = [&](session::ClientConnection& c, connection::Event& e) {
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

  static std::shared_ptr<userauth::ClientAuthConfig> config(std::string user = "admin") {
    auto c = std::make_shared<userauth::ClientAuthConfig>();
    c->user = std::move(user);
    return c;
  }

  crypto::SystemRandom rng_;
  std::optional<crypto::PrivateKey> user_key_;
  std::vector<crypto::PublicKey> extra_authorized_;  // also authorized for "keyuser" (set before start())
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
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config();
  std::vector<userauth::UserInfoRequest> seen;
  c->on_user_info_request = [&](const userauth::UserInfoRequest& request, userauth::ReplyTo<userauth::InfoReply> reply) {
    seen.push_back(request);
    userauth::Answers a;
    for (const auto& p : request.prompts) a.values.push_back(secret(highest(p.text)));
    reply(std::move(a));
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<userauth::ClientAuthSucceeded>(*r.result));
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
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config();
  std::size_t rounds = 0;
  c->on_user_info_request = [&](const userauth::UserInfoRequest& request, userauth::ReplyTo<userauth::InfoReply> reply) {
    ++rounds;
    EXPECT_EQ(request.round, rounds);
    userauth::Answers a;
    a.values.push_back(secret(rounds == 1 ? "-1" : highest(request.prompts.at(0).text)));
    reply(std::move(a));
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<userauth::ClientAuthSucceeded>(*r.result));
  EXPECT_EQ(rounds, 2u);
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(3));
}

TEST_F(ClientAuthTest, ZeroPromptRoundsAreAcknowledgedAndSeveralRoundsFollow) {
  start([](const userauth::AttemptInfo&) {
    return std::make_unique<ScriptedProvider>(
        std::vector<userauth::Challenge>{{"Notice", "Read this first.", {}},
                                     {"Step 2", "", {{"Colour? ", true}}},
                                     {"", "Almost there.", {}},
                                     {"Step 4", "", {{"Word: ", false}}}},
        "open sesame");
  });
  auto c = config();
  std::vector<std::size_t> prompt_counts;
  c->on_user_info_request = [&](const userauth::UserInfoRequest& request, userauth::ReplyTo<userauth::InfoReply> reply) {
    prompt_counts.push_back(request.prompts.size());
    userauth::Answers a;
    for (const auto& p : request.prompts) a.values.push_back(secret(p.text == "Word: " ? "open sesame" : "blue"));
    reply(std::move(a));
  };
  auto r = run(c, "exit 0");
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<userauth::ClientAuthSucceeded>(*r.result));
  EXPECT_EQ(prompt_counts, (std::vector<std::size_t>{0, 1, 0, 1}));
}

TEST_F(ClientAuthTest, AnswersMayArriveLaterFromAnotherThread) {
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config();
  std::vector<std::thread> threads;
  c->on_user_info_request = [&](const userauth::UserInfoRequest& request, userauth::ReplyTo<userauth::InfoReply> reply) {
    threads.emplace_back([reply, text = request.prompts.at(0).text] {
      std::this_thread::sleep_for(100ms);
      userauth::Answers a;
      a.values.push_back(secret(highest(text)));
      reply(std::move(a));
    });
  };
  auto r = run(c);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<userauth::ClientAuthSucceeded>(*r.result));
  EXPECT_EQ(r.out, "hi\n");
}

TEST_F(ClientAuthTest, TheLibraryEnforcesOneAnswerPerPrompt) {
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config();
  c->on_user_info_request = [&](const userauth::UserInfoRequest&, userauth::ReplyTo<userauth::InfoReply> reply) {
    userauth::Answers a;
    a.values.push_back(secret("1"));
    a.values.push_back(secret("2"));  // one too many
    reply(std::move(a));
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  auto* failed = std::get_if<userauth::ClientAuthFailed>(&*r.result);
  ASSERT_NE(failed, nullptr);
  EXPECT_NE(failed->reason.find("2 answers to 1 prompts"), std::string::npos) << failed->reason;
}

TEST_F(ClientAuthTest, DecliningEndsWithPermissionDenied) {
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config();
  c->on_user_info_request = [](const userauth::UserInfoRequest&, userauth::ReplyTo<userauth::InfoReply> reply) {
    reply(userauth::Decline{});
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  auto* failed = std::get_if<userauth::ClientAuthFailed>(&*r.result);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->reason, "Permission denied (publickey,keyboard-interactive).");
}

TEST_F(ClientAuthTest, PublickeyFirst) {
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config("keyuser");
  c->keys.push_back(*user_key_);
  bool asked = false;
  c->on_user_info_request = [&](const userauth::UserInfoRequest&, userauth::ReplyTo<userauth::InfoReply> reply) {
    asked = true;
    reply(userauth::Decline{});
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<userauth::ClientAuthSucceeded>(*r.result));
  EXPECT_FALSE(asked) << "publickey comes first and succeeded: no prompt should be shown";
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(3));
}

TEST_F(ClientAuthTest, RefusedHostKeyMeansNoCallbackAndNoSecret) {
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto refusing = std::make_shared<transport::TransportConfig>(*client_transport_);
  refusing->verify_host_key = [](const crypto::PublicKey&) { return false; };
  auto c = config();
  bool asked = false;
  c->on_user_info_request = [&](const userauth::UserInfoRequest&, userauth::ReplyTo<userauth::InfoReply> reply) {
    asked = true;
    reply(userauth::Decline{});
  };
  c->on_password_request = [&](const userauth::PasswordRequest&, userauth::ReplyTo<userauth::PasswordReply> reply) {
    asked = true;
    reply(userauth::Decline{});
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
  auto* failed = std::get_if<userauth::ClientAuthFailed>(&*r.result);
  ASSERT_NE(failed, nullptr);
  EXPECT_NE(failed->reason.find(words), std::string::npos) << failed->reason;
  EXPECT_EQ(failed->disconnect, transport::DisconnectReason::protocol_error);
}

TEST_F(ClientAuthTest, TenThousandPromptsAreRefused) {
  userauth::AuthLimits limits;
  limits.max_prompts = 20000;
  start([](const userauth::AttemptInfo&) {
    userauth::Challenge c{"Many", "", std::vector<userauth::Prompt>(10000, userauth::Prompt{"Q: ", true})};
    return std::make_unique<ScriptedProvider>(std::vector<userauth::Challenge>{c}, "x");
  }, limits);
  auto c = config();
  bool asked = false;
  c->on_user_info_request = [&](const userauth::UserInfoRequest&, userauth::ReplyTo<userauth::InfoReply> reply) {
    asked = true;
    reply(userauth::Decline{});
  };
  auto r = run(c);
  expect_refused(r, "server asked 10000 questions in one round (limit 64)");
  EXPECT_FALSE(asked);
}

TEST_F(ClientAuthTest, AHugePromptIsRefused) {
  start([](const userauth::AttemptInfo&) {
    userauth::Challenge c{"Big", "", {userauth::Prompt{std::string(200 * 1024, 'A'), true}}};
    return std::make_unique<ScriptedProvider>(std::vector<userauth::Challenge>{c}, "x");
  });
  auto c = config();
  bool asked = false;
  c->on_user_info_request = [&](const userauth::UserInfoRequest&, userauth::ReplyTo<userauth::InfoReply> reply) {
    asked = true;
    reply(userauth::Decline{});
  };
  auto r = run(c);
  expect_refused(r, "server sent a prompt of more than 65536 bytes");
  EXPECT_FALSE(asked);
}

TEST_F(ClientAuthTest, EndlessRoundsAreRefused) {
  userauth::AuthLimits limits;
  limits.max_rounds = 1000;
  start([](const userauth::AttemptInfo&) {
    return std::make_unique<ScriptedProvider>(
        std::vector<userauth::Challenge>(100, userauth::Challenge{"Again", "", {{"Q: ", true}}}), "never");
  }, limits);
  auto c = config();
  std::size_t rounds = 0;
  c->on_user_info_request = [&](const userauth::UserInfoRequest& request, userauth::ReplyTo<userauth::InfoReply> reply) {
    ++rounds;
    userauth::Answers a;
    a.values.resize(request.prompts.size());
    reply(std::move(a));
  };
  auto r = run(c);
  expect_refused(r, "server asked more than 32 keyboard-interactive rounds");
  EXPECT_EQ(rounds, 32u);
}


// ---- ssh-agent: the protocol (draft-miller-ssh-agent), sans-I/O

Bytes bytes_of(std::initializer_list<int> v) {
  Bytes out;
  for (int x : v) out.push_back(static_cast<std::uint8_t>(x));
  return out;
}

/// An SSH_AGENT_IDENTITIES_ANSWER payload claiming `count` keys with these entries.
Bytes identities_answer(std::uint32_t count, const std::vector<std::pair<Bytes, std::string>>& entries) {
  Bytes m;
  wire::Writer w(m);
  w.byte(std::to_underlying(client::agent::AgentMsg::identities_answer)).uint32(count);
  for (const auto& [blob, comment] : entries) w.string(BytesView(blob)).string(std::string_view(comment));
  return m;
}

TEST(AgentProtocol, RequestIdentitiesIsOneFramedByte) {
  EXPECT_EQ(client::agent::request_identities(), bytes_of({0, 0, 0, 1, 11}));
}

TEST(AgentProtocol, SignRequestCarriesKeyDataAndTheRsaFlags) {
  const Bytes blob = to_bytes("key-blob");
  const Bytes data = to_bytes("data to sign");
  const std::pair<crypto::SignatureAlg, std::uint32_t> cases[] = {
      {crypto::SignatureAlg::rsa_sha2_512, 4}, {crypto::SignatureAlg::rsa_sha2_256, 2},
      {crypto::SignatureAlg::ssh_ed25519, 0}, {crypto::SignatureAlg::ecdsa_sha2_nistp256, 0}};
  for (const auto& [alg, flags] : cases) {
    const Bytes framed = client::agent::sign_request(blob, data, alg);
    wire::Reader r(framed);
    EXPECT_EQ(r.uint32(), framed.size() - 4);
    EXPECT_EQ(r.byte(), 13);
    const auto b = r.string();
    EXPECT_EQ(Bytes(b.begin(), b.end()), blob);
    const auto d = r.string();
    EXPECT_EQ(Bytes(d.begin(), d.end()), data);
    EXPECT_EQ(r.uint32(), flags) << crypto::name(alg);
    EXPECT_TRUE(r.finish().has_value());
  }
}

TEST(AgentProtocol, IdentitiesAnswerGivesBlobsCommentsAndUsableKeys) {
  crypto::SystemRandom rng;
  const auto key = crypto::PrivateKey::generate_ed25519(rng);
  Bytes dss;
  wire::Writer(dss).string(std::string_view("ssh-dss")).string(std::string_view("whatever"));
  const auto m = identities_answer(2, {{key.public_key().blob(), "me@laptop"}, {dss, "old \x1b[2J key"}});
  auto ids = client::agent::parse_identities_answer(m);
  ASSERT_TRUE(ids.has_value()) << client::agent::to_string(ids.error());
  ASSERT_EQ(ids->size(), 2u);
  EXPECT_EQ((*ids)[0].blob, key.public_key().blob());
  EXPECT_EQ((*ids)[0].comment, "me@laptop");
  ASSERT_TRUE((*ids)[0].key.has_value());
  EXPECT_EQ(*(*ids)[0].key, key.public_key());
  EXPECT_EQ((*ids)[1].comment, "old \x1b[2J key");  // raw: the caller makes it printable
  EXPECT_FALSE((*ids)[1].key.has_value()) << "a key type parley does not use is listed without a key";
  auto none = client::agent::parse_identities_answer(identities_answer(0, {}));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST(AgentProtocol, AHostileIdentitiesAnswerIsRefused) {
  using client::agent::AgentError;
  auto error = [](const Bytes& m) {
    auto r = client::agent::parse_identities_answer(m);
    return r ? std::optional<AgentError>() : std::optional<AgentError>(r.error());
  };
  const Bytes blob = to_bytes("b");
  EXPECT_EQ(error(identities_answer(1001, {})), AgentError::too_many_identities);
  // A count the message cannot hold is refused before anything is reserved for it.
  EXPECT_EQ(error(identities_answer(1000, {})), AgentError::malformed_message);
  EXPECT_EQ(error(identities_answer(2, {{blob, "one"}})), AgentError::malformed_message);
  Bytes trailing = identities_answer(1, {{blob, "one"}});
  trailing.push_back(0);
  EXPECT_EQ(error(trailing), AgentError::malformed_message);
  Bytes cut = identities_answer(1, {{blob, "one"}});
  cut.pop_back();
  EXPECT_EQ(error(cut), AgentError::malformed_message);
  EXPECT_EQ(error(bytes_of({5})), AgentError::refused);
  EXPECT_EQ(error(bytes_of({14, 0, 0, 0, 0})), AgentError::unexpected_message);
  EXPECT_EQ(error(Bytes{}), AgentError::empty_message);
  EXPECT_EQ(error(bytes_of({12, 0, 0})), AgentError::malformed_message);
  Bytes huge(client::agent::max_message + 1, 0);
  huge[0] = 12;
  EXPECT_EQ(error(huge), AgentError::message_too_long);
}

TEST(AgentProtocol, SignResponseIsTheBlobAsSentOrARefusal) {
  using client::agent::AgentError;
  const Bytes sig = to_bytes(std::string_view("\x00\x00\x00\x0bssh-ed25519 and more", 24));
  Bytes m;
  wire::Writer(m).byte(14).string(BytesView(sig));
  auto got = client::agent::parse_sign_response(m);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, sig);
  EXPECT_EQ(client::agent::parse_sign_response(bytes_of({5})).error(), AgentError::refused);
  EXPECT_EQ(client::agent::parse_sign_response(bytes_of({12, 0, 0, 0, 0})).error(), AgentError::unexpected_message);
  EXPECT_EQ(client::agent::parse_sign_response(bytes_of({14, 0, 0, 0, 0})).error(), AgentError::malformed_message);
  EXPECT_EQ(client::agent::parse_sign_response(bytes_of({14, 0, 0, 0, 9, 1})).error(), AgentError::malformed_message);
  m.push_back(7);
  EXPECT_EQ(client::agent::parse_sign_response(m).error(), AgentError::malformed_message);
}

TEST(AgentProtocol, TheDeframerHoldsOneBoundedFrame) {
  using client::agent::AgentError;
  {
    // Byte by byte, then a second frame: each message whole, nothing more asked for.
    client::agent::Deframer d;
    const Bytes stream = bytes_of({0, 0, 0, 3, 12, 0, 0});
    for (std::size_t i = 0; i < stream.size(); ++i) {
      EXPECT_FALSE(d.ready());
      ASSERT_GE(d.wanted(), 1u);
      ASSERT_TRUE(d.feed(BytesView(&stream[i], 1)).has_value());
    }
    EXPECT_EQ(d.wanted(), 0u);
    EXPECT_EQ(d.take(), std::optional<Bytes>(bytes_of({12, 0, 0})));
    EXPECT_EQ(d.wanted(), 4u);
    ASSERT_TRUE(d.feed(bytes_of({0, 0, 0, 1})).has_value());
    EXPECT_EQ(d.wanted(), 1u);
    ASSERT_TRUE(d.feed(bytes_of({5})).has_value());
    EXPECT_EQ(d.take(), std::optional<Bytes>(bytes_of({5})));
  }
  {
    // A 4 GiB length is refused on its four bytes, before anything is buffered.
    client::agent::Deframer d;
    auto fed = d.feed(bytes_of({0xff, 0xff, 0xff, 0xff}));
    ASSERT_FALSE(fed.has_value());
    EXPECT_EQ(fed.error(), AgentError::message_too_long);
    EXPECT_EQ(d.wanted(), 0u);
    EXPECT_FALSE(d.feed(bytes_of({1})).has_value()) << "an error is final";
  }
  {
    client::agent::Deframer d;  // exactly the limit is allowed, one more is not
    EXPECT_TRUE(d.feed(bytes_of({0, 4, 0, 0})).has_value());
    EXPECT_EQ(d.wanted(), client::agent::max_message);
    client::agent::Deframer over;
    EXPECT_EQ(over.feed(bytes_of({0, 4, 0, 1})).error(), AgentError::message_too_long);
  }
  {
    client::agent::Deframer d;
    EXPECT_EQ(d.feed(bytes_of({0, 0, 0, 0})).error(), AgentError::empty_message);
  }
  {
    client::agent::Deframer d;  // more than it asked for: refused, not buffered
    EXPECT_EQ(d.feed(bytes_of({0, 0, 0, 1, 5, 5})).error(), AgentError::overfed);
  }
}

// ---- ExternalKey: the core, message by message (no server)

/// A ClientAuth driven by hand: the server's side is written here.
struct ManualAuth {
  explicit ManualAuth(std::shared_ptr<userauth::ClientAuthConfig> c)
      : config(std::move(c)), core(config, userauth::HostIdentity{"host", 22, "ssh-ed25519", "SHA256:x"}) {
    core.set_wake([this] { ++wakes; });
    core.start(session_id);
    EXPECT_EQ(core.take_messages().size(), 1u);  // "none"
  }
  void server_failure(std::string_view methods) {
    Bytes m;
    wire::Writer(m).byte(51).string(methods).boolean(false);
    core.handle(m);
  }
  void server_pk_ok(const crypto::PublicKey& key, crypto::SignatureAlg alg) {
    Bytes m;
    wire::Writer(m).byte(60).string(crypto::name(alg)).string(BytesView(key.blob()));
    core.handle(m);
  }
  /// A publickey request: (signed?, alg name, key blob, signature blob).
  struct Pk {
    bool has_signature;
    std::string alg;
    Bytes blob;
    Bytes signature;
  };
  static std::optional<Pk> parse(const Bytes& m) {
    wire::Reader r(m);
    if (r.byte() != 50) return std::nullopt;
    r.text();
    r.text();
    if (r.text() != "publickey") return std::nullopt;
    Pk pk;
    pk.has_signature = r.boolean();
    pk.alg = std::string(r.text());
    auto b = r.string();
    pk.blob.assign(b.begin(), b.end());
    if (pk.has_signature) {
      auto s = r.string();
      pk.signature.assign(s.begin(), s.end());
    }
    if (!r.finish()) return std::nullopt;
    return pk;
  }
  std::optional<Pk> one_message() {
    auto out = core.take_messages();
    if (out.size() != 1) return std::nullopt;
    return parse(out[0]);
  }

  Bytes session_id = to_bytes("0123456789abcdef0123456789abcdef");
  std::shared_ptr<userauth::ClientAuthConfig> config;
  userauth::ClientAuth core;
  int wakes = 0;
};

/// What a signer was asked and how to answer later.
struct SignCall {
  Bytes data;
  crypto::SignatureAlg alg;
  std::optional<userauth::ReplyTo<userauth::SignReply>> reply;
};

userauth::ExternalKey recording_key(const crypto::PublicKey& pub, std::vector<SignCall>& calls) {
  return userauth::ExternalKey{pub, "agent key", [&calls](Bytes data, crypto::SignatureAlg alg,
                                                      userauth::ReplyTo<userauth::SignReply> reply) {
                             calls.push_back(SignCall{std::move(data), alg, std::move(reply)});
                           }};
}

TEST(ExternalKeyCore, AgentKeysComeFirstAndTheSignatureIsSentAsTheSignerMadeIt) {
  crypto::SystemRandom rng;
  std::optional<crypto::PrivateKey> rsa = test::test_host_key("rsa");  // git keeps test data 0644
  ASSERT_TRUE(rsa.has_value());
  const auto local = crypto::PrivateKey::generate_ed25519(rng);
  auto c = std::make_shared<userauth::ClientAuthConfig>();
  c->user = "u";
  std::vector<SignCall> calls;
  c->agent_keys.push_back(recording_key(rsa->public_key(), calls));
  c->keys.push_back(local);
  ManualAuth m(c);
  m.server_failure("publickey");
  auto query = m.one_message();
  ASSERT_TRUE(query);
  EXPECT_FALSE(query->has_signature);
  EXPECT_EQ(query->blob, rsa->public_key().blob()) << "the agent's key is offered before the local one";
  EXPECT_EQ(query->alg, "rsa-sha2-512");
  EXPECT_TRUE(calls.empty()) << "nothing is signed before PK_OK";
  m.server_pk_ok(rsa->public_key(), crypto::SignatureAlg::rsa_sha2_512);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].alg, crypto::SignatureAlg::rsa_sha2_512);
  // The data is RFC 4252 §7's: string session id, then the request being signed.
  wire::Reader r(calls[0].data);
  const auto sid = r.string();
  EXPECT_EQ(Bytes(sid.begin(), sid.end()), m.session_id);
  EXPECT_EQ(r.byte(), 50);
  EXPECT_TRUE(m.core.take_messages().empty()) << "nothing is sent while the signer works";
  m.core.poll();
  EXPECT_TRUE(m.core.take_messages().empty());
  const Bytes signature = rsa->sign(crypto::SignatureAlg::rsa_sha2_512, calls[0].data);
  (*calls[0].reply)(signature);
  EXPECT_EQ(m.wakes, 1) << "a reply wakes the connection";
  m.core.poll();
  auto signed_request = m.one_message();
  ASSERT_TRUE(signed_request);
  EXPECT_TRUE(signed_request->has_signature);
  EXPECT_EQ(signed_request->alg, "rsa-sha2-512");
  EXPECT_EQ(signed_request->blob, rsa->public_key().blob());
  EXPECT_EQ(signed_request->signature, signature) << "the blob goes out as the signer made it";
  // A second reply is ignored.
  (*calls[0].reply)(userauth::Decline{});
  m.core.poll();
  EXPECT_TRUE(m.core.take_messages().empty());
}

TEST(ExternalKeyCore, ARefusalOrAWrongSignatureMovesToTheNextKey) {
  crypto::SystemRandom rng;
  const auto held = crypto::PrivateKey::generate_ed25519(rng);
  const auto other = crypto::PrivateKey::generate_ed25519(rng);
  std::optional<crypto::PrivateKey> rsa = test::test_host_key("rsa");  // git keeps test data 0644
  ASSERT_TRUE(rsa.has_value());
  const auto local = crypto::PrivateKey::generate_ed25519(rng);
  auto c = std::make_shared<userauth::ClientAuthConfig>();
  c->user = "u";
  std::vector<SignCall> calls;
  c->agent_keys.push_back(recording_key(held.public_key(), calls));        // refuses
  c->agent_keys.push_back(recording_key(other.public_key(), calls));       // signs with the wrong key
  c->agent_keys.push_back(recording_key(rsa->public_key(), calls));        // SHA-1-era agent: wrong algorithm
  c->keys.push_back(local);
  ManualAuth m(c);
  m.server_failure("publickey,password");

  auto q1 = m.one_message();
  ASSERT_TRUE(q1);
  EXPECT_EQ(q1->blob, held.public_key().blob());
  m.server_pk_ok(held.public_key(), crypto::SignatureAlg::ssh_ed25519);
  ASSERT_EQ(calls.size(), 1u);
  (*calls[0].reply)(userauth::Decline{});
  m.core.poll();
  auto q2 = m.one_message();
  ASSERT_TRUE(q2) << "a refusal sends the next key's query";
  EXPECT_FALSE(q2->has_signature);
  EXPECT_EQ(q2->blob, other.public_key().blob());

  m.server_pk_ok(other.public_key(), crypto::SignatureAlg::ssh_ed25519);
  ASSERT_EQ(calls.size(), 2u);
  (*calls[1].reply)(held.sign(crypto::SignatureAlg::ssh_ed25519, calls[1].data));  // not this key's
  m.core.poll();
  auto q3 = m.one_message();
  ASSERT_TRUE(q3) << "a signature that does not verify is never sent";
  EXPECT_FALSE(q3->has_signature);
  EXPECT_EQ(q3->blob, rsa->public_key().blob());

  m.server_pk_ok(rsa->public_key(), crypto::SignatureAlg::rsa_sha2_512);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2].alg, crypto::SignatureAlg::rsa_sha2_512);
  (*calls[2].reply)(rsa->sign(crypto::SignatureAlg::rsa_sha2_256, calls[2].data));  // not what was asked
  m.core.poll();
  auto q4 = m.one_message();
  ASSERT_TRUE(q4) << "a signature with another algorithm than the request names is never sent";
  EXPECT_FALSE(q4->has_signature);
  EXPECT_EQ(q4->blob, local.public_key().blob()) << "then the local key";

  m.server_pk_ok(local.public_key(), crypto::SignatureAlg::ssh_ed25519);
  auto s4 = m.one_message();
  ASSERT_TRUE(s4);
  EXPECT_TRUE(s4->has_signature);
  EXPECT_EQ(s4->blob, local.public_key().blob());
  EXPECT_EQ(calls.size(), 3u) << "a local key is signed here, not by a signer";
}

TEST(ExternalKeyCore, AnUnsetSignerAndALateReplyAfterTheServerMovedOn) {
  crypto::SystemRandom rng;
  const auto a = crypto::PrivateKey::generate_ed25519(rng);
  const auto b = crypto::PrivateKey::generate_ed25519(rng);
  auto c = std::make_shared<userauth::ClientAuthConfig>();
  c->user = "u";
  std::vector<SignCall> calls;
  c->agent_keys.push_back(userauth::ExternalKey{a.public_key(), "no signer", nullptr});
  c->agent_keys.push_back(recording_key(b.public_key(), calls));
  ManualAuth m(c);
  m.server_failure("publickey");
  ASSERT_TRUE(m.one_message());
  m.server_pk_ok(a.public_key(), crypto::SignatureAlg::ssh_ed25519);
  auto q2 = m.one_message();
  ASSERT_TRUE(q2) << "a key without a signer is a refusal";
  EXPECT_EQ(q2->blob, b.public_key().blob());
  m.server_pk_ok(b.public_key(), crypto::SignatureAlg::ssh_ed25519);
  ASSERT_EQ(calls.size(), 1u);
  // The server gives up on us before the signature comes: the late reply is dropped.
  m.server_failure("publickey");
  ASSERT_TRUE(m.core.result().has_value());
  auto* failed = std::get_if<userauth::ClientAuthFailed>(&*m.core.result());
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->reason, "Permission denied (publickey).");
  m.core.take_messages();
  (*calls[0].reply)(b.sign(crypto::SignatureAlg::ssh_ed25519, calls[0].data));
  EXPECT_EQ(m.wakes, 0) << "a cancelled request wakes nobody";
  m.core.poll();
  EXPECT_TRUE(m.core.take_messages().empty());
}

// ---- ExternalKey against a real server

TEST_F(ClientAuthTest, AnAgentKeySignsAndTheCommandRuns) {
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config("keyuser");
  std::vector<crypto::SignatureAlg> asked;
  c->agent_keys.push_back(userauth::ExternalKey{
      user_key_->public_key(), "agent",
      [&, key = *user_key_](Bytes data, crypto::SignatureAlg alg, userauth::ReplyTo<userauth::SignReply> reply) {
        asked.push_back(alg);
        reply(key.sign(alg, data));
      }});
  bool prompted = false;
  c->on_user_info_request = [&](const userauth::UserInfoRequest&, userauth::ReplyTo<userauth::InfoReply> reply) {
    prompted = true;
    reply(userauth::Decline{});
  };
  auto r = run(c);
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<userauth::ClientAuthSucceeded>(*r.result));
  EXPECT_EQ(asked, std::vector<crypto::SignatureAlg>{crypto::SignatureAlg::ssh_ed25519});
  EXPECT_FALSE(prompted);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(3));
}

TEST_F(ClientAuthTest, AnRsaAgentSignatureMayArriveLaterFromAnotherThread) {
  std::optional<crypto::PrivateKey> rsa = test::test_host_key("rsa");  // git keeps test data 0644
  ASSERT_TRUE(rsa.has_value());
  extra_authorized_.push_back(rsa->public_key());
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config("keyuser");
  std::vector<std::thread> threads;
  std::vector<crypto::SignatureAlg> asked;
  c->agent_keys.push_back(userauth::ExternalKey{
      rsa->public_key(), "rsa in the agent",
      [&, key = *rsa](Bytes data, crypto::SignatureAlg alg, userauth::ReplyTo<userauth::SignReply> reply) {
        asked.push_back(alg);
        threads.emplace_back([key, alg, reply, data = std::move(data)] {
          std::this_thread::sleep_for(150ms);
          reply(key.sign(alg, data));
        });
      }});
  auto r = run(c);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<userauth::ClientAuthSucceeded>(*r.result));
  EXPECT_EQ(asked, std::vector<crypto::SignatureAlg>{crypto::SignatureAlg::rsa_sha2_512});
  EXPECT_EQ(r.out, "hi\n");
}

TEST_F(ClientAuthTest, ARefusingAgentMovesOnToTheLocalKey) {
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config("keyuser");
  int refusals = 0;
  c->agent_keys.push_back(userauth::ExternalKey{
      user_key_->public_key(), "agent", [&](Bytes, crypto::SignatureAlg, userauth::ReplyTo<userauth::SignReply> reply) {
        ++refusals;
        reply(userauth::Decline{});
      }});
  c->keys.push_back(*user_key_);
  auto r = run(c);
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(std::holds_alternative<userauth::ClientAuthSucceeded>(*r.result));
  EXPECT_EQ(refusals, 1) << "the agent key was tried first, and refused once";
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(3));
}

TEST_F(ClientAuthTest, ARefusingAgentAloneIsPermissionDenied) {
  start([this](const userauth::AttemptInfo&) { return std::make_unique<userauth::HigherOrLower>(rng_); });
  auto c = config("keyuser");
  int refusals = 0;
  c->agent_keys.push_back(userauth::ExternalKey{
      user_key_->public_key(), "agent", [&](Bytes, crypto::SignatureAlg, userauth::ReplyTo<userauth::SignReply> reply) {
        ++refusals;
        reply(userauth::Decline{});
      }});
  auto r = run(c);
  ASSERT_TRUE(r.result);
  auto* failed = std::get_if<userauth::ClientAuthFailed>(&*r.result);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->reason, "Permission denied (publickey,keyboard-interactive).");
  EXPECT_EQ(refusals, 1);
}

}  // namespace
}  // namespace parley::test

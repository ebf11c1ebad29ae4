// parley's SSH client (ClientConnection + run_client) against a real AsyncSSH
// server (tests/interop/asyncssh_kbdint_server.py, Debian's python3-asyncssh)
// that offers only keyboard-interactive, as a three-round challenge for "alice":
//   round 1: "Welcome" / "Please read this notice." and no prompts;
//   round 2: "Password: " (no echo)                   -> s3cret
//   round 3: "Verification code: " (no echo)          -> 123456
//            "Favourite colour: " (echo)              -> blue
// and after login runs exec "greet" (prints "hello alice", exit 7) and "cat".
//
// Checked: what an application's on_user_info_request callback sees of each
// round; the library's composed responders (saved_password, rules, first_of,
// user_info_callback) answering a server they were not written against; a wrong
// answer ending in OpenSSH's "Permission denied (...)." line; the batch
// behaviour (unanswered prompts sent empty, and counted); and 1 MiB through
// "cat" with the send window respected.
//
// The server must start: if /usr/bin/python3 or asyncssh is missing, every test
// fails with the reason (no silent skip).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "parley/session/client_connection.hpp"
#include "parley/client/responders.hpp"
#include "parley/connection/session.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/client.hpp"
#include "test_support.hpp"

namespace parley::test {
namespace {

using namespace std::chrono_literals;
namespace client = parley::client;
namespace session = parley::session;
namespace userauth = parley::userauth;
namespace connection = parley::connection;

constexpr const char* python = "/usr/bin/python3";  // Debian's: the one python3-asyncssh is installed for

crypto::SecretBytes secret(std::string_view s) { return crypto::SecretBytes(as_bytes(s)); }

std::filesystem::path server_script() {
  // From the data directory's absolute path, not __FILE__: a compiler cache may
  // build with relative source paths, and the test runs in the build tree.
  return std::filesystem::path(PARLEY_TEST_DATA_DIR).parent_path() / "interop" / "asyncssh_kbdint_server.py";
}

/// One AsyncSSH server for the whole binary (each connection has its own state).
class AsyncsshServer {
 public:
  static AsyncsshServer& instance() {
    static AsyncsshServer server;
    return server;
  }
  const std::string& error() const { return error_; }
  std::uint16_t port() const { return port_; }
  const crypto::PublicKey& host_key() const { return *host_key_; }
  std::string log() const { return read_text_file(dir_ / "server.log"); }

 private:
  AsyncsshServer() { error_ = start(); }

  std::string start() {
    if (::access(python, X_OK) != 0)
      return std::string(python) + " is missing (the test needs Debian's python3 with python3-asyncssh)";
    if (!std::filesystem::exists(server_script()))
      return server_script().string() + " is missing";
    std::string spawn_error;
    process_ = ChildProcess::spawn({python, server_script().string(), "0"}, dir_ / "server.log", &spawn_error);
    if (!process_) return "cannot start " + server_script().string() + ": " + spawn_error;
    // "host key TYPE BASE64", then "listening on PORT".
    auto key_line = process_->read_line(15s);
    if (!key_line)
      return "the AsyncSSH server printed nothing (is python3-asyncssh installed for " + std::string(python) +
             "?); its stderr:\n" + log();
    const std::string key_prefix = "host key ";
    if (!key_line->starts_with(key_prefix)) return "unexpected first line from the server: " + *key_line;
    auto key = crypto::PublicKey::from_openssh(key_line->substr(key_prefix.size()));
    if (!key) return "cannot parse the server's host key: " + *key_line;
    host_key_ = *key;
    auto listening = process_->read_line(10s);
    const std::string prefix = "listening on ";
    if (!listening || !listening->starts_with(prefix))
      return "the server did not say where it listens; stderr:\n" + log();
    const std::string digits = listening->substr(prefix.size());
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return "unexpected line from the server: " + *listening;
    port_ = static_cast<std::uint16_t>(std::stoi(digits));
    return {};
  }

  TempDir dir_;
  std::optional<ChildProcess> process_;
  std::optional<crypto::PublicKey> host_key_;
  std::uint16_t port_ = 0;
  std::string error_;
};

/// What one connection did.
struct Outcome {
  std::string run_error;  // from run_client ("" if it returned normally)
  std::optional<userauth::ClientAuthResult> result;
  std::optional<transport::Disconnected> disconnected;
  std::string out;
  std::string err;
  std::optional<std::uint32_t> exit_status;
  std::optional<bool> exec_accepted;
  std::size_t sent = 0;        // stdin bytes sent
  bool eof_sent = false;
  std::size_t writable_events = 0;
  bool window_overrun = false;  // send_data() took more than send_window() said
};

class AsyncsshClient : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(AsyncsshServer::instance().error(), "")
        << "the AsyncSSH server (" << server_script() << ") could not be started";
  }

  void TearDown() override {
    if (HasFailure()) ADD_FAILURE() << "AsyncSSH server log so far:\n" << AsyncsshServer::instance().log();
  }

  static std::shared_ptr<userauth::ClientAuthConfig> config() {
    auto c = std::make_shared<userauth::ClientAuthConfig>();
    c->user = "alice";
    c->methods = {"keyboard-interactive"};
    return c;
  }

  /// The client transport, pinned to the key the server printed.
  static std::shared_ptr<transport::TransportConfig> transport_config() {
    auto t = std::make_shared<transport::TransportConfig>();
    t->role = transport::Role::client;
    t->verify_host_key = [pinned = AsyncsshServer::instance().host_key()](const crypto::PublicKey& key) {
      return key == pinned;
    };
    return t;
  }

  /// Connects, authenticates with `config`, and once in runs `command` with
  /// `input` as its stdin (then EOF), collecting what comes back.
  Outcome run(std::shared_ptr<userauth::ClientAuthConfig> config, std::string command, const std::string& input = {}) {
    Outcome r;
    const std::uint16_t port = AsyncsshServer::instance().port();
    session::ClientConnection conn(transport_config(), config, "127.0.0.1", port, rng_, transport::Clock::now());
    std::optional<connection::ChannelId> channel;

    // Sends as much stdin as the peer's window allows; EOF once all is sent.
    auto pump = [&](session::ClientConnection& c) {
      if (!channel || !r.exec_accepted.value_or(false) || r.eof_sent) return;
      auto& ch = c.channels();
      while (r.sent < input.size()) {
        const std::uint32_t window = ch.send_window(*channel);
        if (window == 0) return;  // wait for Writable
        const std::size_t n = ch.send_data(*channel, as_bytes(std::string_view(input).substr(r.sent)));
        if (n > window) r.window_overrun = true;
        if (n == 0) return;
        r.sent += n;
      }
      ch.send_eof(*channel);
      r.eof_sent = true;
    };

    conn.on_authenticated = [&](session::ClientConnection& c) { channel = c.channels().open("session"); };
    conn.on_channel_event = [&](session::ClientConnection& c, connection::Event& e) {
      if (auto* o = std::get_if<connection::OpenConfirmed>(&e)) {
        c.channels().request(o->id, "exec", true,
                             connection::encode(connection::StartRequest{connection::StartRequest::Kind::exec, command}));
      } else if (auto* rr = std::get_if<connection::RequestReply>(&e)) {
        r.exec_accepted = rr->success;
        if (!rr->success) c.channels().close(rr->id);
        pump(c);
      } else if (auto* w = std::get_if<connection::Writable>(&e)) {
        ++r.writable_events;
        static_cast<void>(w);
        pump(c);
      } else if (auto* d = std::get_if<connection::Data>(&e)) {
        (d->extended == 0 ? r.out : r.err).append(reinterpret_cast<const char*>(d->bytes.data()), d->bytes.size());
        c.channels().consumed(d->id, d->bytes.size());
        pump(c);
      } else if (auto* q = std::get_if<connection::Request>(&e)) {
        if (q->type == "exit-status")
          if (auto s = connection::parse_exit_status(q->data)) r.exit_status = s->status;
        if (q->want_reply) c.channels().reply(q->id, false);
      } else if (auto* x = std::get_if<connection::Eof>(&e)) {
        c.channels().close(x->id);
      } else if (std::holds_alternative<connection::Closed>(e)) {
        c.disconnect(transport::DisconnectReason::by_application, "done");
      }
    };
    auto ran = driver::run_client("127.0.0.1", port, conn, 15s);
    if (!ran) r.run_error = ran.error();
    r.result = conn.auth_result();
    r.disconnected = conn.disconnected();
    return r;
  }

  crypto::SystemRandom rng_;
};

/// The failure reason, or "" if authentication did not fail.
std::string failure_reason(const Outcome& r) {
  if (!r.result) return "";
  auto* failed = std::get_if<userauth::ClientAuthFailed>(&*r.result);
  return failed ? failed->reason : "";
}

bool succeeded(const Outcome& r) { return r.result && std::holds_alternative<userauth::ClientAuthSucceeded>(*r.result); }

/// The answer to each of the server's prompts, by its text.
std::string answer_for(const std::string& prompt) {
  if (prompt == "Password: ") return "s3cret";
  if (prompt == "Verification code: ") return "123456";
  if (prompt == "Favourite colour: ") return "blue";
  return "";
}

// (a) An application's own callback sees every round as the server sent it.
TEST_F(AsyncsshClient, CallbackSeesThreeRoundsThenGreetExitsSeven) {
  auto c = config();
  std::vector<userauth::UserInfoRequest> seen;
  c->on_user_info_request = [&](const userauth::UserInfoRequest& request, userauth::ReplyTo<userauth::InfoReply> reply) {
    seen.push_back(request);
    userauth::Answers a;
    for (const auto& p : request.prompts) a.values.push_back(secret(answer_for(p.text)));
    reply(std::move(a));
  };
  const Outcome r = run(c, "greet");
  EXPECT_EQ(r.run_error, "");
  ASSERT_TRUE(r.result) << "authentication never ended";
  ASSERT_TRUE(succeeded(r)) << failure_reason(r);

  ASSERT_EQ(seen.size(), 3u);
  std::vector<std::size_t> counts, rounds;
  for (const auto& s : seen) {
    counts.push_back(s.prompts.size());
    rounds.push_back(s.round);
    EXPECT_EQ(s.attempt, 1u);
    EXPECT_EQ(s.user, "alice");
    EXPECT_EQ(s.host.host, "127.0.0.1");
    EXPECT_EQ(s.host.port, AsyncsshServer::instance().port());
    EXPECT_EQ(s.host.key_type, "ssh-ed25519");
    EXPECT_EQ(s.host.fingerprint, AsyncsshServer::instance().host_key().fingerprint());
  }
  EXPECT_EQ(counts, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(rounds, (std::vector<std::size_t>{1, 2, 3}));
  EXPECT_EQ(seen[0].name, "Welcome");
  EXPECT_EQ(seen[0].instruction, "Please read this notice.");
  EXPECT_EQ(seen[1].name, "");
  EXPECT_EQ(seen[1].instruction, "");
  EXPECT_EQ(seen[1].prompts[0].text, "Password: ");
  EXPECT_FALSE(seen[1].prompts[0].echo);
  EXPECT_EQ(seen[2].prompts[0].text, "Verification code: ");
  EXPECT_FALSE(seen[2].prompts[0].echo);
  EXPECT_EQ(seen[2].prompts[1].text, "Favourite colour: ");
  EXPECT_TRUE(seen[2].prompts[1].echo);

  EXPECT_EQ(r.exec_accepted, std::optional<bool>(true));
  EXPECT_EQ(r.out, "hello alice\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(7));
}

// (b) The library's responders, composed, answer a server they were not written
// against; then 1 MiB of random bytes goes through "cat" and comes back intact.
TEST_F(AsyncsshClient, ComposedRespondersLogInAndCatEchoesOneMebibyte) {
  auto c = config();
  auto unanswered = std::make_shared<std::size_t>(99);
  auto callback = userauth::user_info_callback(
      userauth::first_of({client::saved_password(secret("s3cret")),
                      client::rules({client::Rule{"127.0.0.1", "verification code", secret("123456")},
                                   client::Rule{"127.0.0.1", "colour", secret("blue")}})}),
      unanswered);
  std::vector<std::size_t> unanswered_per_round;
  c->on_user_info_request = [&](const userauth::UserInfoRequest& request, userauth::ReplyTo<userauth::InfoReply> reply) {
    callback(request, std::move(reply));
    unanswered_per_round.push_back(*unanswered);
  };

  std::string input(1024 * 1024, '\0');
  std::mt19937_64 gen(std::random_device{}());
  for (auto& ch : input) ch = static_cast<char>(gen() & 0xff);

  const Outcome r = run(c, "cat", input);
  EXPECT_EQ(r.run_error, "");
  ASSERT_TRUE(r.result) << "authentication never ended";
  ASSERT_TRUE(succeeded(r)) << failure_reason(r);
  EXPECT_EQ(unanswered_per_round, (std::vector<std::size_t>{0, 0, 0}));

  EXPECT_EQ(r.exec_accepted, std::optional<bool>(true));
  EXPECT_EQ(r.sent, input.size());
  EXPECT_TRUE(r.eof_sent);
  EXPECT_FALSE(r.window_overrun);
  // The server grants a 64 KiB window: sending 1 MiB had to wait for adjusts.
  EXPECT_GE(r.writable_events, 1u);
  EXPECT_EQ(r.out.size(), input.size());
  EXPECT_TRUE(r.out == input) << "cat returned different bytes";
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(0));
}

// (c) A wrong answer in the last round: OpenSSH's refusal line, no crash.
TEST_F(AsyncsshClient, WrongCodeInRoundThreeIsPermissionDenied) {
  auto c = config();
  std::size_t calls = 0;
  std::size_t last_attempt = 0;
  c->on_user_info_request = [&](const userauth::UserInfoRequest& request, userauth::ReplyTo<userauth::InfoReply> reply) {
    ++calls;
    last_attempt = request.attempt;
    userauth::Answers a;
    for (const auto& p : request.prompts)
      a.values.push_back(secret(p.text == "Verification code: " ? "654321" : answer_for(p.text)));
    reply(std::move(a));
  };
  const Outcome r = run(c, "greet");
  EXPECT_EQ(r.run_error, "");
  ASSERT_TRUE(r.result) << "authentication never ended";
  auto* failed = std::get_if<userauth::ClientAuthFailed>(&*r.result);
  ASSERT_NE(failed, nullptr) << "a wrong verification code was accepted";
  EXPECT_EQ(failed->reason, "Permission denied (keyboard-interactive).");
  EXPECT_EQ(failed->disconnect, transport::DisconnectReason::no_more_auth_methods_available);
  // The client retries the method up to max_attempts times (each one 3 rounds).
  EXPECT_EQ(last_attempt, c->max_attempts);
  EXPECT_EQ(calls, 3 * c->max_attempts);
  EXPECT_FALSE(r.exec_accepted) << "no channel may be opened without authentication";
  EXPECT_EQ(r.out, "");
  ASSERT_TRUE(r.disconnected);
  EXPECT_EQ(r.disconnected->reason, transport::DisconnectReason::no_more_auth_methods_available);
}

// (d) Batch behaviour: saved_password alone leaves the code and colour prompts
// unanswered; they are sent empty and counted, and login fails.
TEST_F(AsyncsshClient, SavedPasswordAloneLeavesTwoPromptsUnanswered) {
  auto c = config();
  c->max_attempts = 1;  // one attempt, so the counter ends on its last round
  auto unanswered = std::make_shared<std::size_t>(99);
  c->on_user_info_request = userauth::user_info_callback(client::saved_password(secret("s3cret")), unanswered);
  const Outcome r = run(c, "greet");
  EXPECT_EQ(r.run_error, "");
  ASSERT_TRUE(r.result) << "authentication never ended";
  EXPECT_EQ(failure_reason(r), "Permission denied (keyboard-interactive).");
  EXPECT_EQ(*unanswered, 2u);
  EXPECT_FALSE(r.exec_accepted);
}

// (d') The same with the default max_attempts: the round-by-round counter shows
// the password is sent once only (a second "Password: " after a failure is not
// answered again), so every later attempt stops at round 2.
TEST_F(AsyncsshClient, SavedPasswordAloneWithRetriesNeverReplaysThePassword) {
  auto c = config();
  auto unanswered = std::make_shared<std::size_t>(99);
  auto callback = userauth::user_info_callback(client::saved_password(secret("s3cret")), unanswered);
  struct Round {
    std::size_t attempt, round, prompts, unanswered;
    bool operator==(const Round&) const = default;
  };
  std::vector<Round> trace;
  c->on_user_info_request = [&](const userauth::UserInfoRequest& request, userauth::ReplyTo<userauth::InfoReply> reply) {
    callback(request, std::move(reply));
    trace.push_back({request.attempt, request.round, request.prompts.size(), *unanswered});
  };
  const Outcome r = run(c, "greet");
  EXPECT_EQ(r.run_error, "");
  ASSERT_TRUE(r.result) << "authentication never ended";
  EXPECT_EQ(failure_reason(r), "Permission denied (keyboard-interactive).");
  std::vector<Round> expected{{1, 1, 0, 0}, {1, 2, 1, 0}, {1, 3, 2, 2}};
  for (std::size_t attempt = 2; attempt <= c->max_attempts; ++attempt) {
    expected.push_back({attempt, 1, 0, 0});
    expected.push_back({attempt, 2, 1, 1});
  }
  ASSERT_EQ(trace.size(), expected.size());
  for (std::size_t i = 0; i < trace.size(); ++i) {
    EXPECT_EQ(trace[i].attempt, expected[i].attempt) << "call " << i;
    EXPECT_EQ(trace[i].round, expected[i].round) << "call " << i;
    EXPECT_EQ(trace[i].prompts, expected[i].prompts) << "call " << i;
    EXPECT_EQ(trace[i].unanswered, expected[i].unanswered) << "call " << i;
  }
  // The counter holds the last round's count.
  EXPECT_EQ(*unanswered, 1u);
}

}  // namespace
}  // namespace parley::test

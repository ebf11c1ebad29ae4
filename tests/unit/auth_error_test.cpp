// The typed userauth errors: each keeps the words parleyd's log and the tests
// have always used, maps to one SSH disconnect reason (or to a failed attempt)
// and to one audit outcome, and the server core reports them as values.
#include "parley/userauth/auth_error.hpp"

#include <gtest/gtest.h>

#include <set>

#include "parley/userauth/messages.hpp"
#include "parley/userauth/server_auth.hpp"
#include "transport_pair.hpp"

namespace parley::userauth {
namespace {

using namespace std::chrono_literals;
using transport::DisconnectReason;

struct Row {
  AuthError error;
  std::string_view words;
  std::optional<DisconnectReason> reason;  // nullopt: a failed attempt
};

constexpr std::optional<DisconnectReason> failed_attempt = std::nullopt;

const Row table[] = {
    {AuthError::method_not_offered, "method-not-offered", failed_attempt},
    {AuthError::malformed_password, "malformed-password", failed_attempt},
    {AuthError::password_change_unsupported, "password-change-unsupported", failed_attempt},
    {AuthError::no_provider, "no-provider", failed_attempt},
    {AuthError::response_count_mismatch, "count-mismatch", failed_attempt},
    {AuthError::malformed_answers, "malformed-answers", failed_attempt},
    {AuthError::too_many_rounds, "too-many-rounds", failed_attempt},
    {AuthError::too_many_prompts, "too-many-prompts", failed_attempt},
    {AuthError::rejected, "reject", failed_attempt},
    {AuthError::not_permitted, "not-permitted", failed_attempt},
    {AuthError::key_not_accepted, "key-not-accepted", failed_attempt},
    {AuthError::bad_signature, "bad-signature", failed_attempt},
    {AuthError::key_already_used, "key-already-used", failed_attempt},
    {AuthError::checks_busy, "checks-busy", failed_attempt},
    {AuthError::unexpected_message, "unexpected message during user authentication",
     DisconnectReason::protocol_error},
    {AuthError::response_without_request, "unexpected INFO_RESPONSE", DisconnectReason::protocol_error},
    {AuthError::malformed_request, "malformed USERAUTH_REQUEST", DisconnectReason::protocol_error},
    {AuthError::malformed_none_request, "malformed none request", DisconnectReason::protocol_error},
    {AuthError::malformed_publickey_request, "malformed publickey request", DisconnectReason::protocol_error},
    {AuthError::malformed_keyboard_interactive_request, "malformed keyboard-interactive request",
     DisconnectReason::protocol_error},
    {AuthError::user_or_service_changed, "change of user name or service during authentication",
     DisconnectReason::protocol_error},
    {AuthError::service_not_available, "service not available", DisconnectReason::service_not_available},
    {AuthError::too_many_requests, "too many authentication requests", DisconnectReason::protocol_error},
    {AuthError::too_many_pending_requests, "too many pending requests", DisconnectReason::protocol_error},
    {AuthError::too_many_failures, "too many authentication failures", DisconnectReason::protocol_error},
    {AuthError::login_grace_exceeded, "login grace time exceeded", DisconnectReason::by_application},
};

TEST(AuthError, KeepsTheWordsTheLogHasAlwaysUsed) {
  for (const auto& row : table) EXPECT_EQ(to_string(row.error), row.words);
}

TEST(AuthError, EveryErrorIsInTheTableOnceWithDistinctWords) {
  std::set<AuthError> errors;
  std::set<std::string_view> words;
  for (const auto& row : table) {
    errors.insert(row.error);
    words.insert(row.words);
  }
  // The enum's last value is login_grace_exceeded: every value up to it is listed.
  EXPECT_EQ(errors.size(), static_cast<std::size_t>(AuthError::login_grace_exceeded) + 1);
  EXPECT_EQ(words.size(), std::size(table));
}

TEST(AuthError, MapsToItsDisconnectReasonOrAFailedAttempt) {
  for (const auto& row : table) EXPECT_EQ(disconnect_reason(row.error), row.reason) << row.words;
}

TEST(AuthError, AFailedAttemptIsAuditedByItsWordsADisconnectIsNot) {
  for (const auto& row : table) {
    if (row.reason) {
      EXPECT_FALSE(audit_outcome(row.error).has_value()) << row.words;
    } else {
      EXPECT_EQ(audit_outcome(row.error), row.words);
    }
  }
}

// ---- the server core reports them as values

class Scripted final : public SyncProvider {
 public:
  std::string_view name() const override { return "scripted"; }
  Outcome begin(const AttemptInfo&) override { return Challenge{"", "", {Prompt{"Code: ", false}}}; }
  Outcome check(const std::vector<crypto::SecretBytes>&) override { return Reject{}; }
};

struct Server {
  std::shared_ptr<ServerAuthConfig> config = std::make_shared<ServerAuthConfig>();
  transport::Instant now = test::test_epoch();
  std::unique_ptr<ServerAuth> auth;
  std::vector<AuthEvent> events;
  Bytes sid{1, 2, 3};

  Server() {
    config->keyboard_interactive = [](const AttemptInfo&) { return std::make_unique<Scripted>(); };
    config->limits.failure_delay = 0ms;
    auth = std::make_unique<ServerAuth>(config, "127.0.0.1:1", now);
  }
  void feed(const Bytes& m) {
    auth->handle(m, sid, now);
    auth->take_messages();
    while (auto e = auth->poll_event()) events.push_back(*e);
  }
  std::optional<AuthError> last_audited_error() const {
    for (auto it = events.rbegin(); it != events.rend(); ++it)
      if (auto* a = std::get_if<AuditRecord>(&*it)) return a->error;
    return std::nullopt;
  }
  const AuthDisconnect* disconnect() const {
    for (const auto& e : events)
      if (auto* d = std::get_if<AuthDisconnect>(&e)) return d;
    return nullptr;
  }
};

Bytes kbd_request() {
  return UserauthRequest{"alice", "ssh-connection", KeyboardInteractiveFields{}}.encode();
}

TEST(AuthErrorInServer, ACountMismatchIsAuditedAsATypedFailedAttempt) {
  Server s;
  s.feed(kbd_request());
  InfoResponse two;
  two.answers.emplace_back(to_bytes("a"));
  two.answers.emplace_back(to_bytes("b"));
  s.feed(two.encode());
  EXPECT_EQ(s.last_audited_error(), AuthError::response_count_mismatch);
  EXPECT_EQ(s.disconnect(), nullptr) << "a failed attempt, not the end of the connection";
}

TEST(AuthErrorInServer, ARejectIsAuditedAsRejected) {
  Server s;
  s.feed(kbd_request());
  InfoResponse one;
  one.answers.emplace_back(to_bytes("wrong"));
  s.feed(one.encode());
  EXPECT_EQ(s.last_audited_error(), AuthError::rejected);
}

TEST(AuthErrorInServer, AResponseWithoutRequestEndsTheConnectionTyped) {
  Server s;
  s.feed(InfoResponse{}.encode());
  const AuthDisconnect* d = s.disconnect();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->error, AuthError::response_without_request);
  EXPECT_EQ(d->reason, DisconnectReason::protocol_error);
  EXPECT_EQ(d->description, "unexpected INFO_RESPONSE");
}

TEST(AuthErrorInServer, LoginGraceEndsTheConnectionByApplication) {
  Server s;
  s.auth->on_time(s.now + s.config->limits.login_grace);
  while (auto e = s.auth->poll_event()) s.events.push_back(*e);
  const AuthDisconnect* d = s.disconnect();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->error, AuthError::login_grace_exceeded);
  EXPECT_EQ(d->reason, DisconnectReason::by_application);
}

}  // namespace
}  // namespace parley::userauth

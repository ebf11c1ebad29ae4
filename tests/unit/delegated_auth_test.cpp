// session::DelegatedAuth, the network side of authentication decided
// elsewhere: one question out at a time, INFO_RESPONSE read with the prompt
// count of the INFO_REQUEST the decider sent, the login grace time and the
// bounds kept locally, and a decider's malformed answer ending the connection.
#include "parley/session/delegated_auth.hpp"

#include <gtest/gtest.h>

#include "parley/userauth/messages.hpp"

namespace parley::session {
namespace {

using namespace std::chrono_literals;
using userauth::AuthDisconnect;
using userauth::AuthError;

crypto::SecretBytes secret(std::string_view s) {
  return crypto::SecretBytes(BytesView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

Bytes password_request(std::string_view pw) {
  return userauth::UserauthRequest{"alice", "ssh-connection", userauth::PasswordFields{secret(pw), {}}}.encode();
}
Bytes kbdint_request() {
  return userauth::UserauthRequest{"alice", "ssh-connection", userauth::KeyboardInteractiveFields{}}.encode();
}
Bytes failure() { return userauth::UserauthFailure{{"password"}, false}.encode(); }
Bytes info_request(std::size_t prompts) {
  userauth::InfoRequest r;
  for (std::size_t i = 0; i < prompts; ++i) r.prompts.push_back({"Guess: ", true});
  return r.encode();
}
Bytes info_response(std::size_t answers) {
  userauth::InfoResponse r;
  for (std::size_t i = 0; i < answers; ++i) r.answers.push_back(secret("42"));
  return r.encode();
}

Bytes none_request(std::string_view service = "ssh-connection") {
  return userauth::UserauthRequest{"alice", std::string(service), userauth::NoneFields{}}.encode();
}
Bytes banner() { return userauth::UserauthBanner{"Authorized use only\n", ""}.encode(); }

struct Harness {
  transport::Instant now = transport::Instant{} + 1000h;
  std::vector<AuthQuestion> questions;
  DelegatedAuth auth;
  explicit Harness(DelegatedAuthLimits limits = {})
      : auth([this](AuthQuestion q) { questions.push_back(std::move(q)); }, limits, now) {}

  std::vector<userauth::AuthEvent> events() {
    std::vector<userauth::AuthEvent> out;
    while (auto e = auth.poll_event()) out.push_back(std::move(*e));
    return out;
  }
  std::optional<AuthDisconnect> ended() {
    for (auto& e : events())
      if (auto* d = std::get_if<AuthDisconnect>(&e)) return *d;
    return std::nullopt;
  }
  /// The error the connection ended with, if it did.
  std::optional<AuthError> ended_with() {
    auto end = ended();
    return end ? std::optional<AuthError>(end->error) : std::nullopt;
  }
};

TEST(DelegatedAuth, RequestsArePipelinedAndAnsweredInOrder) {
  // As a flooding client sends them: both go on, so the decider can abort the
  // first check the second supersedes (as one process does).
  Harness h;
  h.auth.handle(password_request("one"), h.now);
  h.auth.handle(password_request("two"), h.now);
  ASSERT_EQ(h.questions.size(), 2u) << "the second request goes behind the first";
  EXPECT_FALSE(h.auth.awaiting()) << "more requests may come";
  auto& first = std::get<userauth::UserauthRequest>(h.questions[0]);
  EXPECT_EQ(first.user, "alice");
  EXPECT_TRUE(std::get<userauth::PasswordFields>(first.fields).password == secret("one"));
  EXPECT_TRUE(std::get<userauth::PasswordFields>(std::get<userauth::UserauthRequest>(h.questions[1]).fields)
                  .password == secret("two"));

  h.auth.answered({{failure()}, AuthContinues{}}, h.now);
  h.auth.answered({{failure()}, AuthContinues{}}, h.now);
  EXPECT_EQ(h.auth.take_messages(), (std::vector<Bytes>{failure(), failure()}));
  // A third answer has no question: the decider is not trusted that far.
  h.auth.answered({{failure()}, AuthContinues{}}, h.now);
  EXPECT_EQ(h.ended_with(), AuthError::unexpected_message);
}

TEST(DelegatedAuth, NothingGoesBehindAKeyboardInteractiveQuestion) {
  // Its INFO_REQUEST decides how the next INFO_RESPONSE reads, and the next
  // message may answer it: one at a time, and nothing more is read meanwhile.
  Harness h;
  h.auth.handle(kbdint_request(), h.now);
  EXPECT_TRUE(h.auth.awaiting());
  h.auth.handle(password_request("two"), h.now);
  ASSERT_EQ(h.questions.size(), 1u) << "the request waits for the keyboard-interactive answer";
  h.auth.answered({{info_request(1)}, AuthContinues{}}, h.now);
  ASSERT_EQ(h.questions.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<userauth::UserauthRequest>(h.questions[1]));
  // An INFO_RESPONSE waits for every question out to be answered.
  h.auth.handle(password_request("three"), h.now);
  ASSERT_EQ(h.questions.size(), 3u);
  h.auth.handle(info_response(1), h.now);
  EXPECT_EQ(h.questions.size(), 3u);
  EXPECT_TRUE(h.auth.awaiting());
}

TEST(DelegatedAuth, AnInfoResponseIsReadWithThePromptCountOfTheDecidersInfoRequest) {
  Harness h;
  h.auth.handle(kbdint_request(), h.now);
  h.auth.answered({{info_request(2)}, AuthContinues{}}, h.now);
  h.auth.handle(info_response(2), h.now);
  ASSERT_EQ(h.questions.size(), 2u);
  EXPECT_EQ(std::get<InfoAnswers>(h.questions[1]).answers.size(), 2u);

  h.auth.answered({{info_request(1)}, AuthContinues{}}, h.now);
  h.auth.handle(info_response(3), h.now);  // RFC 4256 §3.4: must be 1
  EXPECT_EQ(h.ended_with(), AuthError::response_count_mismatch);
}

TEST(DelegatedAuth, AnInfoResponseWithoutAnInfoRequestEndsTheConnection) {
  Harness h;
  h.auth.handle(info_response(0), h.now);
  EXPECT_EQ(h.ended_with(), AuthError::response_without_request);
  EXPECT_TRUE(h.questions.empty());
}

TEST(DelegatedAuth, ADeciderThatNeverAnswersMeetsTheLoginGraceTime) {
  DelegatedAuthLimits limits;
  limits.login_grace = 30s;
  Harness h(limits);
  h.auth.handle(password_request("pw"), h.now);
  ASSERT_EQ(h.auth.next_deadline(), h.now + 30s);
  h.auth.on_time(h.now + 29s);
  EXPECT_FALSE(h.ended());
  h.auth.on_time(h.now + 30s);
  EXPECT_EQ(h.ended_with(), AuthError::login_grace_exceeded);
  EXPECT_FALSE(h.auth.next_deadline());
}

TEST(DelegatedAuth, PipelinedMessagesAreBounded) {
  DelegatedAuthLimits limits;
  limits.max_out = 2;
  limits.max_held = 3;
  Harness h(limits);
  for (int i = 0; i < 2; ++i) h.auth.handle(password_request("pw"), h.now);
  EXPECT_EQ(h.questions.size(), 2u);
  EXPECT_TRUE(h.auth.awaiting()) << "as many out as may be: reading stops";
  for (int i = 0; i < 3; ++i) h.auth.handle(password_request("pw"), h.now);
  EXPECT_EQ(h.questions.size(), 2u) << "held, not asked";
  EXPECT_FALSE(h.ended_with());
  h.auth.handle(password_request("pw"), h.now);
  EXPECT_EQ(h.ended_with(), AuthError::too_many_pending_requests);
}

TEST(DelegatedAuth, SuccessLetsTheUserInAndLaterRequestsAreIgnored) {
  Harness h;
  h.auth.handle(password_request("pw"), h.now);
  h.auth.answered({{userauth::UserauthSuccess{}.encode()}, AuthSucceeded{"alice", "ssh-connection"}}, h.now);
  EXPECT_TRUE(h.auth.authenticated());
  auto events = h.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<userauth::Authenticated>(events[0]).user, "alice");
  h.auth.handle(password_request("again"), h.now);
  EXPECT_EQ(h.questions.size(), 1u);
  EXPECT_FALSE(h.auth.next_deadline()) << "no grace time once in";
}

struct BadAnswer {
  std::string name;
  std::function<AuthDecision()> make;
  bool ask_first = true;
};

class DelegatedAuthBadAnswer : public ::testing::TestWithParam<BadAnswer> {};

TEST_P(DelegatedAuthBadAnswer, EndsTheConnection) {
  Harness h;
  if (GetParam().ask_first) h.auth.handle(password_request("pw"), h.now);
  h.auth.answered(GetParam().make(), h.now);
  auto end = h.ended();
  ASSERT_TRUE(end) << GetParam().name;
  EXPECT_EQ(end->description, "malformed authentication answer");
  EXPECT_TRUE(h.auth.take_messages().empty()) << "nothing of a bad answer reaches the client";
}

INSTANTIATE_TEST_SUITE_P(
    All, DelegatedAuthBadAnswer,
    ::testing::Values(
        BadAnswer{"a transport message", [] { return AuthDecision{{Bytes{20, 0, 0}}, AuthContinues{}}; }},
        BadAnswer{"an empty packet", [] { return AuthDecision{{Bytes{}}, AuthContinues{}}; }},
        BadAnswer{"SUCCESS without the verdict",
                  [] { return AuthDecision{{userauth::UserauthSuccess{}.encode()}, AuthContinues{}}; }},
        BadAnswer{"success without SUCCESS", [] { return AuthDecision{{failure()}, AuthSucceeded{"root", "x"}}; }},
        BadAnswer{"two replies to one question", [] { return AuthDecision{{failure(), failure()}, AuthContinues{}}; }},
        BadAnswer{"a reply to no question", [] { return AuthDecision{{failure()}, AuthContinues{}}; }, false},
        BadAnswer{"an INFO_REQUEST to a password request",
                  [] { return AuthDecision{{info_request(1)}, AuthContinues{}}; }}),
    [](const ::testing::TestParamInfo<BadAnswer>& p) {
      std::string n;
      for (char c : p.param.name) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return n;
    });

TEST(DelegatedAuth, ADefaultDecisionEndsTheConnection) {
  Harness h;
  h.auth.handle(password_request("pw"), h.now);
  h.auth.answered(AuthDecision{}, h.now);
  auto end = h.ended();
  ASSERT_TRUE(end);
  EXPECT_EQ(end->reason, transport::DisconnectReason::protocol_error);
}

TEST(DelegatedAuth, AFirstNoneIsAnsweredAtOnceWithTheDecidersNoneReply) {
  // The decider said ahead what it answers the usual first "none": it goes out
  // now, and the decider still hears the request, to keep its state in step.
  Harness h;
  h.auth.set_none_reply({banner(), failure()});
  h.auth.handle(none_request(), h.now);
  EXPECT_EQ(h.auth.take_messages(), (std::vector<Bytes>{banner(), failure()}));
  ASSERT_EQ(h.questions.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<AnsweredNone>(h.questions[0]));
  EXPECT_EQ(std::get<AnsweredNone>(h.questions[0]).request.user, "alice");
  EXPECT_FALSE(h.auth.awaiting()) << "the client's next request is read at once";
  // The next request goes on behind it; the decider's answer to the "none" is dropped.
  h.auth.handle(kbdint_request(), h.now);
  ASSERT_EQ(h.questions.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<userauth::UserauthRequest>(h.questions[1]));
  h.auth.answered({{banner(), failure()}, AuthContinues{}}, h.now);
  EXPECT_TRUE(h.auth.take_messages().empty()) << "sent already";
  h.auth.answered({{info_request(1)}, AuthContinues{}}, h.now);
  EXPECT_EQ(h.auth.take_messages(), (std::vector<Bytes>{info_request(1)}));
  h.auth.handle(info_response(1), h.now);
  EXPECT_EQ(h.questions.size(), 3u) << "the response reads with the INFO_REQUEST's prompt count";
  EXPECT_FALSE(h.ended());
}

TEST(DelegatedAuth, OnlyTheFirstRequestIsAnsweredHereAndOnlyIfItIsAnUsualNone) {
  {  // A "none" after another request is asked as usual.
    Harness h;
    h.auth.set_none_reply({failure()});
    h.auth.handle(password_request("one"), h.now);
    h.auth.handle(none_request(), h.now);
    EXPECT_TRUE(h.auth.take_messages().empty());
    ASSERT_EQ(h.questions.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<userauth::UserauthRequest>(h.questions[1]));
  }
  {  // Another service is the decider's to refuse.
    Harness h;
    h.auth.set_none_reply({failure()});
    h.auth.handle(none_request("ssh-userauth"), h.now);
    EXPECT_TRUE(h.auth.take_messages().empty());
    ASSERT_EQ(h.questions.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<userauth::UserauthRequest>(h.questions[0]));
  }
  {  // What is not BANNERs then one FAILURE is not taken as a none reply.
    for (auto bad : {std::vector<Bytes>{banner()}, std::vector<Bytes>{failure(), banner()},
                     std::vector<Bytes>{userauth::UserauthSuccess{}.encode()},
                     std::vector<Bytes>{userauth::UserauthFailure{{"password"}, true}.encode()},
                     std::vector<Bytes>{Bytes{}, failure()}}) {
      Harness h;
      h.auth.set_none_reply(bad);
      h.auth.handle(none_request(), h.now);
      EXPECT_TRUE(h.auth.take_messages().empty());
      ASSERT_EQ(h.questions.size(), 1u);
      EXPECT_TRUE(std::holds_alternative<userauth::UserauthRequest>(h.questions[0]));
    }
  }
  {  // Given after the first request, it is too late.
    Harness h;
    h.auth.handle(password_request("one"), h.now);
    h.auth.set_none_reply({failure()});
    h.auth.answered({{failure()}, AuthContinues{}}, h.now);
    h.auth.handle(none_request(), h.now);
    EXPECT_EQ(h.auth.take_messages(), (std::vector<Bytes>{failure()}));
    EXPECT_TRUE(std::holds_alternative<userauth::UserauthRequest>(h.questions.back()));
  }
}

TEST(DelegatedAuth, TheDecidersAnswerToANoneAnsweredHereMustBeAFailure) {
  for (auto answer : {AuthDecision{{userauth::UserauthSuccess{}.encode()}, AuthSucceeded{"alice", "ssh-connection"}},
                      AuthDecision{{info_request(1)}, AuthContinues{}}}) {
    Harness h;
    h.auth.set_none_reply({failure()});
    h.auth.handle(none_request(), h.now);
    h.auth.take_messages();
    h.auth.answered(std::move(answer), h.now);
    EXPECT_EQ(h.ended_with(), AuthError::unexpected_message);
    EXPECT_FALSE(h.auth.authenticated());
    EXPECT_TRUE(h.auth.take_messages().empty());
  }
}

}  // namespace
}  // namespace parley::session

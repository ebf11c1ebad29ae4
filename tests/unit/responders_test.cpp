// Prompt responders against real prompt texts: what seed 000's rule sends and
// what saved_password() sends for each (the table), that the saved password is
// never replayed or sent to an echoing prompt, TOTP codes against RFC 6238's
// vectors and oathtool(1), waits for the next step instead of reusing one,
// otpauth URI parsing, rules by host and prompt, first_of's order, the terminal
// responder's sanitized and marked output, and the callback's answer count.
#include "parley/client/responders.hpp"

#include <gtest/gtest.h>
#include <stdio.h>

#include <array>
#include <chrono>
#include <deque>
#include <string>
#include <vector>

namespace parley::client {
namespace {

using crypto::SecretBytes;
using otp::TotpAlgorithm;
using otp::parse_totp_secret;
using userauth::Answers;
using userauth::InfoReply;
using userauth::Prompt;
using userauth::ReplyTo;
using userauth::UserInfoRequest;
using userauth::answer_text;
using Slots = std::vector<std::optional<SecretBytes>>;
using std::chrono::seconds;

// ---------------------------------------------------------------------------
// Helpers

SecretBytes secret(std::string_view s) {
  return SecretBytes(as_bytes(s));
}

std::string text(const SecretBytes& s) {
  return std::string(answer_text(s));
}

UserInfoRequest request(std::vector<Prompt> prompts, std::string host = "example.com",
                        std::uint16_t port = 22) {
  UserInfoRequest r;
  r.name = "";
  r.instruction = "";
  r.prompts = std::move(prompts);
  r.user = "alice";
  r.host.host = std::move(host);
  r.host.port = port;
  return r;
}

/// Runs a responder on a request and returns its slots.
Slots run(PromptResponder& responder, const UserInfoRequest& req) {
  Slots slots(req.prompts.size());
  responder.answer(req, slots);
  return slots;
}

/// Runs the callback built from a responder and returns what would be sent.
std::vector<std::string> sent(ResponderPtr responder, const UserInfoRequest& req,
                              std::size_t* unanswered = nullptr) {
  auto count = std::make_shared<std::size_t>(999);
  auto callback = user_info_callback(std::move(responder), count);
  auto box = std::make_shared<userauth::ReplyBox<InfoReply>>();
  callback(req, ReplyTo<InfoReply>(box));
  const std::optional<InfoReply> reply = box->take();
  EXPECT_TRUE(reply.has_value()) << "the callback replies before returning";
  if (!reply) return {};
  const auto* answers = std::get_if<Answers>(&*reply);
  EXPECT_NE(answers, nullptr) << "the callback never declines";
  if (answers == nullptr) return {};
  EXPECT_EQ(answers->values.size(), req.prompts.size()) << "one answer per prompt";
  if (unanswered != nullptr) *unanswered = *count;
  std::vector<std::string> out;
  for (const auto& v : answers->values) out.push_back(text(v));
  return out;
}

std::chrono::sys_seconds at(std::int64_t unix_seconds) {
  return std::chrono::sys_seconds(seconds(unix_seconds));
}

/// A clock and sleep for TOTP tests: sleeping records the deadline and moves
/// the clock there (or, if `stuck`, leaves it).
struct FakeTime {
  std::int64_t now = 0;
  bool stuck = false;
  std::vector<std::int64_t> slept_until;

  TotpClock clock() {
    return [this] { return at(now); };
  }
  TotpSleep sleep() {
    return [this](std::chrono::sys_seconds until) {
      const auto s = until.time_since_epoch().count();
      slept_until.push_back(s);
      if (!stuck) now = s;
    };
  }
};

TotpSleep no_sleep() {
  return [](std::chrono::sys_seconds) { ADD_FAILURE() << "unexpected wait"; };
}

TotpSecret totp_secret(std::string_view key, TotpAlgorithm algorithm, unsigned digits = 8,
                       int period = 30) {
  TotpSecret s;
  s.key = secret(key);
  s.algorithm = algorithm;
  s.digits = digits;
  s.period = seconds(period);
  return s;
}

const Prompt kCodePrompt{"Verification code: ", false};

std::optional<std::string> responder_code_at(const TotpSecret& s, std::int64_t time) {
  auto responder = totp(
      s, [time] { return at(time); }, no_sleep());
  const auto slots = run(*responder, request({kCodePrompt}));
  if (!slots[0]) return std::nullopt;
  return text(*slots[0]);
}

/// Runs a command and returns its first output line (no shell; test secrets only).
std::optional<std::string> first_line_of(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  char line[256] = {};
  const bool got = ::fgets(line, sizeof line, pipe) != nullptr;
  const int status = ::pclose(pipe);
  if (!got || status != 0) return std::nullopt;
  std::string out(line);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// ---------------------------------------------------------------------------
// The table: real prompt texts

enum class Sends { password, empty };

struct PromptCase {
  std::string_view prompt;
  bool echo;
  Sends seed;   // seed 000's rule
  Sends saved;  // saved_password(): the password only where it is asked for
  bool totp;    // totp() answers it with a code
};

constexpr std::array kPrompts = {
    PromptCase{"Password: ", false, Sends::password, Sends::password, false},
    PromptCase{"user@host's password: ", false, Sends::password, Sends::password, false},
    PromptCase{"(user@host) Password: ", false, Sends::password, Sends::password, false},
    PromptCase{"One-time password (OATH) for `user': ", false, Sends::password, Sends::empty, true},
    PromptCase{"Verification code: ", false, Sends::empty, Sends::empty, true},
    PromptCase{"Password & verification code: ", false, Sends::password, Sends::empty, false},
    PromptCase{"Passcode or option (1-3): ", false, Sends::password, Sends::empty, true},
    PromptCase{"Enter PASSCODE:", false, Sends::password, Sends::empty, true},
    PromptCase{"Current password: ", false, Sends::password, Sends::empty, false},
    PromptCase{"New password: ", false, Sends::password, Sends::empty, false},
    PromptCase{"Retype new password: ", false, Sends::password, Sends::empty, false},
    PromptCase{"Enter your email password:", false, Sends::password, Sends::empty, false},
    PromptCase{"Enter your bank PIN:", false, Sends::empty, Sends::empty, false},
    // Echo on: the seed does not look; saved_password never types a password visibly.
    PromptCase{"Password:", true, Sends::password, Sends::empty, false},
};

std::string expected(Sends s) {
  return s == Sends::password ? "hunter2" : "";
}

TEST(PromptTable, EachResponderSendsWhatTheTableSays) {
  for (const auto& c : kPrompts) {
    SCOPED_TRACE(std::string(c.prompt) + (c.echo ? " (echo)" : ""));
    const auto req = request({Prompt{std::string(c.prompt), c.echo}});
    // A fresh responder per prompt: saved_password answers once per connection.
    EXPECT_EQ(sent(seed_password(secret("hunter2")), req), std::vector{expected(c.seed)});
    EXPECT_EQ(sent(saved_password(secret("hunter2")), req), std::vector{expected(c.saved)});

    // The seed answers every prompt; saved_password leaves the others open.
    EXPECT_TRUE(run(*seed_password(secret("hunter2")), req)[0].has_value());
    EXPECT_EQ(run(*saved_password(secret("hunter2")), req)[0].has_value(),
              c.saved == Sends::password);

    const auto code = run(*totp(
                              totp_secret("12345678901234567890", TotpAlgorithm::sha1, 8),
                              [] { return at(59); }, no_sleep()),
                          req);
    EXPECT_EQ(code[0].has_value(), c.totp);
    if (code[0]) {
      EXPECT_EQ(text(*code[0]), "94287082");
    }
  }
}

TEST(PromptTable, MoreAccountPasswordForms) {
  for (std::string_view p : {"Password for alice@EXAMPLE.COM:", "[sudo] password for alice: ",
                             "root@mail.example.com's password: ", "PASSWORD",
                             "Enter password:", "  password :  ", "alice's Password:"}) {
    SCOPED_TRACE(p);
    EXPECT_EQ(sent(saved_password(secret("pw")), request({Prompt{std::string(p), false}})),
              std::vector<std::string>{"pw"});
  }
  for (std::string_view p :
       {"(OTP) Password:", "token's password:", "Password for email:", "VPN password:",
        "LDAP admin password:", "Old password:", "Password again:", "Confirm password:",
        "Enter new UNIX password:", "(current) UNIX password:", "Password (PIN):",
        "Please enter the password of your mail account:", "password: password:",
        "\x1b[8mEmail\x1b[0m Password:", "pass\xe2\x80\x8bword:", "Password:\r",
        "\xe2\x80\xaeword:pass"}) {
    SCOPED_TRACE(p);
    EXPECT_FALSE(run(*saved_password(secret("pw")), request({Prompt{std::string(p), false}}))[0])
        << "must not get the account password";
  }
}

TEST(SavedPassword, NeverReplaysARejectedPassword) {
  auto responder = saved_password(secret("hunter2"));
  const auto req = request({Prompt{"Password: ", false}});
  EXPECT_EQ(sent(responder, req), std::vector<std::string>{"hunter2"});
  // The server asks again: it refused the first answer. Sending it again would
  // only add a failed login.
  std::size_t unanswered = 0;
  EXPECT_EQ(sent(responder, req, &unanswered), std::vector<std::string>{""});
  EXPECT_EQ(unanswered, 1u);
  // Any later account-password form, too.
  EXPECT_FALSE(run(*responder, request({Prompt{"alice@example.com's password: ", false}}))[0]);
}

TEST(SavedPassword, AnswersOnlyTheFirstAccountPasswordPromptOfARound) {
  auto responder = saved_password(secret("hunter2"));
  const auto slots =
      run(*responder, request({Prompt{"Password: ", false}, Prompt{"Password: ", false}}));
  ASSERT_TRUE(slots[0]);
  EXPECT_EQ(text(*slots[0]), "hunter2");
  EXPECT_FALSE(slots[1]);
}

TEST(SavedPassword, IgnoresEchoingPrompts) {
  auto responder = saved_password(secret("hunter2"));
  EXPECT_FALSE(run(*responder, request({Prompt{"Password:", true}}))[0]);
  // Not counted as sent: the real prompt still gets it.
  const auto slots = run(*responder, request({Prompt{"Password:", false}}));
  ASSERT_TRUE(slots[0]);
  EXPECT_EQ(text(*slots[0]), "hunter2");
}

TEST(SeedPassword, AnswersEveryPromptSoNothingAfterItIsAsked) {
  auto chain = first_of({seed_password(secret("hunter2")),
                         totp(
                             totp_secret("12345678901234567890", TotpAlgorithm::sha1),
                             [] { return at(59); }, no_sleep())});
  EXPECT_EQ(sent(chain, request({Prompt{"Password: ", false}, kCodePrompt})),
            (std::vector<std::string>{"hunter2", ""}));
}

// ---------------------------------------------------------------------------
// TOTP

TEST(Totp, AnswersCodePromptsOnly) {
  const auto key = totp_secret("12345678901234567890", TotpAlgorithm::sha1);
  auto answers = [&](std::string_view p) {
    auto responder = totp(
        key, [] { return at(59); }, no_sleep());
    return run(*responder, request({Prompt{std::string(p), true}}))[0].has_value();
  };
  for (std::string_view p :
       {"Enter the code from your authenticator app:", "Google Authenticator code:",
        "Two-factor code: ", "OTP:", "Token:", "Security code:", "MFA code: ",
        "Wait for the tokencode to change, then enter the new tokencode:"}) {
    EXPECT_TRUE(answers(p)) << p;
  }
  for (std::string_view p :
       {"Enter the code sent by SMS:", "Enter the code we emailed you:", "Backup code:",
        "Recovery code:", "Token PIN:", "Password:", "Password and OTP:", "Decoder ring:",
        "Verification\x1b[8m password\x1b[0m code:"}) {
    EXPECT_FALSE(answers(p)) << p;
  }
}

TEST(Totp, Rfc6238AppendixBVectors) {
  struct Vector {
    std::int64_t time;
    const char* sha1;
    const char* sha256;
    const char* sha512;
  };
  constexpr std::array<Vector, 6> kVectors = {{
      {59, "94287082", "46119246", "90693936"},
      {1111111109, "07081804", "68084774", "25091201"},
      {1111111111, "14050471", "67062674", "99943326"},
      {1234567890, "89005924", "91819424", "93441116"},
      {2000000000, "69279037", "90698825", "38618901"},
      {20000000000, "65353130", "77737706", "47863826"},
  }};
  // RFC 6238 Appendix A: the seed is the ASCII digits, repeated to the HMAC's size.
  const auto sha1 = totp_secret("12345678901234567890", TotpAlgorithm::sha1);
  const auto sha256 = totp_secret("12345678901234567890123456789012", TotpAlgorithm::sha256);
  const auto sha512 = totp_secret(
      "1234567890123456789012345678901234567890123456789012345678901234", TotpAlgorithm::sha512);
  for (const auto& v : kVectors) {
    SCOPED_TRACE(v.time);
    EXPECT_EQ(responder_code_at(sha1, v.time), v.sha1);
    EXPECT_EQ(responder_code_at(sha256, v.time), v.sha256);
    EXPECT_EQ(responder_code_at(sha512, v.time), v.sha512);
  }
}

TEST(Totp, SixAndSevenDigitsAreTheLowDigitsOfTheCode) {
  EXPECT_EQ(responder_code_at(totp_secret("12345678901234567890", TotpAlgorithm::sha1, 6), 59), "287082");
  EXPECT_EQ(responder_code_at(totp_secret("12345678901234567890", TotpAlgorithm::sha1, 7), 59), "4287082");
}

TEST(Totp, AgreesWithOathtool) {
  constexpr std::int64_t kTime = 1700000123;
  const std::string base32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
  const auto expected6 =
      first_line_of("oathtool --totp -b " + base32 + " -N @" + std::to_string(kTime));
  ASSERT_TRUE(expected6) << "oathtool (Debian package oathtool) is needed for this test";
  const auto parsed = parse_totp_secret(base32);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(responder_code_at(*parsed, kTime), *expected6);

  const auto expected8 = first_line_of("oathtool --totp=sha512 -d 8 -s 60 -b " + base32 + " -N @" +
                                       std::to_string(kTime));
  ASSERT_TRUE(expected8);
  const auto uri = parse_totp_secret("otpauth://totp/x?secret=" + base32 +
                                     "&algorithm=SHA512&digits=8&period=60");
  ASSERT_TRUE(uri) << uri.error();
  EXPECT_EQ(responder_code_at(*uri, kTime), *expected8);
}

TEST(Totp, SameStepRetryWaitsForTheNextStep) {
  FakeTime time;
  time.now = 1111111109;  // step 37037036, which ends at 1111111110
  auto responder =
      totp(totp_secret("12345678901234567890", TotpAlgorithm::sha1), time.clock(), time.sleep());
  const auto req = request({kCodePrompt});
  EXPECT_EQ(sent(responder, req), std::vector<std::string>{"07081804"});
  EXPECT_TRUE(time.slept_until.empty());

  // Asked again within the same step (the server refused the code, or asks
  // twice): the same code would be refused as a replay.
  EXPECT_EQ(sent(responder, req), std::vector<std::string>{"14050471"});
  EXPECT_EQ(time.slept_until, std::vector<std::int64_t>{1111111110});

  // Later steps need no wait.
  time.now = 1234567890;
  EXPECT_EQ(sent(responder, req), std::vector<std::string>{"89005924"});
  EXPECT_EQ(time.slept_until.size(), 1u);
}

TEST(Totp, TwoCodePromptsInOneRoundUseTwoSteps) {
  FakeTime time;
  time.now = 1111111109;
  auto responder =
      totp(totp_secret("12345678901234567890", TotpAlgorithm::sha1), time.clock(), time.sleep());
  EXPECT_EQ(sent(responder, request({kCodePrompt, Prompt{"Token code:", true}})),
            (std::vector<std::string>{"07081804", "14050471"}));
}

TEST(Totp, AClockThatNeverReachesTheNextStepLeavesThePromptUnanswered) {
  FakeTime time;
  time.now = 1111111109;
  time.stuck = true;
  auto responder =
      totp(totp_secret("12345678901234567890", TotpAlgorithm::sha1), time.clock(), time.sleep());
  EXPECT_TRUE(run(*responder, request({kCodePrompt}))[0]);
  EXPECT_FALSE(run(*responder, request({kCodePrompt}))[0]);
  EXPECT_FALSE(time.slept_until.empty());
  EXPECT_LE(time.slept_until.size(), 8u) << "bounded, no spinning";
}

TEST(Totp, InvalidSecretsAnswerNothing) {
  EXPECT_EQ(responder_code_at(totp_secret("12345678901234567890", TotpAlgorithm::sha1, 9), 59), std::nullopt);
  EXPECT_EQ(responder_code_at(totp_secret("12345678901234567890", TotpAlgorithm::sha1, 8, 0), 59),
            std::nullopt);
  EXPECT_EQ(responder_code_at(totp_secret("", TotpAlgorithm::sha1), 59), std::nullopt);
}

// ---------------------------------------------------------------------------
// parse_totp_secret

std::string key_of(const TotpSecret& s) {
  return text(s.key);
}

TEST(ParseTotpSecret, Base32ToleratesSpacesLowerCaseAndPadding) {
  for (std::string_view in :
       {"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
        " GEZDGNBVGY3TQOJQ\tGEZDGNBVGY3TQOJQ\n"}) {
    const auto s = parse_totp_secret(in);
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(key_of(*s), "12345678901234567890");
    EXPECT_EQ(s->algorithm, TotpAlgorithm::sha1);
    EXPECT_EQ(s->digits, 6u);
    EXPECT_EQ(s->period, seconds(30));
  }
  const auto padded = parse_totp_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY======");
  ASSERT_TRUE(padded) << padded.error();
  EXPECT_EQ(key_of(*padded), "1234567890123456");
  const auto unpadded = parse_totp_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY");
  ASSERT_TRUE(unpadded) << unpadded.error();
  EXPECT_EQ(key_of(*unpadded), "1234567890123456");
}

TEST(ParseTotpSecret, BadBase32IsRefusedWithoutQuotingIt) {
  for (std::string_view in :
       {"", "   ", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ!",
        "GEZDGNBV",           // 40 bits
        "GEZDGNBVGY3TQOJQG",  // 17 characters: impossible length
        "GEZDGNBVGY3TQOJQ==GEZDGNBVGY3TQOJQ"}) {
    SCOPED_TRACE(in);
    const auto s = parse_totp_secret(in);
    ASSERT_FALSE(s);
    EXPECT_FALSE(s.error().empty());
    if (in.size() > 4) {
      EXPECT_EQ(s.error().find(in.substr(0, 8)), std::string::npos);
    }
  }
}

TEST(ParseTotpSecret, OtpauthUri) {
  const auto plain = parse_totp_secret(
      "otpauth://totp/Example:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example");
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ(key_of(*plain), "Hello!\xde\xad\xbe\xef");
  EXPECT_EQ(plain->algorithm, TotpAlgorithm::sha1);
  EXPECT_EQ(plain->digits, 6u);
  EXPECT_EQ(plain->period, seconds(30));

  const auto full = parse_totp_secret(
      "otpauth://totp/ACME%20Co:john?issuer=ACME%20Co&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
      "&algorithm=SHA256&digits=8&period=60");
  ASSERT_TRUE(full) << full.error();
  EXPECT_EQ(key_of(*full), "12345678901234567890");
  EXPECT_EQ(full->algorithm, TotpAlgorithm::sha256);
  EXPECT_EQ(full->digits, 8u);
  EXPECT_EQ(full->period, seconds(60));

  const auto shouting = parse_totp_secret(
      "OTPAUTH://TOTP/x?SECRET=gezdgnbvgy3tqojqgezdgnbvgy%3D%3D%3D%3D%3D%3D&Algorithm=sha512&"
      "digits=7#fragment");
  ASSERT_TRUE(shouting) << shouting.error();
  EXPECT_EQ(key_of(*shouting), "1234567890123456");
  EXPECT_EQ(shouting->algorithm, TotpAlgorithm::sha512);
  EXPECT_EQ(shouting->digits, 7u);
}

TEST(ParseTotpSecret, BadOtpauthUrisAreRefused) {
  const std::string param = "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
  for (const std::string& uri : std::vector<std::string>{
           "otpauth://hotp/x?" + param + "&counter=1",
           "otpauth://totp/x?" + param + "&algorithm=MD5",
           "otpauth://totp/x?" + param + "&digits=9",
           "otpauth://totp/x?" + param + "&digits=5",
           "otpauth://totp/x?" + param + "&digits=six",
           "otpauth://totp/x?" + param + "&period=0",
           "otpauth://totp/x?" + param + "&period=-30",
           "otpauth://totp/x?" + param + "&period=86400",
           "otpauth://totp/x?" + param + "&" + param,
           "otpauth://totp/x?issuer=Example",
           "otpauth://totp/x",
           "otpauth://totp",
           "otpauth://totp/x?secret=GEZDGNBV%ZZ",
           "otpauth://totp/x?secret=NOT-BASE32-AT-ALL-1",
       }) {
    SCOPED_TRACE(uri);
    const auto s = parse_totp_secret(uri);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().find("GEZDGNBVGY3TQOJQ"), std::string::npos) << s.error();
  }
  EXPECT_NE(parse_totp_secret("otpauth://hotp/x?" + param).error().find("HOTP"), std::string::npos);
}

// ---------------------------------------------------------------------------
// rules

std::vector<Rule> sample_rules() {
  std::vector<Rule> r;
  r.push_back(Rule{"*.example.com", "Enter PIN", secret("1234")});
  r.push_back(Rule{"bastion:2222", "*code*", secret("bastion-code")});
  r.push_back(Rule{"legacy", "*", secret("legacy-any")});
  r.push_back(Rule{"*", "", secret("never")});
  return r;
}

TEST(Rules, MatchHostOrHostPortAndPrompt) {
  auto responder = rules(sample_rules());
  const Prompt pin{"Enter PIN: ", false};
  const Prompt code{"Verification Code:", true};
  EXPECT_EQ(sent(responder, request({pin, code}, "db.EXAMPLE.com")),
            (std::vector<std::string>{"1234", ""}));
  EXPECT_EQ(sent(responder, request({pin}, "example.org")), std::vector<std::string>{""});
  EXPECT_EQ(sent(responder, request({pin, code}, "bastion", 2222)),
            (std::vector<std::string>{"", "bastion-code"}));
  EXPECT_EQ(sent(responder, request({code}, "bastion", 22)), std::vector<std::string>{""});
  EXPECT_EQ(sent(responder, request({pin, code}, "legacy")),
            (std::vector<std::string>{"legacy-any", "legacy-any"}));
}

TEST(Rules, MatchWhatTheUserWouldSee) {
  auto responder = rules(sample_rules());
  // Hidden characters cannot dodge (or fake) a match.
  EXPECT_EQ(sent(responder, request({Prompt{"Enter P\xe2\x80\x8bIN:", false}}, "a.example.com")),
            std::vector<std::string>{"1234"});
}

// ---------------------------------------------------------------------------
// first_of

/// Answers every open prompt with a fixed text, and records what it saw.
class Fixed final : public PromptResponder {
 public:
  explicit Fixed(std::string answer, bool overwrite = false)
      : answer_(std::move(answer)), overwrite_(overwrite) {}
  void answer(const UserInfoRequest&, Slots& answers) override {
    ++calls;
    for (auto& slot : answers) {
      if (slot) {
        saw_answered.push_back(slot->size());
        if (!overwrite_) continue;
      }
      slot = secret(answer_);
    }
  }
  void on_verdict(Verdict v) override { verdicts.push_back(v); }
  std::string_view name() const override { return "fixed"; }

  int calls = 0;
  std::vector<std::size_t> saw_answered;  // sizes of engaged slots seen
  std::vector<Verdict> verdicts;

 private:
  std::string answer_;
  bool overwrite_;
};

TEST(FirstOf, OrderMatters) {
  auto by_rule = rules({Rule{"*", "password", secret("from-rule")}});
  const auto req = request({Prompt{"Password: ", false}, kCodePrompt});
  EXPECT_EQ(sent(first_of({by_rule, saved_password(secret("saved"))}), req),
            (std::vector<std::string>{"from-rule", ""}));
  EXPECT_EQ(sent(first_of({saved_password(secret("saved")), by_rule}), req),
            (std::vector<std::string>{"saved", ""}));
}

TEST(FirstOf, UnansweredSlotsStayEmpty) {
  auto chain = first_of({saved_password(secret("saved")), nullptr});
  const auto slots = run(*chain, request({kCodePrompt, Prompt{"Password: ", false}}));
  EXPECT_FALSE(slots[0]);
  ASSERT_TRUE(slots[1]);
  EXPECT_EQ(text(*slots[1]), "saved");
}

TEST(FirstOf, LaterRespondersNeitherSeeNorReplaceEarlierAnswers) {
  auto greedy = std::make_shared<Fixed>("greedy", /*overwrite=*/true);
  auto chain = first_of({saved_password(secret("saved")), greedy});
  const auto slots = run(*chain, request({Prompt{"Password: ", false}, kCodePrompt}));
  EXPECT_EQ(text(*slots[0]), "saved");
  EXPECT_EQ(text(*slots[1]), "greedy");
  // It saw the answered slot as engaged but empty: never the password.
  EXPECT_EQ(greedy->saw_answered, std::vector<std::size_t>{0});
}

TEST(FirstOf, ForwardsVerdicts) {
  auto a = std::make_shared<Fixed>("a");
  auto b = std::make_shared<Fixed>("b");
  first_of({a, b})->on_verdict(Verdict::rejected);
  EXPECT_EQ(a->verdicts, std::vector<Verdict>{Verdict::rejected});
  EXPECT_EQ(b->verdicts, std::vector<Verdict>{Verdict::rejected});
}

// ---------------------------------------------------------------------------
// user_info_callback

TEST(UserInfoCallback, CountsUnansweredAndAlwaysSendsOneAnswerPerPrompt) {
  std::size_t unanswered = 0;
  const auto req =
      request({Prompt{"Password: ", false}, kCodePrompt, Prompt{"Enter your bank PIN:", false}});
  EXPECT_EQ(sent(saved_password(secret("pw")), req, &unanswered),
            (std::vector<std::string>{"pw", "", ""}));
  EXPECT_EQ(unanswered, 2u);

  EXPECT_EQ(sent(nullptr, req, &unanswered), (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(unanswered, 3u);

  EXPECT_EQ(sent(std::make_shared<Fixed>("x"), req, &unanswered),
            (std::vector<std::string>{"x", "x", "x"}));
  EXPECT_EQ(unanswered, 0u);

  EXPECT_EQ(sent(saved_password(secret("pw")), request({}), &unanswered),
            std::vector<std::string>{});
  EXPECT_EQ(unanswered, 0u);
}

TEST(UserInfoCallback, AResponderThatResizesCannotChangeTheCount) {
  class Resizer final : public PromptResponder {
   public:
    explicit Resizer(std::size_t n) : n_(n) {}
    void answer(const UserInfoRequest&, Slots& answers) override {
      answers.resize(n_);
      for (auto& a : answers) a = secret("r");
    }
    std::string_view name() const override { return "resizer"; }

   private:
    std::size_t n_;
  };
  const auto req = request({kCodePrompt, kCodePrompt});
  std::size_t unanswered = 0;
  EXPECT_EQ(sent(std::make_shared<Resizer>(5), req, &unanswered),
            (std::vector<std::string>{"r", "r"}));
  EXPECT_EQ(sent(std::make_shared<Resizer>(1), req, &unanswered),
            (std::vector<std::string>{"r", ""}));
  EXPECT_EQ(unanswered, 1u);
}

// ---------------------------------------------------------------------------
// terminal

class FakeTerminal final : public TerminalIo {
 public:
  void write(std::string_view text) override { shown += text; }
  std::optional<SecretBytes> read_line(bool echo) override {
    echoes.push_back(echo);
    if (lines.empty()) return std::nullopt;
    auto line = secret(lines.front());
    lines.pop_front();
    return line;
  }
  std::string shown;
  std::deque<std::string> lines;
  std::vector<bool> echoes;
};

TEST(Terminal, ShowsSanitizedMarkedTextAndAsksOpenPrompts) {
  FakeTerminal io;
  io.lines = {"123456", "yes"};
  auto chain = first_of({saved_password(secret("pw")), terminal(io)});
  auto req = request({Prompt{"Password: ", false}, Prompt{"\x1b[1mToken\x1b[0m: ", false},
                      Prompt{"Trust this device? ", true}});
  req.name = "Duo\x1b]0;pwned\x07 two-factor";
  req.instruction =
      "Line one\x1b[2K\nLine \xe2\x80\xae"
      "two";
  EXPECT_EQ(sent(chain, req), (std::vector<std::string>{"pw", "123456", "yes"}));
  EXPECT_EQ(io.shown,
            "[server] Duo two-factor\n"
            "[server] Line one\n"
            "[server] Line two\n"
            "[server] Token: "
            "[server] Trust this device? ");
  EXPECT_EQ(io.echoes, (std::vector<bool>{false, true}));
}

TEST(Terminal, EndOfInputLeavesTheRestUnanswered) {
  FakeTerminal io;
  io.lines = {"first"};
  std::size_t unanswered = 0;
  EXPECT_EQ(sent(terminal(io), request({kCodePrompt, kCodePrompt, kCodePrompt}), &unanswered),
            (std::vector<std::string>{"first", "", ""}));
  EXPECT_EQ(unanswered, 2u);
  EXPECT_EQ(io.echoes.size(), 2u) << "stops asking at end of input";
}

TEST(Terminal, ShowsInstructionOfARoundWithoutPrompts) {
  FakeTerminal io;
  auto req = request({});
  req.instruction = "Your password expires in 3 days.";
  EXPECT_EQ(sent(terminal(io), req), std::vector<std::string>{});
  EXPECT_EQ(io.shown, "[server] Your password expires in 3 days.\n");
}

TEST(Terminal, SaysNothingWhenEverythingIsAnswered) {
  FakeTerminal io;
  auto req = request({Prompt{"Password: ", false}});
  req.instruction = "hello";
  EXPECT_EQ(sent(first_of({saved_password(secret("pw")), terminal(io)}), req),
            std::vector<std::string>{"pw"});
  EXPECT_EQ(io.shown, "");
}

}  // namespace
}  // namespace parley::client

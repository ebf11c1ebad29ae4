// The userauth messages on their own (RFC 4252, RFC 4256): each encodes to the
// bytes the RFC describes, decodes back, and its decoder refuses truncated
// input, trailing bytes and whatever breaks the limits the cores enforce.
#include "parley/userauth/messages.hpp"

#include <gtest/gtest.h>

#include "parley/wire/writer.hpp"

namespace parley::userauth {
namespace {

std::string text_of(const crypto::SecretBytes& s) { return std::string(as_chars(s.view())); }

/// Every proper prefix of a message is truncated input (and never a crash).
template <class Decode>
void expect_every_prefix_refused(const Bytes& whole, Decode decode) {
  for (std::size_t n = 0; n < whole.size(); ++n) {
    const Bytes prefix(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(decode(prefix)) << "a prefix of " << n << " of " << whole.size() << " bytes decoded";
  }
}

Bytes with_trailing_byte(Bytes m) {
  m.push_back(0);
  return m;
}

// ---- message numbers

TEST(UserauthMessages, NumbersAreTheRfcs) {
  EXPECT_EQ(msg::userauth_request, 50);
  EXPECT_EQ(msg::userauth_failure, 51);
  EXPECT_EQ(msg::userauth_success, 52);
  EXPECT_EQ(msg::userauth_banner, 53);
  EXPECT_EQ(msg::userauth_pk_ok, 60);
  EXPECT_EQ(msg::userauth_passwd_changereq, 60);
  EXPECT_EQ(msg::userauth_info_request, 60);
  EXPECT_EQ(msg::userauth_info_response, 61);
}

// ---- USERAUTH_REQUEST

TEST(UserauthMessages, KeyboardInteractiveRequestIsTheRfcsBytes) {
  Bytes expected;
  wire::Writer(expected).byte(50).string(std::string_view("alice")).string(std::string_view("ssh-connection"))
      .string(std::string_view("keyboard-interactive")).string(std::string_view("")).string(std::string_view("pam,otp"));
  const UserauthRequest req{"alice", "ssh-connection", KeyboardInteractiveFields{"", "pam,otp"}};
  EXPECT_EQ(req.encode(), expected);
  auto back = UserauthRequest::decode(expected);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->user, "alice");
  EXPECT_EQ(back->service, "ssh-connection");
  EXPECT_EQ(back->method(), "keyboard-interactive");
  ASSERT_TRUE(std::holds_alternative<KeyboardInteractiveFields>(back->fields));
  EXPECT_EQ(std::get<KeyboardInteractiveFields>(back->fields).submethods, "pam,otp");
}

TEST(UserauthMessages, NoneRequestRoundTrips) {
  const Bytes m = UserauthRequest{"bob", "ssh-connection", NoneFields{}}.encode();
  auto back = UserauthRequest::decode(m);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->method(), "none");
  EXPECT_TRUE(std::holds_alternative<NoneFields>(back->fields));
  EXPECT_EQ(back->encode(), m);
}

TEST(UserauthMessages, PasswordRequestRoundTripsWithAndWithoutChange) {
  for (bool change : {false, true}) {
    PasswordFields f{crypto::SecretBytes(to_bytes("hunter2")), std::nullopt};
    if (change) f.new_password = crypto::SecretBytes(to_bytes("hunter3"));
    const Bytes m = UserauthRequest{"carol", "ssh-connection", std::move(f)}.encode();
    Bytes expected;
    wire::Writer w(expected);
    w.byte(50).string(std::string_view("carol")).string(std::string_view("ssh-connection"))
        .string(std::string_view("password")).boolean(change).string(std::string_view("hunter2"));
    if (change) w.string(std::string_view("hunter3"));
    EXPECT_EQ(m, expected) << change;
    auto back = UserauthRequest::decode(m);
    ASSERT_TRUE(back);
    auto* p = std::get_if<PasswordFields>(&back->fields);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(text_of(p->password), "hunter2");
    EXPECT_EQ(p->new_password.has_value(), change);
    if (change) {
      EXPECT_EQ(text_of(*p->new_password), "hunter3");
    }
  }
}

TEST(UserauthMessages, PublickeyQueryAndSignedRequestRoundTrip) {
  for (bool signed_request : {false, true}) {
    PublickeyFields f{"ssh-ed25519", to_bytes("blob"), std::nullopt};
    if (signed_request) f.signature = to_bytes("signature");
    const Bytes m = UserauthRequest{"dave", "ssh-connection", f}.encode();
    auto back = UserauthRequest::decode(m);
    ASSERT_TRUE(back);
    auto* k = std::get_if<PublickeyFields>(&back->fields);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->algorithm, "ssh-ed25519");
    EXPECT_EQ(k->key_blob, to_bytes("blob"));
    EXPECT_EQ(k->signature, f.signature);
    EXPECT_EQ(back->encode(), m);
  }
}

TEST(UserauthMessages, SignedDataIsSessionIdThenTheRequestWithoutSignature) {
  const Bytes sid{9, 8, 7};
  const Bytes request =
      UserauthRequest{"erin", "ssh-connection", PublickeyFields{"ssh-ed25519", to_bytes("k"), Bytes{}}}.encode();
  // RFC 4252 §7: string session id, then the request up to the signature.
  Bytes expected = wire::encode_string(sid);
  const Bytes without_signature(request.begin(), request.end() - 4);  // drop the empty signature string
  expected.insert(expected.end(), without_signature.begin(), without_signature.end());
  EXPECT_EQ(publickey_signed_data(sid, "erin", "ssh-connection", "ssh-ed25519", to_bytes("k")), expected);
}

TEST(UserauthMessages, AnUnknownMethodKeepsItsFieldsUnread) {
  Bytes m;
  wire::Writer(m).byte(50).string(std::string_view("u")).string(std::string_view("ssh-connection"))
      .string(std::string_view("hostbased")).string(std::string_view("whatever"));
  auto back = UserauthRequest::decode(m);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->method(), "hostbased");
  EXPECT_TRUE(std::holds_alternative<OtherMethod>(back->fields));
}

TEST(UserauthMessages, RequestRefusesATruncatedHeader) {
  const Bytes m = UserauthRequest{"alice", "ssh-connection", NoneFields{}}.encode();
  expect_every_prefix_refused(m, [](const Bytes& b) { return UserauthRequest::decode(b).has_value(); });
  Bytes wrong = m;
  wrong[0] = msg::userauth_failure;
  EXPECT_EQ(UserauthRequest::decode(wrong).error().fault, DecodeFault::wrong_message);
}

TEST(UserauthMessages, RequestRefusesAnOverlongUserName) {
  const Bytes m = UserauthRequest{std::string(257, 'u'), "ssh-connection", NoneFields{}}.encode();
  ASSERT_FALSE(UserauthRequest::decode(m));
  EXPECT_EQ(UserauthRequest::decode(m).error().fault, DecodeFault::too_long);
  EXPECT_TRUE(UserauthRequest::decode(UserauthRequest{std::string(256, 'u'), "ssh-connection", NoneFields{}}.encode()));
}

/// The method part's faults are values: what they cost is the server's to decide.
DecodeFault fields_fault(const Bytes& m, const DecodeLimits& limits = {}) {
  auto r = UserauthRequest::decode(m, limits);
  if (!r) return DecodeFault::wrong_message;
  auto* bad = std::get_if<MalformedFields>(&r->fields);
  return bad ? bad->error.fault : DecodeFault::wrong_message;
}

TEST(UserauthMessages, MalformedMethodFieldsAreNamed) {
  const Bytes kbd = UserauthRequest{"u", "ssh-connection", KeyboardInteractiveFields{"", "x"}}.encode();
  const Bytes pk = UserauthRequest{"u", "ssh-connection", PublickeyFields{"ssh-ed25519", to_bytes("b"), to_bytes("s")}}.encode();
  const Bytes pw = UserauthRequest{"u", "ssh-connection", PasswordFields{crypto::SecretBytes(to_bytes("pw")), std::nullopt}}.encode();
  const Bytes none = UserauthRequest{"u", "ssh-connection", NoneFields{}}.encode();
  for (const Bytes* m : {&kbd, &pk, &pw}) {
    EXPECT_EQ(fields_fault(Bytes(m->begin(), m->end() - 1)), DecodeFault::truncated);
    EXPECT_EQ(fields_fault(with_trailing_byte(*m)), DecodeFault::trailing_bytes);
  }
  EXPECT_EQ(fields_fault(with_trailing_byte(none)), DecodeFault::trailing_bytes);
  auto r = UserauthRequest::decode(Bytes(pw.begin(), pw.end() - 1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->method(), "password") << "a malformed part still names its method";
}

TEST(UserauthMessages, PasswordOverTheLimitOrNotUtf8IsRefused) {
  DecodeLimits limits;
  limits.max_secret_bytes = 8;
  auto request = [](BytesView password) {
    return UserauthRequest{"u", "ssh-connection", PasswordFields{crypto::SecretBytes(password), std::nullopt}}.encode();
  };
  EXPECT_EQ(fields_fault(request(to_bytes("123456789")), limits), DecodeFault::too_long);
  EXPECT_TRUE(std::holds_alternative<PasswordFields>(UserauthRequest::decode(request(to_bytes("12345678")), limits)->fields));
  EXPECT_EQ(fields_fault(request(Bytes{'a', 0xff})), DecodeFault::not_utf8);
  EXPECT_EQ(fields_fault(request(Bytes{'a', 0, 'b'})), DecodeFault::not_utf8);
}

// ---- FAILURE, SUCCESS, BANNER

TEST(UserauthMessages, FailureIsTheRfcsBytesAndRoundTrips) {
  Bytes expected;
  wire::Writer(expected).byte(51).string(std::string_view("publickey,keyboard-interactive")).boolean(true);
  const UserauthFailure f{{"publickey", "keyboard-interactive"}, true};
  EXPECT_EQ(f.encode(), expected);
  auto back = UserauthFailure::decode(expected);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->methods, f.methods);
  EXPECT_TRUE(back->partial_success);
  auto empty = UserauthFailure::decode(UserauthFailure{{}, false}.encode());
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->methods.empty());
}

TEST(UserauthMessages, FailureRefusesTruncationTrailingBytesAndABadList) {
  const Bytes m = UserauthFailure{{"password"}, false}.encode();
  expect_every_prefix_refused(m, [](const Bytes& b) { return UserauthFailure::decode(b).has_value(); });
  EXPECT_EQ(UserauthFailure::decode(with_trailing_byte(m)).error().fault, DecodeFault::trailing_bytes);
  Bytes bad;
  wire::Writer(bad).byte(51).string(std::string_view("password,,publickey")).boolean(false);
  EXPECT_EQ(UserauthFailure::decode(bad).error().fault, DecodeFault::bad_name_list);
}

TEST(UserauthMessages, SuccessIsOneByte) {
  EXPECT_EQ(UserauthSuccess{}.encode(), Bytes{52});
  EXPECT_TRUE(UserauthSuccess::decode(Bytes{52}));
  EXPECT_EQ(UserauthSuccess::decode(Bytes{52, 0}).error().fault, DecodeFault::trailing_bytes);
  EXPECT_FALSE(UserauthSuccess::decode(Bytes{}));
  EXPECT_EQ(UserauthSuccess::decode(Bytes{51}).error().fault, DecodeFault::wrong_message);
}

TEST(UserauthMessages, BannerRoundTripsAndRefusesWhatIsNotUtf8) {
  const UserauthBanner b{"Welcome\r\n", "en"};
  Bytes expected;
  wire::Writer(expected).byte(53).string(std::string_view("Welcome\r\n")).string(std::string_view("en"));
  EXPECT_EQ(b.encode(), expected);
  auto back = UserauthBanner::decode(expected);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->message, b.message);
  EXPECT_EQ(back->language, "en");
  expect_every_prefix_refused(expected, [](const Bytes& m) { return UserauthBanner::decode(m).has_value(); });
  EXPECT_EQ(UserauthBanner::decode(with_trailing_byte(expected)).error().fault, DecodeFault::trailing_bytes);
  Bytes bad;
  wire::Writer(bad).byte(53).string(Bytes{0xc3, 0x28}).string(std::string_view(""));
  EXPECT_EQ(UserauthBanner::decode(bad).error().fault, DecodeFault::not_utf8);
}

// ---- PK_OK

TEST(UserauthMessages, PkOkRoundTripsAndRefusesTruncationAndTrailingBytes) {
  const PkOk ok{"rsa-sha2-512", to_bytes("key blob")};
  Bytes expected;
  wire::Writer(expected).byte(60).string(std::string_view("rsa-sha2-512")).string(std::string_view("key blob"));
  EXPECT_EQ(ok.encode(), expected);
  auto back = PkOk::decode(expected);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->algorithm, ok.algorithm);
  EXPECT_EQ(back->key_blob, ok.key_blob);
  expect_every_prefix_refused(expected, [](const Bytes& m) { return PkOk::decode(m).has_value(); });
  EXPECT_EQ(PkOk::decode(with_trailing_byte(expected)).error().fault, DecodeFault::trailing_bytes);
}

// ---- INFO_REQUEST

InfoRequest two_prompts() {
  return InfoRequest{"Login", "Answer both.", "", {Prompt{"Password: ", false}, Prompt{"Code: ", true}}};
}

TEST(UserauthMessages, InfoRequestIsTheRfcsBytesAndRoundTrips) {
  Bytes expected;
  wire::Writer(expected).byte(60).string(std::string_view("Login")).string(std::string_view("Answer both."))
      .string(std::string_view("")).uint32(2).string(std::string_view("Password: ")).boolean(false)
      .string(std::string_view("Code: ")).boolean(true);
  EXPECT_EQ(two_prompts().encode(), expected);
  auto back = InfoRequest::decode(expected);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->name, "Login");
  EXPECT_EQ(back->instruction, "Answer both.");
  ASSERT_EQ(back->prompts.size(), 2u);
  EXPECT_EQ(back->prompts[0].text, "Password: ");
  EXPECT_FALSE(back->prompts[0].echo);
  EXPECT_EQ(back->prompts[1].text, "Code: ");
  EXPECT_TRUE(back->prompts[1].echo);
}

TEST(UserauthMessages, InfoRequestRefusesTruncationTrailingBytesAndACountMismatch) {
  const Bytes m = two_prompts().encode();
  expect_every_prefix_refused(m, [](const Bytes& b) { return InfoRequest::decode(b).has_value(); });
  EXPECT_EQ(InfoRequest::decode(with_trailing_byte(m)).error().fault, DecodeFault::trailing_bytes);
  // num-prompts says 3 where 2 follow; says 1 where 2 follow.
  Bytes three = m, one = m;
  const std::size_t count_at = 1 + 4 + 5 + 4 + 12 + 4;
  three[count_at + 3] = 3;
  one[count_at + 3] = 1;
  EXPECT_EQ(InfoRequest::decode(three).error().fault, DecodeFault::truncated);
  EXPECT_EQ(InfoRequest::decode(one).error().fault, DecodeFault::trailing_bytes);
}

TEST(UserauthMessages, InfoRequestRefusesTooManyPromptsBeforeReadingThem) {
  Bytes m;
  wire::Writer(m).byte(60).string(std::string_view("")).string(std::string_view("")).string(std::string_view(""))
      .uint32(10000);  // and no prompts at all: the count alone is refused
  DecodeLimits limits;
  limits.max_prompts = 32;
  auto r = InfoRequest::decode(m, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().fault, DecodeFault::too_many_prompts);
  EXPECT_EQ(r.error().count, 10000u);
  InfoRequest exactly;
  exactly.prompts.assign(32, Prompt{"Q: ", true});
  EXPECT_TRUE(InfoRequest::decode(exactly.encode(), limits));
  exactly.prompts.emplace_back(Prompt{"Q: ", true});
  EXPECT_EQ(InfoRequest::decode(exactly.encode(), limits).error().fault, DecodeFault::too_many_prompts);
}

TEST(UserauthMessages, InfoRequestRefusesOverlongTexts) {
  DecodeLimits limits;
  limits.max_text_bytes = 16;
  InfoRequest req = two_prompts();
  EXPECT_TRUE(InfoRequest::decode(req.encode(), limits));
  req.prompts[1].text = std::string(17, 'p');
  EXPECT_EQ(InfoRequest::decode(req.encode(), limits).error().fault, DecodeFault::prompt_too_long);
  req = two_prompts();
  req.instruction = std::string(17, 'i');
  EXPECT_EQ(InfoRequest::decode(req.encode(), limits).error().fault, DecodeFault::text_too_long);
  req = two_prompts();
  req.prompts[0].text = "\xff";
  EXPECT_EQ(InfoRequest::decode(req.encode(), limits).error().fault, DecodeFault::not_utf8);
}

// ---- INFO_RESPONSE

InfoResponse answers(std::initializer_list<std::string_view> texts) {
  InfoResponse r;
  for (auto t : texts) r.answers.emplace_back(to_bytes(t));
  return r;
}

TEST(UserauthMessages, InfoResponseIsTheRfcsBytesAndRoundTrips) {
  Bytes expected;
  wire::Writer(expected).byte(61).uint32(2).string(std::string_view("secret")).string(std::string_view("123456"));
  EXPECT_EQ(answers({"secret", "123456"}).encode(), expected);
  auto back = InfoResponse::decode(expected, 2);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->answers.size(), 2u);
  EXPECT_EQ(text_of(back->answers[0]), "secret");
  EXPECT_EQ(text_of(back->answers[1]), "123456");
  auto none = InfoResponse::decode(answers({}).encode(), 0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->answers.empty());
}

TEST(UserauthMessages, InfoResponseRefusesACountOtherThanThePromptsAsked) {
  const Bytes m = answers({"a", "b"}).encode();
  for (std::size_t asked : {0u, 1u, 3u, 32u}) {
    auto r = InfoResponse::decode(m, asked);
    ASSERT_FALSE(r) << asked;
    EXPECT_EQ(r.error().fault, DecodeFault::count_mismatch) << asked;
    EXPECT_EQ(r.error().count, 2u);
  }
  // No count at all answers no request either.
  EXPECT_EQ(InfoResponse::decode(Bytes{61, 0, 0}, 0).error().fault, DecodeFault::count_mismatch);
}

TEST(UserauthMessages, InfoResponseRefusesTruncationAndTrailingBytes) {
  const Bytes m = answers({"one", "two"}).encode();
  for (std::size_t n = 5; n < m.size(); ++n) {
    auto r = InfoResponse::decode(Bytes(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(n)), 2);
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().fault, DecodeFault::truncated) << n;
  }
  EXPECT_EQ(InfoResponse::decode(with_trailing_byte(m), 2).error().fault, DecodeFault::trailing_bytes);
  EXPECT_EQ(InfoResponse::decode(Bytes{60, 0, 0, 0, 0}, 0).error().fault, DecodeFault::wrong_message);
}

TEST(UserauthMessages, InfoResponseRefusesAnOverlongOrNonUtf8Answer) {
  DecodeLimits limits;  // 4 KiB per answer, as AuthLimits::max_answer_bytes
  EXPECT_TRUE(InfoResponse::decode(answers({std::string(4096, 'a')}).encode(), 1, limits));
  auto r = InfoResponse::decode(answers({std::string(4097, 'a')}).encode(), 1, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().fault, DecodeFault::too_long);
  InfoResponse bad;
  bad.answers.emplace_back(Bytes{'x', 0, 'y'});
  EXPECT_EQ(InfoResponse::decode(bad.encode(), 1).error().fault, DecodeFault::not_utf8);
}

}  // namespace
}  // namespace parley::userauth

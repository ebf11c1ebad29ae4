// The monitor protocol's codec: every message round-trips, and a frame that is
// oversized, truncated, of an unknown or wrong type, with trailing bytes or an
// over-long field is refused with what was wrong with it.
#include "parley/privsep/protocol.hpp"

#include <gtest/gtest.h>

#include "parley/wire/writer.hpp"

namespace parley::privsep {
namespace {

crypto::SecretBytes secret(std::string_view s) {
  return crypto::SecretBytes(BytesView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

std::string text(const crypto::SecretBytes& s) { return std::string(s.view().begin(), s.view().end()); }

/// A frame of `type` with `body` as it is, for hand-made bad frames.
Bytes raw_frame(std::uint8_t type, BytesView body) {
  Bytes out;
  wire::Writer(out).uint32(static_cast<std::uint32_t>(body.size() + 1)).byte(type).raw(body);
  return out;
}

TEST(PrivsepProtocol, ConnectionMessagesRoundTrip) {
  auto opened = ConnectionOpened::decode(ConnectionOpened{7, "192.0.2.1", 2222}.encode());
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->conn, 7u);
  EXPECT_EQ(opened->address, "192.0.2.1");
  EXPECT_EQ(opened->port, 2222);
  auto closed = ConnectionClosed::decode(ConnectionClosed{9}.encode());
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->conn, 9u);
}

TEST(PrivsepProtocol, KexMessagesRoundTrip) {
  KexSign sign{1, 2, "curve25519-sha256", "ssh-ed25519", "SSH-2.0-c", "SSH-2.0-s", {20, 1}, {20, 2}, {3, 4}};
  auto s = KexSign::decode(sign.encode());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->req, 2u);
  EXPECT_EQ(s->kex, "curve25519-sha256");
  EXPECT_EQ(s->host_key_alg, "ssh-ed25519");
  EXPECT_EQ(s->v_c, "SSH-2.0-c");
  EXPECT_EQ(s->v_s, "SSH-2.0-s");
  EXPECT_EQ(s->i_c, (Bytes{20, 1}));
  EXPECT_EQ(s->i_s, (Bytes{20, 2}));
  EXPECT_EQ(s->q_c, (Bytes{3, 4}));

  KexSigned signed_{1, 2, {5}, {6, 7}, secret("shared"), {8}, {9, 10}, {Bytes{53, 1}, Bytes{51, 2}}};
  auto d = KexSigned::decode(signed_.encode());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->k_s, (Bytes{5}));
  EXPECT_EQ(d->q_s, (Bytes{6, 7}));
  EXPECT_EQ(text(d->k), "shared");
  EXPECT_EQ(d->signature, (Bytes{8}));
  EXPECT_EQ(d->h, (Bytes{9, 10}));
  EXPECT_EQ(d->none_reply, (std::vector<Bytes>{Bytes{53, 1}, Bytes{51, 2}}));
  // More packets than an AuthReply may carry do not decode.
  signed_.none_reply.assign(max_packets + 1, Bytes{51});
  EXPECT_EQ(KexSigned::decode(signed_.encode()).error(), ProtocolError::bad_value);
}

TEST(PrivsepProtocol, EveryAuthMethodRoundTrips) {
  std::vector<userauth::MethodFields> all;
  all.emplace_back(userauth::NoneFields{});
  all.emplace_back(userauth::PasswordFields{secret("old"), secret("new")});
  all.emplace_back(userauth::PasswordFields{secret("only"), std::nullopt});
  all.emplace_back(userauth::PublickeyFields{"ssh-ed25519", {1, 2}, Bytes{3}});
  all.emplace_back(userauth::PublickeyFields{"ssh-ed25519", {1, 2}, std::nullopt});
  all.emplace_back(userauth::KeyboardInteractiveFields{"", "pam"});
  all.emplace_back(userauth::OtherMethod{"hostbased"});
  all.emplace_back(userauth::MalformedFields{"password", {userauth::DecodeFault::truncated, 0}});
  for (auto& fields : all) {
    AuthRequest m{3, 4, {"alice", "ssh-connection", fields}};
    auto d = AuthRequest::decode(m.encode());
    ASSERT_TRUE(d) << m.request.method();
    EXPECT_EQ(d->conn, 3u);
    EXPECT_EQ(d->req, 4u);
    EXPECT_EQ(d->request.user, "alice");
    EXPECT_EQ(d->request.service, "ssh-connection");
    EXPECT_EQ(d->request.method(), m.request.method());
    // The SSH message the monitor builds from it is the same.
    EXPECT_EQ(d->request.encode(), m.request.encode()) << m.request.method();
  }
}

TEST(PrivsepProtocol, AnswersAndRepliesRoundTrip) {
  std::vector<crypto::SecretBytes> answers;
  answers.push_back(secret("123456"));
  answers.push_back(secret(""));
  auto info = InfoResponse::decode(InfoResponse{5, 6, answers}.encode());
  ASSERT_TRUE(info);
  ASSERT_EQ(info->answers.size(), 2u);
  EXPECT_EQ(text(info->answers[0]), "123456");
  EXPECT_TRUE(info->answers[1].empty());

  AuthReply reply{5, 6, {{52}}, AuthStatus::success, "alice", "ssh-connection", 0, {}};
  auto r = AuthReply::decode(reply.encode());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->packets, (std::vector<Bytes>{{52}}));
  EXPECT_EQ(r->status, AuthStatus::success);
  EXPECT_EQ(r->user, "alice");

  auto start = SessionStart::decode(SessionStart{5, 7, "alice"}.encode());
  ASSERT_TRUE(start);
  EXPECT_EQ(start->user, "alice");
  auto granted = SessionGranted::decode(SessionGranted{5, 7, "alice"}.encode());
  ASSERT_TRUE(granted);
  EXPECT_EQ(granted->req, 7u);
  auto refused = Refused::decode(Refused{5, 8, RefusalReason::not_authenticated}.encode());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->reason, RefusalReason::not_authenticated);
}

TEST(PrivsepProtocol, RequestsAndRepliesDecodeOnTheirOwnSide) {
  auto request = decode_request(SessionStart{1, 2, "alice"}.encode());
  ASSERT_TRUE(request);
  EXPECT_TRUE(std::holds_alternative<SessionStart>(*request));
  auto reply = decode_reply(Refused{1, 2, RefusalReason::wrong_user}.encode());
  ASSERT_TRUE(reply);
  EXPECT_TRUE(std::holds_alternative<Refused>(*reply));
  EXPECT_EQ(decode_request(Refused{1, 2, RefusalReason::wrong_user}.encode()).error(),
            ProtocolError::unknown_type);
  EXPECT_EQ(decode_reply(SessionStart{1, 2, "alice"}.encode()).error(), ProtocolError::unknown_type);
}

TEST(PrivsepProtocol, OversizedFrameIsRefusedFromItsLength) {
  // Only the header: the length alone condemns it, nothing more is read.
  Bytes header;
  wire::Writer(header).uint32(max_frame + 1).byte(std::to_underlying(MsgType::kex_sign));
  EXPECT_EQ(decode_frame(header).error(), ProtocolError::oversized);
  EXPECT_EQ(decode_request(header).error(), ProtocolError::oversized);
  // A whole one too.
  Bytes big = raw_frame(std::to_underlying(MsgType::kex_sign), Bytes(max_frame, 0));
  EXPECT_EQ(decode_frame(big).error(), ProtocolError::oversized);
  // The largest allowed frame passes the framing.
  Bytes largest = raw_frame(std::to_underlying(MsgType::kex_sign), Bytes(max_frame - 1, 0));
  EXPECT_TRUE(decode_frame(largest));
}

TEST(PrivsepProtocol, EveryTruncationIsRefused) {
  const Bytes whole = AuthRequest{1, 2, {"alice", "ssh-connection",
                                         userauth::PasswordFields{secret("pw"), std::nullopt}}}
                          .encode();
  for (std::size_t n = 0; n < whole.size(); ++n) {
    const BytesView prefix(whole.data(), n);
    EXPECT_FALSE(decode_request(prefix)) << n;
    EXPECT_FALSE(AuthRequest::decode(prefix)) << n;
  }
  // A consistent frame whose body stops inside a field.
  Bytes body;
  wire::Writer(body).uint64(1).uint64(2).uint32(100);
  EXPECT_EQ(decode_request(raw_frame(std::to_underlying(MsgType::auth_request), body)).error(),
            ProtocolError::truncated);
}

TEST(PrivsepProtocol, LengthMustMatchTheDatagram) {
  Bytes frame = ConnectionClosed{1}.encode();
  frame.push_back(0);
  EXPECT_EQ(decode_frame(frame).error(), ProtocolError::length_mismatch);
}

TEST(PrivsepProtocol, UnknownWrongTypeAndTrailingBytesAreRefused) {
  Bytes body;
  wire::Writer(body).uint64(1);
  EXPECT_EQ(decode_request(raw_frame(0, body)).error(), ProtocolError::unknown_type);
  EXPECT_EQ(decode_request(raw_frame(200, body)).error(), ProtocolError::unknown_type);
  EXPECT_EQ(ConnectionOpened::decode(ConnectionClosed{1}.encode()).error(), ProtocolError::wrong_type);
  Bytes extra = body;
  extra.push_back(0);
  EXPECT_EQ(decode_request(raw_frame(std::to_underlying(MsgType::connection_closed), extra)).error(),
            ProtocolError::trailing_bytes);
}

TEST(PrivsepProtocol, FieldsOverTheirBoundsAreRefused) {
  const std::string long_user(max_name + 1, 'a');
  EXPECT_EQ(decode_request(SessionStart{1, 2, long_user}.encode()).error(), ProtocolError::field_too_long);
  EXPECT_TRUE(decode_request(SessionStart{1, 2, std::string(max_name, 'a')}.encode()));
  const std::string long_password(max_secret + 1, 'p');
  EXPECT_EQ(decode_request(AuthRequest{1, 2, {"alice", "ssh-connection",
                                              userauth::PasswordFields{secret(long_password), std::nullopt}}}
                               .encode())
                .error(),
            ProtocolError::field_too_long);
  std::vector<crypto::SecretBytes> answers(max_answers + 1);
  EXPECT_EQ(decode_request(InfoResponse{1, 2, answers}.encode()).error(), ProtocolError::bad_value);
  EXPECT_EQ(decode_request(ConnectionOpened{1, std::string("\xff\xfe"), 22}.encode()).error(),
            ProtocolError::not_utf8);
  Bytes body;
  wire::Writer(body).uint64(1).string(std::string_view("::1")).uint32(70000);
  EXPECT_EQ(decode_request(raw_frame(std::to_underlying(MsgType::connection_opened), body)).error(),
            ProtocolError::bad_value);
  Bytes bad_reason;
  wire::Writer(bad_reason).uint64(1).uint64(2).byte(0);
  EXPECT_EQ(decode_reply(raw_frame(std::to_underlying(MsgType::refused), bad_reason)).error(),
            ProtocolError::bad_value);
  Bytes bad_method;
  wire::Writer(bad_method).uint64(1).uint64(2).string(std::string_view("a")).string(std::string_view("s")).byte(99);
  EXPECT_EQ(decode_request(raw_frame(std::to_underlying(MsgType::auth_request), bad_method)).error(),
            ProtocolError::bad_value);
}

}  // namespace
}  // namespace parley::privsep

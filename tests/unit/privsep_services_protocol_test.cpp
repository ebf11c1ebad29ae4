// The monitor protocol's session and forwarding messages: each round-trips,
// every truncation is refused, and fields, counts and frames over their
// bounds are refused with what was wrong.
#include <gtest/gtest.h>

#include "parley/privsep/protocol.hpp"
#include "parley/wire/writer.hpp"

namespace parley::privsep {
namespace {

Bytes raw_frame(MsgType type, BytesView body) {
  Bytes out;
  wire::Writer(out).uint32(static_cast<std::uint32_t>(body.size() + 1)).byte(std::to_underlying(type)).raw(body);
  return out;
}

SessionSpawn pty_spawn() {
  SessionSpawn m;
  m.conn = 3;
  m.req = 4;
  m.user = "alice";
  m.kind = SessionKind::exec;
  m.command = "stty size";
  m.pty = Terminal{"xterm", 100, 40, 800, 600, Bytes{53, 0, 0, 0, 1, 0}};
  m.env = {{"LANG", "C.UTF-8"}, {"LC_ALL", "C"}};
  m.local_address = "192.0.2.9";
  m.local_port = 22;
  return m;
}

TEST(PrivsepServicesProtocol, SessionMessagesRoundTrip) {
  auto spawn = SessionSpawn::decode(pty_spawn().encode());
  ASSERT_TRUE(spawn);
  EXPECT_EQ(spawn->conn, 3u);
  EXPECT_EQ(spawn->req, 4u);
  EXPECT_EQ(spawn->user, "alice");
  EXPECT_EQ(spawn->kind, SessionKind::exec);
  EXPECT_EQ(spawn->command, "stty size");
  ASSERT_TRUE(spawn->pty);
  EXPECT_EQ(spawn->pty->term, "xterm");
  EXPECT_EQ(spawn->pty->cols, 100u);
  EXPECT_EQ(spawn->pty->rows, 40u);
  EXPECT_EQ(spawn->pty->width_px, 800u);
  EXPECT_EQ(spawn->pty->height_px, 600u);
  EXPECT_EQ(spawn->pty->modes, (Bytes{53, 0, 0, 0, 1, 0}));
  ASSERT_EQ(spawn->env.size(), 2u);
  EXPECT_EQ(spawn->env[1].name, "LC_ALL");
  EXPECT_EQ(spawn->env[1].value, "C");
  EXPECT_EQ(spawn->local_address, "192.0.2.9");
  EXPECT_EQ(spawn->local_port, 22);

  SessionSpawn plain{{1, 2}, "bob", SessionKind::shell, "", std::nullopt, {}, "::1", 2222};
  auto no_pty = SessionSpawn::decode(plain.encode());
  ASSERT_TRUE(no_pty);
  EXPECT_FALSE(no_pty->pty);
  EXPECT_EQ(no_pty->kind, SessionKind::shell);

  auto spawned = SessionSpawned::decode(SessionSpawned{{3, 4}, 77}.encode());
  ASSERT_TRUE(spawned);
  EXPECT_EQ(spawned->req, 4u);
  EXPECT_EQ(spawned->handle, 77u);

  auto signal = SessionSignal::decode(SessionSignal{3, 77, "TERM"}.encode());
  ASSERT_TRUE(signal);
  EXPECT_EQ(signal->handle, 77u);
  EXPECT_EQ(signal->signal, "TERM");

  auto exited = SessionExited::decode(SessionExited{3, 77, true, 9, true}.encode());
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->handle, 77u);
  EXPECT_TRUE(exited->signalled);
  EXPECT_EQ(exited->code, 9u);
  EXPECT_TRUE(exited->core_dumped);
}

TEST(PrivsepServicesProtocol, ForwardMessagesRoundTrip) {
  auto connect = ForwardConnect::decode(ForwardConnect{{5, 6}, "db.internal", 5432}.encode());
  ASSERT_TRUE(connect);
  EXPECT_EQ(connect->host, "db.internal");
  EXPECT_EQ(connect->port, 5432u);
  auto listen = ForwardListen::decode(ForwardListen{{5, 7}, "", 0}.encode());
  ASSERT_TRUE(listen);
  EXPECT_EQ(listen->req, 7u);
  EXPECT_EQ(listen->host, "");
  auto connected = ForwardConnected::decode(ForwardConnected{{5, 6}}.encode());
  ASSERT_TRUE(connected);
  EXPECT_EQ(connected->req, 6u);
  auto listening = ForwardListening::decode(ForwardListening{{5, 7}, 40123}.encode());
  ASSERT_TRUE(listening);
  EXPECT_EQ(listening->port, 40123);
  // Each goes to its own side.
  EXPECT_TRUE(std::holds_alternative<ForwardListen>(*decode_request(ForwardListen{{5, 7}, "", 0}.encode())));
  EXPECT_TRUE(std::holds_alternative<SessionExited>(*decode_reply(SessionExited{3, 7}.encode())));
  EXPECT_EQ(decode_request(ForwardConnected{{5, 6}}.encode()).error(), ProtocolError::unknown_type);
  EXPECT_EQ(decode_reply(SessionSignal{3, 77, "TERM"}.encode()).error(), ProtocolError::unknown_type);
  auto refused = decode_reply(Refused{{5, 6}, RefusalReason::listen_failed}.encode());
  ASSERT_TRUE(refused);
  EXPECT_EQ(std::get<Refused>(*refused).reason, RefusalReason::listen_failed);
  EXPECT_EQ(to_string(RefusalReason::privileged_port), "privileged_port");
}

TEST(PrivsepServicesProtocol, EveryTruncationIsRefused) {
  const std::vector<Bytes> frames = {pty_spawn().encode(), SessionSignal{3, 77, "TERM"}.encode(),
                                     ForwardConnect{{5, 6}, "h", 1}.encode(), SessionSpawned{{3, 4}, 7}.encode(),
                                     SessionExited{3, 77, false, 1, false}.encode(),
                                     ForwardListening{{5, 7}, 1}.encode()};
  for (const Bytes& whole : frames)
    for (std::size_t n = 0; n < whole.size(); ++n) {
      const BytesView prefix(whole.data(), n);
      EXPECT_FALSE(decode_request(prefix) || decode_reply(prefix)) << n;
    }
  Bytes body;
  wire::Writer(body).uint64(1).uint64(2).string(std::string_view("alice")).byte(1).uint32(50);
  EXPECT_EQ(decode_request(raw_frame(MsgType::session_spawn, body)).error(), ProtocolError::truncated);
}

TEST(PrivsepServicesProtocol, OversizedFieldsCountsAndFramesAreRefused) {
  SessionSpawn m = pty_spawn();
  m.command = std::string(max_command + 1, 'x');
  EXPECT_EQ(decode_request(m.encode()).error(), ProtocolError::field_too_long);
  m = pty_spawn();
  m.pty->modes = Bytes(max_modes + 1, 0);
  EXPECT_EQ(decode_request(m.encode()).error(), ProtocolError::field_too_long);
  m = pty_spawn();
  m.env.assign(max_env + 1, EnvVar{"LANG", "C"});
  EXPECT_EQ(decode_request(m.encode()).error(), ProtocolError::bad_value);
  m = pty_spawn();
  m.env.assign(2, EnvVar{"LANG", std::string(max_env_value + 1, 'v')});
  EXPECT_EQ(decode_request(m.encode()).error(), ProtocolError::field_too_long);
  // The most a SessionSpawn may hold still fits in one frame.
  m = pty_spawn();
  m.user = std::string(max_name, 'u');
  m.command = std::string(max_command, 'x');
  m.pty->term = std::string(max_name, 't');
  m.pty->modes = Bytes(max_modes, 0);
  m.env.assign(max_env, EnvVar{std::string(max_name, 'N'), std::string(max_env_value, 'v')});
  m.local_address = std::string(max_name, 'a');
  EXPECT_TRUE(decode_request(m.encode()));
  // A frame longer than that is refused from its length.
  Bytes big = raw_frame(MsgType::session_spawn, Bytes(max_frame, 0));
  EXPECT_EQ(decode_request(big).error(), ProtocolError::oversized);

  EXPECT_EQ(decode_request(ForwardConnect{{1, 2}, std::string(max_name + 1, 'h'), 22}.encode()).error(),
            ProtocolError::field_too_long);
  EXPECT_EQ(decode_request(ForwardListen{{1, 2}, "", 65536}.encode()).error(), ProtocolError::bad_value);
  EXPECT_EQ(decode_reply(ForwardListening{{1, 2}, 80}.encode())->index(), 7u);
  Bytes bad_kind;
  wire::Writer(bad_kind).uint64(1).uint64(2).string(std::string_view("alice")).byte(4);
  wire::Writer(bad_kind).string(std::string_view("")).boolean(false).uint32(0).string(std::string_view("")).uint32(0);
  EXPECT_EQ(decode_request(raw_frame(MsgType::session_spawn, bad_kind)).error(), ProtocolError::bad_value);
}

}  // namespace
}  // namespace parley::privsep

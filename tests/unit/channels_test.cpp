// The sans-I/O RFC 4254 channel core (parley::connection::Channels) and the typed
// session/forwarding request payloads (session.hpp): two Channels talking to each
// other in memory, flow control in both directions, refusal and channel limits,
// hostile raw payloads, and round trips of every typed request.
#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/connection/channels.hpp"
#include "parley/connection/session.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::connection {
namespace {

// ---- helpers ---------------------------------------------------------------

std::string str(const Bytes& b) { return std::string(b.begin(), b.end()); }

template <class T>
T expect_event(Channels& ch) {
  auto e = ch.poll_event();
  if (!e) {
    ADD_FAILURE() << "expected an event, got none";
    return T{};
  }
  if (auto* v = std::get_if<T>(&*e)) return std::move(*v);
  ADD_FAILURE() << "unexpected event type (variant index " << e->index() << ")";
  return T{};
}

std::vector<Event> drain(Channels& ch) {
  std::vector<Event> out;
  while (auto e = ch.poll_event()) out.push_back(std::move(*e));
  return out;
}

/// Two Channels wired to each other through queues: what A's sink receives is
/// fed to B's handle() by pump(), and the other way round. Every payload sent is
/// also logged raw.
struct Pair {
  std::deque<Bytes> a_out, b_out;
  std::vector<Bytes> a_log, b_log;
  Channels a;
  Channels b;

  explicit Pair(ChannelLimits la = {}, ChannelLimits lb = {})
      : a([this](BytesView p) {
          a_out.emplace_back(p.begin(), p.end());
          a_log.emplace_back(p.begin(), p.end());
        }, la),
        b([this](BytesView p) {
          b_out.emplace_back(p.begin(), p.end());
          b_log.emplace_back(p.begin(), p.end());
        }, lb) {}
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  void pump() {
    while (!a_out.empty() || !b_out.empty()) {
      if (!a_out.empty()) {
        Bytes m = std::move(a_out.front());
        a_out.pop_front();
        auto r = b.handle(m);
        EXPECT_TRUE(r.has_value()) << "B: " << to_string(r.error());
      }
      if (!b_out.empty()) {
        Bytes m = std::move(b_out.front());
        b_out.pop_front();
        auto r = a.handle(m);
        EXPECT_TRUE(r.has_value()) << "A: " << to_string(r.error());
      }
    }
  }

  /// Opens a channel from A, accepts it on B; returns {A's id, B's id}.
  std::pair<ChannelId, ChannelId> open_session() {
    auto aid = a.open("session");
    EXPECT_TRUE(aid.has_value());
    pump();
    auto req = expect_event<OpenRequested>(b);
    b.accept(req.id);
    pump();
    auto conf = expect_event<OpenConfirmed>(a);
    EXPECT_EQ(conf.id, *aid);
    return {*aid, req.id};
  }
};

std::size_t count_messages(const std::vector<Bytes>& log, std::uint8_t id) {
  std::size_t n = 0;
  for (const auto& m : log)
    if (!m.empty() && m[0] == id) ++n;
  return n;
}

// Raw payload builders (the peer's side of the wire).
Bytes channel_open(std::string_view type, std::uint32_t sender, std::uint32_t window,
                   std::uint32_t max_packet, BytesView extra = {}) {
  Bytes b;
  wire::Writer(b).byte(msg_channel_open).string(type).uint32(sender).uint32(window).uint32(max_packet)
      .raw(extra);
  return b;
}
Bytes open_confirmation(std::uint32_t recipient, std::uint32_t sender, std::uint32_t window,
                        std::uint32_t max_packet) {
  Bytes b;
  wire::Writer(b).byte(msg_channel_open_confirmation).uint32(recipient).uint32(sender).uint32(window)
      .uint32(max_packet);
  return b;
}
Bytes open_failure(std::uint32_t recipient, std::uint32_t reason, std::string_view desc) {
  Bytes b;
  wire::Writer(b).byte(msg_channel_open_failure).uint32(recipient).uint32(reason).string(desc)
      .string(std::string_view{});
  return b;
}
Bytes data_msg(std::uint32_t recipient, BytesView data) {
  Bytes b;
  wire::Writer(b).byte(msg_channel_data).uint32(recipient).string(data);
  return b;
}
Bytes data_msg(std::uint32_t recipient, std::size_t n, std::uint8_t fill = 'x') {
  Bytes d(n, fill);
  return data_msg(recipient, d);
}
Bytes ext_data_msg(std::uint32_t recipient, std::uint32_t code, BytesView data) {
  Bytes b;
  wire::Writer(b).byte(msg_channel_extended_data).uint32(recipient).uint32(code).string(data);
  return b;
}
Bytes window_adjust(std::uint32_t recipient, std::uint32_t add) {
  Bytes b;
  wire::Writer(b).byte(msg_channel_window_adjust).uint32(recipient).uint32(add);
  return b;
}
Bytes simple(std::uint8_t msg, std::uint32_t recipient) {
  Bytes b;
  wire::Writer(b).byte(msg).uint32(recipient);
  return b;
}
Bytes channel_request(std::uint32_t recipient, std::string_view type, bool want_reply,
                      BytesView data = {}) {
  Bytes b;
  wire::Writer(b).byte(msg_channel_request).uint32(recipient).string(type).boolean(want_reply)
      .raw(data);
  return b;
}
Bytes global_request_msg(std::string_view name, bool want_reply, BytesView data = {}) {
  Bytes b;
  wire::Writer(b).byte(msg_global_request).string(name).boolean(want_reply).raw(data);
  return b;
}
Bytes with_trailing(Bytes b) {
  b.push_back(0);
  return b;
}
Bytes truncated(const Bytes& b, std::size_t drop = 1) {
  // A copy of the prefix rather than resize(): g++ 12 with ASan warns (as an
  // error) about resize()'s growth path even though this only shrinks.
  const std::size_t keep = drop < b.size() ? b.size() - drop : 0;
  return Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(keep));
}

/// One Channels under test, fed raw payloads as if from a peer; what it sends is
/// captured.
struct Raw {
  std::vector<Bytes> sent;
  Channels ch;

  explicit Raw(ChannelLimits l = {})
      : ch([this](BytesView p) { sent.emplace_back(p.begin(), p.end()); }, l) {}
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  std::expected<void, ConnectionError> feed(const Bytes& b) { return ch.handle(b); }

  /// The peer opens a channel (its number `peer_id`) and we accept it. Returns our id.
  ChannelId peer_opened(std::uint32_t peer_id = 77, std::uint32_t window = 1 << 20,
                        std::uint32_t max_packet = 1 << 15) {
    EXPECT_TRUE(feed(channel_open("session", peer_id, window, max_packet)).has_value());
    auto req = expect_event<OpenRequested>(ch);
    ch.accept(req.id);
    sent.clear();
    return req.id;
  }
  /// We open a channel; the peer (number `peer_id`) confirms it. Returns our id.
  ChannelId we_opened(std::uint32_t peer_id = 55, std::uint32_t window = 1 << 20,
                      std::uint32_t max_packet = 1 << 15) {
    auto id = ch.open("session");
    EXPECT_TRUE(id.has_value());
    EXPECT_TRUE(feed(open_confirmation(*id, peer_id, window, max_packet)).has_value());
    expect_event<OpenConfirmed>(ch);
    sent.clear();
    return *id;
  }
};

void expect_error(std::expected<void, ConnectionError> r, ConnectionError e) {
  ASSERT_FALSE(r.has_value()) << "expected " << to_string(e) << ", got success";
  EXPECT_EQ(r.error(), e) << "got " << to_string(r.error()) << ", expected " << to_string(e);
}

// ---- 1. the in-memory pair ---------------------------------------------------

TEST(ChannelsPair, SessionLifecycle) {
  Pair p;
  auto aid_opt = p.a.open("session");
  ASSERT_TRUE(aid_opt.has_value());
  const ChannelId aid = *aid_opt;
  EXPECT_EQ(p.a.count(), 1u);
  EXPECT_EQ(p.a.type(aid), "session");
  EXPECT_FALSE(p.a.is_open(aid));  // not confirmed yet
  EXPECT_EQ(p.a.send_window(aid), 0u);
  EXPECT_FALSE(p.a.poll_event().has_value());

  p.pump();
  auto req = expect_event<OpenRequested>(p.b);
  EXPECT_EQ(req.type, "session");
  EXPECT_TRUE(req.extra.empty());
  EXPECT_FALSE(p.b.poll_event().has_value());
  EXPECT_EQ(p.b.count(), 1u);
  EXPECT_EQ(p.b.type(req.id), "session");
  EXPECT_FALSE(p.b.is_open(req.id));
  const ChannelId bid = req.id;

  const Bytes confirm_extra = to_bytes("xyz");
  p.b.accept(bid, confirm_extra);
  EXPECT_TRUE(p.b.is_open(bid));
  p.pump();
  auto conf = expect_event<OpenConfirmed>(p.a);
  EXPECT_EQ(conf.id, aid);
  EXPECT_EQ(conf.extra, confirm_extra);
  EXPECT_TRUE(p.a.is_open(aid));
  const ChannelLimits defaults;
  EXPECT_EQ(p.a.send_window(aid), defaults.window);
  EXPECT_EQ(p.b.send_window(bid), defaults.window);

  // Data both ways.
  EXPECT_EQ(p.a.send_data(aid, as_bytes("hello")), 5u);
  EXPECT_EQ(p.a.send_window(aid), defaults.window - 5);
  p.pump();
  {
    auto d = expect_event<Data>(p.b);
    EXPECT_EQ(d.id, bid);
    EXPECT_EQ(d.extended, 0u);
    EXPECT_EQ(str(d.bytes), "hello");
  }
  EXPECT_EQ(p.b.send_data(bid, as_bytes("world!")), 6u);
  p.pump();
  {
    auto d = expect_event<Data>(p.a);
    EXPECT_EQ(d.id, aid);
    EXPECT_EQ(d.extended, 0u);
    EXPECT_EQ(str(d.bytes), "world!");
  }

  // Extended data (stderr) from B to A, as CHANNEL_EXTENDED_DATA on the wire.
  p.b_log.clear();
  EXPECT_EQ(p.b.send_data(bid, as_bytes("oops"), 1), 4u);
  ASSERT_EQ(p.b_log.size(), 1u);
  EXPECT_EQ(p.b_log[0][0], msg_channel_extended_data);
  p.pump();
  {
    auto d = expect_event<Data>(p.a);
    EXPECT_EQ(d.id, aid);
    EXPECT_EQ(d.extended, 1u);
    EXPECT_EQ(str(d.bytes), "oops");
  }

  // Channel requests, with and without want_reply; replies arrive in order.
  PtyRequest pty{"xterm-256color", 132, 43, 0, 0, Bytes{0}};
  p.a.request(aid, "pty-req", true, encode(pty));
  p.a.request(aid, "env", false, encode(EnvRequest{"LANG", "C.UTF-8"}));
  p.a.request(aid, "shell", true);
  p.pump();
  {
    auto r1 = expect_event<Request>(p.b);
    EXPECT_EQ(r1.id, bid);
    EXPECT_EQ(r1.type, "pty-req");
    EXPECT_TRUE(r1.want_reply);
    auto parsed = parse_pty_request(r1.data);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->term, "xterm-256color");
    EXPECT_EQ(parsed->cols, 132u);
    auto r2 = expect_event<Request>(p.b);
    EXPECT_EQ(r2.type, "env");
    EXPECT_FALSE(r2.want_reply);
    auto env = parse_env(r2.data);
    ASSERT_TRUE(env.has_value());
    EXPECT_EQ(env->name, "LANG");
    EXPECT_EQ(env->value, "C.UTF-8");
    auto r3 = expect_event<Request>(p.b);
    EXPECT_EQ(r3.type, "shell");
    EXPECT_TRUE(r3.want_reply);
    EXPECT_TRUE(r3.data.empty());
    EXPECT_FALSE(p.b.poll_event().has_value());
  }
  p.b.reply(bid, false);  // answers pty-req
  p.b.reply(bid, true);   // answers shell
  p.b_log.clear();
  p.b.reply(bid, true);  // nothing owed: nothing sent
  EXPECT_TRUE(p.b_log.empty());
  p.pump();
  {
    auto rr1 = expect_event<RequestReply>(p.a);
    EXPECT_EQ(rr1.id, aid);
    EXPECT_FALSE(rr1.success);
    auto rr2 = expect_event<RequestReply>(p.a);
    EXPECT_EQ(rr2.id, aid);
    EXPECT_TRUE(rr2.success);
    EXPECT_FALSE(p.a.poll_event().has_value());
  }

  // Global requests and replies; success may carry data.
  p.a.global_request("tcpip-forward", true, encode(ForwardRequest{"localhost", 0}));
  p.a.global_request("no-more-sessions@openssh.com", false);
  p.a.global_request("keepalive@openssh.com", true);
  p.pump();
  {
    auto g1 = expect_event<GlobalRequest>(p.b);
    EXPECT_EQ(g1.name, "tcpip-forward");
    EXPECT_TRUE(g1.want_reply);
    auto fwd = parse_forward_request(g1.data);
    ASSERT_TRUE(fwd.has_value());
    EXPECT_EQ(fwd->address, "localhost");
    auto g2 = expect_event<GlobalRequest>(p.b);
    EXPECT_EQ(g2.name, "no-more-sessions@openssh.com");
    EXPECT_FALSE(g2.want_reply);
    auto g3 = expect_event<GlobalRequest>(p.b);
    EXPECT_EQ(g3.name, "keepalive@openssh.com");
    EXPECT_TRUE(g3.want_reply);
  }
  Bytes port;
  wire::Writer(port).uint32(4242);
  p.b.global_reply(true, port);
  p.b.global_reply(false, as_bytes("dropped"));  // failure carries no data
  p.b_log.clear();
  p.b.global_reply(true);  // nothing owed
  EXPECT_TRUE(p.b_log.empty());
  p.pump();
  {
    auto gr1 = expect_event<GlobalReply>(p.a);
    EXPECT_TRUE(gr1.success);
    EXPECT_EQ(gr1.data, port);
    auto gr2 = expect_event<GlobalReply>(p.a);
    EXPECT_FALSE(gr2.success);
    EXPECT_TRUE(gr2.data.empty());
  }

  // EOF from A: A can no longer send, B can.
  p.a.send_eof(aid);
  p.a_log.clear();
  p.a.send_eof(aid);  // once only
  EXPECT_TRUE(p.a_log.empty());
  EXPECT_EQ(p.a.send_window(aid), 0u);
  EXPECT_EQ(p.a.send_data(aid, as_bytes("late")), 0u);
  p.pump();
  {
    auto e = expect_event<Eof>(p.b);
    EXPECT_EQ(e.id, bid);
    EXPECT_TRUE(p.b.eof_received(bid));
    EXPECT_FALSE(p.a.eof_received(aid));
  }
  EXPECT_EQ(p.b.send_data(bid, as_bytes("bye")), 3u);
  p.pump();
  EXPECT_EQ(str(expect_event<Data>(p.a).bytes), "bye");

  // Close from B: both see Closed, one CLOSE each way.
  p.a_log.clear();
  p.b_log.clear();
  p.b.close(bid);
  EXPECT_TRUE(p.b.close_sent(bid));
  EXPECT_FALSE(p.b.is_open(bid));
  p.b.close(bid);  // once only
  EXPECT_EQ(count_messages(p.b_log, msg_channel_close), 1u);
  p.pump();
  EXPECT_EQ(count_messages(p.a_log, msg_channel_close), 1u);
  EXPECT_EQ(count_messages(p.b_log, msg_channel_close), 1u);
  EXPECT_EQ(expect_event<Closed>(p.a).id, aid);
  EXPECT_EQ(expect_event<Closed>(p.b).id, bid);
  EXPECT_FALSE(p.a.poll_event().has_value());
  EXPECT_FALSE(p.b.poll_event().has_value());
  EXPECT_EQ(p.a.count(), 0u);
  EXPECT_EQ(p.b.count(), 0u);
  EXPECT_FALSE(p.a.is_open(aid));
  EXPECT_TRUE(p.a.type(aid).empty());

  // The ids are free again: a new channel works (and gets a number back).
  auto [aid2, bid2] = p.open_session();
  EXPECT_EQ(aid2, aid);
  EXPECT_EQ(bid2, bid);
  EXPECT_EQ(p.a.count(), 1u);
  EXPECT_EQ(p.a.send_data(aid2, as_bytes("again")), 5u);
  p.pump();
  EXPECT_EQ(str(expect_event<Data>(p.b).bytes), "again");
  p.a.close(aid2);
  p.pump();
  EXPECT_EQ(expect_event<Closed>(p.a).id, aid2);
  EXPECT_EQ(expect_event<Closed>(p.b).id, bid2);
  EXPECT_EQ(p.a.count(), 0u);
  EXPECT_EQ(p.b.count(), 0u);
}

TEST(ChannelsPair, SeveralChannelsAreIndependent) {
  Pair p;
  auto [a1, b1] = p.open_session();
  auto [a2, b2] = p.open_session();
  EXPECT_NE(a1, a2);
  EXPECT_NE(b1, b2);
  p.a.send_data(a2, as_bytes("two"));
  p.a.send_data(a1, as_bytes("one"));
  p.pump();
  auto d1 = expect_event<Data>(p.b);
  auto d2 = expect_event<Data>(p.b);
  EXPECT_EQ(d1.id, b2);
  EXPECT_EQ(str(d1.bytes), "two");
  EXPECT_EQ(d2.id, b1);
  EXPECT_EQ(str(d2.bytes), "one");
  p.a.close(a1);
  p.pump();
  EXPECT_EQ(expect_event<Closed>(p.a).id, a1);
  EXPECT_EQ(expect_event<Closed>(p.b).id, b1);
  EXPECT_TRUE(p.a.is_open(a2));
  EXPECT_TRUE(p.b.is_open(b2));
  EXPECT_EQ(p.a.count(), 1u);
  p.b.send_data(b2, as_bytes("still here"));
  p.pump();
  auto d3 = expect_event<Data>(p.a);
  EXPECT_EQ(d3.id, a2);
  EXPECT_EQ(str(d3.bytes), "still here");
}

TEST(ChannelsPair, CloseWhileOpeningIsSentOnConfirmation) {
  Pair p;
  auto aid = p.a.open("session");
  ASSERT_TRUE(aid.has_value());
  p.a.close(*aid);
  EXPECT_EQ(count_messages(p.a_log, msg_channel_close), 0u);  // no peer number yet
  p.pump();
  auto req = expect_event<OpenRequested>(p.b);
  p.b.accept(req.id);
  p.pump();
  EXPECT_EQ(expect_event<OpenConfirmed>(p.a).id, *aid);
  EXPECT_EQ(expect_event<Closed>(p.a).id, *aid);
  EXPECT_EQ(expect_event<Closed>(p.b).id, req.id);
  EXPECT_EQ(count_messages(p.a_log, msg_channel_close), 1u);
  EXPECT_EQ(count_messages(p.b_log, msg_channel_close), 1u);
  EXPECT_EQ(p.a.count(), 0u);
  EXPECT_EQ(p.b.count(), 0u);
}

// ---- 2. flow control ---------------------------------------------------------

TEST(ChannelsFlow, WindowAndMaxPacketBoundMegabyteTransfer) {
  const ChannelLimits lb{.window = 64 * 1024, .max_packet = 16 * 1024, .max_channels = 1024};
  const std::uint32_t W = lb.window;
  Pair p({}, lb);
  auto [aid, bid] = p.open_session();
  ASSERT_EQ(p.a.send_window(aid), W);

  Bytes payload(1024 * 1024);
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<std::uint8_t>((i * 131 + i / 251) & 0xff);

  std::size_t offset = 0;
  Bytes received;
  p.a_log.clear();
  std::size_t rounds = 0;
  std::size_t writable_events = 0;
  while (offset < payload.size()) {
    ASSERT_LT(++rounds, 1000u) << "no progress";
    const std::uint32_t window_before = p.a.send_window(aid);
    const std::size_t sent = p.a.send_data(aid, BytesView(payload).subspan(offset));
    EXPECT_EQ(sent, std::min<std::size_t>(window_before, payload.size() - offset));
    if (rounds == 1) {
      EXPECT_EQ(sent, W);
    }
    EXPECT_EQ(p.a.send_window(aid), 0u);
    // A second attempt with an empty window sends nothing.
    EXPECT_EQ(p.a.send_data(aid, BytesView(payload).subspan(offset + sent)), 0u);
    offset += sent;
    // Every data packet A wrote is within B's maximum packet.
    std::size_t logged = 0;
    for (const auto& m : p.a_log) {
      ASSERT_EQ(m[0], msg_channel_data);
      wire::Reader r(m);
      r.byte();
      EXPECT_EQ(r.uint32(), bid);
      BytesView d = r.string();
      ASSERT_TRUE(r.finish().has_value());
      EXPECT_LE(d.size(), lb.max_packet);
      EXPECT_GT(d.size(), 0u);
      logged += d.size();
    }
    EXPECT_EQ(logged, sent);
    p.a_log.clear();
    p.pump();
    std::size_t got = 0;
    for (auto& e : drain(p.b)) {
      auto* d = std::get_if<Data>(&e);
      ASSERT_NE(d, nullptr);
      EXPECT_EQ(d->id, bid);
      received.insert(received.end(), d->bytes.begin(), d->bytes.end());
      got += d->bytes.size();
    }
    EXPECT_EQ(got, sent);
    // B takes what arrived; this grows A's window again (B sent >= W/2 each time).
    p.b.consumed(bid, got);
    p.pump();
    for (auto& e : drain(p.a)) {
      auto* w = std::get_if<Writable>(&e);
      ASSERT_NE(w, nullptr);
      EXPECT_EQ(w->id, aid);
      ++writable_events;
    }
    p.a_log.clear();
  }
  EXPECT_EQ(received.size(), payload.size());
  EXPECT_TRUE(received == payload) << "bytes arrived out of order or duplicated";
  EXPECT_EQ(rounds, payload.size() / W);
  EXPECT_EQ(writable_events, rounds);  // each adjust came with A's window at 0
  EXPECT_EQ(count_messages(p.b_log, msg_channel_window_adjust), rounds);
}

TEST(ChannelsFlow, AdjustOnlyAfterHalfTheWindowIsConsumed) {
  const ChannelLimits lb{.window = 64 * 1024, .max_packet = 16 * 1024, .max_channels = 1024};
  const std::uint32_t W = lb.window;
  Pair p({}, lb);
  auto [aid, bid] = p.open_session();
  Bytes payload(W, 'q');
  ASSERT_EQ(p.a.send_data(aid, payload), W);
  p.pump();
  ASSERT_EQ(drain(p.b).size(), 4u);  // four packets of 16 KiB

  p.b_log.clear();
  p.b.consumed(bid, W / 2 - 1);  // less than half: no adjust
  EXPECT_EQ(count_messages(p.b_log, msg_channel_window_adjust), 0u);
  p.pump();
  EXPECT_FALSE(p.a.poll_event().has_value());
  EXPECT_EQ(p.a.send_window(aid), 0u);

  p.b.consumed(bid, 1);  // now exactly half: one adjust for all of it
  ASSERT_EQ(p.b_log.size(), 1u);
  {
    wire::Reader r(p.b_log[0]);
    EXPECT_EQ(r.byte(), msg_channel_window_adjust);
    EXPECT_EQ(r.uint32(), aid);
    EXPECT_EQ(r.uint32(), W / 2);
    EXPECT_TRUE(r.finish().has_value());
  }
  p.pump();
  EXPECT_EQ(expect_event<Writable>(p.a).id, aid);
  EXPECT_EQ(p.a.send_window(aid), W / 2);

  // A sends a little; its window stays above zero, so the next adjust brings no Writable.
  ASSERT_EQ(p.a.send_data(aid, BytesView(payload).first(1000)), 1000u);
  p.pump();
  drain(p.b);
  p.b.consumed(bid, W / 2);  // the rest of the first batch
  p.pump();
  EXPECT_EQ(p.a.send_window(aid), W / 2 - 1000 + W / 2);
  EXPECT_FALSE(p.a.poll_event().has_value()) << "Writable although the window was not empty";

  // Consuming more than was received never grants past the window: only 1000
  // bytes of room exist, less than half the window, so no adjust at all.
  p.b_log.clear();
  p.b.consumed(bid, 10 * std::size_t{W});
  EXPECT_TRUE(p.b_log.empty());
  p.pump();
  EXPECT_EQ(p.a.send_window(aid), W - 1000);
}

TEST(ChannelsFlow, WritableOnlyWhenWindowWasZero) {
  Raw t;
  const ChannelId id = t.we_opened(55, /*window=*/10, /*max_packet=*/4);
  EXPECT_EQ(t.ch.send_window(id), 10u);
  EXPECT_EQ(t.ch.send_data(id, as_bytes("0123456789abc")), 10u);
  ASSERT_EQ(t.sent.size(), 3u);  // 4 + 4 + 2
  EXPECT_EQ(t.ch.send_window(id), 0u);
  ASSERT_TRUE(t.feed(window_adjust(id, 0)).has_value());
  EXPECT_FALSE(t.ch.poll_event().has_value());  // a zero adjust does not make it writable
  ASSERT_TRUE(t.feed(window_adjust(id, 5)).has_value());
  EXPECT_EQ(expect_event<Writable>(t.ch).id, id);
  ASSERT_TRUE(t.feed(window_adjust(id, 5)).has_value());
  EXPECT_FALSE(t.ch.poll_event().has_value());
  EXPECT_EQ(t.ch.send_window(id), 10u);
}

TEST(ChannelsFlow, ZeroMaxPacketStillSendsOneByteAtATime) {
  Raw t;
  const ChannelId id = t.we_opened(55, 3, 0);
  EXPECT_EQ(t.ch.send_data(id, as_bytes("abcd")), 3u);
  EXPECT_EQ(t.sent.size(), 3u);
}

// ---- 3. reject ---------------------------------------------------------------

TEST(ChannelsPair, RejectReachesOpenFailed) {
  Pair p;
  const Bytes extra = encode(TcpipOpen{"example.org", 443, "127.0.0.1", 50000});
  auto aid = p.a.open("direct-tcpip", extra);
  ASSERT_TRUE(aid.has_value());
  p.pump();
  auto req = expect_event<OpenRequested>(p.b);
  EXPECT_EQ(req.type, "direct-tcpip");
  EXPECT_EQ(req.extra, extra);
  auto t = parse_tcpip_open(req.extra);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->host, "example.org");
  EXPECT_EQ(t->port, 443u);
  p.b.reject(req.id, OpenFailure::connect_failed, "connection refused");
  EXPECT_EQ(p.b.count(), 0u);
  p.b_log.clear();
  p.b.accept(req.id);  // too late: nothing happens
  p.b.reject(req.id, OpenFailure::connect_failed, "again");
  EXPECT_TRUE(p.b_log.empty());
  p.pump();
  auto f = expect_event<OpenFailed>(p.a);
  EXPECT_EQ(f.id, *aid);
  EXPECT_EQ(f.reason, OpenFailure::connect_failed);
  EXPECT_EQ(f.description, "connection refused");
  EXPECT_FALSE(p.a.poll_event().has_value());
  EXPECT_EQ(p.a.count(), 0u);
  EXPECT_FALSE(p.a.is_open(*aid));
  // A failure for the now-free id is an unknown channel.
  expect_error(p.a.handle(open_failure(*aid, 2, "x")), ConnectionError::unknown_channel);
}

TEST(ChannelsRaw, OpenFailureFreesIdAndCancelsPendingClose) {
  Raw t({.window = 1000, .max_packet = 1000, .max_channels = 1});
  auto id = t.ch.open("session");
  ASSERT_TRUE(id.has_value());
  EXPECT_FALSE(t.ch.open("session").has_value());  // at the limit
  t.ch.close(*id);
  ASSERT_TRUE(t.feed(open_failure(*id, 1, "prohibited")).has_value());
  auto f = expect_event<OpenFailed>(t.ch);
  EXPECT_EQ(f.reason, OpenFailure::administratively_prohibited);
  EXPECT_EQ(f.description, "prohibited");
  EXPECT_EQ(t.ch.count(), 0u);
  EXPECT_EQ(count_messages(t.sent, msg_channel_close), 0u);
  EXPECT_TRUE(t.ch.open("session").has_value());  // free again
}

// ---- 4. max_channels -----------------------------------------------------------

TEST(ChannelsLimits, FourthPeerOpenFailsWithResourceShortage) {
  Raw t({.window = 1000, .max_packet = 1000, .max_channels = 3});
  std::vector<ChannelId> ids;
  for (std::uint32_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(t.feed(channel_open("session", 100 + i, 1000, 1000)).has_value());
    auto req = expect_event<OpenRequested>(t.ch);
    EXPECT_EQ(req.type, "session");
    ids.push_back(req.id);
  }
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.ch.count(), 3u);
  EXPECT_FALSE(t.ch.open("session").has_value());  // our side is limited too

  auto r = t.feed(channel_open("session", 103, 1000, 1000));
  EXPECT_TRUE(r.has_value()) << "refusing an open must not end the connection";
  EXPECT_FALSE(t.ch.poll_event().has_value());
  ASSERT_EQ(t.sent.size(), 1u);
  {
    wire::Reader rd(t.sent[0]);
    EXPECT_EQ(rd.byte(), msg_channel_open_failure);
    EXPECT_EQ(rd.uint32(), 103u);  // the peer's sender channel
    EXPECT_EQ(rd.uint32(), static_cast<std::uint32_t>(OpenFailure::resource_shortage));
    (void)rd.utf8();  // description
    rd.text();        // language tag
    EXPECT_TRUE(rd.finish().has_value());
  }
  {
    wire::Reader rd(t.sent[0]);
    rd.raw(9);
    EXPECT_FALSE(rd.utf8().empty()) << "description should say why";
  }
  EXPECT_EQ(t.ch.count(), 3u);

  // The connection still works: an accepted channel carries data.
  t.sent.clear();
  t.ch.accept(ids[0]);
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0][0], msg_channel_open_confirmation);
  ASSERT_TRUE(t.feed(data_msg(ids[0], 3)).has_value());
  EXPECT_EQ(expect_event<Data>(t.ch).bytes.size(), 3u);
}

TEST(ChannelsLimits, TenThousandOpensFromRawPeerStayBounded) {
  Raw t({.window = 1000, .max_packet = 1000, .max_channels = 3});
  std::size_t requested = 0;
  std::vector<ChannelId> ids;
  for (std::uint32_t i = 0; i < 10000; ++i) {
    auto r = t.feed(channel_open("session", i, 1000, 1000));
    ASSERT_TRUE(r.has_value()) << "open " << i << ": " << to_string(r.error());
    while (auto e = t.ch.poll_event()) {
      auto* o = std::get_if<OpenRequested>(&*e);
      ASSERT_NE(o, nullptr);
      ids.push_back(o->id);
      ++requested;
    }
    ASSERT_LE(t.ch.count(), 3u);
  }
  EXPECT_EQ(requested, 3u);
  EXPECT_EQ(t.ch.count(), 3u);
  ASSERT_EQ(t.sent.size(), 9997u);
  for (std::size_t k = 0; k < t.sent.size(); ++k) {
    wire::Reader r(t.sent[k]);
    ASSERT_EQ(r.byte(), msg_channel_open_failure);
    ASSERT_EQ(r.uint32(), static_cast<std::uint32_t>(k + 3));
    ASSERT_EQ(r.uint32(), 4u);
  }
  // Freeing one (reject) makes room for exactly one more.
  t.ch.reject(ids[1], OpenFailure::administratively_prohibited, "no");
  EXPECT_EQ(t.ch.count(), 2u);
  t.sent.clear();
  ASSERT_TRUE(t.feed(channel_open("session", 20000, 1000, 1000)).has_value());
  EXPECT_TRUE(std::holds_alternative<OpenRequested>(*t.ch.poll_event()));
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.ch.count(), 3u);
}

TEST(ChannelsLimits, LocalOpenAtLimitAndReuseAfterClose) {
  Pair p({.window = 1000, .max_packet = 1000, .max_channels = 1}, {});
  auto [aid, bid] = p.open_session();
  EXPECT_FALSE(p.a.open("session").has_value());
  p.a.close(aid);
  EXPECT_FALSE(p.a.open("session").has_value());  // still closing
  p.pump();
  drain(p.a);
  drain(p.b);
  EXPECT_EQ(p.a.count(), 0u);
  EXPECT_TRUE(p.a.open("session").has_value());
  (void)bid;
}

// ---- 5. hostile input -------------------------------------------------------

TEST(ChannelsHostile, DataOnUnknownChannel) {
  Raw t;
  expect_error(t.feed(data_msg(0, 3)), ConnectionError::unknown_channel);
  Raw t2;
  const ChannelId id = t2.peer_opened();
  expect_error(t2.feed(data_msg(id + 1, 3)), ConnectionError::unknown_channel);
  expect_error(t2.feed(data_msg(0xffffffffu, 3)), ConnectionError::unknown_channel);
  Raw t3;
  expect_error(t3.feed(window_adjust(5, 1)), ConnectionError::unknown_channel);
  Raw t4;
  expect_error(t4.feed(simple(msg_channel_close, 0)), ConnectionError::unknown_channel);
}

TEST(ChannelsHostile, DataOnChannelAwaitingOurAccept) {
  Raw t;
  ASSERT_TRUE(t.feed(channel_open("session", 9, 1000, 1000)).has_value());
  auto req = expect_event<OpenRequested>(t.ch);
  expect_error(t.feed(data_msg(req.id, 3)), ConnectionError::unknown_channel);
  Raw t2;
  ASSERT_TRUE(t2.feed(channel_open("session", 9, 1000, 1000)).has_value());
  auto req2 = expect_event<OpenRequested>(t2.ch);
  expect_error(t2.feed(channel_request(req2.id, "shell", true)), ConnectionError::unknown_channel);
}

TEST(ChannelsHostile, DataOrRequestOnUnconfirmedChannel) {
  Raw t;
  auto id = t.ch.open("session");
  ASSERT_TRUE(id.has_value());
  expect_error(t.feed(data_msg(*id, 3)), ConnectionError::channel_not_open);
  Raw t2;
  auto id2 = t2.ch.open("session");
  expect_error(t2.feed(channel_request(*id2, "exit-status", false, encode(ExitStatus{0}))),
               ConnectionError::channel_not_open);
  Raw t3;
  auto id3 = t3.ch.open("session");
  expect_error(t3.feed(window_adjust(*id3, 10)), ConnectionError::channel_not_open);
}

TEST(ChannelsHostile, WindowAdjustOverflow) {
  Raw t;
  const ChannelId id = t.we_opened(55, 0xfffffffeu, 1024);
  ASSERT_TRUE(t.feed(window_adjust(id, 1)).has_value());  // reaches exactly 2^32-1
  EXPECT_EQ(t.ch.send_window(id), 0xffffffffu);
  ASSERT_TRUE(t.feed(window_adjust(id, 0)).has_value());
  expect_error(t.feed(window_adjust(id, 1)), ConnectionError::window_overflow);

  Raw t2;
  const ChannelId id2 = t2.peer_opened(3, 0, 1024);
  ASSERT_TRUE(t2.feed(window_adjust(id2, 0xffffffffu)).has_value());
  EXPECT_EQ(t2.ch.send_window(id2), 0xffffffffu);
  EXPECT_EQ(expect_event<Writable>(t2.ch).id, id2);

  Raw t3;
  const ChannelId id3 = t3.peer_opened(3, 0x80000000u, 1024);
  expect_error(t3.feed(window_adjust(id3, 0x80000000u)), ConnectionError::window_overflow);
}

TEST(ChannelsHostile, WindowExcessToleratedUpToTenPercent) {
  // We grant 1000 bytes; OpenSSH-style tolerance is 100 bytes more.
  Raw t({.window = 1000, .max_packet = 2000, .max_channels = 8});
  const ChannelId id = t.peer_opened();
  ASSERT_TRUE(t.feed(data_msg(id, 1000)).has_value());
  EXPECT_EQ(expect_event<Data>(t.ch).bytes.size(), 1000u);
  ASSERT_TRUE(t.feed(data_msg(id, 60)).has_value());
  EXPECT_EQ(expect_event<Data>(t.ch).bytes.size(), 60u);
  ASSERT_TRUE(t.feed(data_msg(id, 40)).has_value());  // 100 over: still tolerated
  EXPECT_EQ(expect_event<Data>(t.ch).bytes.size(), 40u);
  expect_error(t.feed(data_msg(id, 1)), ConnectionError::window_exceeded);

  // In one packet, from a fresh window.
  Raw t2({.window = 1000, .max_packet = 2000, .max_channels = 8});
  const ChannelId id2 = t2.peer_opened();
  ASSERT_TRUE(t2.feed(data_msg(id2, 1100)).has_value());
  EXPECT_EQ(expect_event<Data>(t2.ch).bytes.size(), 1100u);
  Raw t3({.window = 1000, .max_packet = 2000, .max_channels = 8});
  const ChannelId id3 = t3.peer_opened();
  expect_error(t3.feed(data_msg(id3, 1101)), ConnectionError::window_exceeded);
  EXPECT_FALSE(t3.ch.poll_event().has_value());

  // Extended data counts against the same window.
  Raw t4({.window = 1000, .max_packet = 2000, .max_channels = 8});
  const ChannelId id4 = t4.peer_opened();
  ASSERT_TRUE(t4.feed(data_msg(id4, 600)).has_value());
  Bytes d(501, 'e');
  expect_error(t4.feed(ext_data_msg(id4, 1, d)), ConnectionError::window_exceeded);
}

TEST(ChannelsHostile, OversizedPacketDroppedSilently) {
  Raw t({.window = 100000, .max_packet = 1000, .max_channels = 8});
  const ChannelId id = t.peer_opened();
  ASSERT_TRUE(t.feed(data_msg(id, 1001)).has_value());
  EXPECT_FALSE(t.ch.poll_event().has_value());
  Bytes big(5000, 'z');
  ASSERT_TRUE(t.feed(ext_data_msg(id, 1, big)).has_value());
  EXPECT_FALSE(t.ch.poll_event().has_value());
  EXPECT_TRUE(t.sent.empty());
  ASSERT_TRUE(t.feed(data_msg(id, 1000)).has_value());  // exactly the maximum is fine
  EXPECT_EQ(expect_event<Data>(t.ch).bytes.size(), 1000u);
}

TEST(ChannelsHostile, DataAfterEofDropped) {
  Raw t;
  const ChannelId id = t.peer_opened();
  ASSERT_TRUE(t.feed(simple(msg_channel_eof, id)).has_value());
  EXPECT_EQ(expect_event<Eof>(t.ch).id, id);
  ASSERT_TRUE(t.feed(data_msg(id, 5)).has_value());
  ASSERT_TRUE(t.feed(simple(msg_channel_eof, id)).has_value());  // second EOF: nothing
  EXPECT_FALSE(t.ch.poll_event().has_value());
}

TEST(ChannelsHostile, RequestAfterBothClosesIsUnknownChannel) {
  Raw t;
  // Free a channel below another one (its table slot stays, marked free).
  const ChannelId id = t.peer_opened(1);
  const ChannelId keep = t.peer_opened(2);
  EXPECT_NE(id, keep);
  t.ch.close(id);
  ASSERT_TRUE(t.feed(simple(msg_channel_close, id)).has_value());
  EXPECT_EQ(expect_event<Closed>(t.ch).id, id);
  expect_error(t.feed(channel_request(id, "shell", false)), ConnectionError::unknown_channel);

  Raw t2;
  const ChannelId lone = t2.peer_opened(2);
  ASSERT_TRUE(t2.feed(simple(msg_channel_close, lone)).has_value());
  EXPECT_EQ(expect_event<Closed>(t2.ch).id, lone);
  expect_error(t2.feed(channel_request(lone, "shell", false)), ConnectionError::unknown_channel);
  expect_error(t2.feed(simple(msg_channel_close, lone)), ConnectionError::unknown_channel);
}

TEST(ChannelsHostile, ConfirmationForChannelWeDidNotOpen) {
  Raw t;
  ASSERT_TRUE(t.feed(channel_open("session", 9, 1000, 1000)).has_value());
  auto req = expect_event<OpenRequested>(t.ch);
  expect_error(t.feed(open_confirmation(req.id, 9, 1000, 1000)),
               ConnectionError::unexpected_open_reply);

  Raw t2;
  const ChannelId id = t2.peer_opened();
  expect_error(t2.feed(open_confirmation(id, 9, 1000, 1000)), ConnectionError::unexpected_open_reply);

  Raw t3;
  const ChannelId ours = t3.we_opened();  // already confirmed once
  expect_error(t3.feed(open_confirmation(ours, 9, 1000, 1000)),
               ConnectionError::unexpected_open_reply);

  Raw t4;
  const ChannelId id4 = t4.peer_opened();
  expect_error(t4.feed(open_failure(id4, 1, "no")), ConnectionError::unexpected_open_reply);

  // A number never handed out at all is reported as an unknown channel.
  Raw t5;
  expect_error(t5.feed(open_confirmation(7, 9, 1000, 1000)), ConnectionError::unknown_channel);
  Raw t6;
  expect_error(t6.feed(open_failure(7, 1, "no")), ConnectionError::unknown_channel);
}

TEST(ChannelsHostile, ReplyWithNothingOutstanding) {
  Raw t;
  const ChannelId id = t.peer_opened();
  expect_error(t.feed(simple(msg_channel_success, id)), ConnectionError::unexpected_reply);
  Raw t2;
  const ChannelId id2 = t2.peer_opened();
  expect_error(t2.feed(simple(msg_channel_failure, id2)), ConnectionError::unexpected_reply);

  // One request outstanding: one reply fine, the second is unexpected.
  Raw t3;
  const ChannelId id3 = t3.we_opened();
  t3.ch.request(id3, "shell", true);
  t3.ch.request(id3, "env", false, encode(EnvRequest{"A", "B"}));
  ASSERT_TRUE(t3.feed(simple(msg_channel_success, id3)).has_value());
  EXPECT_TRUE(expect_event<RequestReply>(t3.ch).success);
  expect_error(t3.feed(simple(msg_channel_failure, id3)), ConnectionError::unexpected_reply);

  Raw g;
  expect_error(g.feed(Bytes{msg_request_success}), ConnectionError::unexpected_reply);
  Raw g2;
  expect_error(g2.feed(Bytes{msg_request_failure}), ConnectionError::unexpected_reply);
  Raw g3;
  g3.ch.global_request("keepalive@openssh.com", true);
  g3.ch.global_request("whatever", false);
  ASSERT_TRUE(g3.feed(Bytes{msg_request_failure}).has_value());
  EXPECT_FALSE(expect_event<GlobalReply>(g3.ch).success);
  expect_error(g3.feed(Bytes{msg_request_success}), ConnectionError::unexpected_reply);
}

TEST(ChannelsHostile, TruncatedOrTrailingIsMalformed) {
  const auto M = ConnectionError::malformed_message;
  {
    Raw t;
    expect_error(t.feed(Bytes{}), M);
  }
  {
    Raw t;
    expect_error(t.feed(Bytes{83}), M);  // not a connection message
  }
  {
    Raw t;
    expect_error(t.feed(truncated(channel_open("session", 1, 1000, 1000))), M);
  }
  {
    Raw t;
    expect_error(t.feed(Bytes{msg_global_request, 0, 0, 0}), M);
  }
  {
    Raw t;
    expect_error(t.feed(truncated(global_request_msg("x", true))), M);  // no want_reply
  }
  {
    Raw t;
    expect_error(t.feed(Bytes{msg_channel_data, 0, 0, 0}), M);  // channel number cut
  }
  {
    Raw t;
    auto id = t.ch.open("session");
    expect_error(t.feed(truncated(open_confirmation(*id, 1, 1000, 1000))), M);
  }
  {
    Raw t;
    auto id = t.ch.open("session");
    expect_error(t.feed(with_trailing(open_failure(*id, 1, "no"))), M);
  }
  {
    Raw t;
    auto id = t.ch.open("session");
    expect_error(t.feed(truncated(open_failure(*id, 1, "no"))), M);
  }
  {
    Raw t;
    auto id = t.ch.open("session");
    Bytes b;
    wire::Writer(b).byte(msg_channel_open_failure).uint32(*id).uint32(1)
        .string(BytesView(Bytes{0xff, 0xfe})).string(std::string_view{});
    expect_error(t.feed(b), M);  // description not UTF-8
  }
  // Channel messages that use finish(): trailing bytes and truncation.
  struct Case {
    const char* what;
    Bytes (*make)(ChannelId);
  };
  const Case cases[] = {
      {"data trailing", [](ChannelId id) { return with_trailing(data_msg(id, 4)); }},
      {"data truncated", [](ChannelId id) { return truncated(data_msg(id, 4)); }},
      {"ext trailing", [](ChannelId id) { return with_trailing(ext_data_msg(id, 1, Bytes(3, 'e'))); }},
      {"ext no code", [](ChannelId id) { return simple(msg_channel_extended_data, id); }},
      {"adjust trailing", [](ChannelId id) { return with_trailing(window_adjust(id, 1)); }},
      {"adjust truncated", [](ChannelId id) { return truncated(window_adjust(id, 1)); }},
      {"eof trailing", [](ChannelId id) { return with_trailing(simple(msg_channel_eof, id)); }},
      {"close trailing", [](ChannelId id) { return with_trailing(simple(msg_channel_close, id)); }},
      {"success trailing", [](ChannelId id) { return with_trailing(simple(msg_channel_success, id)); }},
      {"failure trailing", [](ChannelId id) { return with_trailing(simple(msg_channel_failure, id)); }},
      {"request no want_reply",
       [](ChannelId id) { return truncated(channel_request(id, "shell", false)); }},
      {"request type cut", [](ChannelId id) { return truncated(channel_request(id, "shell", false), 3); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Raw t;
    const ChannelId id = t.we_opened();
    t.ch.request(id, "shell", true);  // so a success/failure would otherwise be expected
    t.sent.clear();
    expect_error(t.feed(c.make(id)), M);
    EXPECT_FALSE(t.ch.poll_event().has_value());
    EXPECT_TRUE(t.sent.empty());
  }
}

TEST(ChannelsHostile, PeerCloseAnsweredExactlyOnce) {
  Raw t;
  const ChannelId id = t.peer_opened(/*peer_id=*/4242);
  ASSERT_TRUE(t.feed(simple(msg_channel_close, id)).has_value());
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0], simple(msg_channel_close, 4242));
  EXPECT_EQ(expect_event<Closed>(t.ch).id, id);
  EXPECT_EQ(t.ch.count(), 0u);
  t.ch.close(id);  // already gone: nothing
  EXPECT_EQ(t.sent.size(), 1u);

  // We closed first: the peer's CLOSE gets no second one.
  Raw t2;
  const ChannelId id2 = t2.peer_opened(4243);
  t2.ch.close(id2);
  ASSERT_EQ(t2.sent.size(), 1u);
  EXPECT_EQ(t2.sent[0], simple(msg_channel_close, 4243));
  ASSERT_TRUE(t2.feed(simple(msg_channel_close, id2)).has_value());
  EXPECT_EQ(t2.sent.size(), 1u);
  EXPECT_EQ(expect_event<Closed>(t2.ch).id, id2);
  EXPECT_EQ(t2.ch.count(), 0u);

  // After the peer's EOF too.
  Raw t3;
  const ChannelId id3 = t3.we_opened(4244);
  ASSERT_TRUE(t3.feed(simple(msg_channel_eof, id3)).has_value());
  ASSERT_TRUE(t3.feed(simple(msg_channel_close, id3)).has_value());
  EXPECT_EQ(count_messages(t3.sent, msg_channel_close), 1u);
  EXPECT_EQ(t3.sent.back(), simple(msg_channel_close, 4244));
}

TEST(ChannelsHostile, MessagesAfterOurCloseIgnored) {
  Raw t({.window = 1000, .max_packet = 1000, .max_channels = 8});
  const ChannelId id = t.we_opened(9, 0xfffffff0u, 1000);
  t.ch.request(id, "shell", true);
  t.ch.close(id);
  EXPECT_TRUE(t.ch.close_sent(id));
  EXPECT_FALSE(t.ch.is_open(id));
  t.sent.clear();
  // All of these would otherwise produce events, replies or errors.
  EXPECT_TRUE(t.feed(data_msg(id, 500)).has_value());
  EXPECT_TRUE(t.feed(data_msg(id, 1000)).has_value());  // past the window
  EXPECT_TRUE(t.feed(data_msg(id, 1000)).has_value());
  EXPECT_TRUE(t.feed(ext_data_msg(id, 1, Bytes(10, 'e'))).has_value());
  EXPECT_TRUE(t.feed(window_adjust(id, 0xffff)).has_value());  // would overflow
  EXPECT_TRUE(t.feed(channel_request(id, "exit-status", true, encode(ExitStatus{3}))).has_value());
  EXPECT_TRUE(t.feed(simple(msg_channel_success, id)).has_value());
  EXPECT_TRUE(t.feed(simple(msg_channel_failure, id)).has_value());  // none outstanding
  EXPECT_TRUE(t.feed(simple(msg_channel_eof, id)).has_value());
  EXPECT_FALSE(t.ch.poll_event().has_value());
  EXPECT_TRUE(t.sent.empty());
  EXPECT_FALSE(t.ch.eof_received(id));
  t.ch.reply(id, true);     // nothing owed and closed: nothing
  t.ch.send_eof(id);        // nothing after CLOSE
  EXPECT_EQ(t.ch.send_data(id, as_bytes("x")), 0u);
  t.ch.request(id, "shell", false);
  t.ch.consumed(id, 100000);
  EXPECT_TRUE(t.sent.empty());
  // Then the peer's CLOSE frees it.
  ASSERT_TRUE(t.feed(simple(msg_channel_close, id)).has_value());
  EXPECT_EQ(expect_event<Closed>(t.ch).id, id);
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.ch.count(), 0u);
}

TEST(ChannelsHostile, PeerRequestsAnsweredInOrderButNotAfterOurClose) {
  Raw t;
  const ChannelId id = t.peer_opened(31);
  ASSERT_TRUE(t.feed(channel_request(id, "env", true, encode(EnvRequest{"A", "1"}))).has_value());
  ASSERT_TRUE(t.feed(channel_request(id, "pty-req", true, encode(PtyRequest{}))).has_value());
  EXPECT_EQ(expect_event<Request>(t.ch).type, "env");
  EXPECT_EQ(expect_event<Request>(t.ch).type, "pty-req");
  t.ch.reply(id, false);
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0], simple(msg_channel_failure, 31));
  t.ch.close(id);
  t.ch.reply(id, true);  // owed, but nothing may follow CLOSE
  ASSERT_EQ(t.sent.size(), 2u);
  EXPECT_EQ(t.sent[1], simple(msg_channel_close, 31));
}

TEST(ChannelsHostile, GlobalRequestsAnsweredInOrder) {
  Raw t;
  ASSERT_TRUE(t.feed(global_request_msg("a", true)).has_value());
  ASSERT_TRUE(t.feed(global_request_msg("b", false, as_bytes("zz"))).has_value());
  ASSERT_TRUE(t.feed(global_request_msg("c", true)).has_value());
  auto a = expect_event<GlobalRequest>(t.ch);
  auto b = expect_event<GlobalRequest>(t.ch);
  auto c = expect_event<GlobalRequest>(t.ch);
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(str(b.data), "zz");
  EXPECT_FALSE(b.want_reply);
  EXPECT_EQ(c.name, "c");
  t.ch.global_reply(true, as_bytes("ok"));
  t.ch.global_reply(false);
  t.ch.global_reply(true);  // only two owed
  ASSERT_EQ(t.sent.size(), 2u);
  EXPECT_EQ(t.sent[0], (Bytes{msg_request_success, 'o', 'k'}));
  EXPECT_EQ(t.sent[1], (Bytes{msg_request_failure}));
}

TEST(ChannelsErrors, EveryErrorIsProtocolErrorWithText) {
  for (auto e : {ConnectionError::malformed_message, ConnectionError::unknown_channel,
                 ConnectionError::channel_not_open, ConnectionError::unexpected_open_reply,
                 ConnectionError::unexpected_reply, ConnectionError::window_exceeded,
                 ConnectionError::window_overflow}) {
    EXPECT_EQ(disconnect_reason(e), transport::DisconnectReason::protocol_error);
    EXPECT_FALSE(to_string(e).empty());
  }
  // Distinct texts, so logs can tell them apart.
  EXPECT_NE(to_string(ConnectionError::window_exceeded), to_string(ConnectionError::window_overflow));
}

TEST(ChannelsErrors, HandlesTheConnectionMessageNumbers) {
  for (int m = 0; m < 256; ++m) {
    const bool expected = (m >= 80 && m <= 82) || (m >= 90 && m <= 100);
    EXPECT_EQ(Channels::handles(static_cast<std::uint8_t>(m)), expected) << m;
  }
}

// ---- 6. session.hpp -----------------------------------------------------------

TEST(Session, PtyRequestRoundTrip) {
  PtyRequest p{"vt100", 200, 50, 1600, 900, Bytes{53, 0, 0, 0, 1, 0}};
  Bytes enc = encode(p);
  auto back = parse_pty_request(enc);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->term, "vt100");
  EXPECT_EQ(back->cols, 200u);
  EXPECT_EQ(back->rows, 50u);
  EXPECT_EQ(back->width_px, 1600u);
  EXPECT_EQ(back->height_px, 900u);
  EXPECT_EQ(back->modes, p.modes);
  // Wire layout (RFC 4254 §6.2): string term, 4 x uint32, string modes.
  wire::Reader r(enc);
  EXPECT_EQ(r.text(), "vt100");
  EXPECT_EQ(r.uint32(), 200u);
  auto tr = parse_pty_request(with_trailing(enc));
  ASSERT_FALSE(tr.has_value());
  EXPECT_EQ(tr.error(), ConnectionError::malformed_message);
  EXPECT_FALSE(parse_pty_request(truncated(enc)).has_value());
  // Term name bound: 256 is fine, 257 is not.
  p.term = std::string(256, 't');
  EXPECT_TRUE(parse_pty_request(encode(p)).has_value());
  p.term = std::string(257, 't');
  auto over = parse_pty_request(encode(p));
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error(), ConnectionError::malformed_message);
}

TEST(Session, WindowChangeRoundTrip) {
  WindowChange w{120, 40, 960, 640};
  Bytes enc = encode(w);
  EXPECT_EQ(enc.size(), 16u);
  auto back = parse_window_change(enc);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->cols, 120u);
  EXPECT_EQ(back->rows, 40u);
  EXPECT_EQ(back->width_px, 960u);
  EXPECT_EQ(back->height_px, 640u);
  auto tr = parse_window_change(with_trailing(enc));
  ASSERT_FALSE(tr.has_value());
  EXPECT_EQ(tr.error(), ConnectionError::malformed_message);
  EXPECT_FALSE(parse_window_change(truncated(enc)).has_value());
}

TEST(Session, EnvRoundTrip) {
  EnvRequest e{"LC_ALL", "en_US.UTF-8"};
  Bytes enc = encode(e);
  auto back = parse_env(enc);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->name, "LC_ALL");
  EXPECT_EQ(back->value, "en_US.UTF-8");
  auto tr = parse_env(with_trailing(enc));
  ASSERT_FALSE(tr.has_value());
  EXPECT_EQ(tr.error(), ConnectionError::malformed_message);
  EXPECT_FALSE(parse_env(truncated(enc)).has_value());
  EXPECT_FALSE(parse_env(encode(EnvRequest{std::string(1025, 'N'), "v"})).has_value());
  EXPECT_TRUE(parse_env(encode(EnvRequest{std::string(1024, 'N'), "v"})).has_value());
}

TEST(Session, StartRequestRoundTrip) {
  {
    StartRequest s{StartRequest::Kind::shell, ""};
    EXPECT_EQ(request_type(s), "shell");
    Bytes enc = encode(s);
    EXPECT_TRUE(enc.empty());
    auto back = parse_start("shell", enc);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->kind, StartRequest::Kind::shell);
    EXPECT_TRUE(back->command.empty());
    auto tr = parse_start("shell", with_trailing(enc));
    ASSERT_FALSE(tr.has_value());
    EXPECT_EQ(tr.error(), ConnectionError::malformed_message);
  }
  {
    StartRequest s{StartRequest::Kind::exec, "ls -la /tmp; echo 'done'"};
    EXPECT_EQ(request_type(s), "exec");
    Bytes enc = encode(s);
    auto back = parse_start(request_type(s), enc);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->kind, StartRequest::Kind::exec);
    EXPECT_EQ(back->command, s.command);
    auto tr = parse_start("exec", with_trailing(enc));
    ASSERT_FALSE(tr.has_value());
    EXPECT_EQ(tr.error(), ConnectionError::malformed_message);
    EXPECT_FALSE(parse_start("exec", Bytes{}).has_value());  // command missing
  }
  {
    StartRequest s{StartRequest::Kind::subsystem, "sftp"};
    EXPECT_EQ(request_type(s), "subsystem");
    Bytes enc = encode(s);
    auto back = parse_start(request_type(s), enc);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->kind, StartRequest::Kind::subsystem);
    EXPECT_EQ(back->command, "sftp");
    EXPECT_FALSE(parse_start("subsystem", with_trailing(enc)).has_value());
    EXPECT_FALSE(
        parse_start("subsystem", encode(StartRequest{StartRequest::Kind::subsystem, std::string(257, 's')}))
            .has_value());
  }
  EXPECT_FALSE(parse_start("x11-req", Bytes{}).has_value());
}

TEST(Session, ExitStatusAndSignalRoundTrip) {
  {
    Bytes enc = encode(ExitStatus{255});
    EXPECT_EQ(enc, (Bytes{0, 0, 0, 255}));
    auto back = parse_exit_status(enc);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->status, 255u);
    auto tr = parse_exit_status(with_trailing(enc));
    ASSERT_FALSE(tr.has_value());
    EXPECT_EQ(tr.error(), ConnectionError::malformed_message);
    EXPECT_FALSE(parse_exit_status(truncated(enc)).has_value());
  }
  {
    ExitSignal s{"SEGV", true, "Segmentation fault"};
    Bytes enc = encode(s);
    auto back = parse_exit_signal(enc);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->name, "SEGV");
    EXPECT_TRUE(back->core_dumped);
    EXPECT_EQ(back->message, "Segmentation fault");
    auto tr = parse_exit_signal(with_trailing(enc));
    ASSERT_FALSE(tr.has_value());
    EXPECT_EQ(tr.error(), ConnectionError::malformed_message);
    EXPECT_FALSE(parse_exit_signal(truncated(enc)).has_value());  // language tag cut
    ExitSignal k{"KILL", false, ""};
    auto kb = parse_exit_signal(encode(k));
    ASSERT_TRUE(kb.has_value());
    EXPECT_EQ(kb->name, "KILL");
    EXPECT_FALSE(kb->core_dumped);
  }
  {
    auto back = parse_signal(encode_signal("INT"));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, "INT");
    EXPECT_FALSE(parse_signal(with_trailing(encode_signal("INT"))).has_value());
  }
}

TEST(Session, TcpipOpenRoundTrip) {
  TcpipOpen t{"db.internal", 5432, "192.0.2.7", 61000};
  Bytes enc = encode(t);
  auto back = parse_tcpip_open(enc);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->host, "db.internal");
  EXPECT_EQ(back->port, 5432u);
  EXPECT_EQ(back->originator, "192.0.2.7");
  EXPECT_EQ(back->originator_port, 61000u);
  auto tr = parse_tcpip_open(with_trailing(enc));
  ASSERT_FALSE(tr.has_value());
  EXPECT_EQ(tr.error(), ConnectionError::malformed_message);
  EXPECT_FALSE(parse_tcpip_open(truncated(enc)).has_value());
  t.host = std::string(1026, 'h');
  EXPECT_FALSE(parse_tcpip_open(encode(t)).has_value());
}

TEST(Session, ForwardRequestRoundTrip) {
  ForwardRequest f{"0.0.0.0", 8080};
  Bytes enc = encode(f);
  auto back = parse_forward_request(enc);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->address, "0.0.0.0");
  EXPECT_EQ(back->port, 8080u);
  auto tr = parse_forward_request(with_trailing(enc));
  ASSERT_FALSE(tr.has_value());
  EXPECT_EQ(tr.error(), ConnectionError::malformed_message);
  EXPECT_FALSE(parse_forward_request(truncated(enc)).has_value());
}

}  // namespace
}  // namespace parley::connection

// Hostile clients of the connection layer over real sockets, against one
// in-process server (driver::Server + session::ServerConnection + the standard
// process/forwarding services, policy defaults): each RFC 4254 violation ends
// its own connection with PROTOCOL_ERROR, floods of channel opens are refused
// one by one without ending the connection, a client that stops reading does
// not make the server buffer without bound, and a well-behaved connection to
// the same server keeps working while each of them runs.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parley/session/server_connection.hpp"
#include "parley/connection/channels.hpp"
#include "parley/connection/session.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/server.hpp"
#include "parley/driver/services.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "ssh_test_client.hpp"
#include "transport_pair.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;
using connection::ChannelId;
using connection::ConnectionError;
using connection::OpenFailure;
using test::SshTestClient;

constexpr const char* user = "tester";
/// Sessions of this user are served by a handler that takes input and never
/// reports it consumed (through the embedding API), so the window the server
/// granted stays exactly the initial one whatever the pipe sizes.
constexpr const char* hoarder = "hoarder";

class HoardingSession final : public connection::ChannelHandler {
 public:
  bool attach(connection::ChannelIo&) override { return true; }
  void on_data(BytesView) override {}  // kept "in flight": never consumed
  bool on_start(const connection::StartRequest&) override { return true; }
};

/// The test process's resident set size, in bytes (VmRSS in /proc/self/status).
std::uint64_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

Bytes channel_data(std::uint32_t recipient, BytesView data) {
  Bytes p;
  wire::Writer(p).byte(connection::msg_channel_data).uint32(recipient).string(data);
  return p;
}

Bytes window_adjust(std::uint32_t recipient, std::uint32_t add) {
  Bytes p;
  wire::Writer(p).byte(connection::msg_channel_window_adjust).uint32(recipient).uint32(add);
  return p;
}

Bytes channel_request(std::uint32_t recipient, std::string_view type, bool want_reply, BytesView data = {}) {
  Bytes p;
  wire::Writer(p).byte(connection::msg_channel_request).uint32(recipient).string(type).boolean(want_reply).raw(data);
  return p;
}

Bytes channel_eof(std::uint32_t recipient) {
  Bytes p;
  wire::Writer(p).byte(connection::msg_channel_eof).uint32(recipient);
  return p;
}

class ConnectionHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    user_key_ = crypto::PrivateKey::generate_ed25519(rng_);
    auto tconfig = std::make_shared<transport::TransportConfig>(test::default_configs().second);
    auto aconfig = std::make_shared<userauth::ServerAuthConfig>();
    aconfig->authorized_keys = [pub = user_key_->public_key()](std::string_view name) {
      return name == user || name == hoarder ? std::vector<crypto::PublicKey>{pub}
                                             : std::vector<crypto::PublicKey>{};
    };
    auto policy = std::make_shared<session::ChannelPolicy>();  // the defaults: 10 sessions, no forwarding
    policy_ = policy;
    driver::ProcessOptions process;
    process.shell = "/bin/sh";
    driver::ServerOptions options;
    options.port = 0;
    options.threads = 2;
    server_ = std::make_unique<driver::Server>(
        options, driver::ConnectionFactory([this, tconfig, aconfig, policy, process](
                                               driver::ConnectionContext& context, transport::Instant now) {
          const std::string peer = context.peer().address + ":" + std::to_string(context.peer().port);
          session::ConnectionObserver observer;
          observer.on_channel = [this, peer](std::string_view line) {
            std::lock_guard lock(log_mutex_);
            if (log_.size() < 200) log_.push_back(peer + ": " + std::string(line));
          };
          auto conn = std::make_unique<session::ServerConnection>(tconfig, aconfig, rng_, peer, now,
                                                               std::move(observer));
          conn->set_channel_services(
              policy, driver::make_channel_services(
                          context, process,
                          [](driver::ConnectionContext&, const std::string& name)
                              -> std::unique_ptr<connection::ChannelHandler> {
                            if (name == hoarder) return std::make_unique<HoardingSession>();
                            return nullptr;  // a process
                          }));
          return conn;
        }));
    auto started = server_->start();
    ASSERT_TRUE(started.has_value()) << started.error();
    port_ = server_->port();
  }

  void TearDown() override {
    if (server_) server_->stop();
    if (HasFailure()) {
      std::lock_guard lock(log_mutex_);
      for (const auto& line : log_) std::printf("server: %s\n", line.c_str());
    }
  }

  test::ExecResult run(const std::string& command, std::string_view input = {}) {
    return test::exec("127.0.0.1", port_, user, *user_key_, command, input);
  }

  /// A well-behaved connection running alongside a hostile one: log in, exec a
  /// command that takes a moment, collect its output.
  std::future<test::ExecResult> start_good_exec() {
    return std::async(std::launch::async,
                      [this] { return run("sleep 0.3; echo good; echo also >&2; exit 5"); });
  }
  static void expect_good(std::future<test::ExecResult>& good) {
    ASSERT_EQ(good.wait_for(60s), std::future_status::ready) << "the good connection hung";
    const test::ExecResult r = good.get();
    EXPECT_EQ(r.error, "") << test::describe(r);
    EXPECT_EQ(r.out, "good\n") << test::describe(r);
    EXPECT_EQ(r.err, "also\n") << test::describe(r);
    EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(5)) << test::describe(r);
  }

  /// A logged-in hostile client.
  std::unique_ptr<SshTestClient> login(test::SshClientOptions options = {}, const char* name = user) {
    auto c = std::make_unique<SshTestClient>(std::move(options));
    const std::string error = c->login("127.0.0.1", port_, name, *user_key_);
    EXPECT_EQ(error, "");
    if (!error.empty()) return nullptr;
    return c;
  }

  /// The server ended `c` with PROTOCOL_ERROR, naming `why`.
  static void expect_protocol_error(SshTestClient& c, ConnectionError why) {
    EXPECT_TRUE(c.pump_until([&] { return c.closed(); }, 10s)) << "the server did not end the connection";
    ASSERT_TRUE(c.disconnected().has_value());
    EXPECT_EQ(c.disconnected()->error, transport::TransportError::peer_disconnected)
        << c.disconnected()->description;
    EXPECT_EQ(c.disconnected()->reason, transport::DisconnectReason::protocol_error);
    EXPECT_EQ(static_cast<std::uint32_t>(c.disconnected()->reason), 2u);
    EXPECT_EQ(c.disconnected()->description, connection::to_string(why));
    EXPECT_FALSE(c.channel_error().has_value());
  }

  /// `c` is still connected and answered: a global request comes back (refused:
  /// the server answers keepalive@openssh.com with REQUEST_FAILURE, as OpenSSH does).
  static void expect_alive(SshTestClient& c) {
    EXPECT_EQ(c.ping(), std::optional<bool>(false)) << "no answer: the connection is gone";
    EXPECT_FALSE(c.disconnected().has_value())
        << c.disconnected()->description << " (" << transport::to_string(c.disconnected()->reason) << ")";
  }

  /// A session on `c` runs a command to the end.
  static void expect_exec_works(SshTestClient& c, const std::string& word) {
    auto id = c.open_session();
    ASSERT_TRUE(id.has_value()) << "a new session was refused";
    ASSERT_EQ(c.exec(*id, "echo " + word + "; exit 4"), std::optional<bool>(true));
    c.write_eof(*id);
    ASSERT_TRUE(c.wait_closed(*id));
    EXPECT_EQ(c.channel(*id).out, word + "\n");
    EXPECT_EQ(c.channel(*id).exit_status, std::optional<std::uint32_t>(4));
  }

  crypto::SystemRandom rng_;
  std::optional<crypto::PrivateKey> user_key_;
  std::shared_ptr<const session::ChannelPolicy> policy_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
  std::uint16_t port_ = 0;
  std::unique_ptr<driver::Server> server_;  // last: stopped and destroyed first
};

TEST_F(ConnectionHostile, SanityExec) {
  const test::ExecResult r = run("echo hi; exit 3");
  EXPECT_EQ(r.error, "") << test::describe(r);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(3));
  EXPECT_FALSE(r.exit_signal.has_value());
  ASSERT_TRUE(r.disconnected.has_value());
  EXPECT_EQ(r.disconnected->error, transport::TransportError::local_disconnect);
}

TEST_F(ConnectionHostile, SanityExecWithStdin) {
  const test::ExecResult r = run("wc -c; exit 0", "twelve bytes");
  EXPECT_EQ(r.error, "") << test::describe(r);
  EXPECT_EQ(r.out, "12\n");
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(0));
}

TEST_F(ConnectionHostile, DataOnUnknownChannelIsProtocolError) {
  auto good = start_good_exec();
  auto c = login();
  ASSERT_TRUE(c);
  c->send_raw(channel_data(4242, as_bytes("boom")));
  expect_protocol_error(*c, ConnectionError::unknown_channel);
  expect_good(good);
}

TEST_F(ConnectionHostile, DataPastWindowBeyondTenPercentIsProtocolError) {
  auto good = start_good_exec();
  auto c = login({}, hoarder);
  ASSERT_TRUE(c);
  auto id = c->open_session();
  ASSERT_TRUE(id);
  // A session that never consumes its input: the server gives no window back.
  ASSERT_EQ(c->exec(*id, "anything"), std::optional<bool>(true));
  const auto& rec = c->channel(*id);
  const std::uint32_t window = rec.remote_window;
  const std::uint32_t max_packet = rec.remote_max_packet;
  ASSERT_EQ(window, policy_->limits.window);
  ASSERT_EQ(max_packet, policy_->limits.max_packet);

  // Exactly the window plus the 10% OpenSSH tolerates: still fine.
  const std::uint64_t tolerated = std::uint64_t{window} + window / 10;
  const Bytes chunk(max_packet, 'x');
  std::uint64_t sent = 0;
  while (sent < tolerated) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(max_packet, tolerated - sent));
    c->send_raw(channel_data(rec.remote_id, BytesView(chunk).first(n)));
    sent += n;
  }
  expect_alive(*c);
  EXPECT_EQ(c->received_count[connection::msg_channel_window_adjust], 0u)
      << "the server gave window back: the overrun was not measured";
  // One byte more is an overrun past the tolerance.
  c->send_raw(channel_data(rec.remote_id, as_bytes("y")));
  expect_protocol_error(*c, ConnectionError::window_exceeded);
  expect_good(good);
}

// The 10% tolerance is for one miscount, not a credit line: a client that
// overruns the window by 10% again after every WINDOW_ADJUST has, after the
// second time, sent more than 10% beyond all the window it was ever granted,
// and a server whose program reads slower than that client sends holds ever
// more of its input (channel_services.cpp promises "what is held never exceeds
// the window we granted").
TEST_F(ConnectionHostile, RepeatedTenPercentOverrunsAreProtocolError) {
  auto good = start_good_exec();
  auto c = login();
  ASSERT_TRUE(c);
  auto id = c->open_session();
  ASSERT_TRUE(id);
  // A slow reader: 1 MiB (half the window: one adjust) every 200 ms, starting
  // after our first burst is in, so that no adjust is made while a burst of
  // ours is still arriving and our model of the server's window stays exact.
  ASSERT_EQ(c->exec(*id, "sleep 0.5; while :; do head -c 1048576 >/dev/null; sleep 0.2; done"),
            std::optional<bool>(true));
  const std::uint32_t window = c->channel(*id).remote_window;
  const std::uint32_t max_packet = c->channel(*id).remote_max_packet;
  const std::uint32_t remote = c->channel(*id).remote_id;
  ASSERT_EQ(window, policy_->limits.window);

  // Our model of the server's view, mirroring Channels: what it still lets us
  // send, and everything it has granted in all.
  std::uint64_t granted = window, sent = 0, worst_overrun = 0;
  std::uint64_t window_left = window;
  std::size_t adjusts = 0;
  c->on_message = [&](BytesView payload) {
    if (payload[0] == connection::msg_channel_window_adjust) {
      wire::Reader r(payload);
      r.byte();
      const std::uint32_t recipient = r.uint32();
      const std::uint32_t add = r.uint32();
      if (r.ok() && recipient == *id) {
        granted += add;
        window_left += add;
        ++adjusts;
      }
    }
    return true;
  };
  const Bytes chunk(max_packet, 'x');
  int cycles = 0;
  for (; cycles < 20 && !c->closed(); ++cycles) {
    // What the server's window allows now, plus exactly the 10% it forgives.
    std::uint64_t n = window_left + window / 10;
    window_left = 0;
    while (n > 0) {
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, max_packet));
      c->send_raw(channel_data(remote, BytesView(chunk).first(k)));
      n -= k;
      sent += k;
    }
    worst_overrun = std::max(worst_overrun, sent - std::min(sent, granted));
    const std::size_t before = adjusts;
    c->pump_until([&] { return adjusts > before; }, 10s);
  }
  c->pump_until([&] { return c->closed(); }, 2s);
  // The reader takes 1 MiB per adjust (plus the pipe's 64 KiB): the rest the server holds.
  const std::uint64_t taken = adjusts * std::uint64_t{1 << 20} + 65536;
  std::printf("%d cycles: sent %llu bytes, granted %llu, worst overrun %llu (window %u); "
              "the server holds about %llu bytes of our input\n",
              cycles, static_cast<unsigned long long>(sent), static_cast<unsigned long long>(granted),
              static_cast<unsigned long long>(worst_overrun), window,
              static_cast<unsigned long long>(sent - std::min(sent, taken)));
  // The server counts overruns against everything it ever granted, so each 10%
  // overrun adds to the last instead of being forgiven at the next adjust: the
  // second cycle's overrun (about 20% past all grants) ends the connection.
  EXPECT_TRUE(c->closed()) << "after " << cycles << " cycles the client had sent " << (sent - granted)
                           << " bytes beyond all the window it was granted, and the server still took it";
  if (c->closed()) expect_protocol_error(*c, ConnectionError::window_exceeded);
  // A server that ends it at the first overrun past 10% of everything granted
  // sees about 20% at most (we send each cycle's data before hearing back).
  EXPECT_LE(worst_overrun, window / 4) << "the server let the client run far past every window it granted";
  expect_good(good);
}

TEST_F(ConnectionHostile, WindowAdjustOverflowingTwoToThe32IsProtocolError) {
  auto good = start_good_exec();
  auto c = login();
  ASSERT_TRUE(c);
  auto id = c->open_session();  // nothing started: the server sends no data, its window stays ours
  ASSERT_TRUE(id);
  const std::uint32_t granted = c->channels().limits().window;
  const std::uint32_t remote = c->channel(*id).remote_id;
  c->send_raw(window_adjust(remote, UINT32_MAX - granted));  // to exactly 2^32-1: allowed
  expect_alive(*c);
  c->send_raw(window_adjust(remote, 1));  // to 2^32
  expect_protocol_error(*c, ConnectionError::window_overflow);
  expect_good(good);
}

TEST_F(ConnectionHostile, RequestAfterBothClosesIsProtocolError) {
  auto good = start_good_exec();
  auto c = login();
  ASSERT_TRUE(c);
  auto id = c->open_session();
  ASSERT_TRUE(id);
  const std::uint32_t remote = c->channel(*id).remote_id;
  c->close(*id);
  ASSERT_TRUE(c->wait_closed(*id));
  expect_alive(*c);
  connection::StartRequest start{connection::StartRequest::Kind::exec, "echo too late"};
  c->send_raw(channel_request(remote, "exec", true, connection::encode(start)));
  expect_protocol_error(*c, ConnectionError::unknown_channel);
  expect_good(good);
}

TEST_F(ConnectionHostile, MessagesOnChannelServerClosedButWeHaveNotAreIgnored) {
  auto good = start_good_exec();
  auto c = login();
  ASSERT_TRUE(c);
  auto id = c->open_session();
  ASSERT_TRUE(id);
  const std::uint32_t remote = c->channel(*id).remote_id;
  // When the server's CLOSE arrives, and before our Channels answers it, send
  // what a client that has not seen it yet could legitimately have in flight.
  bool injected = false;
  c->on_message = [&](BytesView payload) {
    if (payload[0] == connection::msg_channel_close && !injected) {
      injected = true;
      connection::EnvRequest env{"LANG", "C"};
      c->send_raw(channel_request(remote, "env", true, connection::encode(env)));
      c->send_raw(channel_request(remote, "window-change", false,
                                  connection::encode(connection::WindowChange{80, 24, 0, 0})));
      c->send_raw(channel_data(remote, as_bytes("late input")));
      c->send_raw(window_adjust(remote, 4096));
      c->send_raw(channel_eof(remote));
    }
    return true;
  };
  ASSERT_EQ(c->exec(*id, "exit 0"), std::optional<bool>(true));
  const std::size_t replies_before =
      c->received_count[connection::msg_channel_success] + c->received_count[connection::msg_channel_failure];
  ASSERT_TRUE(c->wait_closed(*id));
  EXPECT_TRUE(injected);
  EXPECT_EQ(c->channel(*id).exit_status, std::optional<std::uint32_t>(0));
  expect_alive(*c);
  // Nothing may follow the server's CLOSE: no reply to the late request.
  EXPECT_EQ(c->received_count[connection::msg_channel_success] +
                c->received_count[connection::msg_channel_failure],
            replies_before);
  EXPECT_FALSE(c->channel_error().has_value());
  c->on_message = nullptr;
  expect_exec_works(*c, "after");
  expect_good(good);
}

TEST_F(ConnectionHostile, TenThousandSessionOpensRefusedPastMaxSessions) {
  test::SshClientOptions options;
  options.limits.max_channels = 20000;  // our side must not hold them back
  auto good = start_good_exec();
  auto c = login(options);
  ASSERT_TRUE(c);
  constexpr std::size_t opens = 10000;
  std::vector<ChannelId> ids;
  for (std::size_t i = 0; i < opens; ++i) {
    auto id = c->open("session");
    ASSERT_TRUE(id);
    ids.push_back(*id);
  }
  std::size_t answered = 0;
  ASSERT_TRUE(c->pump_until(
      [&] {
        answered = c->received_count[connection::msg_channel_open_confirmation] +
                   c->received_count[connection::msg_channel_open_failure];
        return answered == opens;
      },
      60s))
      << answered << " of " << opens << " opens answered";
  const std::size_t max_sessions = policy_->max_sessions;
  ASSERT_EQ(max_sessions, 10u);
  std::size_t confirmed = 0, prohibited = 0;
  for (std::size_t i = 0; i < opens; ++i) {
    const auto& rec = c->channel(ids[i]);
    if (i < max_sessions) {
      EXPECT_TRUE(rec.confirmed) << "open " << i;
    } else {
      EXPECT_FALSE(rec.confirmed) << "open " << i;
      ASSERT_TRUE(rec.failure.has_value()) << "open " << i;
    }
    confirmed += rec.confirmed;
    if (rec.failure && rec.failure->reason == OpenFailure::administratively_prohibited) ++prohibited;
  }
  EXPECT_EQ(confirmed, max_sessions);
  EXPECT_EQ(prohibited, opens - max_sessions);
  EXPECT_EQ(c->received_count[connection::msg_channel_open_confirmation], max_sessions);
  EXPECT_EQ(c->received_count[connection::msg_channel_open_failure], opens - max_sessions);
  expect_alive(*c);

  // Still at the limit: one more is refused...
  auto extra = c->open("session");
  ASSERT_TRUE(extra);
  EXPECT_FALSE(c->wait_open(*extra));
  ASSERT_TRUE(c->channel(*extra).failure.has_value());
  EXPECT_EQ(c->channel(*extra).failure->reason, OpenFailure::administratively_prohibited);
  // ...until one closes: then an 11th session runs a command.
  c->close(ids[0]);
  ASSERT_TRUE(c->wait_closed(ids[0]));
  expect_exec_works(*c, "eleventh");
  expect_good(good);
}

TEST_F(ConnectionHostile, TenThousandDirectTcpipOpensRefusedWithoutForwarding) {
  ASSERT_FALSE(policy_->allow_local_forwarding);
  test::SshClientOptions options;
  options.limits.max_channels = 20000;
  auto good = start_good_exec();
  auto c = login(options);
  ASSERT_TRUE(c);
  constexpr std::size_t opens = 10000;
  const Bytes target = connection::encode(connection::TcpipOpen{"127.0.0.1", port_, "127.0.0.1", 40000});
  std::vector<ChannelId> ids;
  for (std::size_t i = 0; i < opens; ++i) {
    auto id = c->open("direct-tcpip", target);
    ASSERT_TRUE(id);
    ids.push_back(*id);
  }
  std::size_t answered = 0;
  ASSERT_TRUE(c->pump_until(
      [&] {
        answered = c->received_count[connection::msg_channel_open_confirmation] +
                   c->received_count[connection::msg_channel_open_failure];
        return answered == opens;
      },
      60s))
      << answered << " of " << opens << " opens answered";
  EXPECT_EQ(c->received_count[connection::msg_channel_open_confirmation], 0u);
  std::size_t prohibited = 0;
  for (ChannelId id : ids) {
    const auto& rec = c->channel(id);
    EXPECT_FALSE(rec.confirmed);
    if (rec.failure && rec.failure->reason == OpenFailure::administratively_prohibited) ++prohibited;
  }
  EXPECT_EQ(prohibited, opens);
  EXPECT_EQ(c->channels().count(), 0u);
  expect_alive(*c);
  expect_exec_works(*c, "forwardless");
  expect_good(good);
}

// 1 GiB normally. Under AddressSanitizer every byte is copied and checked a few
// times over (server and client run in this one process), so the stream is
// 256 MiB there to keep the test within ~30 s; the stall is the same.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t stream_bytes = std::uint64_t{256} << 20;
#else
constexpr std::uint64_t stream_bytes = std::uint64_t{1} << 30;
#endif

TEST_F(ConnectionHostile, ClientThatStopsReadingDoesNotGrowServerMemory) {
  test::SshClientOptions options;
  options.limits.window = UINT32_MAX;  // the window puts no bound on the server: only its backlog does
  options.timeout = 120s;
  auto c = login(options);
  ASSERT_TRUE(c);
  auto id = c->open("session");
  ASSERT_TRUE(id);
  c->channel(*id).keep_data = false;  // count only
  ASSERT_TRUE(c->wait_open(*id));
  ASSERT_EQ(c->exec(*id, "head -c " + std::to_string(stream_bytes) + " /dev/zero"), std::optional<bool>(true));
  c->write_eof(*id);
  const auto& rec = c->channel(*id);
  // Let the stream get going (and every buffer on the way reach its working size).
  ASSERT_TRUE(c->pump_until([&] { return rec.out_bytes >= (64u << 20); }, 60s)) << rec.out_bytes;

  // Stop reading for 3 s; meanwhile another connection works normally.
  const std::uint64_t before = resident_bytes();
  const std::uint64_t received_before = rec.out_bytes;
  auto good = start_good_exec();
  std::this_thread::sleep_for(3s);
  const std::uint64_t after = resident_bytes();
  const auto growth = static_cast<std::int64_t>(after) - static_cast<std::int64_t>(before);
  std::printf("VmRSS before the stall %llu KiB, after %llu KiB: growth %lld KiB (received %llu MiB so far)\n",
              static_cast<unsigned long long>(before / 1024), static_cast<unsigned long long>(after / 1024),
              static_cast<long long>(growth / 1024), static_cast<unsigned long long>(received_before >> 20));
  EXPECT_LT(growth, std::int64_t{64} << 20) << "the server buffered output for a client that is not reading";
  expect_good(good);

  // Resume: everything arrives, nothing lost or doubled.
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->wait_closed(*id)) << "received " << rec.out_bytes << " of " << stream_bytes;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("rest of the stream in %.1f s; %u key exchanges\n", seconds, c->kex_count());
  EXPECT_EQ(rec.out_bytes, stream_bytes);
  EXPECT_EQ(rec.err_bytes, 0u);
  EXPECT_EQ(rec.exit_status, std::optional<std::uint32_t>(0));
  EXPECT_FALSE(c->disconnected().has_value());
}

}  // namespace
}  // namespace parley

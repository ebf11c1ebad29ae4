// The run: a Runner launches connections (paced, bounded in flight), moves
// their phases along (launching → holding → ending) and counts; each Conn is
// one socket and one parley ClientConnection moved by callbacks on the one
// io_context. A sweep every 100 ms serves every connection's deadlines, so no
// connection carries a timer of its own; an idle connection holds no buffer
// (reads go through the Runner's one buffer, after a readiness wait).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "load.hpp"
#include "parley/connection/channels.hpp"
#include "parley/crypto/random.hpp"
#include "parley/session/client_connection.hpp"

namespace parley::load {
namespace {

using asio::ip::tcp;
using transport::Clock;
using Instant = Clock::time_point;

constexpr auto sweep_interval = std::chrono::milliseconds(100);
/// After our last byte (shutdown sent), how long to wait for the server's EOF.
constexpr auto linger_time = std::chrono::seconds(2);
/// Bytes read from one connection per readiness before serving the others.
constexpr std::size_t max_read_per_turn = 256 * 1024;
/// Flood: the most we keep of the server's first bytes while looking for its version line.
constexpr std::size_t max_version_bytes = 8 * 1024;
constexpr std::string_view flood_version = "SSH-2.0-parley_load\r\n";
/// Distinct disconnect descriptions kept; the rest are counted as "(other)".
constexpr std::size_t max_reasons = 32;

std::chrono::nanoseconds seconds(double s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
}

bool would_block(const std::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

class Runner;

/// One connection. Lives as long as a handler or the Runner's list holds it.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  enum class Phase { login, held, checking, closing, done };

  Conn(Runner& runner, std::size_t index);
  void start();
  /// The sweep: deadlines of the endpoint, of the login, the check or the linger.
  void tick(Instant now);
  /// Hold: asks the server something it must answer (an open session channel's
  /// request, or a global request), then disconnects.
  void begin_check();
  /// Flood: the end of the hold; closes.
  void end_flood();
  /// The hard timeout: counts what was pending as timed out and closes.
  void abort();
  Phase phase() const { return phase_; }

 private:
  void connected(const std::error_code& ec);
  void authenticated();
  void channel_event(connection::Event& e);
  void check_done(bool ok, std::string_view kind);
  void pump();
  void start_write();
  void wait_read();
  /// The server closed or reset the connection: the endpoint hears it once.
  void lose_peer() {
    peer_gone_ = true;
    if (endpoint_ && !endpoint_->closed()) endpoint_->peer_closed(Clock::now());
  }
  void read_ready();
  void flood_input(BytesView data);
  void login_failed(std::string kind, std::string reason = {});
  void classify_and_fail();
  void finish();

  Runner& r_;
  std::size_t index_;
  tcp::socket socket_;
  std::unique_ptr<session::ClientConnection> endpoint_;  // rate, hold
  std::unique_ptr<transport::Transport> flood_kex_;  // flood --kexinit, until the version arrives
  std::string version_;                              // flood: the server's first bytes
  Bytes out_, writing_bytes_;
  Instant started_;
  std::optional<Instant> deadline_;
  std::optional<Instant> next_keepalive_;  // hold --keepalive, while held
  std::size_t keepalives_owed_ = 0;        // sent, not yet answered
  Phase phase_ = Phase::login;
  bool login_concluded_ = false;
  bool writing_ = false;
  bool waiting_ = false;
  bool peer_gone_ = false;
  bool shut_ = false;
  bool want_disconnect_ = false;
  bool check_concluded_ = false;
};

class Runner {
 public:
  explicit Runner(const Options& options)
      : o_(options),
        sweep_(io_),
        pace_(io_),
        hard_(io_),
        hold_timer_(io_),
        signals_(io_, SIGINT, SIGTERM),
        stdin_(io_) {}

  Tally run();

  const Options& options() const { return o_; }
  asio::io_context& io() { return io_; }
  crypto::Random& rng() { return rng_; }
  std::array<std::uint8_t, 64 * 1024>& buffer() { return buffer_; }
  tcp::endpoint target() const { return {asio::ip::address_v4(o_.target_address), o_.port}; }
  /// The index'th source address, rotating over 127.0.0.0/8 (last octet 1–254).
  asio::ip::address_v4 source(std::size_t index) const {
    const auto k = static_cast<std::uint32_t>(index % o_.sources);
    const std::uint32_t z = k % 254 + 1, y = (k / 254) % 256, x = (k / (254 * 256)) % 256;
    return asio::ip::address_v4((127u << 24) | (x << 16) | (y << 8) | z);
  }

  // From the connections.
  void login_ok(Instant started) {
    ++tally_.succeeded;
    tally_.latencies_us.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count(),
        UINT32_MAX)));
    login_concluded();
  }
  void login_failed(const std::string& kind, const std::string& reason) {
    fail(kind, reason);
    login_concluded();
  }
  void fail(const std::string& kind, const std::string& reason = {}) {
    ++tally_.failures[kind];
    if (reason.empty()) return;
    if (tally_.disconnect_reasons.size() < max_reasons ||
        tally_.disconnect_reasons.contains(reason))
      ++tally_.disconnect_reasons[reason];
    else
      ++tally_.disconnect_reasons["(other)"];
  }
  void answered() { ++tally_.answered; }
  void keepalive_sent() { ++tally_.keepalives_sent; }
  void keepalive_answered() { ++tally_.keepalives_answered; }
  void closed() {
    --open_;
    schedule_advance();
  }

 private:
  void login_concluded() {
    --logins_pending_;
    schedule_advance();
  }
  void schedule_advance() {
    if (advance_posted_) return;
    advance_posted_ = true;
    asio::post(io_, [this] { advance(); });
  }
  bool more_to_launch(Instant now) const {
    if (stop_launching_) return false;
    if (o_.count > 0 && launched_ >= o_.count) return false;
    if (o_.duration && now >= t0_ + seconds(*o_.duration)) return false;
    return true;
  }
  void advance();
  void launch_more();
  void begin_hold();
  void end_hold();
  void sweep();
  void on_signal();
  void read_stdin();
  void finish_run();

  const Options& o_;
  asio::io_context io_{1};
  crypto::SystemRandom rng_;
  std::array<std::uint8_t, 64 * 1024> buffer_{};
  asio::steady_timer sweep_, pace_, hard_, hold_timer_;
  asio::signal_set signals_;
  asio::posix::stream_descriptor stdin_;
  std::array<char, 256> stdin_buffer_{};
  std::vector<std::shared_ptr<Conn>> live_;
  Tally tally_;
  Instant t0_;
  enum class Stage { launching, holding, ending, over } stage_ = Stage::launching;
  std::size_t launched_ = 0, logins_pending_ = 0, open_ = 0;
  bool advance_posted_ = false, stop_launching_ = false, pacing_ = false;
};

// ---- Conn ------------------------------------------------------------------

Conn::Conn(Runner& runner, std::size_t index) : r_(runner), index_(index), socket_(runner.io()) {}

void Conn::start() {
  const Options& o = r_.options();
  started_ = Clock::now();
  deadline_ = started_ + seconds(o.login_timeout);
  std::error_code ec;
  socket_.open(tcp::v4(), ec);
  if (!ec && o.sources > 0) {
    // Leave the port to connect(): it then needs to be unique only per
    // (source, target) pair, not per source address.
    int one = 1;
    ::setsockopt(socket_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    socket_.bind(tcp::endpoint(r_.source(index_), 0), ec);
  }
  if (ec) {
    login_failed("local_socket_error", "local: " + ec.message());
    return;
  }
  socket_.async_connect(
      r_.target(), [self = shared_from_this()](const std::error_code& e) { self->connected(e); });
}

void Conn::connected(const std::error_code& ec) {
  if (phase_ == Phase::done) return;
  if (ec) {
    if (ec == asio::error::connection_refused)
      login_failed("connect_refused");
    else
      login_failed("connect_error", "connect: " + ec.message());
    return;
  }
  std::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  socket_.non_blocking(true, ignored);
  const Options& o = r_.options();
  if (o.mode == Mode::flood) {
    if (o.send_kexinit) {
      flood_kex_ = std::make_unique<transport::Transport>(o.transport, r_.rng(), Clock::now());
      flood_kex_->take_output(out_);  // our identification line
    } else {
      out_.assign(flood_version.begin(), flood_version.end());
    }
  } else {
    // A small channel window: the load tool reads nothing but replies.
    connection::ChannelLimits limits{
        .window = 64 * 1024, .max_packet = 32 * 1024, .max_channels = 4};
    const auto& auth = o.auths[index_ % o.auths.size()];
    endpoint_ = std::make_unique<session::ClientConnection>(o.transport, auth, o.target, o.port,
                                                            r_.rng(), Clock::now(), limits);
    endpoint_->on_authenticated = [this](session::ClientConnection&) { authenticated(); };
    endpoint_->on_channel_event = [this](session::ClientConnection&, connection::Event& e) {
      channel_event(e);
    };
  }
  pump();
}

void Conn::authenticated() {
  login_concluded_ = true;
  r_.login_ok(started_);
  if (r_.options().mode == Mode::rate) {
    want_disconnect_ = true;  // taken up by pump(), outside the endpoint's call
  } else {
    phase_ = Phase::held;
    deadline_.reset();
    if (auto k = r_.options().keepalive)
      next_keepalive_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(*k));
  }
}

void Conn::channel_event(connection::Event& e) {
  // A server's keepalive (sshd's ClientAliveInterval) must be answered, or it drops
  // the connection: refused, as OpenSSH's client refuses what it does not know.
  if (auto* global = std::get_if<connection::GlobalRequest>(&e)) {
    if (global->want_reply) endpoint_->channels().global_reply(false);
    return;
  }
  if (auto* request = std::get_if<connection::Request>(&e)) {
    if (request->want_reply) endpoint_->channels().reply(request->id, false);
    return;
  }
  if (keepalives_owed_ > 0 && std::get_if<connection::GlobalReply>(&e) != nullptr) {
    // Global replies come in the order of the requests (RFC 4254 §4): the first
    // ones answer our keepalives, success or failure alike (OpenSSH refuses them).
    --keepalives_owed_;
    r_.keepalive_answered();
    return;
  }
  if (phase_ != Phase::checking || check_concluded_) return;
  if (auto* open = std::get_if<connection::OpenConfirmed>(&e)) {
    // OpenSSH's client asks this of a session to see that the server is alive.
    endpoint_->channels().request(open->id, "keepalive@openssh.com", true);
  } else if (std::get_if<connection::OpenFailed>(&e) != nullptr) {
    check_done(false, "check_channel_refused");
  } else if (auto* reply = std::get_if<connection::RequestReply>(&e)) {
    endpoint_->channels().close(reply->id);
    check_done(true, {});
  } else if (std::get_if<connection::GlobalReply>(&e) != nullptr) {
    check_done(true, {});
  }
}

void Conn::check_done(bool ok, std::string_view kind) {
  check_concluded_ = true;
  if (ok)
    r_.answered();
  else
    r_.fail(std::string(kind));
  want_disconnect_ = true;
  phase_ = Phase::closing;
}

void Conn::begin_check() {
  if (phase_ != Phase::held) return;
  phase_ = Phase::checking;
  deadline_ = Clock::now() + seconds(r_.options().login_timeout);
  if (r_.options().check == "global") {
    endpoint_->channels().global_request("keepalive@openssh.com", true);
  } else if (!endpoint_->channels().open("session")) {
    check_done(false, "check_channel_refused");
  }
  pump();
}

void Conn::end_flood() {
  if (phase_ != Phase::held) return;
  phase_ = Phase::closing;
  finish();
}

void Conn::abort() {
  if (phase_ == Phase::done) return;
  if (!login_concluded_) login_failed("timeout", {});
  if (phase_ == Phase::checking && !check_concluded_) {
    check_concluded_ = true;
    r_.fail("check_timeout");
  }
  finish();
}

void Conn::tick(Instant now) {
  if (phase_ == Phase::done) return;
  if (endpoint_ && !endpoint_->closed()) {
    if (auto d = endpoint_->next_deadline(); d && *d <= now) {
      endpoint_->on_time(now);
      pump();
      if (phase_ == Phase::done) return;
    }
  }
  if (phase_ == Phase::held && next_keepalive_ && now >= *next_keepalive_) {
    // As ssh's ServerAliveInterval: a global request the server must answer.
    *next_keepalive_ += std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(*r_.options().keepalive));
    endpoint_->channels().global_request("keepalive@openssh.com", true);
    ++keepalives_owed_;
    r_.keepalive_sent();
    pump();
    if (phase_ == Phase::done) return;
  }
  if (!deadline_ || now < *deadline_) return;
  if (shut_) return finish();  // the linger is over
  if (!login_concluded_) return login_failed("timeout");
  if (phase_ == Phase::checking && !check_concluded_) {
    check_concluded_ = true;
    r_.fail("check_timeout");
  }
  finish();
}

/// Moves the connection along: output out, the close once everything is
/// written, and a readiness wait otherwise.
void Conn::pump() {
  if (phase_ == Phase::done) return;
  if (endpoint_) {
    if (want_disconnect_ && !endpoint_->closed()) {
      want_disconnect_ = false;
      endpoint_->disconnect(transport::DisconnectReason::by_application, "load test done");
    }
    endpoint_->take_output(out_);
  }
  if (!out_.empty() && !writing_) start_write();
  const bool over = (endpoint_ && endpoint_->closed()) || phase_ == Phase::closing;
  if (over || peer_gone_) {
    if (writing_) return;  // the write's completion comes back here
    if (peer_gone_) return finish();
    if (!shut_) {
      // Shut down our side and wait for the server's EOF: closing with unread
      // input would send RST, which can destroy our DISCONNECT in flight.
      std::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      shut_ = true;
      deadline_ = Clock::now() + linger_time;
    }
  }
  wait_read();
}

void Conn::start_write() {
  writing_ = true;
  writing_bytes_.swap(out_);
  asio::async_write(socket_, asio::buffer(writing_bytes_),
                    [self = shared_from_this()](const std::error_code& ec, std::size_t) {
                      self->writing_ = false;
                      Bytes().swap(self->writing_bytes_);  // hold no buffer while idle
                      if (self->phase_ == Phase::done) return;
                      if (ec) self->lose_peer();
                      self->pump();
                    });
}

void Conn::wait_read() {
  if (waiting_ || peer_gone_) return;
  waiting_ = true;
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](const std::error_code& ec) {
                       self->waiting_ = false;
                       if (self->phase_ == Phase::done) return;
                       if (ec) {
                         self->lose_peer();
                         self->pump();
                         return;
                       }
                       self->read_ready();
                     });
}

void Conn::read_ready() {
  auto& buffer = r_.buffer();
  for (std::size_t total = 0; total < max_read_per_turn;) {
    std::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(buffer), ec);
    if (would_block(ec)) break;
    if (ec) {  // EOF or reset: the server is gone either way
      lose_peer();
      break;
    }
    total += n;
    const BytesView data(buffer.data(), n);
    if (shut_) continue;  // lingering: discarded
    if (endpoint_) {
      if (!endpoint_->closed()) endpoint_->receive(data, Clock::now());
    } else {
      flood_input(data);
    }
    if (phase_ == Phase::done) return;
  }
  pump();
}

/// Flood: waits for the server's version line (RFC 4253 §4.2: lines before it
/// are allowed), then, with --kexinit, sends our KEXINIT; later bytes are dropped.
void Conn::flood_input(BytesView data) {
  if (login_concluded_) return;
  const std::size_t before = version_.size();
  version_.append(reinterpret_cast<const char*>(data.data()),
                  std::min(data.size(), max_version_bytes - before));
  std::size_t line_start = 0;
  for (;;) {
    const std::size_t nl = version_.find('\n', line_start);
    if (nl == std::string::npos) break;
    if (version_.compare(line_start, 4, "SSH-") == 0) {
      if (flood_kex_) {
        // Feed the transport only up to the version line, so it answers with
        // its KEXINIT and nothing more.
        flood_kex_->receive(
            BytesView(reinterpret_cast<const std::uint8_t*>(version_.data()), nl + 1),
            Clock::now());
        flood_kex_->take_output(out_);
        flood_kex_.reset();
      }
      std::string().swap(version_);
      login_concluded_ = true;
      phase_ = Phase::held;
      deadline_.reset();
      r_.login_ok(started_);
      return;
    }
    line_start = nl + 1;
  }
  if (version_.size() >= max_version_bytes)
    login_failed("protocol_error", "no version line in 8 KiB");
}

void Conn::login_failed(std::string kind, std::string reason) {
  if (!login_concluded_) {
    login_concluded_ = true;
    r_.login_failed(kind, reason);
  }
  finish();
}

/// Names why a login that had not concluded ended, from what the endpoint saw.
void Conn::classify_and_fail() {
  if (r_.options().mode == Mode::flood) {
    login_concluded_ = true;
    r_.login_failed(peer_gone_ ? "dropped_before_version" : "closed", {});
    return;
  }
  std::string kind = peer_gone_ ? "closed_by_server" : "closed";
  std::string reason;
  if (endpoint_ && peer_gone_ && !endpoint_->transport().peer_version()) {
    // Closed before even its version line: what MaxStartups's drop looks like.
    kind = "dropped_before_version";
  } else if (endpoint_) {
    const auto result = endpoint_->auth_result();
    const auto& d = endpoint_->disconnected();
    if (result && std::holds_alternative<userauth::ClientAuthFailed>(*result)) {
      kind = "auth_failed";
    } else if (d) {
      switch (d->error) {
        case transport::TransportError::peer_disconnected:
          kind = "disconnected";
          reason = std::string(transport::to_string(d->reason)) + ": " + d->description;
          break;
        case transport::TransportError::host_key_rejected: kind = "host_key_rejected"; break;
        case transport::TransportError::no_common_kex:
        case transport::TransportError::no_common_host_key_alg:
        case transport::TransportError::no_common_cipher:
        case transport::TransportError::no_common_mac:
        case transport::TransportError::no_common_compression:
          kind = "no_common_algorithm";
          reason = std::string(transport::to_string(d->error));
          break;
        case transport::TransportError::connection_closed:
        case transport::TransportError::truncated_packet: kind = "closed_by_server"; break;
        default:
          kind = "protocol_error";
          reason = "protocol: " + std::string(transport::to_string(d->error));
      }
    }
  }
  login_concluded_ = true;
  r_.login_failed(kind, reason);
}

void Conn::finish() {
  if (phase_ == Phase::done) return;
  if (!login_concluded_) classify_and_fail();
  if (phase_ == Phase::checking && !check_concluded_) {
    check_concluded_ = true;
    r_.fail("check_closed");
  }
  if (phase_ == Phase::held) r_.fail("closed_while_held");
  phase_ = Phase::done;
  std::error_code ignored;
  socket_.close(ignored);
  endpoint_.reset();
  flood_kex_.reset();
  std::string().swap(version_);
  Bytes().swap(out_);
  r_.closed();
}

// ---- Runner ----------------------------------------------------------------

Tally Runner::run() {
  t0_ = Clock::now();
  hard_.expires_after(seconds(o_.timeout));
  hard_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    tally_.interrupted = true;
    std::fprintf(stderr, "parley-load: the run's --timeout (%g s) passed\n", o_.timeout);
    for (auto& c : live_) c->abort();
    finish_run();
  });
  signals_.async_wait([this](const std::error_code& ec, int) {
    if (!ec) on_signal();
  });
  sweep();
  asio::post(io_, [this] { advance(); });
  io_.run();
  if (stage_ != Stage::over) finish_run();
  // Let the cancelled handlers run so every connection is released here.
  io_.restart();
  io_.poll();
  if (tally_.elapsed.count() == 0) tally_.elapsed = Clock::now() - t0_;
  return std::move(tally_);
}

void Runner::advance() {
  advance_posted_ = false;
  if (stage_ == Stage::launching) {
    launch_more();
    if (logins_pending_ > 0 || more_to_launch(Clock::now())) return;
    if (o_.mode == Mode::rate) {
      if (open_ == 0) {
        tally_.elapsed = Clock::now() - t0_;
        finish_run();
      }
      return;
    }
    tally_.elapsed = Clock::now() - t0_;
    begin_hold();
  } else if (stage_ == Stage::ending && open_ == 0) {
    finish_run();
  }
}

void Runner::launch_more() {
  const Instant now = Clock::now();
  while (more_to_launch(now) && logins_pending_ < o_.concurrency) {
    if (o_.rate) {
      const auto due = t0_ + seconds(static_cast<double>(launched_) / *o_.rate);
      if (due > now) {
        if (!pacing_) {
          pacing_ = true;
          pace_.expires_at(due);
          pace_.async_wait([this](const std::error_code& ec) {
            pacing_ = false;
            if (!ec) advance();
          });
        }
        return;
      }
    }
    auto c = std::make_shared<Conn>(*this, launched_++);
    live_.push_back(c);
    ++tally_.started;
    ++logins_pending_;
    tally_.peak_open = std::max(tally_.peak_open, ++open_);
    c->start();
  }
}

void Runner::begin_hold() {
  stage_ = Stage::holding;
  std::size_t held = 0;
  for (auto& c : live_) held += c->phase() == Conn::Phase::held;
  if (held == 0) return end_hold();
  if (o_.hold_seconds) {
    std::fprintf(stderr, "parley-load: holding %zu connections for %g s\n", held, *o_.hold_seconds);
    hold_timer_.expires_after(seconds(*o_.hold_seconds));
    hold_timer_.async_wait([this](const std::error_code& ec) {
      if (!ec) end_hold();
    });
  } else {
    std::fprintf(stderr, "parley-load: holding %zu connections until SIGINT or the end of stdin\n",
                 held);
    read_stdin();
  }
}

void Runner::read_stdin() {
  std::error_code ec;
  const int fd = ::dup(0);
  if (fd < 0) return;
  stdin_.assign(fd, ec);  // a regular file or /dev/null cannot be waited on: SIGINT only
  if (ec) {
    ::close(fd);
    return;
  }
  struct Reader {
    Runner* r;
    void operator()(const std::error_code& e, std::size_t) const {
      if (e == asio::error::operation_aborted) return;
      if (e) return r->end_hold();  // EOF
      r->stdin_.async_read_some(asio::buffer(r->stdin_buffer_), *this);
    }
  };
  stdin_.async_read_some(asio::buffer(stdin_buffer_), Reader{this});
}

void Runner::end_hold() {
  if (stage_ != Stage::holding) return;
  stage_ = Stage::ending;
  hold_timer_.cancel();
  for (auto& c : live_) tally_.held += c->phase() == Conn::Phase::held;
  // Copy: a flood connection's end may change nothing in live_, but be safe.
  const auto conns = live_;
  for (auto& c : conns) {
    if (o_.mode == Mode::hold)
      c->begin_check();
    else
      c->end_flood();
  }
  schedule_advance();
}

void Runner::on_signal() {
  // Ending a hold that has no --hold-seconds is what SIGINT is for there.
  tally_.interrupted =
      tally_.interrupted || stage_ != Stage::holding || o_.hold_seconds.has_value();
  switch (stage_) {
    case Stage::launching:
      std::fprintf(stderr, "parley-load: interrupted: no more connections are started\n");
      stop_launching_ = true;
      schedule_advance();
      break;
    case Stage::holding: end_hold(); break;
    case Stage::ending:
    case Stage::over:
      for (auto& c : live_) c->abort();
      finish_run();
      return;
  }
  signals_.async_wait([this](const std::error_code& ec, int) {
    if (!ec) on_signal();
  });
}

void Runner::sweep() {
  std::erase_if(live_,
                [](const std::shared_ptr<Conn>& c) { return c->phase() == Conn::Phase::done; });
  const Instant now = Clock::now();
  for (std::size_t i = 0; i < live_.size(); ++i) live_[i]->tick(now);
  sweep_.expires_after(sweep_interval);
  sweep_.async_wait([this](const std::error_code& ec) {
    if (!ec) sweep();
  });
}

void Runner::finish_run() {
  if (stage_ == Stage::over) return;
  stage_ = Stage::over;
  if (tally_.elapsed.count() == 0) tally_.elapsed = Clock::now() - t0_;
  std::error_code ignored;
  sweep_.cancel();
  pace_.cancel();
  hard_.cancel();
  hold_timer_.cancel();
  signals_.cancel(ignored);
  stdin_.close(ignored);
  for (auto& c : live_) c->abort();
  live_.clear();
  io_.stop();
}

}  // namespace

std::size_t Tally::failed() const {
  std::size_t n = 0;
  for (const auto& [kind, count] : failures) n += count;
  return n;
}

Tally run_load(const Options& options) {
  Runner runner(options);
  return runner.run();
}

}  // namespace parley::load

// The Redis client's loop: connections, their one-call-at-a-time exchange, the
// timeouts that close a connection rather than let a late answer meet the next
// call, and reconnecting with a back-off.
#include "redis_client.hpp"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>

namespace parley::driver::redis_client {
namespace redis = state::redis;

namespace {

auto with_ec(std::error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// "Connection refused" -> "connection refused"; the stream's end said plainly.
std::string describe(const std::error_code& ec) {
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return "connection closed by the server";
  std::string text = ec.message();
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' && (text.size() < 2 || text[1] < 'A' || text[1] > 'Z'))
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return text;
}

// The commands a new connection sends before its first call, pipelined: AUTH
// (when a password is set) and SCRIPT LOAD of each script. Wiped by the caller.
std::string hello_bytes(const Config& config) {
  std::string out;
  if (!config.password.empty()) {
    std::vector<std::string> args;
    args.reserve(3);
    args.emplace_back("AUTH");
    if (!config.username.empty()) args.push_back(config.username);
    const auto pw = config.password.view();
    args.emplace_back(reinterpret_cast<const char*>(pw.data()), pw.size());
    out = redis::encode_command(args);
    crypto::secure_wipe(args.back().data(), args.back().size());
  }
  for (const redis::Script* script : redis::scripts()) {
    const std::array<std::string, 3> load{"SCRIPT", "LOAD", std::string(script->source)};
    const std::string cmd = redis::encode_command(load);
    if (out.capacity() < out.size() + cmd.size()) {
      // Grow by hand so that no unwiped copy of an AUTH command is left behind.
      std::string bigger;
      bigger.reserve(2 * (out.size() + cmd.size()));
      bigger = out;
      crypto::secure_wipe(out.data(), out.size());
      out = std::move(bigger);
    }
    out += cmd;
  }
  return out;
}

}  // namespace

// --- Request ---------------------------------------------------------------

void Request::complete(Result r) {
  {
    std::lock_guard lock(mutex_);
    if (done_ || abandoned_) return;
    result_ = std::move(r);
    done_ = true;
  }
  cv_.notify_all();
}

std::optional<Result> Request::wait() {
  std::unique_lock lock(mutex_);
  if (!cv_.wait_until(lock, deadline, [&] { return done_; })) {
    abandoned_ = true;
    return std::nullopt;
  }
  return std::move(result_);
}

bool Request::abandoned() {
  std::lock_guard lock(mutex_);
  return abandoned_ || done_;
}

// --- Link ------------------------------------------------------------------

Link::Link(asio::io_context& io, asio::ssl::context* tls_context) : timer(io) {
  if (tls_context != nullptr) tls.emplace(io, *tls_context);
  else plain.emplace(io);
}

asio::ip::tcp::socket& Link::lowest() { return tls ? tls->next_layer() : *plain; }

asio::awaitable<std::size_t> Link::write(std::string_view bytes, std::error_code& ec) {
  if (tls) co_return co_await asio::async_write(*tls, asio::buffer(bytes), with_ec(ec));
  co_return co_await asio::async_write(*plain, asio::buffer(bytes), with_ec(ec));
}

asio::awaitable<std::size_t> Link::read_some(std::span<char> buffer, std::error_code& ec) {
  if (tls) co_return co_await tls->async_read_some(asio::buffer(buffer.data(), buffer.size()), with_ec(ec));
  co_return co_await plain->async_read_some(asio::buffer(buffer.data(), buffer.size()), with_ec(ec));
}

asio::awaitable<Result> Link::read_reply() {
  for (;;) {
    auto next = reader.next();
    if (!next) co_return std::unexpected(next.error());
    if (*next) co_return std::move(**next);
    std::error_code ec;
    const std::size_t n = co_await read_some(input, ec);
    if (ec) co_return std::unexpected(describe(ec));
    if (auto fed = reader.feed(std::string_view(input.data(), n)); !fed) co_return std::unexpected(fed.error());
  }
}

// --- Connection ------------------------------------------------------------

void Connection::connect() {
  if (phase_ != Phase::down) return;
  phase_ = Phase::connecting;
  link_ = std::make_shared<Link>(client_.io(), client_.tls_context());
  asio::co_spawn(client_.io(), [self = shared_from_this(), link = link_]() { return self->open(link); },
                 asio::detached);
}

asio::awaitable<void> Connection::open(std::shared_ptr<Link> link) {
  const Config& config = client_.config();
  link->timer.expires_after(config.connect_timeout);
  link->timer.async_wait([link](std::error_code ec) {
    if (ec) return;
    link->timed_out = true;
    link->lowest().close(ec);
  });
  std::error_code ec;
  asio::ip::tcp::resolver resolver(client_.io());
  const auto endpoints = co_await resolver.async_resolve(config.host, config.port, with_ec(ec));
  if (!ec) co_await asio::async_connect(link->lowest(), endpoints, with_ec(ec));
  std::string step;
  if (!ec && link->tls) {
    step = "TLS handshake failed: ";
    // SNI, and the certificate must name the server (RFC 6125).
    SSL_set_tlsext_host_name(link->tls->native_handle(), config.server_name.c_str());
    link->tls->set_verify_callback(asio::ssl::host_name_verification(config.server_name));
    co_await link->tls->async_handshake(asio::ssl::stream_base::client, with_ec(ec));
  }
  std::optional<std::string> failed;
  if (ec) failed = step + describe(ec);
  else failed = co_await hello(link);
  if (link != link_) co_return;  // closed meanwhile
  if (failed && link->timed_out) failed = "timed out connecting after " + std::to_string(config.connect_timeout.count()) + " ms";
  link->timer.cancel();
  if (failed) {
    link_->lowest().close(ec);
    link_.reset();
    phase_ = Phase::down;
    client_.connect_failed(*failed);
    co_return;
  }
  phase_ = Phase::idle;
  asio::co_spawn(client_.io(), [self = shared_from_this(), link]() { return self->read_loop(link); },
                 asio::detached);
  client_.dispatch();
}

// AUTH and SCRIPT LOAD, pipelined; the reason if they failed.
asio::awaitable<std::optional<std::string>> Connection::hello(std::shared_ptr<Link> link) {
  const Config& config = client_.config();
  std::string bytes = hello_bytes(config);
  std::error_code ec;
  co_await link->write(bytes, ec);
  crypto::secure_wipe(bytes.data(), bytes.size());
  if (ec) co_return describe(ec);
  if (!config.password.empty()) {
    const Result auth = co_await link->read_reply();
    if (!auth) co_return auth.error();
    if (auth->kind == redis::Reply::Kind::error) co_return "AUTH failed: " + redis::printable(auth->text);
    if (auth->kind != redis::Reply::Kind::status) co_return std::string("AUTH failed: an unexpected reply");
  }
  for (const redis::Script* script : redis::scripts()) {
    const Result sha = co_await link->read_reply();
    if (!sha) co_return sha.error();
    if (sha->kind == redis::Reply::Kind::error) co_return redis::printable(sha->text);
    if (sha->kind != redis::Reply::Kind::string || sha->text.size() != 40)
      co_return std::string("SCRIPT LOAD: an unexpected reply");
    client_.learned_sha(script->name, sha->text);
  }
  co_return std::nullopt;
}

asio::awaitable<void> Connection::read_loop(std::shared_ptr<Link> link) {
  for (;;) {
    Result reply = co_await link->read_reply();
    if (link != link_) co_return;
    if (!reply) {
      close(reply.error());
      co_return;
    }
    on_reply(std::move(*reply));
  }
}

void Connection::start(std::shared_ptr<Request> request) {
  current_ = std::move(request);
  phase_ = Phase::busy;
  const std::string sha = client_.sha(current_->call.script);
  arm_timer(link_, current_->deadline, client_.timeout_text(client_.config().timeout));
  asio::co_spawn(client_.io(),
                 [self = shared_from_this(), link = link_, bytes = current_->call.encode(sha)]() mutable {
                   return self->send(link, std::move(bytes));
                 },
                 asio::detached);
}

void Connection::arm_timer(const std::shared_ptr<Link>& link, Clock::time_point deadline, std::string why) {
  link->timer.expires_at(deadline);
  link->timer.async_wait([self = shared_from_this(), link, why = std::move(why)](std::error_code ec) {
    if (!ec && link == self->link_) self->close(why);
  });
}

asio::awaitable<void> Connection::send(std::shared_ptr<Link> link, std::string bytes) {
  link->writing = true;
  std::error_code ec;
  co_await link->write(bytes, ec);
  link->writing = false;
  if (ec && link == link_) close(describe(ec));
}

void Connection::on_reply(redis::Reply reply) {
  if (phase_ != Phase::busy || !current_) {
    close("protocol error: a reply to no call");
    return;
  }
  if (redis::is_noscript(reply) && current_->call.script != nullptr && !current_->sent_eval) {
    // The server lost its scripts (a restart, SCRIPT FLUSH): EVAL caches it again.
    if (link_->writing) {
      close("protocol error: a reply before the call was sent");
      return;
    }
    current_->sent_eval = true;
    asio::co_spawn(client_.io(),
                   [self = shared_from_this(), link = link_, bytes = current_->call.encode()]() mutable {
                     return self->send(link, std::move(bytes));
                   },
                   asio::detached);
    return;
  }
  link_->timer.cancel();
  current_->complete(std::move(reply));
  current_.reset();
  phase_ = Phase::idle;
  client_.dispatch();
}

void Connection::close(const std::string& why) {
  if (link_) {
    std::error_code ec;
    link_->timer.cancel();
    link_->lowest().close(ec);
    link_.reset();
  }
  phase_ = Phase::down;
  if (current_) current_->complete(std::unexpected(why));
  current_.reset();
  client_.dispatch();
}

// --- Client ----------------------------------------------------------------

Client::Client(Config config, std::optional<asio::ssl::context> tls)
    : work_(asio::make_work_guard(io_)), tls_(std::move(tls)), config_(std::move(config)) {
  config_.pool_size = std::max<std::size_t>(config_.pool_size, 1);
  for (std::size_t i = 0; i < config_.pool_size; ++i) pool_.push_back(std::make_shared<Connection>(*this));
  // Connect the pool now, so the first calls find it ready.
  asio::post(io_, [this] {
    for (auto& c : pool_) c->connect();
  });
  thread_ = std::thread([this] { io_.run(); });
}

Client::~Client() {
  work_.reset();
  io_.stop();
  thread_.join();
  // The connections' coroutines, suspended, are destroyed with io_ (they hold
  // the connections and links they use).
  pool_.clear();
  waiting_.clear();
}

Result Client::call(redis::Call call) {
  auto request = std::make_shared<Request>();
  request->call = std::move(call);
  request->deadline = Clock::now() + config_.timeout;
  asio::post(io_, [this, request] { submit(request); });
  if (auto answer = request->wait()) return std::move(*answer);
  return std::unexpected(timeout_text(config_.timeout));
}

std::string Client::timeout_text(std::chrono::milliseconds t) const {
  return "timed out after " + std::to_string(t.count()) + " ms";
}

std::string Client::sha(const redis::Script* script) const {
  if (script == nullptr) return {};
  const auto it = shas_.find(script->name);
  return it == shas_.end() ? std::string() : it->second;
}

void Client::submit(std::shared_ptr<Request> request) {
  std::erase_if(waiting_, [](const auto& r) { return r->abandoned(); });
  if (waiting_.size() >= config_.max_waiting) {
    request->complete(std::unexpected("too many calls waiting (" + std::to_string(config_.max_waiting) + ")"));
    return;
  }
  waiting_.push_back(std::move(request));
  dispatch();
}

std::size_t Client::count(Connection::Phase phase) const {
  return static_cast<std::size_t>(
      std::count_if(pool_.begin(), pool_.end(), [&](const auto& c) { return c->phase() == phase; }));
}

void Client::dispatch() {
  while (!waiting_.empty()) {
    if (waiting_.front()->abandoned()) {
      waiting_.pop_front();
      continue;
    }
    auto idle = std::find_if(pool_.begin(), pool_.end(),
                             [](const auto& c) { return c->phase() == Connection::Phase::idle; });
    if (idle == pool_.end()) break;
    auto request = std::move(waiting_.front());
    waiting_.pop_front();
    (*idle)->start(std::move(request));
  }
  if (waiting_.empty()) return;
  const std::size_t connecting = count(Connection::Phase::connecting);
  const bool alive = connecting + count(Connection::Phase::idle) + count(Connection::Phase::busy) > 0;
  if (!alive && last_failure_ && Clock::now() - *last_failure_ < config_.backoff) {
    fail_waiting(last_error_);  // fail fast while Redis is known to be down
    return;
  }
  std::size_t wanted = waiting_.size() > connecting ? waiting_.size() - connecting : 0;
  for (auto& c : pool_) {
    if (wanted == 0) break;
    if (c->phase() != Connection::Phase::down) continue;
    c->connect();
    --wanted;
  }
}

void Client::connect_failed(std::string why) {
  last_error_ = std::move(why);
  last_failure_ = Clock::now();
  const bool alive = count(Connection::Phase::connecting) + count(Connection::Phase::idle) +
                         count(Connection::Phase::busy) > 0;
  if (!alive) fail_waiting(last_error_);
}

void Client::fail_waiting(const std::string& why) {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& r : waiting) r->complete(std::unexpected(why));
}

}  // namespace parley::driver::redis_client

#include "parley/driver/server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>
#include <vector>

#include "drive.hpp"
#include "parley/driver/cpu_count.hpp"
#include "parley/driver/penalty_sharing.hpp"
#include "proxy_guard.hpp"
#include "server_context.hpp"
#include "context.hpp"
#include "parley/crypto/random.hpp"

namespace parley::driver {
namespace {

using asio::ip::tcp;

/// How long stop() lets connections wind down before it stops the io_context.
constexpr auto stop_grace = std::chrono::seconds(5);
/// Pause after an accept error such as EMFILE, so the loop does not spin.
constexpr auto accept_backoff = std::chrono::milliseconds(100);

SourceAddress source_address(const asio::ip::address& a) {
  SourceAddress s;
  if (a.is_v6() && !a.to_v6().is_v4_mapped()) {
    s.v6 = true;
    const auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), s.bytes.begin());
    return s;
  }
  const auto b = a.is_v4() ? a.to_v4().to_bytes()
                           : asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_bytes();
  std::copy(b.begin(), b.end(), s.bytes.begin());
  return s;
}

/// How a connection's pre-authentication phase ended, for PerSourcePenalties.
PreauthEnd preauth_end(transport::PreauthState state, bool crashed) {
  if (crashed) return PreauthEnd::crash;
  switch (state) {
    case transport::PreauthState::authenticated:
      return PreauthEnd::authenticated;
    case transport::PreauthState::grace_exceeded:
      return PreauthEnd::grace_exceeded;
    case transport::PreauthState::attempted:
      return PreauthEnd::authfail;
    case transport::PreauthState::pending:
      break;
  }
  return PreauthEnd::noauth;
}

/// "192.0.2.1:22", "[2001:db8::1]:22".
std::string host_port(const PeerInfo& p) {
  const bool v6 = p.address.find(':') != std::string::npos;
  return (v6 ? "[" + p.address + "]" : p.address) + ":" + std::to_string(p.port);
}

/// The random early drop's dice.
std::uint32_t uniform(std::uint32_t bound) {
  static crypto::SystemRandom rng;
  return rng.uniform(bound);
}

}  // namespace

/// One accepted connection. Owned by its coroutine (shared_ptr); the server's
/// registry holds a raw pointer only so stop() can reach it.
struct Connection : std::enable_shared_from_this<Connection> {
  Connection(tcp::socket s, Server::Impl& server_impl)
      : socket(std::move(s)), timer(socket.get_executor()), server(server_impl) {}
  ~Connection();

  /// Closes the socket so the coroutine ends; runs on the connection's thread.
  /// The timer is set to the distant past rather than merely cancelled: the
  /// coroutine may be between initiating its `||` waits (awaitable operators
  /// start them in posted sub-coroutines), and a wait started after a cancel()
  /// would sleep until its deadline; one started now completes at once, and
  /// drive() then sees the closed socket.
  void abort() {
    std::error_code ignored;
    socket.close(ignored);
    timer.expires_at(asio::steady_timer::time_point::min());
  }

  tcp::socket socket;
  asio::steady_timer timer;
  Server::Impl& server;
  Connection* prev = nullptr;  // registry links, guarded by Impl::mutex
  Connection* next = nullptr;
};

struct Server::Impl {
  Impl(ServerOptions o, ConnectionFactory f) : options(std::move(o)), factory(std::move(f)) {
    if (options.source_limits) limiter.emplace(*options.source_limits, uniform);
    if (limiter && options.shared_penalties) share_penalties();
    if (limiter && (sharing || options.on_penalty_accrued))
      limiter->set_accrual_listener([this](const PenaltyAccrual& a) {
        if (sharing) sharing->accrued(a);
        if (options.on_penalty_accrued) options.on_penalty_accrued(a);
      });
  }

  PenaltyImport import(std::span<const SharedPenalty> shared, std::int64_t unix_now) {
    if (!limiter) return {};
    auto imported = limiter->import(shared, unix_now, transport::Clock::now());
    if (options.on_penalty)
      for (const auto& n : imported.notices) options.on_penalty(n);
    return imported;
  }

  /// options.shared_penalties: accruals go to the backend and its penalties
  /// come back, on PenaltySharing's thread.
  void share_penalties() {
    sharing = std::make_unique<PenaltySharing>(
        options.shared_penalties,
        [this](std::vector<SharedPenalty> shared, std::int64_t unix_now) { import(shared, unix_now); },
        [this](bool error, const std::string& line) {
          if (options.shared_penalties_log) options.shared_penalties_log(error, line);
        });
  }

  /// Binds and listens, or takes options.listen_fd.
  std::expected<void, std::string> listen();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> run_connection(std::shared_ptr<Connection> conn, PeerInfo peer, PeerInfo local,
                                       std::optional<SourceLimiter::Ticket> ticket, bool proxied);
  /// Admission control (source_limits) for a connection from `source`; false: refused.
  bool admit(const SourceAddress& source, std::optional<SourceLimiter::Ticket>& ticket);
  /// A balancer's connection: reads its PROXY header, then puts the client in
  /// `peer` and `local`, the bytes after the header in `first_input`, and
  /// admits the client. False: the connection is to be closed (logged).
  asio::awaitable<bool> take_proxy_header(Connection& conn, PeerInfo& peer, PeerInfo& local,
                                          Bytes& first_input, std::optional<SourceLimiter::Ticket>& ticket);
  /// An endpoint for `context`'s connection, or nullptr.
  std::unique_ptr<transport::Endpoint> make_endpoint(ConnectionContext& context, bool proxied);
  void proxy_log(bool refusal, const std::string& line) const {
    if (!options.proxy_log) return;
    try {
      options.proxy_log(refusal, line);
    } catch (...) {  // a logging failure must not take the server down
    }
  }
  /// Adds `c` to the registry and counts it; false once stop() has begun.
  bool enroll(Connection* c);
  void remove(Connection* c);

  ServerOptions options;
  ConnectionFactory factory;
  std::uint16_t port = 0;
  std::optional<SourceLimiter> limiter;  // options.source_limits
  std::unique_ptr<PenaltySharing> sharing;  // options.shared_penalties; uses limiter, so after it
  std::atomic<std::size_t> refused{0};

  // Declared before the io_context: connection frames destroyed with the
  // io_context still unregister themselves here.
  mutable std::mutex mutex;
  std::condition_variable changed;  // a connection ended, or stop() finished
  Connection* connections = nullptr;
  std::atomic<std::size_t> active{0};
  bool stopping = false;
  bool stopped = false;
  bool started = false;
  std::mutex stop_mutex;  // serialises stop()

  // One io_context per thread, each run by its own thread: a connection lives on
  // one of them (round robin), so its handlers always run on the same thread,
  // without the hand-offs between threads (and cold caches) that a shared
  // context with strands costs a busy connection. io (the first) also accepts.
  asio::io_context io;
  std::vector<std::unique_ptr<asio::io_context>> more_contexts;
  std::size_t next_context = 0;  // accept loop only
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  asio::io_context& context_for_next_connection() {
    const std::size_t n = more_contexts.size() + 1;
    const std::size_t i = next_context++ % n;
    return i == 0 ? io : *more_contexts[i - 1];
  }
  asio::strand<asio::io_context::executor_type> accept_strand{asio::make_strand(io)};
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
};

Connection::~Connection() {
  server.remove(this);
}

bool Server::Impl::enroll(Connection* c) {
  std::lock_guard lock(mutex);
  if (stopping) return false;
  c->next = connections;
  if (connections != nullptr) connections->prev = c;
  connections = c;
  active.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Server::Impl::remove(Connection* c) {
  std::lock_guard lock(mutex);
  if (c->prev == nullptr && c->next == nullptr && connections != c) return;  // never enrolled
  if (c->prev != nullptr)
    c->prev->next = c->next;
  else
    connections = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  active.fetch_sub(1, std::memory_order_relaxed);
  // Only stop() waits for the last connection: waking Server::wait()'s thread
  // at every disconnect would cost each connection a needless context switch.
  if (stopping && connections == nullptr) changed.notify_all();
}

asio::awaitable<void> Server::Impl::accept_loop() {
  asio::steady_timer backoff(accept_strand);
  for (;;) {
    // Each connection lives on one single-threaded io_context: its handlers never
    // run concurrently, while different connections run in parallel.
    tcp::socket socket(context_for_next_connection());
    std::error_code ec;
    co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {  // EMFILE, ENOBUFS, ECONNABORTED, ...: keep serving the others
      backoff.expires_after(accept_backoff);
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (active.load(std::memory_order_relaxed) >= options.max_connections) {
      socket.close(ec);  // refused: over the limit
      continue;
    }
    auto remote = socket.remote_endpoint(ec);
    if (ec) {  // already reset by the peer
      socket.close(ec);
      continue;
    }
    PeerInfo peer{remote.address().to_string(), remote.port()};
    auto here = socket.local_endpoint(ec);
    if (ec) {
      socket.close(ec);
      continue;
    }
    PeerInfo local{here.address().to_string(), here.port()};
    const SourceAddress source = source_address(remote.address());
    // A balancer's connection is admitted once its header names the client.
    const bool proxied = in_blocks(options.proxy_from, source);
    std::optional<SourceLimiter::Ticket> ticket;
    if (!proxied && !admit(source, ticket)) {
      socket.close(ec);
      continue;
    }
    auto conn = std::make_shared<Connection>(std::move(socket), *this);
    if (!enroll(conn.get())) {  // stop() has begun
      if (ticket) limiter->ended(*ticket, PreauthEnd::authenticated, transport::Clock::now());
      co_return;
    }
    auto executor = conn->socket.get_executor();
    asio::co_spawn(executor,
                   run_connection(std::move(conn), std::move(peer), std::move(local), ticket, proxied),
                   asio::detached);
  }
}

bool Server::Impl::admit(const SourceAddress& source, std::optional<SourceLimiter::Ticket>& ticket) {
  if (!limiter) return true;
  // As sshd: a penalised source, or one past MaxStartups or
  // PerSourceMaxStartups, is closed before it is sent a byte.
  auto admitted = limiter->admit(source, transport::Clock::now());
  if (!admitted) {
    refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  ticket = *admitted;
  return true;
}

asio::awaitable<bool> Server::Impl::take_proxy_header(Connection& conn, PeerInfo& peer, PeerInfo& local,
                                                      Bytes& first_input,
                                                      std::optional<SourceLimiter::Ticket>& ticket) {
  const std::string balancer = host_port(peer);
  const auto deadline = transport::Clock::now() + options.proxy_header_timeout;
  ProxyHeaderReader reader;
  // On the heap, not in the coroutine's frame: GCC 12 mistakes a frame this large for a
  // mismatched new/delete pair (-Wmismatched-new-delete) at -O2. Once per balancer connection.
  std::vector<std::uint8_t> buffer(1024);
  for (;;) {
    std::size_t got = 0;
    const auto read = co_await detail::read_before(conn.socket, conn.timer, deadline, buffer, got);
    if (read == detail::ReadBefore::deadline) {
      proxy_log(true, balancer + ": no PROXY header from this balancer (proxy_from) within " +
                          std::to_string(options.proxy_header_timeout.count()) + " ms: closed");
      co_return false;
    }
    if (read == detail::ReadBefore::peer_gone || got == 0) {
      proxy_log(true, balancer + ": closed by this balancer (proxy_from) before a complete PROXY header");
      co_return false;
    }
    const ProxyResult result = reader.feed(BytesView(buffer.data(), got));
    if (const auto* error = std::get_if<ProxyError>(&result)) {
      proxy_log(true, balancer + ": no valid PROXY header from this balancer (proxy_from): " +
                          std::string(to_string(*error)) + ": closed");
      co_return false;
    }
    const auto* header = std::get_if<ProxyHeader>(&result);
    if (header == nullptr) continue;  // need more
    first_input.assign(buffer.begin() + static_cast<std::ptrdiff_t>(header->consumed),
                       buffer.begin() + static_cast<std::ptrdiff_t>(got));
    if (header->source) peer = PeerInfo{header->source->address, header->source->port};
    if (header->destination) local = PeerInfo{header->destination->address, header->destination->port};
    proxy_log(false, host_port(peer) + ": through balancer " + balancer + " (PROXY v" +
                         std::to_string(header->version) + (header->source ? "" : ", the balancer's own") + ")");
    break;
  }
  const auto client = SourceAddress::parse(peer.address);
  co_return client && admit(*client, ticket);
}

std::unique_ptr<transport::Endpoint> Server::Impl::make_endpoint(ConnectionContext& context, bool proxied) {
  std::unique_ptr<transport::Endpoint> endpoint = factory(context, transport::Clock::now());
  if (!endpoint || proxied || options.proxy_from.empty()) return endpoint;
  // Only a listed balancer may say who the client is.
  return detail::refuse_proxy_headers(std::move(endpoint), [this, address = context.peer().address] {
    proxy_log(true, "PROXY header from " + address + ", which is not a listed balancer (proxy_from): refused");
  });
}

asio::awaitable<void> Server::Impl::run_connection(std::shared_ptr<Connection> conn, PeerInfo peer,
                                                   PeerInfo local, std::optional<SourceLimiter::Ticket> ticket,
                                                   bool proxied) {
  // Outlives the endpoint, whose listener writes it.
  auto state = transport::PreauthState::pending;
  bool crashed = false;
  // Nothing a single connection does may take the server down.
  try {
    std::error_code ec;
    conn->socket.set_option(tcp::no_delay(true), ec);
    Bytes first_input;  // what came after a PROXY header
    if (proxied && !co_await take_proxy_header(*conn, peer, local, first_input, ticket)) {
      conn->abort();
      co_return;
    }
    // The context outlives the endpoint (declared first): its handlers use the executor.
    ConnectionContext context(std::make_unique<ConnectionContext::Impl>(
        ConnectionContext::Impl{conn->socket.get_executor(), std::move(peer), std::move(local)}));
    std::unique_ptr<transport::Endpoint> endpoint = make_endpoint(context, proxied);
    if (!endpoint) state = transport::PreauthState::authenticated;  // our refusal: no penalty
    if (endpoint && ticket) {
      const bool reports =
          endpoint->set_preauth_listener([this, &state, t = *ticket](transport::PreauthState s) {
            state = s;
            // An authenticated connection no longer counts toward MaxStartups.
            if (s == transport::PreauthState::authenticated) limiter->authenticated(t);
          });
      if (!reports) {
        state = transport::PreauthState::authenticated;
        limiter->authenticated(*ticket);
      }
    }
    if (endpoint) co_await detail::drive(conn->socket, conn->timer, *endpoint, first_input);
  } catch (...) {
    crashed = true;
  }
  conn->abort();
  if (ticket) {
    auto notice = limiter->ended(*ticket, preauth_end(state, crashed), transport::Clock::now());
    if (notice && options.on_penalty) {
      try {
        options.on_penalty(*notice);
      } catch (...) {  // a logging failure must not take the server down
      }
    }
  }
}

Server::Server(ServerOptions options, EndpointFactory factory)
    : Server(std::move(options),
             ConnectionFactory([f = std::move(factory)](ConnectionContext& context,
                                                        transport::Instant now) {
               return f(context.peer(), now);
             })) {}

Server::Server(ServerOptions options, ConnectionFactory factory)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(factory))) {}

Server::~Server() {
  stop();
}

std::expected<void, std::string> Server::Impl::listen() {
  std::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) return std::unexpected("invalid listen address '" + options.address + "'");
  const tcp::endpoint endpoint(address, options.port);
  const std::string where = options.address + ":" + std::to_string(options.port);
  if (options.listen_fd >= 0) {
    acceptor.assign(endpoint.protocol(), options.listen_fd, ec);
  } else {
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    std::error_code ignored;
    acceptor.close(ignored);
    return std::unexpected("cannot listen on " + where + ": " + ec.message());
  }
  port = acceptor.local_endpoint(ec).port();
  return {};
}

std::expected<void, std::string> Server::start() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (s.started || s.stopping) return std::unexpected(std::string("server already started"));
    s.started = true;
  }
  if (auto listening = s.listen(); !listening) return listening;

  const unsigned n = s.options.threads != 0 ? s.options.threads : default_io_threads();
  for (unsigned i = 1; i < n; ++i) s.more_contexts.push_back(std::make_unique<asio::io_context>(1));
  s.work.push_back(asio::make_work_guard(s.io));
  for (auto& c : s.more_contexts) s.work.push_back(asio::make_work_guard(*c));
  asio::co_spawn(s.accept_strand, s.accept_loop(), asio::detached);
  for (unsigned i = 0; i < n; ++i) {
    asio::io_context& context = i == 0 ? s.io : *s.more_contexts[i - 1];
    s.threads.emplace_back([&context] {
      for (;;) {
        try {
          context.run();
          return;
        } catch (...) {  // connection coroutines catch their own; keep the thread alive regardless
        }
      }
    });
  }
  return {};
}

asio::io_context& first_context(Server& server) { return server.impl().io; }

std::uint16_t Server::port() const {
  return impl_->port;
}

std::size_t Server::active_connections() const {
  return impl_->active.load(std::memory_order_relaxed);
}

PenaltyImport Server::import_penalties(std::span<const SharedPenalty> shared, std::int64_t unix_now) {
  return impl_->import(shared, unix_now);
}

std::size_t Server::refused_connections() const {
  return impl_->refused.load(std::memory_order_relaxed);
}

void Server::stop() {
  Impl& s = *impl_;
  std::lock_guard serial(s.stop_mutex);
  // Reach every connection on its own thread; the coroutines then end. The
  // references are dropped outside the lock: the last one may destroy a
  // connection, which unregisters itself under that lock.
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopped) return;
    s.stopping = true;
    for (Connection* c = s.connections; c != nullptr; c = c->next)
      if (auto conn = c->weak_from_this().lock()) open.push_back(std::move(conn));
  }
  for (auto& conn : open) asio::post(conn->socket.get_executor(), [conn] { conn->abort(); });
  open.clear();
  asio::post(s.accept_strand, [&s] {
    std::error_code ignored;
    s.acceptor.close(ignored);
  });
  if (!s.threads.empty()) {
    std::unique_lock lock(s.mutex);
    s.changed.wait_for(lock, stop_grace, [&] { return s.connections == nullptr; });
  }
  s.work.clear();
  s.io.stop();
  for (auto& c : s.more_contexts) c->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  {
    std::lock_guard lock(s.mutex);
    s.stopped = true;
  }
  s.changed.notify_all();
}

void Server::wait() {
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  s.changed.wait(lock, [&] { return s.stopped; });
}

}  // namespace parley::driver

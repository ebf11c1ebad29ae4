// A TCP server that runs one sans-I/O Endpoint per accepted connection.
//
// Each thread runs its own io_context; each connection is a coroutine on one of
// them (spread round robin), so calls into one Endpoint never overlap. An idle
// connection holds no read buffer: it waits for readability and then reads into
// a per-thread buffer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parley/driver/proxy_protocol.hpp"
#include "parley/driver/services.hpp"
#include "parley/driver/source_limiter.hpp"
#include "parley/state/shared_state.hpp"
#include "parley/transport/endpoint.hpp"

namespace parley::driver {

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 2222;  // 0 = an ephemeral port; see Server::port()
  unsigned threads = 0;       // 0 = default_io_threads() (cpu_count.hpp)
  /// A socket already bound and listening (parleyd's network process gets it
  /// before it gives up root); the server owns it. -1: bind address:port.
  int listen_fd = -1;
  /// Connections beyond this many are closed as soon as they are accepted.
  std::size_t max_connections = 100000;
  /// Admission control for connections not yet authenticated, as sshd's
  /// MaxStartups, PerSourceMaxStartups, PerSourceNetBlockSize and
  /// PerSourcePenalties: a refused connection is closed at accept, before any
  /// byte is sent. Endpoints report their phase through
  /// Endpoint::set_preauth_listener(); those that do not count as authenticated.
  /// nullopt: no admission control (parleyd always sets it).
  std::optional<SourceLimits> source_limits;
  /// Called (from any server thread) when a source's penalty becomes active;
  /// the limiter already rate-limits these.
  std::function<void(const PenaltyNotice&)> on_penalty;
  /// Several instances behind one balancer (docs/scale-out.md): with
  /// source_limits, every penalty accrual is added to this backend's and the
  /// backend's active penalties are imported about once a second
  /// (SourceLimiter::import; those becoming active go to on_penalty), both on
  /// a thread of their own (PenaltySharing), never an I/O thread. Instances
  /// sharing it must agree on the netblock sizes. nullptr: not shared.
  std::shared_ptr<state::SharedState> shared_penalties;
  /// Called (from that thread) when the backend fails (at most once per 30 s;
  /// serving goes on with local penalties) and when it answers again.
  std::function<void(bool error, std::string_view line)> shared_penalties_log;
  /// Called (from any server thread; it must not block) with every penalty
  /// accrual, for a process that reaches the backend when this one may not (a
  /// separated parleyd's network process relays them to its monitor, and gives
  /// the monitor's answer to import_penalties()).
  std::function<void(const PenaltyAccrual&)> on_penalty_accrued;
  /// HAProxy's PROXY protocol (proxy_protocol.hpp), for a server behind TCP
  /// load balancers; on when proxy_from is not empty. A connection from one
  /// of these blocks must open with a PROXY header (v1 or v2, told apart by its
  /// first bytes) within proxy_header_timeout, before any byte is sent to it;
  /// the header's source and destination then stand for the connection's
  /// peer and local addresses everywhere (the factory's ConnectionContext,
  /// source_limits, whose check waits for the header). Without a valid header
  /// it is closed. A connection from elsewhere that opens with a PROXY header
  /// is refused; one that speaks SSH is served as always.
  std::vector<AddressBlock> proxy_from;
  std::chrono::milliseconds proxy_header_timeout{10000};
  /// Called (from any server thread) with a line about a PROXY header:
  /// `refused` for a connection closed for one, or for the lack of one; else
  /// which balancer a client came through.
  std::function<void(bool refused, std::string_view line)> proxy_log;
};


/// Makes the Endpoint for a new connection. Called on the connection's thread;
/// it may run concurrently for different connections, so it must be thread-safe.
/// Returning nullptr (or throwing) closes the connection.
using EndpointFactory =
    std::function<std::unique_ptr<transport::Endpoint>(const PeerInfo&, transport::Instant now)>;
/// The same, with the connection's context: for endpoints that serve channels
/// (make_channel_services()) and need its executor and addresses.
using ConnectionFactory = std::function<std::unique_ptr<transport::Endpoint>(
    ConnectionContext& context, transport::Instant now)>;

class Server {
 public:
  Server(ServerOptions options, EndpointFactory factory);
  Server(ServerOptions options, ConnectionFactory factory);
  /// stop() and join.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and listens (SO_REUSEADDR), then starts the worker threads. Call once.
  /// The error text names the address and the reason.
  std::expected<void, std::string> start();
  /// The bound port (useful when options.port was 0). Valid after start() succeeded.
  std::uint16_t port() const;
  /// Closes the listener and every connection and joins the worker threads.
  /// Idempotent and thread-safe; must not be called from inside an Endpoint or
  /// the factory (it joins the threads those run on).
  void stop();
  /// Blocks until stop() has completed (for example, called from a signal-waiting thread).
  void wait();
  /// Connections currently open.
  std::size_t active_connections() const;
  /// Connections refused by source_limits since start().
  std::size_t refused_connections() const;
  /// Penalties other instances accrued (SourceLimiter::import) at Unix time
  /// `unix_now`; those that become active go to on_penalty. Thread-safe (it
  /// blocks on nothing but the limiter's lock); nothing without source_limits.
  PenaltyImport import_penalties(std::span<const SharedPenalty> shared, std::int64_t unix_now);

  struct Impl;
  /// For the driver's own parts (server_context.hpp).
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::driver

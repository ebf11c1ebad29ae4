// The privilege-separation monitor's decision core, sans-I/O: it takes the
// frames the network process sends and the current time, and gives back the
// frames to answer with and the events to log. It holds the host keys (through
// its Backend), runs every connection's authentication itself and remembers,
// per connection, the session id it signed, the user it authenticated and
// whether that user's session was granted. A compromised network process can
// therefore ask only what an unauthenticated client could: it cannot get a
// signature over anything but an exchange hash the monitor computed, a session
// for a user the monitor did not authenticate, or a secret. Starting a
// session's program and opening a forwarding socket are decided here too, and
// come out as Actions (take_actions()) for the OS-facing Executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/privsep/protocol.hpp"
#include "parley/session/server_connection.hpp"
#include "parley/transport/transport.hpp"
#include "parley/userauth/server_auth.hpp"
#include "parley/wire/fifo.hpp"

namespace parley::privsep {

using transport::Instant;

/// What the monitor is given by its owner (parleyd): its secrets and policy.
class Backend {
 public:
  virtual ~Backend() = default;
  /// The host private keys, loaded once.
  virtual const std::vector<crypto::PrivateKey>& host_keys() const = 0;
  /// The server's identification line without CR LF ("SSH-2.0-parley_0.1"):
  /// a KexSign whose V_S differs is refused.
  virtual std::string_view server_version() const = 0;
  /// The authentication configuration for a new connection from `address`:`port`
  /// (its providers run in the monitor).
  virtual std::shared_ptr<const userauth::ServerAuthConfig> auth_config(std::string_view address,
                                                                        std::uint16_t port) = 0;
  /// What an authenticated user may forward: the policy parleyd's connections
  /// apply (permit_open, permit_listen, gateway_ports, the privileged-port
  /// rule), checked again here. The default allows no forwarding.
  virtual const session::ChannelPolicy& channel_policy() const;
};

// ---- actions: what the monitor decided the operating system must do, for
// an OS-facing executor (privsep/executor.hpp) to perform.

/// Start a session's program as `user` (the user the monitor authenticated).
struct SpawnAction {
  std::uint64_t conn = 0, req = 0, handle = 0;
  std::string user;
  SessionSpawn request;
  std::string peer_address;  // from ConnectionOpened
  std::uint16_t peer_port = 0;
};
/// Send `signal` to the program of `handle` (one this connection was given).
struct SignalAction {
  std::uint64_t conn = 0, handle = 0;
  int signal = 0;
};
/// Connect to a destination the policy permits.
struct ConnectAction {
  std::uint64_t conn = 0, req = 0;
  std::string host;
  std::uint16_t port = 0;
};
/// Listen where the policy permits (the address already loopback without gateway_ports).
struct ListenAction {
  std::uint64_t conn = 0, req = 0;
  std::string address;
  std::uint16_t port = 0;
};
/// The connection ended: its programs get SIGHUP, as at a terminal hang-up.
struct HangUpAction {
  std::uint64_t conn = 0;
};
using Action = std::variant<SpawnAction, SignalAction, ConnectAction, ListenAction, HangUpAction>;

struct MonitorLimits {
  std::size_t max_connections = 4096;
  /// Authentication requests of one connection not yet answered (the others
  /// are answered at once); one more is refused, so a network process cannot
  /// make the monitor queue without bound.
  std::size_t max_outstanding = 16;
  /// Session programs of one connection running at once (the channel
  /// policy's max_sessions is the network process's own bound).
  std::size_t max_sessions = 64;
};

/// One line of the monitor's log. Never a password, an answer, K or a key.
struct LogEvent {
  std::uint64_t conn = 0;
  std::uint64_t req = 0;
  /// Set when a request was refused (the Refused frame says the same).
  std::optional<RefusalReason> refusal;
  /// Set when the frame did not decode.
  std::optional<ProtocolError> protocol_error;
  std::string text;
  /// Set for an audit line (then `text` is userauth::audit_line's): its fields,
  /// for a log that keeps them apart (the journal), and the peer it is about.
  std::optional<userauth::AuditRecord> audit;
  std::string peer;
};

class Monitor {
 public:
  /// `backend` and `rng` must outlive the monitor. `rng` makes the server's
  /// ephemeral key-exchange values.
  Monitor(Backend& backend, crypto::Random& rng, MonitorLimits limits = {});
  /// The same with a backend the monitor shares (replace_backend() may swap it).
  Monitor(std::shared_ptr<Backend> backend, crypto::Random& rng, MonitorLimits limits = {});
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  /// One whole frame from the network process. The frame may hold a password
  /// or answers: the caller wipes its buffer afterwards.
  void handle(BytesView frame, Instant now);
  /// A decoded request (handle() decodes, then calls this).
  void handle(Request request, Instant now);
  /// Collects what asynchronous providers answered, releases delayed
  /// authentication replies and ends connections past their login grace time;
  /// call at next_deadline() and when woken. Only the connections woken or due
  /// are visited, so a wake costs the same with 10 connections or 10 000.
  void on_time(Instant now);
  std::optional<Instant> next_deadline() const;
  /// Called (from any thread) when an asynchronous provider has answered: the
  /// owner then calls on_time(). Wakes that come before that on_time() are one.
  void set_wake(std::function<void()> wake);
  /// Called, on handle()'s thread, with each PenaltyAccrued the network process
  /// sends (decoded, so bounded, but only as text: the listener parses the
  /// netblock again before it names anything with it). It must not block (the
  /// shared-state call goes to another thread). Without one they are dropped.
  void set_penalty_listener(std::function<void(const PenaltyAccrued&)> listener);

  /// Frames to send to the network process, in order. A KexSigned frame holds
  /// K: the caller wipes each frame once sent.
  std::vector<Bytes> take_frames();
  /// What happened, for the log.
  std::vector<LogEvent> take_log();
  /// What the executor is to do, in order.
  std::vector<Action> take_actions();
  /// The executor saw the program of `handle` exit (or fail to start): the
  /// connection may start another, and signals to it are refused.
  void session_ended(std::uint64_t conn, std::uint64_t handle);

  /// A reload: connections opened from now on use `backend` (its host keys,
  /// authentication and policy); established ones keep the one they opened with.
  void replace_backend(std::shared_ptr<Backend> backend);

  std::size_t connections() const { return conns_.size(); }
  /// Authentication requests of `conn` not yet answered.
  std::size_t outstanding(std::uint64_t conn) const;

 private:
  struct Connection;

  void opened(const ConnectionOpened& m, Instant now);
  void closed(const ConnectionClosed& m);
  void kex_sign(const KexSign& m);
  void auth_request(const AuthRequest& m, Instant now);
  void info_response(const InfoResponse& m, Instant now);
  void session_start(const SessionStart& m);
  void session_spawn(const SessionSpawn& m);
  void session_signal(const SessionSignal& m);
  void forward_connect(const ForwardConnect& m);
  void forward_listen(const ForwardListen& m);
  /// Whether the channel policy's env_allow admits a variable named `name`.
  bool env_allowed(const Connection& c, std::string_view name) const;
  /// The authenticated connection `conn`, or nullptr once refused (not_authenticated).
  Connection* authenticated(std::uint64_t conn, std::uint64_t req);
  /// The connection an authentication request may go to, having taken its
  /// request id as outstanding; nullptr once refused.
  Connection* admit_auth(std::uint64_t conn, std::uint64_t req);
  /// Hands `payload` (an SSH userauth message the monitor built) to the
  /// connection's ServerAuth, then wipes it.
  void feed(std::uint64_t conn_id, Connection& c, Bytes payload, Instant now);
  /// Turns what the connection's ServerAuth produced into AuthReply frames and log events.
  void drain(std::uint64_t conn_id, Connection& c);
  /// Files the connection's ServerAuth deadline (after anything that may move it).
  void reindex(std::uint64_t conn_id, Connection& c);
  /// What a connection's ServerAuth calls when an answer is left for it (any thread).
  std::function<void()> wake_for(std::uint64_t conn_id);
  void refuse(std::uint64_t conn, std::uint64_t req, RefusalReason reason);
  void log(std::uint64_t conn, std::uint64_t req, std::string text);
  template <class Message>
  void send(const Message& m);

  std::shared_ptr<Backend> backend_;  // for connections opened from now on
  crypto::Random& rng_;
  MonitorLimits limits_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> conns_;
  /// Every connection's ServerAuth deadline, earliest first (next_deadline()).
  std::set<std::pair<Instant, std::uint64_t>> deadlines_;
  /// The session id of every live connection, so no transcript registers twice.
  std::set<Bytes> session_ids_;
  std::vector<Bytes> frames_;
  std::vector<LogEvent> log_;
  std::vector<Action> actions_;
  std::uint64_t next_handle_ = 1;
  // Written from providers' threads: the owner's wake, and which connections
  // have an answer to collect since the last on_time().
  std::mutex woken_mutex_;
  std::function<void()> wake_;
  std::function<void(const PenaltyAccrued&)> penalty_listener_;
  std::vector<std::uint64_t> woken_;
};

}  // namespace parley::privsep

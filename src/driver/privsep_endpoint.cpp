// A privilege-separated connection: the delegated ServerConnection, its
// NetworkSide, and the monitor-backed session starter and forward opener.
// Replies arrive on the thread that reads the MonitorLink; they wait in an inbox and the
// connection's own thread takes them at its next on_time() (the wake asks for
// one), so every call into the cores stays on that thread.
#include "parley/driver/privsep_endpoint.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "parley/driver/channel_seams.hpp"
#include "parley/login/session_start.hpp"
#include "parley/privsep/network_side.hpp"
#include "parley/privsep/protocol.hpp"

namespace parley::driver {
namespace {

using privsep::Reply;

std::uint64_t request_of(const Reply& reply) {
  return std::visit(
      [](const auto& m) -> std::uint64_t {
        if constexpr (requires { m.req; }) return m.req;
        else return 0;
      },
      reply);
}

/// Replies for one connection, handed from the link's thread to the connection's;
/// or, for the one request the connection waits for in place, straight to it.
struct Inbox {
  using Answer = std::pair<Reply, std::vector<UniqueFd>>;
  std::mutex mutex;
  std::vector<Answer> replies;  // (a deque would allocate even while empty, per connection)
  std::function<void()> wake;
  std::map<std::uint64_t, std::promise<Answer>> waiting;  // by request id

  void put(Reply reply, std::vector<UniqueFd> fds) {
    std::function<void()> w;
    {
      std::lock_guard lock(mutex);
      if (auto it = waiting.find(request_of(reply)); it != waiting.end()) {
        it->second.set_value(Answer(std::move(reply), std::move(fds)));
        waiting.erase(it);
        return;
      }
      replies.emplace_back(std::move(reply), std::move(fds));
      w = wake;
    }
    if (w) w();
  }
  std::future<Answer> wait_for(std::uint64_t req) {
    std::lock_guard lock(mutex);
    return waiting[req].get_future();
  }
  void forget(std::uint64_t req) {
    std::lock_guard lock(mutex);
    waiting.erase(req);
  }
  std::vector<Answer> take() {
    std::lock_guard lock(mutex);
    return std::exchange(replies, {});
  }
};

/// The connection's requests to the monitor other than key exchange and
/// authentication (NetworkSide's): sessions and forwarding, by request id;
/// running programs by handle.
class Requests {
 public:
  using Answer = std::function<void(Reply& reply, std::vector<UniqueFd>& fds)>;

  Requests(MonitorLink& link, privsep::NetworkSide& side, std::shared_ptr<Inbox> inbox)
      : link_(link), side_(side), inbox_(std::move(inbox)) {}

  /// Asks and waits here for the answer, at most `limit` (the caller's thread
  /// blocks: only for what the monitor answers at once).
  std::optional<Inbox::Answer> ask_and_wait(const std::function<Bytes(std::uint64_t req)>& make,
                                            std::chrono::milliseconds limit) {
    const std::uint64_t req = side_.fresh_request_id();
    auto answer = inbox_->wait_for(req);
    link_.send(make(req));
    // Pumped here rather than only awaited: this may be the thread whose event
    // loop reads the link, which would otherwise never deliver the answer.
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (answer.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !link_.pump(std::min(left, std::chrono::milliseconds(2)))) {
        inbox_->forget(req);
        return std::nullopt;
      }
    }
    return answer.get();
  }

  std::uint64_t conn() const { return side_.conn(); }
  std::uint64_t ask(const std::function<Bytes(std::uint64_t req)>& make, Answer answer) {
    const std::uint64_t req = side_.fresh_request_id();
    pending_.emplace(req, std::move(answer));
    link_.send(make(req));
    return req;
  }
  void tell(Bytes frame) { link_.send(std::move(frame)); }
  void on_exit(std::uint64_t handle, SessionStarter::OnExit exit) { exits_[handle] = std::move(exit); }

  /// A reply NetworkSide did not take.
  void route(Reply& reply, std::vector<UniqueFd>& fds) {
    if (auto* exited = std::get_if<privsep::SessionExited>(&reply)) {
      auto it = exits_.find(exited->handle);
      if (it == exits_.end()) return;
      auto exit = std::move(it->second);
      exits_.erase(it);
      exit(login::ProgramExit{exited->signalled, static_cast<int>(exited->code), exited->core_dumped});
      return;
    }
    auto it = pending_.find(request_of(reply));
    if (it == pending_.end()) return;
    auto answer = std::move(it->second);
    pending_.erase(it);
    answer(reply, fds);
  }

  /// Whether this connection's user may start sessions yet (SessionStart granted).
  enum class Grant { none, asked, granted, refused };
  Grant grant = Grant::none;
  std::vector<std::function<void()>> after_grant;

 private:
  MonitorLink& link_;
  privsep::NetworkSide& side_;
  std::shared_ptr<Inbox> inbox_;
  std::map<std::uint64_t, Answer> pending_;
  std::map<std::uint64_t, SessionStarter::OnExit> exits_;
};

std::string refusal_text(const Reply& reply) {
  if (const auto* r = std::get_if<privsep::Refused>(&reply))
    return "refused by the monitor: " + std::string(privsep::to_string(r->reason));
  return "an unexpected answer from the monitor";
}

class MonitorSessionProcess final : public SessionProcess {
 public:
  MonitorSessionProcess(std::shared_ptr<Requests> requests, std::uint64_t handle)
      : requests_(std::move(requests)), handle_(handle) {}
  bool signal(int number) override {
    privsep::SessionSignal s;
    s.conn = requests_->conn();
    s.handle = handle_;
    s.signal = login::signal_name(number);
    requests_->tell(s.encode());
    return true;
  }

 private:
  std::shared_ptr<Requests> requests_;
  std::uint64_t handle_;
};

privsep::SessionSpawn spawn_message(const SessionStartRequest& r, const ConnectionContext& context) {
  privsep::SessionSpawn m;
  m.user = r.user;
  m.kind = static_cast<privsep::SessionKind>(std::to_underlying(r.kind));
  m.command = r.command;
  if (r.pty) m.pty = privsep::Terminal{r.pty->term, r.pty->cols, r.pty->rows, r.pty->width_px, r.pty->height_px, r.pty->modes};
  for (const auto& [name, value] : r.env) m.env.push_back({name, value});
  m.local_address = context.local().address;
  m.local_port = context.local().port;
  return m;
}

/// SessionSpawn for `request`; the answer brings the streams' descriptors.
void spawn(const std::shared_ptr<Requests>& requests, privsep::SessionSpawn m,
           SessionStarter::OnStarted on_started, SessionStarter::OnExit on_exit) {
  const bool pty = m.pty.has_value();
  requests->ask(
      [&](std::uint64_t req) {
        m.conn = requests->conn();
        m.req = req;
        return m.encode();
      },
      [requests, pty, on_started = std::move(on_started), on_exit = std::move(on_exit)](
          Reply& reply, std::vector<UniqueFd>& fds) mutable {
        const auto* spawned = std::get_if<privsep::SessionSpawned>(&reply);
        if (!spawned || fds.size() != (pty ? 1u : 3u)) return on_started(std::unexpected(refusal_text(reply)));
        SessionStarter::Started started;
        if (pty) {
          started.streams.master = std::move(fds[0]);
        } else {
          started.streams.stdin_w = std::move(fds[0]);
          started.streams.stdout_r = std::move(fds[1]);
          started.streams.stderr_r = std::move(fds[2]);
        }
        started.process = std::make_shared<MonitorSessionProcess>(requests, spawned->handle);
        requests->on_exit(spawned->handle, std::move(on_exit));
        on_started(std::move(started));
      });
}

/// Asks the monitor once per connection for the user's session (SessionStart),
/// then for each program (SessionSpawn).
class MonitorSessionStarter final : public SessionStarter {
 public:
  MonitorSessionStarter(std::shared_ptr<Requests> requests, ConnectionContext& context)
      : requests_(std::move(requests)), context_(context) {}

  void start(SessionStartRequest request, OnStarted on_started, OnExit on_exit) override {
    using Grant = Requests::Grant;
    const std::string user = request.user;
    auto go = [requests = requests_, m = spawn_message(request, context_), on_started = std::move(on_started),
               on_exit = std::move(on_exit)]() mutable {
      if (requests->grant != Grant::granted)
        return on_started(std::unexpected(std::string("the monitor did not grant a session")));
      spawn(requests, std::move(m), std::move(on_started), std::move(on_exit));
    };
    if (requests_->grant == Grant::granted || requests_->grant == Grant::refused) return go();
    requests_->after_grant.push_back(std::move(go));
    if (requests_->grant == Grant::asked) return;
    requests_->grant = Grant::asked;
    requests_->ask(
        [&](std::uint64_t req) { return privsep::SessionStart{{requests_->conn(), req}, user}.encode(); },
        [requests = requests_](Reply& reply, std::vector<UniqueFd>&) {
          requests->grant =
              std::holds_alternative<privsep::SessionGranted>(reply) ? Grant::granted : Grant::refused;
          for (auto& f : std::exchange(requests->after_grant, {})) f();
        });
  }

 private:
  std::shared_ptr<Requests> requests_;
  ConnectionContext& context_;
};

class MonitorForwardOpener final : public ForwardOpener {
 public:
  explicit MonitorForwardOpener(std::shared_ptr<Requests> requests) : requests_(std::move(requests)) {}

  void connect(const std::string& host, std::uint32_t port, OnConnected done) override {
    requests_->ask(
        [&](std::uint64_t req) { return target<privsep::ForwardConnect>(req, host, port).encode(); },
        [done = std::move(done)](Reply& reply, std::vector<UniqueFd>& fds) {
          if (!std::holds_alternative<privsep::ForwardConnected>(reply) || fds.size() != 1)
            return done(std::unexpected(refusal_text(reply)));
          done(std::move(fds[0]));
        });
  }

  /// The connection core needs the bound port at once, so this waits (briefly,
  /// on the connection's thread) for the monitor, which binds at once.
  std::expected<UniqueFd, std::string> listen(const std::string& address, std::uint32_t port) override {
    auto answer = requests_->ask_and_wait(
        [&](std::uint64_t req) { return target<privsep::ForwardListen>(req, address, port).encode(); },
        std::chrono::seconds(5));
    if (!answer) return std::unexpected(std::string("the monitor did not answer a listen"));
    auto& [reply, fds] = *answer;
    if (!std::holds_alternative<privsep::ForwardListening>(reply) || fds.size() != 1)
      return std::unexpected(refusal_text(reply));
    return std::move(fds[0]);
  }

 private:
  /// A ForwardConnect or ForwardListen of this connection.
  template <class Message>
  Message target(std::uint64_t req, const std::string& host, std::uint32_t port) const {
    Message m;
    m.conn = requests_->conn();
    m.req = req;
    m.host = host;
    m.port = port;
    return m;
  }

  std::shared_ptr<Requests> requests_;
};

class PrivsepEndpoint final : public transport::Endpoint {
 public:
  PrivsepEndpoint(MonitorLink& link, const PrivsepConnectionSetup& setup, crypto::Random& rng,
                  ConnectionContext& context, transport::Instant now)
      : link_(link), log_(setup.log), inbox_(std::make_shared<Inbox>()),
        side_(link.attach([inbox = inbox_](Reply r, std::vector<UniqueFd> fds) { inbox->put(std::move(r), std::move(fds)); }),
              context.peer().address, context.peer().port),
        requests_(std::make_shared<Requests>(link, side_, inbox_)) {
    connection_ = std::make_unique<session::ServerConnection>(setup.transport, side_.delegates(setup.limits), rng, now);
    side_.attach(connection_.get());
    flush();
  }

  ~PrivsepEndpoint() override {
    side_.attach(nullptr);
    side_.closed();
    flush();
    link_.detach(side_.conn());
  }

  session::ServerConnection& connection() { return *connection_; }
  const std::shared_ptr<Requests>& requests() const { return requests_; }

  void receive(BytesView data, transport::Instant now) override {
    connection_->receive(data, now);
    flush();
  }
  void peer_closed(transport::Instant now) override {
    connection_->peer_closed(now);
    flush();
  }
  void on_time(transport::Instant now) override {
    for (auto& [reply, fds] : inbox_->take()) {
      if (side_.on_reply(reply, now)) continue;
      requests_->route(reply, fds);
    }
    connection_->on_time(now);
    flush();
  }
  std::optional<transport::Instant> next_deadline() const override { return connection_->next_deadline(); }
  void take_output(Bytes& out) override { connection_->take_output(out); }
  void on_output_written(transport::Instant now) override {
    connection_->on_output_written(now);
    flush();
  }
  bool closed() const override { return connection_->closed(); }
  bool wants_input() const override { return connection_->wants_input(); }
  void set_wake(std::function<void()> wake) override {
    {
      std::lock_guard lock(inbox_->mutex);
      inbox_->wake = wake;
    }
    connection_->set_wake(std::move(wake));
  }
  bool set_preauth_listener(std::function<void(transport::PreauthState)> listener) override {
    return connection_->set_preauth_listener(std::move(listener));
  }

 private:
  void flush() {
    for (auto& frame : side_.take_frames()) link_.send(std::move(frame));
    for (auto& notice : side_.take_notices()) link_.send_later(std::move(notice));
    for (const auto& line : side_.take_log())
      if (log_) log_(line);
  }

  MonitorLink& link_;
  std::function<void(std::string_view)> log_;
  std::shared_ptr<Inbox> inbox_;
  privsep::NetworkSide side_;
  std::shared_ptr<Requests> requests_;
  std::unique_ptr<session::ServerConnection> connection_;
};

}  // namespace

std::unique_ptr<transport::Endpoint> make_privsep_endpoint(MonitorLink& link, const PrivsepConnectionSetup& setup,
                                                           crypto::Random& rng, ConnectionContext& context,
                                                           transport::Instant now, const ProcessOptions& process,
                                                           const ConfigureConnection& configure) {
  auto endpoint = std::make_unique<PrivsepEndpoint>(link, setup, rng, context, now);
  ProcessOptions with_monitor = process;
  auto requests = endpoint->requests();
  with_monitor.session_starter = [requests](ConnectionContext& c) -> std::shared_ptr<SessionStarter> {
    return std::make_shared<MonitorSessionStarter>(requests, c);
  };
  with_monitor.forward_opener = [requests](ConnectionContext&) -> std::shared_ptr<ForwardOpener> {
    return std::make_shared<MonitorForwardOpener>(requests);
  };
  if (configure) configure(endpoint->connection(), std::move(with_monitor));
  return endpoint;
}

}  // namespace parley::driver

#include "session.hpp"

#include <spdlog/spdlog.h>

#include <mutex>
#include <type_traits>
#include <vector>

#include "parley/userauth/server_text.hpp"
#include "parley/connection/command_shell.hpp"
#include "parley/login/session_start.hpp"
#include "parley/pam/pam_login.hpp"
#include "logging.hpp"

namespace parleyd {
namespace {

namespace transport = parley::transport;
namespace crypto = parley::crypto;
using parley::userauth::printable_for_log;

std::string describe(const transport::Negotiated& n) {
  std::string s = "kex=" + std::string(transport::name(n.kex)) +
                  " hostkey=" + std::string(crypto::name(n.host_key)) +
                  " cipher=" + std::string(crypto::name(n.cipher_c2s));
  if (n.cipher_s2c != n.cipher_c2s) s += "/" + std::string(crypto::name(n.cipher_s2c));
  if (n.mac_c2s != crypto::MacAlg::implicit || n.mac_s2c != crypto::MacAlg::implicit) {
    s += " mac=" + std::string(crypto::name(n.mac_c2s));
    if (n.mac_s2c != n.mac_c2s) s += "/" + std::string(crypto::name(n.mac_s2c));
  }
  if (n.strict_kex) s += " strict-kex";
  return s;
}

/// Shows a text when a shell starts, then lets `inner` do everything.
class Welcome final : public parley::connection::ChannelHandler {
 public:
  Welcome(std::unique_ptr<ChannelHandler> inner, std::string text)
      : inner_(std::move(inner)), text_(std::move(text)) {}
  bool attach(parley::connection::ChannelIo& io) override {
    io_ = &io;
    return inner_->attach(io);
  }
  void on_data(parley::BytesView data) override { inner_->on_data(data); }
  void on_eof() override { inner_->on_eof(); }
  void on_writable() override { inner_->on_writable(); }
  void on_closed() override { inner_->on_closed(); }
  bool on_pty(const parley::connection::PtyRequest& p) override {
    pty_ = inner_->on_pty(p);
    return pty_;
  }
  bool on_env(const parley::connection::EnvRequest& e) override { return inner_->on_env(e); }
  bool on_start(const parley::connection::StartRequest& r) override {
    if (r.kind == parley::connection::StartRequest::Kind::shell) {
      // On a terminal a bare "\n" would not return the carriage.
      std::string text = text_;
      if (pty_) {
        std::string crlf;
        for (char c : text) {
          if (c == '\n') crlf += '\r';
          crlf += c;
        }
        text = std::move(crlf);
      }
      io_->write(parley::as_bytes(text));
    }
    return inner_->on_start(r);
  }
  void on_window_change(const parley::connection::WindowChange& w) override {
    inner_->on_window_change(w);
  }
  bool on_signal(std::string_view name) override { return inner_->on_signal(name); }

 private:
  std::unique_ptr<ChannelHandler> inner_;
  std::string text_;
  parley::connection::ChannelIo* io_ = nullptr;
  bool pty_ = false;
};

/// One connection's PAM login session, shared with the worker job that opens
/// it. Everything but `login`'s opening and closing happens on the
/// connection's thread; the mutex guards what the worker touches.
struct PamLoginState {
  enum class Status { pending, ready, failed };
  std::mutex mutex;
  Status status = Status::pending;
  std::unique_ptr<parley::pam::PamLogin> login;
  std::string error;
  /// Reaches the connection's thread; cleared (under the mutex) when the
  /// connection ends, so a late worker never posts to a connection, or an
  /// io_context, that is gone.
  std::function<void(std::function<void()>)> post;
  std::vector<std::function<void()>> waiters;  // connection thread only

  void ready_on_connection_thread() {
    auto run = std::move(waiters);
    waiters.clear();
    for (auto& w : run) w();
  }
};

/// Held by the connection (inside its session factory): when the connection
/// ends it cuts the worker's way back and closes the PAM session on the pool.
struct PamLoginGuard {
  std::shared_ptr<PamLoginState> state = std::make_shared<PamLoginState>();
  parley::userauth::BlockingRunner run_blocking;
  std::string service;

  void open(std::string user, std::string rhost) {
    auto s = state;
    std::string service_name = service;
    const bool queued = run_blocking([s, service_name, user, rhost] {
      auto opened = parley::pam::PamLogin::open(service_name, user, rhost);
      if (opened)
        spdlog::info("{}: PAM session opened for '{}'", rhost, printable_for_log(user, 64));
      else
        spdlog::warn("{}: PAM session for '{}' failed: {}", rhost, printable_for_log(user, 64), opened.error());
      std::lock_guard lock(s->mutex);
      if (opened) {
        s->login = std::move(*opened);
        s->status = PamLoginState::Status::ready;
      } else {
        s->error = opened.error();
        s->status = PamLoginState::Status::failed;
      }
      if (s->post) s->post([s] { s->ready_on_connection_thread(); });
    });
    if (!queued) {
      std::lock_guard lock(state->mutex);
      state->status = PamLoginState::Status::failed;
      state->error = "the worker pool is full";
    }
  }

  ~PamLoginGuard() {
    std::unique_ptr<parley::pam::PamLogin> login;
    {
      std::lock_guard lock(state->mutex);
      state->post = nullptr;
      state->waiters.clear();
      login = std::move(state->login);
    }
    if (!login) return;
    // pam_close_session may block: on the pool, or here if the pool refuses.
    auto shared = std::make_shared<std::unique_ptr<parley::pam::PamLogin>>(std::move(login));
    if (!run_blocking([shared] { shared->reset(); })) shared->reset();
  }
};

/// A process session that starts only once the connection's PAM login session
/// is open: the start request is answered at once, the program is started
/// (with PAM's variables) when PAM is done, and input that arrives meanwhile is
/// held without being consumed, so the client's window bounds it.
class AfterPamLogin final : public parley::connection::ChannelHandler {
 public:
  AfterPamLogin(std::shared_ptr<PamLoginState> state, std::unique_ptr<ChannelHandler> inner)
      : core_(std::make_shared<Core>(std::move(state), std::move(inner))) {}
  ~AfterPamLogin() override { core_.reset(); }

  bool attach(parley::connection::ChannelIo& io) override {
    core_->io = &io;
    return core_->inner->attach(io);
  }
  void on_data(parley::BytesView data) override {
    if (core_->started) return core_->inner->on_data(data);
    core_->held.insert(core_->held.end(), data.begin(), data.end());
  }
  void on_eof() override {
    if (core_->started) return core_->inner->on_eof();
    core_->eof = true;
  }
  void on_writable() override { core_->inner->on_writable(); }
  void on_closed() override {
    core_->io = nullptr;
    core_->inner->on_closed();
  }
  bool on_pty(const parley::connection::PtyRequest& p) override { return core_->inner->on_pty(p); }
  bool on_env(const parley::connection::EnvRequest& e) override { return core_->inner->on_env(e); }
  void on_window_change(const parley::connection::WindowChange& w) override {
    core_->inner->on_window_change(w);
  }
  bool on_signal(std::string_view name) override { return core_->inner->on_signal(name); }
  bool on_start(const parley::connection::StartRequest& r) override {
    if (core_->start_asked) return false;
    core_->start_asked = true;
    std::unique_lock lock(core_->state->mutex);
    switch (core_->state->status) {
      case PamLoginState::Status::ready:
        lock.unlock();
        return core_->start(r);
      case PamLoginState::Status::failed:
        return false;
      case PamLoginState::Status::pending:
        break;
    }
    core_->state->waiters.push_back([weak = std::weak_ptr<Core>(core_), r] {
      if (auto c = weak.lock()) c->start_later(r);
    });
    return true;  // answered now; the program follows once PAM is done
  }

 private:
  struct Core {
    Core(std::shared_ptr<PamLoginState> s, std::unique_ptr<ChannelHandler> h)
        : state(std::move(s)), inner(std::move(h)) {}
    std::shared_ptr<PamLoginState> state;
    std::unique_ptr<ChannelHandler> inner;
    parley::connection::ChannelIo* io = nullptr;
    bool start_asked = false, started = false, eof = false;
    parley::Bytes held;

    bool start(const parley::connection::StartRequest& r) {
      for (auto& [name, value] : parley::login::assignments(state->login->environment()))
        inner->on_env(parley::connection::EnvRequest{std::move(name), std::move(value)});
      if (!inner->on_start(r)) return false;
      started = true;
      if (!held.empty()) {
        parley::Bytes data = std::move(held);
        held.clear();
        inner->on_data(data);
      }
      if (eof) inner->on_eof();
      return true;
    }
    void start_later(const parley::connection::StartRequest& r) {
      if (io == nullptr) return;
      if (state->status == PamLoginState::Status::ready && start(r)) return;
      const std::string why = "parleyd: the session could not start (" +
                              (state->status == PamLoginState::Status::ready ? std::string("program")
                                                                              : "PAM: " + state->error) +
                              ")\r\n";
      io->write_stderr(parley::as_bytes(why));
      io->exit_status(1);
      io->eof();
      io->close();
    }
  };
  std::shared_ptr<Core> core_;
};

/// The log lines about one connection's transport: key exchanges (with the
/// client's software version), services and the disconnect.
std::function<void(const transport::Event&)> transport_log(const std::string& peer,
                                                          const parley::session::ServerConnection& conn) {
  return [peer, self = &conn](const transport::Event& event) {
    std::visit(
        [&](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, transport::KexDone>) {
            const auto& version = self->transport().peer_version();
            spdlog::info("{}: {} done: {} client='{}'", peer, e.first ? "key exchange" : "rekey",
                         describe(e.algorithms),
                         version ? printable_for_log(transport::software_version(*version)) : std::string());
          } else if constexpr (std::is_same_v<E, transport::ServiceStarted>) {
            spdlog::debug("{}: service {} started", peer, printable_for_log(e.service));
          } else if constexpr (std::is_same_v<E, transport::Disconnected>) {
            spdlog::info("{}: disconnected: {} ({})", peer, printable_for_log(e.description),
                         transport::to_string(e.reason));
          }
        },
        event);
  };
}

/// The audit lines about one connection's authentication.
std::function<void(const parley::userauth::AuthEvent&)> auth_log(const std::string& peer) {
  return [peer](const parley::userauth::AuthEvent& event) {
    std::visit(
        [&](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, parley::userauth::AuditRecord>) {
            // The audit line: never an answer or a password, never prompt text.
            log_audit(e, peer);
          } else if constexpr (std::is_same_v<E, parley::userauth::Authenticated>) {
            spdlog::info("{}: user '{}' authenticated", peer, printable_for_log(e.user, 64));
          } else if constexpr (std::is_same_v<E, parley::userauth::AuthDisconnect>) {
            spdlog::info("{}: authentication ended the connection: {}", peer, e.description);
          }
        },
        event);
  };
}

/// sshd's UsePAM: the PAM session opens once the user is in, off this thread.
/// Chains onto `observer`'s auth events; the connection holds the guard.
std::shared_ptr<PamLoginGuard> open_pam_login_after_auth(const SessionSetup& sessions,
                                                         parley::driver::ConnectionContext& context,
                                                         const std::string& peer,
                                                         parley::session::ConnectionObserver& observer) {
  auto pam_login = std::make_shared<PamLoginGuard>();
  pam_login->run_blocking = sessions.run_blocking;
  pam_login->service = sessions.pam_service;
  pam_login->state->post = [&context](std::function<void()> fn) { context.post(std::move(fn)); };
  const std::string rhost = context.peer().address;
  auto on_auth = std::move(observer.on_auth);
  observer.on_auth = [on_auth, weak = std::weak_ptr<PamLoginGuard>(pam_login), rhost,
                      peer](const parley::userauth::AuthEvent& event) {
    on_auth(event);
    if (const auto* in = std::get_if<parley::userauth::Authenticated>(&event))
      if (auto guard = weak.lock()) {
        spdlog::debug("{}: opening the PAM session", peer);
        guard->open(in->user, rhost);
      }
  };
  return pam_login;
}

/// What a session channel runs: after the PAM login, the built-in command
/// shell, a process with a welcome, or (empty) the driver's plain process.
/// Sessions as `sessions` says, their programs started as `process` says (the
/// setup's own, or one whose starter asks the monitor).
parley::driver::SessionFactory session_factory(const SessionSetup& sessions,
                                               const std::shared_ptr<const parley::driver::ProcessOptions>& process,
                                               const std::shared_ptr<PamLoginGuard>& pam_login) {
  if (pam_login)
    return [pam_login, process](parley::driver::ConnectionContext& ctx, const std::string& user) {
      return std::make_unique<AfterPamLogin>(pam_login->state,
                                             parley::driver::make_process_session(ctx, *process, user));
    };
  if (sessions.command_shell)
    return [](parley::driver::ConnectionContext&, const std::string& user) {
      return parley::connection::make_command_shell(user);
    };
  if (!sessions.welcome.empty())
    return [process, text = sessions.welcome](parley::driver::ConnectionContext& ctx, const std::string& user) {
      return with_welcome(parley::driver::make_process_session(ctx, *process, user), text);
    };
  return {};
}

}  // namespace

std::unique_ptr<parley::connection::ChannelHandler> with_welcome(
    std::unique_ptr<parley::connection::ChannelHandler> inner, std::string text) {
  return std::make_unique<Welcome>(std::move(inner), std::move(text));
}

std::unique_ptr<transport::Endpoint> make_server_endpoint(
    const std::shared_ptr<const transport::TransportConfig>& transport_config,
    const std::shared_ptr<const parley::userauth::ServerAuthConfig>& auth_config,
    const std::shared_ptr<const SessionSetup>& sessions, crypto::Random& rng,
    parley::driver::ConnectionContext& context, std::string peer, transport::Instant now) {
  auto conn = std::make_unique<parley::session::ServerConnection>(transport_config, auth_config, rng,
                                                               peer, now);
  parley::session::ConnectionObserver observer;
  observer.on_transport = transport_log(peer, *conn);
  observer.on_auth = auth_log(peer);
  observer.on_channel = [peer](std::string_view line) { spdlog::info("{}: {}", peer, line); };
  std::shared_ptr<PamLoginGuard> pam_login;
  if (sessions && !sessions->pam_service.empty() && sessions->run_blocking)
    pam_login = open_pam_login_after_auth(*sessions, context, peer, observer);
  conn->set_observer(std::move(observer));
  if (sessions) {
    // The setup's options, shared (aliasing the setup) rather than copied per connection.
    std::shared_ptr<const parley::driver::ProcessOptions> process(sessions, &sessions->process);
    conn->set_channel_services(sessions->policy, parley::driver::make_channel_services(
                                                     context, process, session_factory(*sessions, process, pam_login)));
  }
  return conn;
}

std::unique_ptr<transport::Endpoint> make_separated_endpoint(
    parley::driver::MonitorLink& link, const parley::driver::PrivsepConnectionSetup& setup,
    const std::shared_ptr<const SessionSetup>& sessions, crypto::Random& rng,
    parley::driver::ConnectionContext& context, std::string peer, transport::Instant now) {
  auto configure = [&context, sessions, peer](parley::session::ServerConnection& conn,
                                              parley::driver::ProcessOptions process) {
    parley::session::ConnectionObserver observer;
    observer.on_transport = transport_log(peer, conn);
    observer.on_channel = [peer](std::string_view line) { spdlog::info("{}: {}", peer, line); };
    conn.set_observer(std::move(observer));
    auto shared = std::make_shared<const parley::driver::ProcessOptions>(std::move(process));
    auto factory = session_factory(*sessions, shared, nullptr);
    conn.set_channel_services(sessions->policy,
                              parley::driver::make_channel_services(context, std::move(shared), std::move(factory)));
  };
  return parley::driver::make_privsep_endpoint(link, setup, rng, context, now, sessions->process, configure);
}

}  // namespace parleyd

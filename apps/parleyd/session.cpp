#include "session.hpp"

#include <spdlog/spdlog.h>

#include <type_traits>

#include "parley/auth/server_text.hpp"
#include "parley/connection/command_shell.hpp"

namespace parleyd {
namespace {

namespace transport = parley::transport;
namespace crypto = parley::crypto;
using parley::auth::printable_for_log;

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

}  // namespace

std::unique_ptr<parley::connection::ChannelHandler> with_welcome(
    std::unique_ptr<parley::connection::ChannelHandler> inner, std::string text) {
  return std::make_unique<Welcome>(std::move(inner), std::move(text));
}

std::unique_ptr<transport::Endpoint> make_server_endpoint(
    const std::shared_ptr<const transport::TransportConfig>& transport_config,
    const std::shared_ptr<const parley::auth::ServerAuthConfig>& auth_config,
    const std::shared_ptr<const SessionSetup>& sessions, crypto::Random& rng,
    parley::driver::ConnectionContext& context, std::string peer, transport::Instant now) {
  parley::auth::ConnectionObserver observer;
  auto conn = std::make_unique<parley::auth::ServerConnection>(transport_config, auth_config, rng,
                                                               peer, now);
  const parley::auth::ServerConnection* self = conn.get();
  observer.on_transport = [peer, self](const transport::Event& event) {
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
  observer.on_auth = [peer](const parley::auth::AuthEvent& event) {
    std::visit(
        [&](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, parley::auth::AuditRecord>) {
            // The audit line: never an answer or a password, never prompt text.
            spdlog::info("auth: user='{}' method={} provider={} prompts={} round={} outcome={} peer={}",
                         printable_for_log(e.user, 64), printable_for_log(e.method, 32),
                         e.provider.empty() ? "-" : e.provider, e.prompts, e.round, e.outcome, peer);
          } else if constexpr (std::is_same_v<E, parley::auth::Authenticated>) {
            spdlog::info("{}: user '{}' authenticated", peer, printable_for_log(e.user, 64));
          } else if constexpr (std::is_same_v<E, parley::auth::AuthDisconnect>) {
            spdlog::info("{}: authentication ended the connection: {}", peer, e.description);
          }
        },
        event);
  };
  observer.on_channel = [peer](std::string_view line) { spdlog::info("{}: {}", peer, line); };
  conn->set_observer(std::move(observer));
  if (sessions) {
    parley::driver::SessionFactory factory;
    if (sessions->command_shell) {
      factory = [](parley::driver::ConnectionContext&, const std::string& user) {
        return parley::connection::make_command_shell(user);
      };
    } else if (!sessions->welcome.empty()) {
      factory = [process = sessions->process, text = sessions->welcome](
                    parley::driver::ConnectionContext& ctx, const std::string& user) {
        return with_welcome(parley::driver::make_process_session(ctx, process, user), text);
      };
    }
    conn->set_channel_services(sessions->policy, parley::driver::make_channel_services(
                                                     context, sessions->process, std::move(factory)));
  }
  return conn;
}

}  // namespace parleyd

#include "session.hpp"

#include <spdlog/spdlog.h>

#include <type_traits>

namespace parleyd {
namespace {

namespace transport = parley::transport;
namespace crypto = parley::crypto;

/// Peer-supplied text made safe for a log line: printable ASCII only, bounded.
std::string printable(std::string_view text, std::size_t max = 128) {
  std::string out;
  for (char c : text.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

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

}  // namespace

std::unique_ptr<transport::Endpoint> make_server_endpoint(
    const std::shared_ptr<const transport::TransportConfig>& transport_config,
    const std::shared_ptr<const parley::auth::ServerAuthConfig>& auth_config, crypto::Random& rng,
    std::string peer, transport::Instant now) {
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
                         version ? printable(transport::software_version(*version)) : std::string());
          } else if constexpr (std::is_same_v<E, transport::ServiceStarted>) {
            spdlog::debug("{}: service {} started", peer, printable(e.service));
          } else if constexpr (std::is_same_v<E, transport::Disconnected>) {
            spdlog::info("{}: disconnected: {} ({})", peer, printable(e.description),
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
                         printable(e.user, 64), printable(e.method, 32),
                         e.provider.empty() ? "-" : e.provider, e.prompts, e.round, e.outcome, peer);
          } else if constexpr (std::is_same_v<E, parley::auth::Authenticated>) {
            spdlog::info("{}: user '{}' authenticated", peer, printable(e.user, 64));
          } else if constexpr (std::is_same_v<E, parley::auth::AuthDisconnect>) {
            spdlog::info("{}: authentication ended the connection: {}", peer, e.description);
          }
        },
        event);
  };
  conn->set_observer(std::move(observer));
  return conn;
}

}  // namespace parleyd

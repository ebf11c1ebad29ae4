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

void Session::on_event(transport::Transport& transport, transport::Event& event) {
  std::visit(
      [&](auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, transport::KexDone>) {
          const auto& version = transport.peer_version();
          spdlog::info("{}: {} done: {} client='{}'", peer_, e.first ? "key exchange" : "rekey",
                       describe(e.algorithms),
                       version ? printable(transport::software_version(*version)) : std::string());
        } else if constexpr (std::is_same_v<E, transport::ServiceStarted>) {
          spdlog::debug("{}: service {} started", peer_, printable(e.service));
        } else if constexpr (std::is_same_v<E, transport::Message>) {
          auth_.on_message(transport, e);
        } else if constexpr (std::is_same_v<E, transport::Disconnected>) {
          spdlog::info("{}: disconnected: {} ({}; {})", peer_, printable(e.description),
                       transport::to_string(e.error), transport::to_string(e.reason));
        }
        // ServiceAccepted and ServerSigAlgs are client-role events.
      },
      event);
}

std::unique_ptr<transport::Endpoint> make_server_endpoint(
    const std::shared_ptr<const transport::TransportConfig>& config,
                                                          crypto::Random& rng, std::string peer,
                                                          transport::Instant now) {
  return std::make_unique<transport::TransportEndpoint>(
      config, rng, now,
      [session = Session(std::move(peer))](transport::Transport& t, transport::Event& e) mutable {
        session.on_event(t, e);
      });
}

}  // namespace parleyd

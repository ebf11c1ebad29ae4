#include "parley/auth/server_connection.hpp"

#include "parley/transport/messages.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::auth {
namespace {

constexpr std::uint8_t msg_global_request = 80;
constexpr std::uint8_t msg_request_failure = 82;
constexpr std::uint8_t msg_channel_open = 90;
constexpr std::uint8_t msg_channel_open_failure = 92;
constexpr std::uint32_t open_administratively_prohibited = 1;  // RFC 4254 §5.1

}  // namespace

ServerConnection::ServerConnection(std::shared_ptr<const transport::TransportConfig> transport_config,
                                   std::shared_ptr<const ServerAuthConfig> auth_config,
                                   crypto::Random& rng, std::string peer, Instant now,
                                   ConnectionObserver observer)
    : transport_(std::move(transport_config), rng, now),
      auth_(std::move(auth_config), std::move(peer), now),
      observer_(std::move(observer)) {}

void ServerConnection::receive(BytesView data, Instant now) {
  transport_.receive(data, now);
  dispatch(now);
}

void ServerConnection::peer_closed(Instant now) {
  transport_.peer_closed(now);
  dispatch(now);
}

void ServerConnection::on_time(Instant now) {
  transport_.on_time(now);
  auth_.on_time(now);
  flush_auth();
  dispatch(now);
}

std::optional<Instant> ServerConnection::next_deadline() const {
  auto a = transport_.next_deadline();
  auto b = transport_.closed() ? std::nullopt : auth_.next_deadline();
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

void ServerConnection::dispatch(Instant now) {
  while (auto e = transport_.poll_event()) {
    if (auto* m = std::get_if<transport::Message>(&*e)) {
      const std::uint8_t id = m->payload[0];
      if (id >= 50 && id < 80) {
        if (!auth_.authenticated()) {
          auth_.handle(m->payload, *transport_.session_id(), now);
          flush_auth();
        }
        // Answers travel in these messages: leave no copy behind.
        crypto::secure_wipe(m->payload.data(), m->payload.size());
      } else if (auth_.authenticated()) {
        handle_connection_message(*m);
      } else {
        // RFC 4252 §6: nothing above userauth before authentication succeeds.
        transport_.disconnect(transport::DisconnectReason::protocol_error,
                              "connection message before authentication");
      }
      continue;
    }
    if (observer_.on_transport) observer_.on_transport(*e);
  }
}

void ServerConnection::flush_auth() {
  for (auto& m : auth_.take_messages()) transport_.send(m);
  while (auto e = auth_.poll_event()) {
    if (auto* d = std::get_if<AuthDisconnect>(&*e)) transport_.disconnect(d->reason, d->description);
    if (observer_.on_auth) observer_.on_auth(*e);
  }
}

void ServerConnection::handle_connection_message(const transport::Message& m) {
  // Sessions, commands and forwarding arrive with the connection core; until
  // then every request is refused the way RFC 4254 prescribes.
  wire::Reader r(m.payload);
  const std::uint8_t id = r.byte();
  if (id == msg_channel_open) {
    r.text();
    const std::uint32_t sender = r.uint32();
    if (!r.ok()) return transport_.disconnect(transport::DisconnectReason::protocol_error, "malformed CHANNEL_OPEN");
    Bytes f;
    wire::Writer(f).byte(msg_channel_open_failure).uint32(sender).uint32(open_administratively_prohibited)
        .string(std::string_view("sessions are not available on this server yet")).string(std::string_view{});
    return transport_.send(f);
  }
  if (id == msg_global_request) {
    r.text();
    if (r.boolean()) transport_.send(Bytes{msg_request_failure});
    return;
  }
  transport_.send_unimplemented(m.seq);
}

}  // namespace parley::auth

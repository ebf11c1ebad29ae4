#include "parley/session/client_connection.hpp"

#include "parley/userauth/messages.hpp"
#include "parley/transport/messages.hpp"

namespace parley::session {
namespace {

constexpr std::string_view service_userauth = "ssh-userauth";

/// The caller's config with a verifier that also remembers the key it accepted.
std::shared_ptr<const transport::TransportConfig> recording(
    const std::shared_ptr<const transport::TransportConfig>& config,
    std::shared_ptr<std::optional<crypto::PublicKey>> seen) {
  auto copy = std::make_shared<transport::TransportConfig>(*config);
  copy->verify_host_key = [inner = config->verify_host_key, seen](const crypto::PublicKey& key) {
    const bool ok = inner && inner(key);
    if (ok) *seen = key;
    return ok;
  };
  return copy;
}

}  // namespace

ClientConnection::ClientConnection(std::shared_ptr<const transport::TransportConfig> transport_config,
                                   std::shared_ptr<const userauth::ClientAuthConfig> auth_config,
                                   std::string host, std::uint16_t port, crypto::Random& rng,
                                   Instant now, connection::ChannelLimits limits)
    : auth_config_(std::move(auth_config)),
      host_{std::move(host), port, {}, {}},
      verified_key_(std::make_shared<std::optional<crypto::PublicKey>>()),
      transport_(recording(transport_config, verified_key_), rng, now),
      channels_([this](BytesView payload) { transport_.send(payload); }, limits),
      now_(now) {}

ClientConnection::~ClientConnection() = default;

void ClientConnection::set_wake(std::function<void()> wake) {
  wake_ = std::move(wake);
  if (auth_) auth_->set_wake(wake_);
}

void ClientConnection::receive(BytesView data, Instant now) {
  now_ = now;
  if (!data.empty() && next_alive_) {  // the server is there: start over
    alive_missed_ = 0;
    next_alive_ = now + alive_.interval;
  }
  transport_.receive(data, now);
  dispatch();
}

std::optional<Instant> ClientConnection::next_deadline() const {
  auto next = transport_.next_deadline();
  if (next_alive_ && !transport_.closed() && (!next || *next_alive_ < *next))
    next = next_alive_;
  return next;
}

void ClientConnection::set_server_alive(ServerAlive alive) {
  alive_ = alive;
  next_alive_.reset();
  if (authenticated()) arm_server_alive();
}

void ClientConnection::arm_server_alive() {
  // Armed only when there are keep-alives to send: next_alive_ set means they run.
  if (!next_alive_ && alive_.interval.count() > 0) next_alive_ = now_ + alive_.interval;
}

void ClientConnection::global_request(std::string_view name, bool want_reply, BytesView data) {
  if (want_reply) global_replies_.push_back(false);
  channels_.global_request(name, want_reply, data);
}

void ClientConnection::check_server_alive(Instant now) {
  if (!next_alive_ || transport_.closed() || now < *next_alive_) return;
  // As ssh: the check that finds more than ServerAliveCountMax unanswered ends it.
  if (++alive_missed_ > alive_.count_max) {
    alive_timed_out_ = true;
    transport_.disconnect(transport::DisconnectReason::by_application, "Timeout, server not responding");
    return;
  }
  global_replies_.push_back(true);
  channels_.global_request("keepalive@openssh.com", true);
  next_alive_ = now + alive_.interval;
}

void ClientConnection::peer_closed(Instant now) {
  transport_.peer_closed(now);
  dispatch();
}

void ClientConnection::on_time(Instant now) {
  now_ = now;
  transport_.on_time(now);
  check_server_alive(now);
  if (auth_ && !auth_->result()) {
    auth_->poll();  // an asynchronous callback may have answered
    flush_auth();
  }
  dispatch();
}

std::optional<userauth::ClientAuthResult> ClientConnection::auth_result() const {
  if (!auth_) return std::nullopt;
  return auth_->result();
}

void ClientConnection::disconnect(transport::DisconnectReason reason, std::string_view description) {
  transport_.disconnect(reason, description);
  dispatch();
}

void ClientConnection::dispatch() {
  while (auto e = transport_.poll_event()) {
    if (auto* m = std::get_if<transport::Message>(&*e)) {
      handle_message(m->payload, m->seq);
      continue;
    }
    if (auto* k = std::get_if<transport::KexDone>(&*e); k && k->first) {
      // Only now, with the host key verified, may anything secret follow.
      if (*verified_key_) {
        host_.key_type = std::string(crypto::key_type_name((*verified_key_)->type()));
        host_.fingerprint = (*verified_key_)->fingerprint();
      }
      transport_.request_service(service_userauth);
    } else if (auto* accepted = std::get_if<transport::ServiceAccepted>(&*e)) {
      // RFC 4253 §10: the accept names the service we asked for, once. Any other
      // name, or a second accept, is a server that does not follow the protocol.
      if (auth_ || accepted->service != service_userauth) {
        transport_.disconnect(
            transport::DisconnectReason::protocol_error,
            auth_ ? "a second SERVICE_ACCEPT" : "SERVICE_ACCEPT for a service not requested");
        continue;
      }
      auth_ = std::make_unique<userauth::ClientAuth>(auth_config_, host_);
      auth_->set_wake(wake_);
      auth_->start(*transport_.session_id());
      flush_auth();
    } else if (auto* d = std::get_if<transport::Disconnected>(&*e)) {
      disconnected_ = *d;
    }
    if (on_transport) on_transport(*e);
  }
}

void ClientConnection::flush_auth() {
  if (!auth_) return;
  for (auto& m : auth_->take_messages()) {
    // Passwords and answers travel padded, and leave no copy behind.
    const bool secret = m[0] == userauth::msg::userauth_request || m[0] == userauth::msg::userauth_info_response;
    if (secret)
      transport_.send_secret(m);
    else
      transport_.send(m);
    crypto::secure_wipe(m.data(), m.size());
  }
  const auto& result = auth_->result();
  if (!result) return;
  if (auto* failed = std::get_if<userauth::ClientAuthFailed>(&*result)) {
    if (!transport_.closed()) transport_.disconnect(failed->disconnect, failed->reason);
    return;
  }
  arm_server_alive();  // keep-alives from here on
  if (on_authenticated) {
    auto callback = std::move(on_authenticated);  // once
    on_authenticated = nullptr;
    callback(*this);
  }
}

void ClientConnection::handle_message(std::span<std::uint8_t> payload, std::uint32_t seq) {
  const std::uint8_t id = payload[0];
  if (id >= 50 && id < 80) {
    if (auth_ && !auth_->result()) {
      auth_->handle(payload);
      flush_auth();
    }
    return;
  }
  if (!authenticated()) {
    transport_.disconnect(transport::DisconnectReason::protocol_error,
                          "connection message before authentication");
    return;
  }
  if (!connection::Channels::handles(id)) {
    transport_.send_unimplemented(seq);
    return;
  }
  if (auto handled = channels_.handle(payload); !handled) {
    transport_.disconnect(connection::disconnect_reason(handled.error()),
                          connection::to_string(handled.error()));
    return;
  }
  while (auto e = channels_.poll_event()) {
    if (auto* open = std::get_if<connection::OpenRequested>(&*e); open && !answers_channel_opens) {
      // A client opens its channels itself; one the server opens (an X11 or agent
      // channel, a forwarded port we never asked for) is refused as OpenSSH's
      // client refuses a type it does not expect, and never reaches an application
      // that does not answer them.
      channels_.reject(open->id, connection::OpenFailure::administratively_prohibited,
                       "open failed");
      continue;
    }
    if (std::holds_alternative<connection::GlobalReply>(*e) && !global_replies_.empty()) {
      const bool keepalive = global_replies_.front();
      global_replies_.pop_front();
      if (keepalive) continue;  // (anything from the server already started the count over)
    }
    if (on_channel_event) on_channel_event(*this, *e);
    if (transport_.closed()) return;
  }
}

}  // namespace parley::session

// The sans-I/O SSH transport (RFC 4253): input, packet dispatch, services,
// output, time and ending. The key exchange is in key_exchange.cpp.
#include "parley/transport/transport.hpp"

#include <algorithm>
#include <cstring>

#include "parley/transport/messages.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "kex_state.hpp"

namespace parley::transport {
namespace {

std::string sanitize(std::string_view text, std::size_t max = 256) {
  std::string out;
  for (char c : text.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  return out;
}

}  // namespace

HostKeyVerifier danger_accept_any_host_key() {
  return [](const crypto::PublicKey&) { return true; };
}

Transport::Transport(TransportConfig config, crypto::Random& rng, Instant now)
    : Transport(std::make_shared<const TransportConfig>(std::move(config)), rng, now) {}

Transport::Transport(std::shared_ptr<const TransportConfig> config, crypto::Random& rng, Instant now)
    : config_(std::move(config)),
      rng_(rng),
      ident_(config_->role == Role::client, config_->max_preversion_lines),
      our_version_("SSH-2.0-" + config_->software_version) {
  out_.insert(out_.end(), our_version_.begin(), our_version_.end());
  out_.push_back('\r');
  out_.push_back('\n');
  ident_deadline_ = now + config_->ident_timeout;
  last_kex_done_ = now;
  now_ = now;
  start_kex(now);  // RFC 4253 §7.1: KEXINIT may be sent right after the identification
}

Transport::~Transport() = default;

// ---- Input ----

void Transport::receive(BytesView data, Instant now) {
  if (closed_) return;
  now_ = now;
  if (!ident_.version()) {
    auto used = ident_.feed(data);
    if (!used) return fail(used.error());
    data = data.subspan(*used);
    if (!ident_.version()) return;
    ident_deadline_.reset();
  }
  if (in_pos_ > 0) {
    // A partial packet is left from the last call: move it and the new bytes
    // into a buffer of the right size in one pass, instead of shifting it down
    // and then growing the vector (which copies it twice).
    Bytes joined;
    joined.reserve(in_.size() - in_pos_ + data.size());
    joined.insert(joined.end(), in_.begin() + static_cast<std::ptrdiff_t>(in_pos_), in_.end());
    joined.insert(joined.end(), data.begin(), data.end());
    // (Everything before in_pos_ was wiped when it was consumed.)
    crypto::secure_wipe(in_.data() + in_pos_, in_.size() - in_pos_);
    in_.swap(joined);
    in_pos_ = 0;
  } else {
    in_.insert(in_.end(), data.begin(), data.end());
  }
  process_input(now);
  if (!closed_) check_rekey(now);
}

void Transport::process_input(Instant now) {
  processing_ = true;
  // A delegated key exchange awaiting its answer stops the loop: what follows
  // stays buffered until kex_answered().
  while (!closed_ && !kex_awaiting_ && in_pos_ < in_.size()) {
    std::span<std::uint8_t> rest(in_.data() + in_pos_, in_.size() - in_pos_);
    auto decoded = decoder_.decode(rest);
    if (!decoded) {
      fail(decoded.error());
      break;
    }
    if (!*decoded) break;
    in_pos_ += (*decoded)->consumed;
    handle_packet((*decoded)->payload, (*decoded)->seq, now);
  }
  processing_ = false;
  if (closed_) return;
  // Packets were decrypted in place and may have carried passwords or answers:
  // wipe what was consumed before the memory is released or reused.
  if (in_pos_ == in_.size()) {
    crypto::secure_wipe(in_.data(), in_.size());
    Bytes().swap(in_);  // buffers are held only while in use
    in_pos_ = 0;
  } else {
    // The partial packet stays where it is until the next receive() moves it;
    // the decrypted packets before it are wiped now.
    crypto::secure_wipe(in_.data(), in_pos_);
  }
}

void Transport::peer_closed(Instant) {
  if (closed_) return;
  const bool partial = decoder_.mid_packet() || in_pos_ < in_.size();
  const TransportError e = partial ? TransportError::truncated_packet : TransportError::connection_closed;
  closed_ = true;
  events_.push_back(Disconnected{e, disconnect_reason(e), std::string(to_string(e))});
  release_state();
}

void Transport::release_state() {
  kex_.reset();
  kex_awaiting_ = false;
  for (auto& p : pending_) crypto::secure_wipe(p.payload.data(), p.payload.size());
  pending_.clear();
  pending_bytes_ = 0;
  crypto::secure_wipe(in_.data(), in_.size());
  Bytes().swap(in_);
  in_pos_ = 0;
}

void Transport::handle_packet(std::span<std::uint8_t> payload, std::uint32_t seq, Instant now) {
  const std::uint8_t id = payload[0];
  const bool initial = kex_count_ == 0;
  // The peer is inside a key exchange from its KEXINIT to its NEWKEYS.
  const bool peer_in_kex = initial || (kex_ && kex_->peer_kexinit_received);
  const bool kex_message = id == msg::kexinit || id == msg::newkeys || (id >= 30 && id <= 49);

  if (strict_kex_ && initial && !kex_message && id != msg::disconnect)
    return fail(TransportError::strict_kex_violation,
                "strict key exchange: unexpected message during initial key exchange");

  switch (id) {
    case msg::disconnect: return handle_disconnect(payload);
    case msg::ignore:
    case msg::debug:
      return;
    case msg::unimplemented: {
      wire::Reader r(payload);
      r.byte();
      const std::uint32_t refused = r.uint32();
      if (!r.finish()) return fail(TransportError::malformed_message, "malformed UNIMPLEMENTED");
      // OpenSSH's sshd answers a KEXINIT before user authentication this way;
      // waiting would only end in kex_timeout.
      if (kex_ && !initial && refused == kex_->our_kexinit_seq)
        return fail(TransportError::kex_refused);
      return;
    }
    case msg::kexinit: return handle_kexinit(payload, seq, now);
    case msg::newkeys:
      if (!kex_ || !kex_->next_in)
        return fail(TransportError::unexpected_message, "unexpected NEWKEYS");
      if (payload.size() != 1) return fail(TransportError::malformed_message, "malformed NEWKEYS");
      return handle_newkeys(now);
    default: break;
  }
  if (id >= 30 && id <= 49) {
    if (!kex_ || !kex_->algs) return fail(TransportError::unexpected_message, "key exchange message outside key exchange");
    if (kex_->ignore_next_kex_packet) {
      kex_->ignore_next_kex_packet = false;  // the peer's wrong guess (RFC 4253 §7)
      return;
    }
    if (config_->role == Role::server && id == msg::kex_ecdh_init && !kex_->next_in)
      return handle_kex_init_message(payload);
    if (config_->role == Role::client && id == msg::kex_ecdh_reply && kex_->ephemeral && !kex_->next_in)
      return handle_kex_reply_message(payload);
    return fail(TransportError::unexpected_message, "unexpected key exchange message");
  }
  if (peer_in_kex) {
    return fail(TransportError::non_kex_message_during_kex,
                "message " + std::to_string(id) + " during key exchange");
  }
  switch (id) {
    case msg::service_request:
      if (config_->role == Role::server) return handle_service_request(payload);
      break;
    case msg::service_accept:
      if (config_->role == Role::client) return handle_service_accept(payload);
      break;
    case msg::ext_info:
      if (config_->role == Role::client) return handle_ext_info(payload);
      return;  // we never offer ext-info-s; tolerate as OpenSSH does
    default:
      if (id >= 50 && (config_->role == Role::client || service_started_)) {
        // The sink saves a copy of every packet; it is used only while no event is
        // waiting, so the layer above still sees everything in order.
        if (message_sink_ && events_.empty()) return message_sink_(payload, seq);
        events_.push_back(Message{Bytes(payload.begin(), payload.end()), seq});
        return;
      }
      break;
  }
  send_unimplemented(seq);
}

void Transport::handle_disconnect(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  const std::uint32_t code = r.uint32();
  const std::string_view text = r.text();
  r.text();  // language tag
  std::string description = r.ok() ? sanitize(text) : std::string("(malformed DISCONNECT)");
  DisconnectReason reason = (code >= 1 && code <= 15) ? static_cast<DisconnectReason>(code)
                                                      : DisconnectReason::protocol_error;
  closed_ = true;
  events_.push_back(Disconnected{TransportError::peer_disconnected, reason, std::move(description)});
  release_state();
}

// ---- Services ----

void Transport::handle_service_request(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  std::string service(r.text());
  if (!r.finish()) return fail(TransportError::malformed_message, "malformed SERVICE_REQUEST");
  if (service_started_ ||
      std::find(config_->services.begin(), config_->services.end(), service) == config_->services.end())
    return fail(TransportError::service_not_available, "service not available: " + sanitize(service, 64));
  Bytes accept;
  wire::Writer(accept).byte(msg::service_accept).string(service);
  send(accept);
  service_started_ = true;
  events_.push_back(ServiceStarted{std::move(service)});
}

void Transport::handle_service_accept(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  std::string service(r.text());
  if (!r.finish()) return fail(TransportError::malformed_message, "malformed SERVICE_ACCEPT");
  events_.push_back(ServiceAccepted{std::move(service)});
}

void Transport::handle_ext_info(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  const std::uint32_t count = r.uint32();
  if (count > 64) return fail(TransportError::malformed_message, "too many extensions");
  std::optional<wire::NameList> sig_algs;
  for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
    std::string_view ext_name = r.text();
    BytesView value = r.string();
    if (ext_name == "server-sig-algs") {
      sig_algs = wire::NameList::parse(as_chars(value));
      if (!sig_algs) return fail(TransportError::malformed_message, "malformed server-sig-algs");
    }
  }
  if (!r.finish()) return fail(TransportError::malformed_message, "malformed EXT_INFO");
  if (sig_algs) events_.push_back(ServerSigAlgs{sig_algs->names()});
}

void Transport::request_service(std::string_view service) {
  Bytes req;
  wire::Writer(req).byte(msg::service_request).string(service);
  send(req);
}

// ---- Output ----

void Transport::send(BytesView payload) { queue_or_send(payload, false); }

void Transport::send_secret(BytesView payload) { queue_or_send(payload, true); }

void Transport::queue_or_send(BytesView payload, bool secret) {
  if (closed_ || payload.empty()) return;
  // RFC 4253 §7.1: between our KEXINIT and our NEWKEYS only kex messages go out;
  // the rest waits, in order, and leaves right after our NEWKEYS.
  if (!session_id_ || (kex_ && !kex_->sent_newkeys)) {
    pending_.push_back(Pending{Bytes(payload.begin(), payload.end()), secret});
    pending_bytes_ += payload.size();
    return;
  }
  send_packet(payload, secret);
  if (!kex_ && encoder_.bytes_since_rekey() >= config_->rekey_bytes) start_kex(now_);
}

void Transport::flush_pending() {
  while (!pending_.empty() && !closed_) {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    pending_bytes_ -= p.payload.size();
    send_packet(p.payload, p.secret);
    crypto::secure_wipe(p.payload.data(), p.payload.size());  // it may be a USERAUTH_REQUEST with a password
  }
}

void Transport::send_packet(BytesView payload, bool secret) {
  encoder_.encode(payload, rng_, out_, secret ? 64 : 0);
}

void Transport::send_unimplemented(std::uint32_t seq) {
  Bytes p;
  wire::Writer(p).byte(msg::unimplemented).uint32(seq);
  send(p);
}

void Transport::take_output(Bytes& out) {
  if (out.empty()) {
    out.swap(out_);
  } else {
    out.insert(out.end(), out_.begin(), out_.end());
  }
  Bytes().swap(out_);
}

std::optional<Event> Transport::poll_event() {
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

// ---- Time ----

std::optional<Instant> Transport::next_deadline() const {
  if (closed_) return std::nullopt;
  std::optional<Instant> d;
  auto consider = [&](Instant t) {
    if (!d || t < *d) d = t;
  };
  if (ident_deadline_) consider(*ident_deadline_);
  if (kex_) consider(kex_->deadline);
  else if (session_id_) consider(last_kex_done_ + config_->rekey_interval);
  return d;
}

void Transport::on_time(Instant now) {
  if (closed_) return;
  now_ = now;
  if (ident_deadline_ && now >= *ident_deadline_) return fail(TransportError::ident_timeout);
  if (kex_ && now >= kex_->deadline) return fail(TransportError::kex_timeout);
  check_rekey(now);
}

// ---- Ending ----

void Transport::disconnect(DisconnectReason reason, std::string_view description) {
  close_with(TransportError::local_disconnect, reason, std::string(description));
}

void Transport::fail(TransportError error, std::string_view description) {
  close_with(error, disconnect_reason(error),
             description.empty() ? std::string(to_string(error)) : std::string(description));
}

void Transport::close_with(TransportError error, DisconnectReason reason, std::string description) {
  if (closed_) return;
  if (ident_.version()) {
    // The peer speaks the binary protocol: tell it why (RFC 4253 §11.1).
    Bytes p;
    wire::Writer(p).byte(msg::disconnect).uint32(static_cast<std::uint32_t>(reason)).string(description).string(std::string_view{});
    send_packet(p);
  }
  closed_ = true;
  events_.push_back(Disconnected{error, reason, std::move(description)});
  release_state();
}

}  // namespace parley::transport

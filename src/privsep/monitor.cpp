// The monitor's decisions: which exchange hash it signs, which authentication
// request reaches a connection's ServerAuth, which session it grants.
#include "parley/privsep/monitor.hpp"

#include <algorithm>
#include <utility>

#include "parley/crypto/kex.hpp"
#include "parley/login/session_start.hpp"
#include "parley/transport/algorithms.hpp"
#include "parley/transport/exchange_hash.hpp"
#include "parley/transport/messages.hpp"
#include "parley/userauth/messages.hpp"
#include "parley/userauth/server_text.hpp"
#include "parley/wire/name_list.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/text.hpp"

namespace parley::privsep {

struct Monitor::Connection {
  /// The backend the connection opened under: a reload (replace_backend())
  /// does not change an established connection's host keys or policy.
  std::shared_ptr<Backend> backend;
  std::string peer;  // "address:port", for ServerAuth's audit
  /// The first exchange hash signed for this connection (RFC 4253 §7.2).
  std::optional<Bytes> session_id;
  std::unique_ptr<userauth::ServerAuth> auth;
  /// Request ids of authentication requests not yet answered, oldest first.
  Fifo<std::uint64_t> outstanding;
  /// Set once ServerAuth reported Authenticated.
  std::optional<std::string> user;
  /// ServerAuth is done (success or disconnect): no more requests go to it.
  bool auth_over = false;
  bool session_granted = false;
  std::string address;  // the peer's, for the session's SSH_CONNECTION
  std::uint16_t port = 0;
  /// Handles of this connection's programs still running.
  std::set<std::uint64_t> sessions;
  /// Its ServerAuth's deadline as Monitor::deadlines_ holds it.
  std::optional<Instant> deadline;
};

namespace {

/// The method and host-key name-lists of a KEXINIT payload (RFC 4253 §7.1), if
/// it is one: views into the payload, every list checked but none split.
struct KexinitOffer {
  std::string_view kex, host_key;
  bool offers(std::string_view method, std::string_view key_alg) const {
    constexpr auto lenient = wire::EmptyNames::skip;  // as the transport reads a KEXINIT
    return wire::NameList::check(kex, method, lenient).value_or(false) &&
           wire::NameList::check(host_key, key_alg, lenient).value_or(false);
  }
};

std::optional<KexinitOffer> read_kexinit(BytesView payload) {
  wire::Reader r(payload);
  if (r.byte() != transport::msg::kexinit) return std::nullopt;
  r.raw(16);  // cookie
  KexinitOffer offer;
  offer.kex = r.name_list_text(wire::EmptyNames::skip);
  offer.host_key = r.name_list_text(wire::EmptyNames::skip);
  // Ciphers, MACs and compression both ways, then the two language lists.
  for (int list = 0; list < 8; ++list) r.name_list_text(wire::EmptyNames::skip);
  r.boolean();  // first_kex_packet_follows
  r.uint32();   // reserved
  if (!r.finish()) return std::nullopt;
  return offer;
}

bool is_reply(MsgType t) { return std::to_underlying(t) >= std::to_underlying(MsgType::kex_signed); }

/// sshd's bind_permitted(): ports below IPPORT_RESERVED only for whom the policy allows.
bool privileged_port_refused(const session::ChannelPolicy& policy, std::uint32_t port, const std::string& user) {
  return port != 0 && port < 1024 && !(policy.may_bind_privileged_port && policy.may_bind_privileged_port(user));
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

Monitor::Monitor(Backend& backend, crypto::Random& rng, MonitorLimits limits)
    : Monitor(std::shared_ptr<Backend>(std::shared_ptr<Backend>(), &backend), rng, limits) {}

Monitor::Monitor(std::shared_ptr<Backend> backend, crypto::Random& rng, MonitorLimits limits)
    : backend_(std::move(backend)), rng_(rng), limits_(limits) {}

void Monitor::replace_backend(std::shared_ptr<Backend> backend) { backend_ = std::move(backend); }

Monitor::~Monitor() {
  // Each ServerAuth cancels its providers' answers as it goes, so no wake_for()
  // runs after this: before woken_mutex_, declared later, is gone.
  conns_.clear();
}

void Monitor::set_penalty_listener(std::function<void(const PenaltyAccrued&)> listener) {
  penalty_listener_ = std::move(listener);
}

void Monitor::set_wake(std::function<void()> wake) {
  std::lock_guard lock(woken_mutex_);
  wake_ = std::move(wake);
}

std::function<void()> Monitor::wake_for(std::uint64_t conn_id) {
  return [this, conn_id] {
    // Under the lock: set_wake() may change wake_ meanwhile; a wake only posts.
    std::lock_guard lock(woken_mutex_);
    const bool first = woken_.empty();
    woken_.push_back(conn_id);
    if (first && wake_) wake_();  // one wake until the owner's on_time() takes the list
  };
}

std::vector<Bytes> Monitor::take_frames() { return std::exchange(frames_, {}); }
std::vector<LogEvent> Monitor::take_log() { return std::exchange(log_, {}); }
std::vector<Action> Monitor::take_actions() { return std::exchange(actions_, {}); }

const session::ChannelPolicy& Backend::channel_policy() const {
  static const session::ChannelPolicy no_forwarding;  // allow_*_forwarding are false
  return no_forwarding;
}

std::size_t Monitor::outstanding(std::uint64_t conn) const {
  auto it = conns_.find(conn);
  return it == conns_.end() ? 0 : it->second->outstanding.size();
}

void Monitor::handle(BytesView frame, Instant now) {
  if (auto f = decode_frame(frame); f && is_reply(f->type))
    return refuse(0, 0, RefusalReason::not_a_request);
  auto request = decode_request(frame);
  if (!request) {
    log_.push_back({0, 0, RefusalReason::malformed_frame, request.error(),
                    "refused: " + std::string(to_string(RefusalReason::malformed_frame)) + " (" +
                        std::string(to_string(request.error())) + ")", std::nullopt, {}});
    send(Refused{{0, 0}, RefusalReason::malformed_frame});
    return;
  }
  handle(std::move(*request), now);
}

void Monitor::handle(Request request, Instant now) {
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ConnectionOpened>) opened(m, now);
        else if constexpr (std::is_same_v<T, ConnectionClosed>) closed(m);
        else if constexpr (std::is_same_v<T, KexSign>) kex_sign(m);
        else if constexpr (std::is_same_v<T, AuthRequest>) auth_request(m, now);
        else if constexpr (std::is_same_v<T, InfoResponse>) info_response(m, now);
        else if constexpr (std::is_same_v<T, SessionStart>) session_start(m);
        else if constexpr (std::is_same_v<T, SessionSpawn>) session_spawn(m);
        else if constexpr (std::is_same_v<T, SessionSignal>) session_signal(m);
        else if constexpr (std::is_same_v<T, ForwardConnect>) forward_connect(m);
        else if constexpr (std::is_same_v<T, PenaltyAccrued>) {
          if (penalty_listener_) penalty_listener_(m);
        } else forward_listen(m);
      },
      request);
}

void Monitor::opened(const ConnectionOpened& m, Instant now) {
  if (conns_.contains(m.conn)) return refuse(m.conn, 0, RefusalReason::connection_exists);
  if (conns_.size() >= limits_.max_connections)
    return refuse(m.conn, 0, RefusalReason::too_many_connections);
  auto c = std::make_unique<Connection>();
  c->backend = backend_;
  c->peer = m.address + ":" + std::to_string(m.port);
  c->address = m.address;
  c->port = m.port;
  c->auth = std::make_unique<userauth::ServerAuth>(c->backend->auth_config(m.address, m.port), c->peer, now);
  c->auth->set_wake(wake_for(m.conn));
  log(m.conn, 0, "connection opened from " + c->peer);
  reindex(m.conn, *c);
  conns_.emplace(m.conn, std::move(c));
}

void Monitor::closed(const ConnectionClosed& m) {
  auto it = conns_.find(m.conn);
  if (it == conns_.end()) return refuse(m.conn, 0, RefusalReason::unknown_connection);
  if (it->second->session_id) session_ids_.erase(*it->second->session_id);
  if (!it->second->sessions.empty()) actions_.push_back(HangUpAction{m.conn});
  if (it->second->deadline) deadlines_.erase({*it->second->deadline, m.conn});
  conns_.erase(it);
  log(m.conn, 0, "connection closed");
}

void Monitor::kex_sign(const KexSign& m) {
  auto it = conns_.find(m.conn);
  if (it == conns_.end()) return refuse(m.conn, m.req, RefusalReason::unknown_connection);
  Connection& c = *it->second;
  const auto kex = transport::kex_from_name(m.kex);
  if (!kex) return refuse(m.conn, m.req, RefusalReason::unknown_kex);
  const auto alg = crypto::signature_alg_from_name(m.host_key_alg);
  const crypto::PrivateKey* key = nullptr;
  if (alg)
    for (const auto& k : c.backend->host_keys())
      if (k.type() == crypto::key_type_for(*alg)) key = &k;
  if (key == nullptr) return refuse(m.conn, m.req, RefusalReason::host_key_not_held);
  // Both KEXINITs must be KEXINITs offering the method and the host key
  // algorithm: H is then over a real exchange's transcript.
  const auto client = read_kexinit(m.i_c), server = read_kexinit(m.i_s);
  if (!client || !server || !client->offers(m.kex, m.host_key_alg) || !server->offers(m.kex, m.host_key_alg))
    return refuse(m.conn, m.req, RefusalReason::bad_kexinit);
  if (m.v_s != c.backend->server_version()) return refuse(m.conn, m.req, RefusalReason::wrong_server_version);
  if (!starts_with(m.v_c, "SSH-2.0-")) return refuse(m.conn, m.req, RefusalReason::bad_client_version);

  // The server's ephemeral value is made here, so every H holds fresh
  // randomness of the monitor's: a transcript recorded from one connection
  // cannot be replayed to give another the same session id.
  auto response = crypto::kex_respond(transport::kex_group(*kex), m.q_c, rng_);
  if (!response) return refuse(m.conn, m.req, RefusalReason::invalid_kex_value);
  const Bytes& k_s = key->public_key().blob();
  const crypto::SecretBytes k_encoded = transport::encode_shared_secret(*kex, response->shared);
  Bytes h = transport::exchange_hash({*kex, m.v_c, m.v_s, m.i_c, m.i_s, k_s, m.q_c, response->reply},
                                     k_encoded.view());
  if (session_ids_.contains(h)) return refuse(m.conn, m.req, RefusalReason::session_id_replayed);
  KexSigned reply{{m.conn, m.req}, k_s, response->reply, response->shared, key->sign(*alg, h), h, {}};
  if (!c.session_id) {
    c.session_id = h;
    session_ids_.insert(h);
    // The network process answers the usual first "none" with this at once
    // and sends the request on later, so it costs no wait for this process.
    reply.none_reply = c.auth->first_none_reply();
  }
  log(m.conn, m.req, "signed the exchange hash of a " + m.kex + " key exchange with " + m.host_key_alg);
  send(reply);
}

Monitor::Connection* Monitor::admit_auth(std::uint64_t conn, std::uint64_t req) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) {
    refuse(conn, req, RefusalReason::unknown_connection);
    return nullptr;
  }
  Connection& c = *it->second;
  RefusalReason why{};
  if (!c.session_id) why = RefusalReason::no_key_exchange;
  else if (c.auth_over) why = RefusalReason::authentication_over;
  else if (c.outstanding.size() >= limits_.max_outstanding) why = RefusalReason::too_many_outstanding;
  else if (std::find(c.outstanding.begin(), c.outstanding.end(), req) != c.outstanding.end())
    why = RefusalReason::duplicate_request;
  else {
    c.outstanding.push_back(req);
    return &c;
  }
  refuse(conn, req, why);
  return nullptr;
}

void Monitor::auth_request(const AuthRequest& m, Instant now) {
  Connection* c = admit_auth(m.conn, m.req);
  if (!c) return;
  // ServerAuth takes the SSH message; the monitor builds it from the typed
  // fields. A publickey signature is then checked against the data ServerAuth
  // builds from this connection's session id (RFC 4252 §7), not any other.
  feed(m.conn, *c, m.request.encode(), now);
}

void Monitor::info_response(const InfoResponse& m, Instant now) {
  Connection* c = admit_auth(m.conn, m.req);
  if (!c) return;
  feed(m.conn, *c, userauth::InfoResponse{m.answers}.encode(), now);
}

void Monitor::feed(std::uint64_t conn_id, Connection& c, Bytes payload, Instant now) {
  c.auth->handle(payload, *c.session_id, now);
  crypto::secure_wipe(payload.data(), payload.size());
  drain(conn_id, c);
}

void Monitor::session_start(const SessionStart& m) {
  auto it = conns_.find(m.conn);
  if (it == conns_.end()) return refuse(m.conn, m.req, RefusalReason::unknown_connection);
  Connection& c = *it->second;
  if (!c.user) return refuse(m.conn, m.req, RefusalReason::not_authenticated);
  if (*c.user != m.user) return refuse(m.conn, m.req, RefusalReason::wrong_user);
  if (c.session_granted) return refuse(m.conn, m.req, RefusalReason::session_already_started);
  c.session_granted = true;
  log(m.conn, m.req, "session granted to " + *c.user);
  send(SessionGranted{{m.conn, m.req}, *c.user});
}

void Monitor::session_spawn(const SessionSpawn& m) {
  auto it = conns_.find(m.conn);
  if (it == conns_.end()) return refuse(m.conn, m.req, RefusalReason::unknown_connection);
  Connection& c = *it->second;
  // Only after SessionStart was granted, which only a completed chain gets.
  if (!c.session_granted || !c.user) return refuse(m.conn, m.req, RefusalReason::session_not_granted);
  if (*c.user != m.user) return refuse(m.conn, m.req, RefusalReason::wrong_user);
  if (c.sessions.size() >= limits_.max_sessions) return refuse(m.conn, m.req, RefusalReason::too_many_sessions);
  const std::uint64_t handle = next_handle_++;
  c.sessions.insert(handle);
  log(m.conn, m.req, "session program for " + *c.user + " (handle " + std::to_string(handle) + ")");
  SpawnAction action{m.conn, m.req, handle, *c.user, m, c.address, c.port};
  // The client's variables pass the policy's allow-list here too (LD_PRELOAD
  // and the like never reach a program because the network process says so).
  std::erase_if(action.request.env, [&](const EnvVar& e) { return !env_allowed(c, e.name); });
  actions_.push_back(std::move(action));
}

bool Monitor::env_allowed(const Connection& c, std::string_view name) const {
  const auto& allow = c.backend->channel_policy().env_allow;
  return std::any_of(allow.begin(), allow.end(), [&](const std::string& p) { return wire::glob_match(p, name); });
}

void Monitor::session_signal(const SessionSignal& m) {
  auto it = conns_.find(m.conn);
  if (it == conns_.end()) return refuse(m.conn, 0, RefusalReason::unknown_connection);
  if (!it->second->sessions.contains(m.handle)) return refuse(m.conn, 0, RefusalReason::unknown_session);
  const int number = login::signal_number(m.signal);
  if (number == 0) return refuse(m.conn, 0, RefusalReason::unknown_signal);
  actions_.push_back(SignalAction{m.conn, m.handle, number});
}

void Monitor::session_ended(std::uint64_t conn, std::uint64_t handle) {
  if (auto it = conns_.find(conn); it != conns_.end()) it->second->sessions.erase(handle);
}

Monitor::Connection* Monitor::authenticated(std::uint64_t conn, std::uint64_t req) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) {
    refuse(conn, req, RefusalReason::unknown_connection);
    return nullptr;
  }
  if (!it->second->user) {
    refuse(conn, req, RefusalReason::not_authenticated);
    return nullptr;
  }
  return it->second.get();
}

void Monitor::forward_connect(const ForwardConnect& m) {
  Connection* c = authenticated(m.conn, m.req);
  if (!c) return;
  const session::ChannelPolicy& policy = c->backend->channel_policy();
  if (!policy.allow_local_forwarding || !session::open_permitted(policy.permit_open, m.host, m.port))
    return refuse(m.conn, m.req, RefusalReason::forward_not_permitted);
  actions_.push_back(ConnectAction{m.conn, m.req, m.host, static_cast<std::uint16_t>(m.port)});
}

void Monitor::forward_listen(const ForwardListen& m) {
  Connection* c = authenticated(m.conn, m.req);
  if (!c) return;
  const session::ChannelPolicy& policy = c->backend->channel_policy();
  if (!policy.allow_remote_forwarding || !session::listen_permitted(policy.permit_listen, m.host, m.port))
    return refuse(m.conn, m.req, RefusalReason::forward_not_permitted);
  if (privileged_port_refused(policy, m.port, *c->user)) {
    log(m.conn, m.req, "tcpip-forward " + userauth::printable_for_log(m.host, 256) + ":" + std::to_string(m.port) +
                           " refused: a privileged port, and the user is not root");
    return refuse(m.conn, m.req, RefusalReason::privileged_port);
  }
  // Without GatewayPorts a listener is on loopback, whatever address was asked for.
  const std::string address = policy.gateway_ports ? m.host : "127.0.0.1";
  actions_.push_back(ListenAction{m.conn, m.req, address, static_cast<std::uint16_t>(m.port)});
}

void Monitor::on_time(Instant now) {
  std::vector<std::uint64_t> due;
  {
    std::lock_guard lock(woken_mutex_);
    due.swap(woken_);
  }
  for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first <= now; ++it) due.push_back(it->second);
  std::sort(due.begin(), due.end());
  due.erase(std::unique(due.begin(), due.end()), due.end());
  for (const std::uint64_t id : due) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->auth_over) continue;  // gone, or its chain decided
    it->second->auth->on_time(now);
    drain(id, *it->second);
  }
}

std::optional<Instant> Monitor::next_deadline() const {
  // Kept in order as each connection changes: asked after every frame, so a
  // walk over every connection would make each frame cost more as they grow.
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

void Monitor::reindex(std::uint64_t conn_id, Connection& c) {
  std::optional<Instant> d;
  if (!c.auth_over && c.auth) d = c.auth->next_deadline();
  if (d == c.deadline) return;
  if (c.deadline) deadlines_.erase({*c.deadline, conn_id});
  c.deadline = d;
  if (d) deadlines_.insert({*d, conn_id});
}

void Monitor::drain(std::uint64_t conn_id, Connection& c) {
  // Each reply message (not a BANNER) answers one request, oldest first (RFC
  // 4252 §5: the server answers every request); a BANNER goes with the next.
  std::vector<AuthReply> replies;
  auto new_reply = [&](std::uint64_t req) -> AuthReply& {
    AuthReply& r = replies.emplace_back();
    r.conn = conn_id;
    r.req = req;
    return r;
  };
  std::vector<Bytes> banner;
  for (auto& message : c.auth->take_messages()) {
    if (!message.empty() && message.front() == userauth::msg::userauth_banner) {
      banner.push_back(std::move(message));
      continue;
    }
    AuthReply& reply = new_reply(0);
    reply.packets = std::exchange(banner, {});
    reply.packets.push_back(std::move(message));
    if (!c.outstanding.empty()) {
      reply.req = c.outstanding.front();
      c.outstanding.pop_front();
    }
  }
  if (!banner.empty()) new_reply(0).packets = std::move(banner);
  while (auto event = c.auth->poll_event()) {
    if (auto* a = std::get_if<userauth::AuditRecord>(&*event)) {
      log(conn_id, 0, userauth::audit_line(*a, c.peer));  // never an answer or a prompt
      log_.back().audit = *a;
      log_.back().peer = c.peer;
    } else if (auto* ok = std::get_if<userauth::Authenticated>(&*event)) {
      c.user = ok->user;
      c.auth_over = true;
      c.outstanding.clear();
      log(conn_id, 0, "authenticated " + userauth::printable_for_log(ok->user, 64));
      // The reply carrying USERAUTH_SUCCESS says so.
      auto carries_success = [](const AuthReply& r) {
        return !r.packets.empty() && !r.packets.back().empty() &&
               r.packets.back().front() == userauth::msg::userauth_success;
      };
      auto it = std::find_if(replies.begin(), replies.end(), carries_success);
      AuthReply& reply = it != replies.end() ? *it : new_reply(0);
      reply.status = AuthStatus::success;
      reply.user = ok->user;
      reply.service = ok->service;
    } else if (auto* d = std::get_if<userauth::AuthDisconnect>(&*event)) {
      c.auth_over = true;
      const std::uint64_t req = c.outstanding.empty() ? 0 : c.outstanding.front();
      c.outstanding.clear();
      log(conn_id, req, "authentication ends the connection: " + d->description);
      AuthReply& reply = new_reply(req);
      reply.status = AuthStatus::disconnect;
      reply.reason = std::to_underlying(d->reason);
      reply.description = d->description;
    }
  }
  for (const auto& reply : replies) send(reply);
  // Its chain is decided: what authenticated it is kept above, the rest goes.
  if (c.auth_over) c.auth.reset();
  reindex(conn_id, c);
}

void Monitor::refuse(std::uint64_t conn, std::uint64_t req, RefusalReason reason) {
  log_.push_back({conn, req, reason, std::nullopt, "refused: " + std::string(to_string(reason)), std::nullopt, {}});
  send(Refused{{conn, req}, reason});
}

void Monitor::log(std::uint64_t conn, std::uint64_t req, std::string text) {
  log_.push_back({conn, req, std::nullopt, std::nullopt, std::move(text), std::nullopt, {}});
}

template <class Message>
void Monitor::send(const Message& m) {
  frames_.push_back(m.encode());
}

}  // namespace parley::privsep

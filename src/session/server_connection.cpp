#include "parley/session/server_connection.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

#include "parley/userauth/messages.hpp"
#include "parley/userauth/server_text.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/text.hpp"
#include "parley/wire/writer.hpp"

namespace parley::session {
namespace {

using connection::ChannelId;
using connection::OpenFailure;


bool env_allowed(const std::vector<std::string>& allow, const std::string& name) {
  return std::any_of(allow.begin(), allow.end(),
                     [&](const std::string& p) { return wire::glob_match(p, name); });
}

}  // namespace

namespace {

/// One "host:port" rule split into its parts ("[address]:port" unbracketed);
/// nullopt for a rule that names no port. `port` empty means any port.
struct Rule {
  std::string host;
  std::optional<std::uint32_t> port;
};

std::optional<Rule> parse_rule(const std::string& rule) {
  const auto colon = rule.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  Rule out;
  out.host = rule.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  const std::string port = rule.substr(colon + 1);
  if (port == "*") return out;
  std::uint32_t p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size()) return std::nullopt;
  out.port = p;
  return out;
}

template <typename HostMatches>
bool any_rule(const std::vector<std::string>& rules, std::uint32_t port, HostMatches host_matches) {
  if (rules.empty()) return true;
  for (const auto& text : rules) {
    if (text == "any" || text == "*") return true;  // "*" alone: any host, any port
    const auto rule = parse_rule(text);
    if (!rule || (rule->port && *rule->port != port)) continue;
    if (rule->host == "*" || host_matches(rule->host)) return true;
  }
  return false;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// A bind address as what it means (RFC 4254 §7.1): every interface, loopback,
/// or one named address (lowercased).
std::string normalised_bind_address(std::string_view address) {
  const std::string a = lowercase(address);
  if (a.empty() || a == "*" || a == "0.0.0.0" || a == "::") return "0.0.0.0";
  if (a == "localhost" || a == "127.0.0.1" || a == "::1") return "localhost";
  return a;
}

}  // namespace

bool open_permitted(const std::vector<std::string>& rules, std::string_view host,
                    std::uint32_t port) {
  return any_rule(rules, port, [&](const std::string& rule_host) { return rule_host == host; });
}

bool listen_permitted(const std::vector<std::string>& rules, std::string_view address,
                      std::uint32_t port) {
  const std::string wanted = normalised_bind_address(address);
  return any_rule(rules, port, [&](const std::string& rule_host) {
    return normalised_bind_address(rule_host) == wanted;
  });
}

// ---- per-channel state ----------------------------------------------------

struct ServerConnection::Slot {
  enum class Kind : std::uint8_t { session, direct_tcpip, forwarded_tcpip };
  Slot(ServerConnection& c, ChannelId i, Kind k);
  ChannelId id;
  Kind kind;
  std::unique_ptr<Io> io;
  std::unique_ptr<connection::ChannelHandler> handler;
  bool confirmed = false;  // the channel is open both ways
  bool blocked = false;    // a write was cut short or found no room: owe on_writable()
  bool pty = false;
  bool started = false;
  // Inside the handler's on_start(): its eof/exit/close wait until the request's
  // reply is out, since nothing may follow our CLOSE (RFC 4254 §5.3).
  bool starting = false;
  std::vector<std::function<void()>> after_reply;
};

class ServerConnection::Io final : public connection::ChannelIo {
 public:
  Io(ServerConnection& c, Slot& s) : conn_(c), slot_(s) {}

  std::size_t writable() const override {
    if (!slot_.confirmed) return 0;
    const std::size_t n = std::min<std::size_t>(conn_.channels_.send_window(slot_.id), conn_.budget());
    if (n == 0) slot_.blocked = true;  // the handler waits for on_writable()
    return n;
  }
  std::size_t write(BytesView data) override { return send(data, 0); }
  std::size_t write_stderr(BytesView data) override { return send(data, 1); }
  void consumed(std::size_t n) override {
    conn_.channels_.consumed(slot_.id, n);
    conn_.request_flush();
  }
  void eof() override {
    if (defer([this] { eof(); })) return;
    conn_.channels_.send_eof(slot_.id);
    conn_.request_flush();
  }
  void exit_status(std::uint32_t status) override {
    if (defer([this, status] { exit_status(status); })) return;
    conn_.channels_.request(slot_.id, "exit-status", false, connection::encode(connection::ExitStatus{status}));
    conn_.request_flush();
  }
  void exit_signal(const connection::ExitSignal& signal) override {
    if (defer([this, signal] { exit_signal(signal); })) return;
    conn_.channels_.request(slot_.id, "exit-signal", false, connection::encode(signal));
    conn_.request_flush();
  }
  void close() override {
    if (defer([this] { close(); })) return;
    conn_.channels_.close(slot_.id);
    conn_.request_flush();
  }
  void confirm() override {
    if (slot_.confirmed || slot_.kind == Slot::Kind::forwarded_tcpip) return;
    slot_.confirmed = true;
    conn_.channels_.accept(slot_.id);
    conn_.request_flush();
  }
  void reject(OpenFailure reason, std::string_view description) override {
    if (slot_.confirmed || slot_.kind == Slot::Kind::forwarded_tcpip) return;
    conn_.note("channel " + std::to_string(slot_.id) + " open failed: " + userauth::printable_for_log(description));
    conn_.channels_.reject(slot_.id, reason, description);
    conn_.request_flush();
    // The id is free again: forget the slot once the handler's call has returned.
    conn_.retire(slot_.id);
  }

 private:
  /// Keeps `op` for after the reply to the start request in progress, if any.
  bool defer(std::function<void()> op) {
    if (!slot_.starting) return false;
    slot_.after_reply.push_back(std::move(op));
    return true;
  }
  std::size_t send(BytesView data, std::uint32_t extended) {
    const std::size_t n = std::min(data.size(), writable());
    const std::size_t sent = n == 0 ? 0 : conn_.channels_.send_data(slot_.id, data.first(n), extended);
    if (sent < data.size()) slot_.blocked = true;
    if (sent > 0) conn_.request_flush();
    return sent;
  }
  ServerConnection& conn_;
  Slot& slot_;
};

ServerConnection::Slot::Slot(ServerConnection& c, ChannelId i, Kind k)
    : id(i), kind(k), io(std::make_unique<Io>(c, *this)) {}

struct ServerConnection::Call {
  explicit Call(ServerConnection& c) : conn(c) { ++conn.depth_; }
  ~Call() { --conn.depth_; }
  ServerConnection& conn;
};

// ---- the connection -------------------------------------------------------

ServerConnection::ServerConnection(std::shared_ptr<const transport::TransportConfig> transport_config,
                                   std::shared_ptr<const userauth::ServerAuthConfig> auth_config,
                                   crypto::Random& rng, std::string peer, Instant now,
                                   ConnectionObserver observer)
    : transport_(std::move(transport_config), rng, now),
      auth_(std::make_unique<userauth::ServerAuth>(std::move(auth_config), std::move(peer), now)),
      observer_(std::move(observer)),
      channels_([this](BytesView payload) { transport_.send(payload); }) {
  // Messages and channel data reach us without a copy each (see the sinks).
  transport_.set_message_sink([this](std::span<std::uint8_t> payload, std::uint32_t seq) {
    handle_message(payload, seq, now_);
  });
  channels_.set_data_sink([this](ChannelId id, std::uint32_t extended, BytesView data) {
    deliver_data(id, extended, data);
  });
}

ServerConnection::ServerConnection(std::shared_ptr<const transport::TransportConfig> transport_config,
                                   ServerDelegates delegates, crypto::Random& rng, Instant now,
                                   ConnectionObserver observer)
    : transport_(std::move(transport_config), rng, now),
      delegated_(std::make_unique<DelegatedAuth>(std::move(delegates.auth), delegates.limits, now)),
      observer_(std::move(observer)),
      channels_([this](BytesView payload) { transport_.send(payload); }) {
  transport_.set_kex_delegate(std::move(delegates.kex));
  transport_.set_message_sink([this](std::span<std::uint8_t> payload, std::uint32_t seq) {
    handle_message(payload, seq, now_);
  });
  channels_.set_data_sink([this](ChannelId id, std::uint32_t extended, BytesView data) {
    deliver_data(id, extended, data);
  });
}

ServerConnection::~ServerConnection() {
  ++depth_;  // no wake-ups from here on
  *alive_ = false;
  close_all_channels();
}

void ServerConnection::set_channel_services(std::shared_ptr<const ChannelPolicy> policy,
                                            std::unique_ptr<connection::ChannelServices> services) {
  policy_ = std::move(policy);
  services_ = std::move(services);
  channels_ = connection::Channels([this](BytesView payload) { transport_.send(payload); },
                                   policy_ ? policy_->limits : connection::ChannelLimits{});
  channels_.set_data_sink([this](ChannelId id, std::uint32_t extended, BytesView data) {
    deliver_data(id, extended, data);
  });
}

void ServerConnection::set_wake(std::function<void()> wake) {
  wake_ = wake;
  if (auth_) auth_->set_wake(std::move(wake));
}

bool ServerConnection::set_preauth_listener(std::function<void(transport::PreauthState)> listener) {
  if (auth_) auth_->set_preauth_listener(std::move(listener));
  else if (delegated_) delegated_->set_preauth_listener(std::move(listener));
  else listener(transport::PreauthState::authenticated);
  return true;
}

void ServerConnection::kex_answered(std::expected<transport::KexAnswer, transport::TransportError> answer,
                                    Instant now) {
  Call call(*this);
  now_ = now;
  transport_.kex_answered(std::move(answer));
  dispatch(now);
}

void ServerConnection::disconnect(transport::DisconnectReason reason, std::string_view description,
                                  Instant now) {
  Call call(*this);
  now_ = now;
  transport_.disconnect(reason, description);
  dispatch(now);
}

void ServerConnection::auth_answered(AuthDecision decision, Instant now) {
  if (!delegated_) return;
  Call call(*this);
  now_ = now;
  delegated_->answered(std::move(decision), now);
  flush_auth();
  dispatch(now);
}

void ServerConnection::receive(BytesView data, Instant now) {
  Call call(*this);
  now_ = now;
  reap();
  transport_.receive(data, now);
  dispatch(now);
}

void ServerConnection::peer_closed(Instant now) {
  Call call(*this);
  now_ = now;
  transport_.peer_closed(now);
  dispatch(now);
}

void ServerConnection::on_time(Instant now) {
  Call call(*this);
  now_ = now;
  reap();
  transport_.on_time(now);
  if (auth_) auth_->on_time(now);
  else if (delegated_) delegated_->on_time(now);
  flush_auth();
  dispatch(now);
}

std::optional<Instant> ServerConnection::next_deadline() const {
  auto a = transport_.next_deadline();
  auto b = transport_.closed() ? std::nullopt
           : auth_               ? auth_->next_deadline()
           : delegated_          ? delegated_->next_deadline()
                                 : std::nullopt;
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

void ServerConnection::take_output(Bytes& out) {
  const std::size_t before = out.size();
  transport_.take_output(out);
  unwritten_ += out.size() - before;
}

void ServerConnection::on_output_written(Instant) {
  Call call(*this);
  reap();
  unwritten_ = 0;
  wake_blocked();
}

std::size_t ServerConnection::budget() const {
  const std::size_t limit = policy_ ? policy_->max_output_backlog : 0;
  const std::size_t backlog = transport_.pending_output() + unwritten_;
  return backlog >= limit ? 0 : limit - backlog;
}

void ServerConnection::wake_blocked() {
  if (budget() == 0) return;
  // Collect first: a handler's on_writable() may close its channel.
  std::vector<ChannelId> ready;
  for (auto& [id, slot] : slots_)
    if (slot->blocked && slot->confirmed && slot->io->writable() > 0) ready.push_back(id);
  for (ChannelId id : ready) {
    auto it = slots_.find(id);
    if (it == slots_.end()) continue;
    it->second->blocked = false;
    it->second->handler->on_writable();
  }
}

void ServerConnection::request_flush() {
  // Inside receive()/on_time() the driver takes the output when the call returns;
  // otherwise (a process or socket completion) it must be woken to write it.
  if (depth_ == 0 && wake_) wake_();
}

void ServerConnection::dispatch(Instant now) {
  while (auto e = transport_.poll_event()) {
    if (auto* m = std::get_if<transport::Message>(&*e)) {
      handle_message(m->payload, m->seq, now);
      continue;
    }
    if (observer_.on_transport) observer_.on_transport(*e);
  }
  if (transport_.closed()) close_all_channels();
}

void ServerConnection::handle_message(std::span<std::uint8_t> payload, std::uint32_t seq, Instant now) {
  const std::uint8_t id = payload[0];
  if (id >= userauth::msg::userauth_first && id <= userauth::msg::userauth_last) {
    if (!authenticated()) {
      if (auth_) auth_->handle(payload, *transport_.session_id(), now);
      else delegated_->handle(payload, now);
      flush_auth();
    }
    // Answers travel in these messages: leave no copy behind.
    crypto::secure_wipe(payload.data(), payload.size());
  } else if (authenticated()) {
    handle_connection_message(payload, seq);
  } else {
    // RFC 4252 §6: nothing above userauth before authentication succeeds.
    transport_.disconnect(transport::DisconnectReason::protocol_error,
                          "connection message before authentication");
  }
}

void ServerConnection::flush_auth() {
  if (auth_) flush_auth_of(*auth_);
  else if (delegated_) flush_auth_of(*delegated_);
  release_auth();
}

void ServerConnection::release_auth() {
  // Authenticated() is final (RFC 4252 §5.1: later requests are ignored), and
  // flush_auth_of() has just taken every message and event it had.
  if (auth_ && auth_->authenticated()) auth_.reset();
  if (delegated_ && delegated_->authenticated()) delegated_.reset();
}

template <class Auth>
void ServerConnection::flush_auth_of(Auth& auth) {
  for (auto& m : auth.take_messages()) transport_.send(m);
  while (auto e = auth.poll_event()) {
    if (auto* d = std::get_if<userauth::AuthDisconnect>(&*e)) transport_.disconnect(d->reason, d->description);
    if (auto* a = std::get_if<userauth::Authenticated>(&*e)) user_ = a->user;
    if (observer_.on_auth) observer_.on_auth(*e);
  }
}

void ServerConnection::handle_connection_message(BytesView payload, std::uint32_t seq) {
  if (!connection::Channels::handles(payload[0])) {
    transport_.send_unimplemented(seq);
    return;
  }
  if (auto handled = channels_.handle(payload); !handled) return fail(handled.error());
  while (auto e = channels_.poll_event()) {
    handle_channel_event(*e);
    if (transport_.closed()) return;
  }
}

void ServerConnection::deliver_data(ChannelId id, std::uint32_t extended, BytesView data) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  if (extended != 0) {  // a client's extended data means nothing to a server
    channels_.consumed(id, data.size());
    return;
  }
  it->second->handler->on_data(data);
}

void ServerConnection::fail(connection::ConnectionError e) {
  note("connection ended: " + std::string(connection::to_string(e)));
  transport_.disconnect(connection::disconnect_reason(e), connection::to_string(e));
}

void ServerConnection::handle_channel_event(connection::Event& event) {
  std::visit(
      [&](auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, connection::OpenRequested>) {
          handle_open(e);
        } else if constexpr (std::is_same_v<E, connection::GlobalRequest>) {
          handle_global(e);
        } else if constexpr (std::is_same_v<E, connection::GlobalReply>) {
          // We make no global requests.
        } else {
          auto it = slots_.find(e.id);
          if (it == slots_.end()) return;
          Slot& slot = *it->second;
          if constexpr (std::is_same_v<E, connection::Data>) {
            deliver_data(e.id, e.extended, e.bytes);
          } else if constexpr (std::is_same_v<E, connection::Eof>) {
            slot.handler->on_eof();
          } else if constexpr (std::is_same_v<E, connection::Closed>) {
            auto owned = std::move(it->second);
            slots_.erase(it);
            if (owned->kind == Slot::Kind::session) --sessions_;
            owned->handler->on_closed();
          } else if constexpr (std::is_same_v<E, connection::Request>) {
            handle_request(slot, e);
          } else if constexpr (std::is_same_v<E, connection::Writable>) {
            if (slot.blocked && slot.io->writable() > 0) {
              slot.blocked = false;
              slot.handler->on_writable();
            }
          } else if constexpr (std::is_same_v<E, connection::OpenConfirmed>) {
            slot.confirmed = true;
            slot.handler->on_writable();
          } else if constexpr (std::is_same_v<E, connection::OpenFailed>) {
            auto owned = std::move(it->second);
            slots_.erase(it);
            note("forwarded-tcpip refused by the client: " + userauth::printable_for_log(e.description));
            owned->handler->on_closed();
          } else if constexpr (std::is_same_v<E, connection::RequestReply>) {
            // We send no channel requests that want a reply.
          }
        }
      },
      event);
}

void ServerConnection::handle_open(connection::OpenRequested& e) {
  const std::string id_text = std::to_string(e.id);
  if (!services_ || !policy_) {
    channels_.reject(e.id, OpenFailure::administratively_prohibited, "open failed");
    return;
  }
  if (e.type == "session") {
    if (no_more_sessions_ || sessions_ >= policy_->max_sessions) {
      note("session refused: " + std::string(no_more_sessions_ ? "no-more-sessions was requested"
                                                                : "too many sessions"));
      channels_.reject(e.id, OpenFailure::administratively_prohibited, "open failed");
      return;
    }
    auto handler = services_->session(user_);
    if (!handler) {
      channels_.reject(e.id, OpenFailure::administratively_prohibited, "open failed");
      return;
    }
    auto slot = std::make_unique<Slot>(*this, e.id, Slot::Kind::session);
    slot->handler = std::move(handler);
    Slot& s = *slot;
    slots_.emplace(e.id, std::move(slot));
    ++sessions_;
    if (s.handler->attach(*s.io)) s.io->confirm();
    return;
  }
  if (e.type == "direct-tcpip") {
    auto target = connection::parse_tcpip_open(e.extra);
    if (!target) return fail(target.error());
    const std::string where = userauth::printable_for_log(target->host, 256) + ":" + std::to_string(target->port);
    if (!policy_->allow_local_forwarding ||
        !open_permitted(policy_->permit_open, target->host, target->port)) {
      note("direct-tcpip to " + where + " refused: not permitted");
      channels_.reject(e.id, OpenFailure::administratively_prohibited, "open failed");
      return;
    }
    auto handler = services_->connect(*target);
    if (!handler) {
      channels_.reject(e.id, OpenFailure::connect_failed, "connect failed");
      return;
    }
    note("direct-tcpip " + id_text + " to " + where);
    auto slot = std::make_unique<Slot>(*this, e.id, Slot::Kind::direct_tcpip);
    slot->handler = std::move(handler);
    Slot& s = *slot;
    slots_.emplace(e.id, std::move(slot));
    if (s.handler->attach(*s.io)) s.io->confirm();
    return;
  }
  note("channel type '" + userauth::printable_for_log(e.type, 64) + "' refused");
  channels_.reject(e.id, OpenFailure::unknown_channel_type, "unknown channel type");
}

void ServerConnection::handle_request(Slot& slot, connection::Request& e) {
  bool ok = false;
  if (slot.kind != Slot::Kind::session) {
    if (e.want_reply) channels_.reply(e.id, false);
    return;
  }
  auto& h = *slot.handler;
  if (e.type == "pty-req") {
    auto r = connection::parse_pty_request(e.data);
    if (!r) return fail(r.error());
    ok = !slot.pty && !slot.started && h.on_pty(*r);
    slot.pty = slot.pty || ok;
  } else if (e.type == "env") {
    auto r = connection::parse_env(e.data);
    if (!r) return fail(r.error());
    // OpenSSH's AcceptEnv: a variable off the list is refused, quietly.
    ok = !slot.started && env_allowed(policy_->env_allow, r->name) && h.on_env(*r);
  } else if (e.type == "shell" || e.type == "exec" || e.type == "subsystem") {
    auto r = connection::parse_start(e.type, e.data);
    if (!r) return fail(r.error());
    if (!slot.started) {
      slot.starting = true;
      ok = h.on_start(*r);
      slot.starting = false;
      slot.started = ok;
      note("session " + std::to_string(e.id) + ": " + e.type +
           (r->kind == connection::StartRequest::Kind::subsystem ? " " + userauth::printable_for_log(r->command, 64) : "") +
           (ok ? "" : " refused"));
    }
  } else if (e.type == "window-change") {
    auto r = connection::parse_window_change(e.data);
    if (!r) return fail(r.error());
    if (slot.pty) h.on_window_change(*r);
    ok = slot.pty;
  } else if (e.type == "signal") {
    auto r = connection::parse_signal(e.data);
    if (!r) return fail(r.error());
    ok = slot.started && h.on_signal(*r);
  }
  // Anything else (x11-req, auth-agent-req@openssh.com, keepalive@openssh.com,
  // eow@openssh.com, ...) fails, as OpenSSH answers what it does not offer.
  if (e.want_reply) channels_.reply(e.id, ok);
  for (auto& op : std::exchange(slot.after_reply, {})) op();
}

void ServerConnection::handle_global(connection::GlobalRequest& e) {
  bool ok = false;
  Bytes reply_data;
  if (e.name == "tcpip-forward" || e.name == "cancel-tcpip-forward") {
    auto r = connection::parse_forward_request(e.data);
    if (!r) return fail(r.error());
    const std::string where = userauth::printable_for_log(r->address, 256) + ":" + std::to_string(r->port);
    auto key = std::make_pair(r->address, r->port);
    if (e.name == "cancel-tcpip-forward") {
      ok = listeners_.erase(key) > 0;
    } else if (!services_ || !policy_ || !policy_->allow_remote_forwarding ||
               !listen_permitted(policy_->permit_listen, r->address, r->port) || r->port > 65535 ||
               listeners_.contains(key)) {
      note("tcpip-forward " + where + " refused");
    } else if (r->port != 0 && r->port < 1024 &&
               !(policy_->may_bind_privileged_port && policy_->may_bind_privileged_port(user_))) {
      // sshd's bind_permitted(): ports below IPPORT_RESERVED for uid 0 only.
      note("tcpip-forward " + where + " refused: a privileged port, and the user is not root");
    } else if (listeners_.size() >= policy_->max_forward_listeners) {
      note("tcpip-forward " + where + " refused: " + std::to_string(listeners_.size()) +
           " listeners already (max_forward_listeners)");
    } else {
      connection::ForwardRequest bind = *r;
      if (!policy_->gateway_ports) bind.address = "127.0.0.1";  // as OpenSSH without GatewayPorts
      std::weak_ptr<bool> alive = alive_;
      auto listener = services_->listen(
          bind, [this, alive, requested = *r](std::unique_ptr<connection::ChannelHandler> handler,
                                              connection::TcpipOpen open) {
            if (alive.expired() || !*alive.lock()) return;
            open.host = requested.address;  // the client names the forward as it asked for it
            if (requested.port != 0) open.port = requested.port;
            accept_forwarded(std::move(handler), open);
          });
      if (listener) {
        ok = true;
        if (r->port == 0) wire::Writer(reply_data).uint32((*listener)->port());
        note("tcpip-forward " + where + " listening on port " + std::to_string((*listener)->port()));
        key.second = r->port == 0 ? (*listener)->port() : r->port;
        listeners_.emplace(key, std::move(*listener));
      } else {
        note("tcpip-forward " + where + " failed: " + listener.error());
      }
    }
  } else if (e.name == "no-more-sessions@openssh.com") {
    no_more_sessions_ = true;  // OpenSSH's guard against a hijacked multiplexing master
    ok = true;
  }
  // keepalive@openssh.com and anything unknown: failure, as OpenSSH answers.
  if (e.want_reply) channels_.global_reply(ok, reply_data);
}

void ServerConnection::accept_forwarded(std::unique_ptr<connection::ChannelHandler> handler,
                                        const connection::TcpipOpen& open) {
  if (transport_.closed()) return;
  auto id = channels_.open("forwarded-tcpip", connection::encode(open));
  if (!id) {
    note("forwarded connection dropped: too many channels");
    return;  // the handler (and its socket) go away here
  }
  auto slot = std::make_unique<Slot>(*this, *id, Slot::Kind::forwarded_tcpip);
  slot->handler = std::move(handler);
  Slot& s = *slot;
  slots_.emplace(*id, std::move(slot));
  s.handler->attach(*s.io);
  request_flush();
}

void ServerConnection::retire(ChannelId id) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  if (it->second->kind == Slot::Kind::session) --sessions_;
  retired_.push_back(std::move(it->second));
  slots_.erase(it);
  request_flush();
}

void ServerConnection::reap() {
  auto retired = std::move(retired_);
  retired_.clear();
  for (auto& slot : retired) slot->handler->on_closed();
}

void ServerConnection::close_all_channels() {
  reap();
  listeners_.clear();
  while (!slots_.empty()) {
    auto it = slots_.begin();
    auto owned = std::move(it->second);
    slots_.erase(it);
    owned->handler->on_closed();
  }
  sessions_ = 0;
}

}  // namespace parley::session

// The monitor protocol's frames and messages: one encoder and one decoder per
// message, every field read through wire::Reader with its bound.
#include "parley/privsep/protocol.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <variant>

#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "parley/wire/enum_names.hpp"

namespace parley::privsep {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;  // clang 16 has no aggregate deduction

ProtocolError from_wire(wire::DecodeError e) {
  switch (e) {
    case wire::DecodeError::truncated: return ProtocolError::truncated;
    case wire::DecodeError::trailing_bytes: return ProtocolError::trailing_bytes;
    case wire::DecodeError::too_long: return ProtocolError::field_too_long;
    case wire::DecodeError::not_utf8: return ProtocolError::not_utf8;
    default: return ProtocolError::bad_value;
  }
}

bool known_type(std::uint8_t t) {
  switch (static_cast<MsgType>(t)) {
    case MsgType::connection_opened:
    case MsgType::connection_closed:
    case MsgType::kex_sign:
    case MsgType::auth_request:
    case MsgType::info_response:
    case MsgType::session_start:
    case MsgType::session_spawn:
    case MsgType::session_signal:
    case MsgType::forward_connect:
    case MsgType::forward_listen:
    case MsgType::penalty_accrued:
    case MsgType::kex_signed:
    case MsgType::auth_reply:
    case MsgType::session_granted:
    case MsgType::refused:
    case MsgType::session_spawned:
    case MsgType::session_exited:
    case MsgType::forward_connected:
    case MsgType::forward_listening:
    case MsgType::host_keys:
    case MsgType::reconfigure:
    case MsgType::shared_penalties: return true;
  }
  return false;
}

/// Builds a frame: the length is patched in once the body is written. A frame
/// that carries a secret reserves the largest frame first, so the buffer never
/// grows and leaves an unwiped copy behind.
template <class Body>
Bytes frame(MsgType type, bool holds_secret, Body&& body) {
  Bytes out;
  out.reserve(holds_secret ? frame_header + max_frame : 64);
  wire::Writer w(out);
  w.uint32(0).byte(std::to_underlying(type));
  body(w);
  Bytes length;
  wire::Writer(length).uint32(static_cast<std::uint32_t>(out.size() - 4));
  std::copy(length.begin(), length.end(), out.begin());
  return out;
}

/// Reads one message's body; finish() maps the first failure to a ProtocolError.
class BodyReader {
 public:
  explicit BodyReader(BytesView body) : r_(body) {}
  std::uint64_t id() { return r_.uint64(); }
  std::uint32_t uint32() { return r_.uint32(); }
  std::uint8_t byte() { return r_.byte(); }
  bool boolean() { return r_.boolean(); }
  std::string text(std::size_t max) { return std::string(r_.utf8(max)); }
  Bytes bytes(std::size_t max) {
    const BytesView v = r_.string(max);
    return Bytes(v.begin(), v.end());
  }
  crypto::SecretBytes secret(std::size_t max) { return crypto::SecretBytes(r_.string(max)); }
  /// Fields that share one bound, in order: text, bytes or a secret by their type.
  template <class... Field>
  void strings(std::size_t max, Field&... fields) {
    ((fields = read_string<Field>(max)), ...);
  }
  /// Marks a semantic fault (an enum out of range); the first fault wins.
  void refuse(ProtocolError e) {
    if (r_.ok() && !fault_) fault_ = e;
  }
  bool ok() const { return r_.ok() && !fault_; }
  template <class T>
  std::expected<T, ProtocolError> finish(T value) {
    // A fault is kept only if it came before any wire failure, so it goes first.
    if (fault_) return std::unexpected(*fault_);
    if (auto done = r_.finish(); !done) return std::unexpected(from_wire(done.error()));
    return value;
  }

 private:
  template <class Field>
  Field read_string(std::size_t max) {
    if constexpr (std::is_same_v<Field, std::string>) return text(max);
    else if constexpr (std::is_same_v<Field, Bytes>) return bytes(max);
    else return secret(max);
  }

  wire::Reader r_;
  std::optional<ProtocolError> fault_;
};

/// Decodes a frame that must be of type T: `fields` reads the body into the
/// message after its connection id (and request id, when T has one).
template <class T, class Fields>
std::expected<T, ProtocolError> decode_as(BytesView bytes, Fields&& fields) {
  auto f = decode_frame(bytes);
  if (!f) return std::unexpected(f.error());
  if (f->type != T::type) return std::unexpected(ProtocolError::wrong_type);
  BodyReader r(f->body);
  T m;
  m.conn = r.id();
  if constexpr (requires { m.req; }) m.req = r.id();
  fields(r, m);
  return r.finish(std::move(m));
}

// The method part of an AuthRequest, tagged (the wire format's own tags).
enum class FieldsKind : std::uint8_t {
  none = 1,
  password,
  publickey,
  keyboard_interactive,
  other,
  malformed,
};

void write_fields(wire::Writer& w, const userauth::MethodFields& fields) {
  std::visit(Overloaded{
                 [&](const userauth::NoneFields&) { w.byte(std::to_underlying(FieldsKind::none)); },
                 [&](const userauth::PasswordFields& f) {
                   w.byte(std::to_underlying(FieldsKind::password)).string(f.password.view());
                   w.boolean(f.new_password.has_value());
                   if (f.new_password) w.string(f.new_password->view());
                 },
                 [&](const userauth::PublickeyFields& f) {
                   w.byte(std::to_underlying(FieldsKind::publickey)).string(f.algorithm).string(f.key_blob);
                   w.boolean(f.signature.has_value());
                   if (f.signature) w.string(*f.signature);
                 },
                 [&](const userauth::KeyboardInteractiveFields& f) {
                   w.byte(std::to_underlying(FieldsKind::keyboard_interactive))
                       .string(f.language)
                       .string(f.submethods);
                 },
                 [&](const userauth::OtherMethod& f) {
                   w.byte(std::to_underlying(FieldsKind::other)).string(f.method);
                 },
                 [&](const userauth::MalformedFields& f) {
                   w.byte(std::to_underlying(FieldsKind::malformed)).string(f.method);
                   w.byte(std::to_underlying(f.error.fault)).uint32(f.error.count);
                 },
             },
             fields);
}

userauth::MethodFields read_fields(BodyReader& r) {
  switch (static_cast<FieldsKind>(r.byte())) {
    case FieldsKind::none: return userauth::NoneFields{};
    case FieldsKind::password: {
      userauth::PasswordFields f{r.secret(max_secret), std::nullopt};
      if (r.boolean()) f.new_password = r.secret(max_secret);
      return f;
    }
    case FieldsKind::publickey: {
      userauth::PublickeyFields f{r.text(max_name), r.bytes(max_key), std::nullopt};
      if (r.boolean()) f.signature = r.bytes(max_key);
      return f;
    }
    case FieldsKind::keyboard_interactive: {
      std::string language = r.text(max_name);
      return userauth::KeyboardInteractiveFields{std::move(language), r.text(max_name * 4)};
    }
    case FieldsKind::other: return userauth::OtherMethod{r.text(max_name)};
    case FieldsKind::malformed: {
      userauth::MalformedFields f{r.text(max_name), {}};
      const std::uint8_t fault = r.byte();
      if (fault > std::to_underlying(userauth::DecodeFault::count_mismatch))
        r.refuse(ProtocolError::bad_value);
      f.error = {static_cast<userauth::DecodeFault>(fault), r.uint32()};
      return f;
    }
  }
  r.refuse(ProtocolError::bad_value);
  return userauth::NoneFields{};
}

/// A TCP port: a uint32 on the wire, refused over 65535.
std::uint16_t read_port(BodyReader& r) {
  const std::uint32_t number = r.uint32();
  if (number > 65535) r.refuse(ProtocolError::bad_value);
  return static_cast<std::uint16_t>(number);
}

void write_terminal(wire::Writer& w, const std::optional<Terminal>& pty) {
  w.boolean(pty.has_value());
  if (!pty) return;
  w.string(pty->term).uint32(pty->cols).uint32(pty->rows).uint32(pty->width_px).uint32(pty->height_px);
  w.string(pty->modes);
}

std::optional<Terminal> read_terminal(BodyReader& r) {
  if (!r.boolean()) return std::nullopt;
  Terminal t;
  t.term = r.text(max_name);
  t.cols = r.uint32();
  t.rows = r.uint32();
  t.width_px = r.uint32();
  t.height_px = r.uint32();
  t.modes = r.bytes(max_modes);
  return t;
}

}  // namespace

std::string_view to_string(ProtocolError e) {
  constexpr std::array<std::string_view, 9> names{
      "truncated", "oversized", "length_mismatch", "unknown_type", "wrong_type",
      "trailing_bytes", "field_too_long", "not_utf8", "bad_value"};
  static_assert(names.size() ==
                wire::enum_count(ProtocolError::truncated, ProtocolError::bad_value));
  return wire::enum_name(e, names);
}

std::string_view to_string(RefusalReason r) {
  constexpr std::array<std::string_view, 28> names{
      "malformed_frame", "not_a_request", "unknown_connection", "connection_exists",
      "too_many_connections", "too_many_outstanding", "duplicate_request", "unknown_kex",
      "host_key_not_held", "bad_kexinit", "wrong_server_version", "bad_client_version",
      "invalid_kex_value", "session_id_replayed", "no_key_exchange", "authentication_over",
      "not_authenticated", "wrong_user", "session_already_started", "session_not_granted",
      "too_many_sessions", "unknown_session", "unknown_signal", "forward_not_permitted",
      "privileged_port", "spawn_failed", "connect_failed", "listen_failed"};
  static_assert(names.size() == wire::enum_count(RefusalReason::malformed_frame, RefusalReason::listen_failed));
  return wire::enum_name(r, names, RefusalReason::malformed_frame);
}

std::expected<Frame, ProtocolError> decode_frame(BytesView bytes) {
  wire::Reader r(bytes);
  const std::uint32_t length = r.uint32();
  if (!r.ok()) return std::unexpected(ProtocolError::truncated);
  if (length > max_frame) return std::unexpected(ProtocolError::oversized);
  if (length == 0 || length > r.remaining()) return std::unexpected(ProtocolError::truncated);
  if (length != r.remaining()) return std::unexpected(ProtocolError::length_mismatch);
  const std::uint8_t type = r.byte();
  if (!known_type(type)) return std::unexpected(ProtocolError::unknown_type);
  return Frame{static_cast<MsgType>(type), r.rest()};
}

// ---- network -> monitor

Bytes ConnectionOpened::encode() const {
  return frame(type, false, [&](wire::Writer& w) { w.uint64(conn).string(address).uint32(port); });
}

std::expected<ConnectionOpened, ProtocolError> ConnectionOpened::decode(BytesView bytes) {
  return decode_as<ConnectionOpened>(bytes, [](BodyReader& r, ConnectionOpened& m) {
    m.address = r.text(max_name);
    m.port = read_port(r);
  });
}

Bytes ConnectionClosed::encode() const {
  return frame(type, false, [&](wire::Writer& w) { w.uint64(conn); });
}

std::expected<ConnectionClosed, ProtocolError> ConnectionClosed::decode(BytesView bytes) {
  return decode_as<ConnectionClosed>(bytes, [](BodyReader&, ConnectionClosed&) {});
}

Bytes KexSign::encode() const {
  return frame(type, false, [&](wire::Writer& w) {
    w.uint64(conn).uint64(req).string(kex).string(host_key_alg).string(v_c).string(v_s);
    w.string(i_c).string(i_s).string(q_c);
  });
}

std::expected<KexSign, ProtocolError> KexSign::decode(BytesView bytes) {
  return decode_as<KexSign>(bytes, [](BodyReader& r, KexSign& m) {
    r.strings(max_name, m.kex, m.host_key_alg);
    r.strings(max_version, m.v_c, m.v_s);
    r.strings(max_kexinit, m.i_c, m.i_s);
    r.strings(max_kex_value, m.q_c);
  });
}

Bytes AuthRequest::encode() const {
  const bool secret = std::holds_alternative<userauth::PasswordFields>(request.fields);
  return frame(type, secret, [&](wire::Writer& w) {
    w.uint64(conn).uint64(req).string(request.user).string(request.service);
    write_fields(w, request.fields);
  });
}

std::expected<AuthRequest, ProtocolError> AuthRequest::decode(BytesView bytes) {
  return decode_as<AuthRequest>(bytes, [](BodyReader& r, AuthRequest& m) {
    m.request.user = r.text(max_name);
    m.request.service = r.text(max_name);
    m.request.fields = read_fields(r);
  });
}

Bytes InfoResponse::encode() const {
  return frame(type, true, [&](wire::Writer& w) {
    w.uint64(conn).uint64(req).uint32(static_cast<std::uint32_t>(answers.size()));
    for (const auto& a : answers) w.string(a.view());
  });
}

std::expected<InfoResponse, ProtocolError> InfoResponse::decode(BytesView bytes) {
  return decode_as<InfoResponse>(bytes, [](BodyReader& r, InfoResponse& m) {
    const std::uint32_t count = r.uint32();
    if (count > max_answers) r.refuse(ProtocolError::bad_value);
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) m.answers.push_back(r.secret(max_secret));
  });
}

template <MsgType Type>
Bytes UserSession<Type>::encode() const {
  return frame(Type, false,
               [&](wire::Writer& w) { w.uint64(this->conn).uint64(this->req).string(user); });
}

template <MsgType Type>
std::expected<UserSession<Type>, ProtocolError> UserSession<Type>::decode(BytesView bytes) {
  return decode_as<UserSession>(bytes, [](BodyReader& r, UserSession& m) { m.user = r.text(max_name); });
}

template struct UserSession<MsgType::session_start>;
template struct UserSession<MsgType::session_granted>;

Bytes SessionSpawn::encode() const {
  return frame(type, false, [&](wire::Writer& w) {
    w.uint64(conn).uint64(req).string(user).byte(std::to_underlying(kind)).string(command);
    write_terminal(w, pty);
    w.uint32(static_cast<std::uint32_t>(env.size()));
    for (const auto& e : env) w.string(e.name).string(e.value);
    w.string(local_address).uint32(local_port);
  });
}

std::expected<SessionSpawn, ProtocolError> SessionSpawn::decode(BytesView bytes) {
  return decode_as<SessionSpawn>(bytes, [](BodyReader& r, SessionSpawn& m) {
    m.user = r.text(max_name);
    const std::uint8_t code = r.byte();
    if (code < std::to_underlying(SessionKind::shell) || code > std::to_underlying(SessionKind::subsystem))
      r.refuse(ProtocolError::bad_value);
    m.kind = static_cast<SessionKind>(code);
    m.command = r.text(max_command);
    m.pty = read_terminal(r);
    const std::uint32_t count = r.uint32();
    if (count > max_env) r.refuse(ProtocolError::bad_value);
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
      std::string name = r.text(max_name);
      m.env.push_back({std::move(name), r.text(max_env_value)});
    }
    m.local_address = r.text(max_name);
    m.local_port = read_port(r);
  });
}

Bytes SessionSignal::encode() const {
  return frame(type, false, [&](wire::Writer& w) { w.uint64(conn).uint64(handle).string(signal); });
}

std::expected<SessionSignal, ProtocolError> SessionSignal::decode(BytesView bytes) {
  return decode_as<SessionSignal>(bytes, [](BodyReader& r, SessionSignal& m) {
    m.handle = r.id();
    m.signal = r.text(max_name);
  });
}

template <MsgType Type>
Bytes ForwardTarget<Type>::encode() const {
  return frame(Type, false,
               [&](wire::Writer& w) { w.uint64(this->conn).uint64(this->req).string(host).uint32(port); });
}

template <MsgType Type>
std::expected<ForwardTarget<Type>, ProtocolError> ForwardTarget<Type>::decode(BytesView bytes) {
  return decode_as<ForwardTarget>(bytes, [](BodyReader& r, ForwardTarget& m) {
    m.host = r.text(max_name);
    m.port = read_port(r);
  });
}

template struct ForwardTarget<MsgType::forward_connect>;
template struct ForwardTarget<MsgType::forward_listen>;

// ---- monitor -> network

Bytes KexSigned::encode() const {
  return frame(type, true, [&](wire::Writer& w) {
    w.uint64(conn).uint64(req).string(k_s).string(q_s).string(k.view()).string(signature).string(h);
    w.uint32(static_cast<std::uint32_t>(none_reply.size()));
    for (const auto& p : none_reply) w.string(p);
  });
}

std::expected<KexSigned, ProtocolError> KexSigned::decode(BytesView bytes) {
  return decode_as<KexSigned>(bytes, [](BodyReader& r, KexSigned& m) {
    r.strings(max_key, m.k_s);
    r.strings(max_kex_value, m.q_s);
    r.strings(max_shared_secret, m.k);
    r.strings(max_key, m.signature);
    r.strings(max_hash, m.h);
    const std::uint32_t count = r.uint32();
    if (count > max_packets) r.refuse(ProtocolError::bad_value);
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) m.none_reply.push_back(r.bytes(max_packet));
  });
}

Bytes AuthReply::encode() const {
  return frame(type, false, [&](wire::Writer& w) {
    w.uint64(conn).uint64(req).uint32(static_cast<std::uint32_t>(packets.size()));
    for (const auto& p : packets) w.string(p);
    w.byte(std::to_underlying(status)).string(user).string(service).uint32(reason).string(description);
  });
}

std::expected<AuthReply, ProtocolError> AuthReply::decode(BytesView bytes) {
  return decode_as<AuthReply>(bytes, [](BodyReader& r, AuthReply& m) {
    const std::uint32_t count = r.uint32();
    if (count > max_packets) r.refuse(ProtocolError::bad_value);
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) m.packets.push_back(r.bytes(max_packet));
    const std::uint8_t code = r.byte();
    if (code < std::to_underlying(AuthStatus::in_progress) || code > std::to_underlying(AuthStatus::disconnect))
      r.refuse(ProtocolError::bad_value);
    m.status = static_cast<AuthStatus>(code);
    m.user = r.text(max_name);
    m.service = r.text(max_name);
    m.reason = r.uint32();
    m.description = r.text(max_text);
  });
}

Bytes Refused::encode() const {
  return frame(type, false,
               [&](wire::Writer& w) { w.uint64(conn).uint64(req).byte(std::to_underlying(reason)); });
}

Bytes HostKeys::encode() const {
  return frame(type, false, [&](wire::Writer& w) {
    w.uint64(conn).uint64(req).uint32(static_cast<std::uint32_t>(blobs.size()));
    for (const auto& b : blobs) w.string(b);
  });
}

std::expected<HostKeys, ProtocolError> HostKeys::decode(BytesView bytes) {
  return decode_as<HostKeys>(bytes, [](BodyReader& r, HostKeys& m) {
    const std::uint32_t count = r.uint32();
    if (count > max_host_keys) r.refuse(ProtocolError::bad_value);
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) m.blobs.push_back(r.bytes(max_key));
  });
}

Bytes Reconfigure::encode() const {
  return frame(type, false, [&](wire::Writer& w) {
    w.uint64(conn).uint64(req).uint64(generation).uint32(static_cast<std::uint32_t>(blobs.size()));
    for (const auto& b : blobs) w.string(b);
    w.boolean(with_settings);
  });
}

std::expected<Reconfigure, ProtocolError> Reconfigure::decode(BytesView bytes) {
  return decode_as<Reconfigure>(bytes, [](BodyReader& r, Reconfigure& m) {
    m.generation = r.id();
    const std::uint32_t count = r.uint32();
    if (count > max_host_keys) r.refuse(ProtocolError::bad_value);
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) m.blobs.push_back(r.bytes(max_key));
    m.with_settings = r.boolean();
  });
}

std::expected<Refused, ProtocolError> Refused::decode(BytesView bytes) {
  return decode_as<Refused>(bytes, [](BodyReader& r, Refused& m) {
    const std::uint8_t code = r.byte();
    if (code < std::to_underlying(RefusalReason::malformed_frame) ||
        code > std::to_underlying(RefusalReason::listen_failed))
      r.refuse(ProtocolError::bad_value);
    m.reason = static_cast<RefusalReason>(code);
  });
}

Bytes SessionSpawned::encode() const {
  return frame(type, false, [&](wire::Writer& w) { w.uint64(conn).uint64(req).uint64(handle); });
}

std::expected<SessionSpawned, ProtocolError> SessionSpawned::decode(BytesView bytes) {
  return decode_as<SessionSpawned>(bytes, [](BodyReader& r, SessionSpawned& m) { m.handle = r.id(); });
}

Bytes SessionExited::encode() const {
  return frame(type, false, [&](wire::Writer& w) {
    w.uint64(conn).uint64(handle).boolean(signalled).uint32(code).boolean(core_dumped);
  });
}

std::expected<SessionExited, ProtocolError> SessionExited::decode(BytesView bytes) {
  return decode_as<SessionExited>(bytes, [](BodyReader& r, SessionExited& m) {
    m.handle = r.id();
    m.signalled = r.boolean();
    m.code = r.uint32();
    m.core_dumped = r.boolean();
  });
}

Bytes ForwardConnected::encode() const {
  return frame(type, false, [&](wire::Writer& w) { w.uint64(conn).uint64(req); });
}

std::expected<ForwardConnected, ProtocolError> ForwardConnected::decode(BytesView bytes) {
  return decode_as<ForwardConnected>(bytes, [](BodyReader&, ForwardConnected&) {});
}

Bytes ForwardListening::encode() const {
  return frame(type, false, [&](wire::Writer& w) { w.uint64(conn).uint64(req).uint32(port); });
}

std::expected<ForwardListening, ProtocolError> ForwardListening::decode(BytesView bytes) {
  return decode_as<ForwardListening>(bytes, [](BodyReader& r, ForwardListening& m) { m.port = read_port(r); });
}

namespace {

/// A netblock's text as SourceLimiter writes it: "192.0.2.0/24", "2001:db8::/64".
/// Only its characters are checked here; the monitor parses it again.
std::string read_netblock(BodyReader& r) {
  std::string text = r.text(max_netblock);
  const bool shaped = !text.empty() && text.find('/') != std::string::npos &&
                      std::all_of(text.begin(), text.end(), [](char c) {
                        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                               c == '.' || c == ':' || c == '/';
                      });
  if (!shaped) r.refuse(ProtocolError::bad_value);
  return text;
}

/// A notice of no connection: conn and req must be 0.
template <class T>
void unaddressed(BodyReader& r, const T& m) {
  if (m.conn != 0 || m.req != 0) r.refuse(ProtocolError::bad_value);
}

}  // namespace

Bytes PenaltyAccrued::encode() const {
  return frame(type, false,
               [&](wire::Writer& w) { w.uint64(conn).uint64(req).string(netblock).uint32(seconds).uint32(max); });
}

std::expected<PenaltyAccrued, ProtocolError> PenaltyAccrued::decode(BytesView bytes) {
  return decode_as<PenaltyAccrued>(bytes, [](BodyReader& r, PenaltyAccrued& m) {
    unaddressed(r, m);
    m.netblock = read_netblock(r);
    m.seconds = r.uint32();
    m.max = r.uint32();
    if (m.seconds == 0 || m.seconds > max_penalty_seconds || m.max == 0 || m.max > max_penalty_seconds)
      r.refuse(ProtocolError::bad_value);
  });
}

Bytes SharedPenalties::encode() const {
  return frame(type, false, [&](wire::Writer& w) {
    w.uint64(conn).uint64(req).uint32(static_cast<std::uint32_t>(penalties.size()));
    for (const auto& p : penalties) w.string(p.netblock).uint64(p.until);
  });
}

std::expected<SharedPenalties, ProtocolError> SharedPenalties::decode(BytesView bytes) {
  return decode_as<SharedPenalties>(bytes, [](BodyReader& r, SharedPenalties& m) {
    unaddressed(r, m);
    const std::uint32_t count = r.uint32();
    if (count > max_shared_penalties) r.refuse(ProtocolError::bad_value);
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
      SharedPenalties::Entry e;
      e.netblock = read_netblock(r);
      e.until = r.id();
      if (e.until == 0 || e.until > max_unix_time) r.refuse(ProtocolError::bad_value);
      m.penalties.push_back(std::move(e));
    }
  });
}

namespace {

/// Decodes `bytes` as the alternative of Variant whose static `type` is `type`.
template <class Variant, std::size_t I = 0>
std::expected<Variant, ProtocolError> decode_alternative(MsgType type, BytesView bytes) {
  if constexpr (I == std::variant_size_v<Variant>) {
    return std::unexpected(ProtocolError::unknown_type);  // a type of the other direction
  } else {
    using T = std::variant_alternative_t<I, Variant>;
    if (T::type != type) return decode_alternative<Variant, I + 1>(type, bytes);
    auto m = T::decode(bytes);
    if (!m) return std::unexpected(m.error());
    return Variant(std::in_place_index<I>, std::move(*m));
  }
}

template <class Variant>
std::expected<Variant, ProtocolError> decode_one_of(BytesView bytes) {
  auto f = decode_frame(bytes);
  if (!f) return std::unexpected(f.error());
  return decode_alternative<Variant>(f->type, bytes);
}

}  // namespace

std::expected<Request, ProtocolError> decode_request(BytesView bytes) {
  return decode_one_of<Request>(bytes);
}

std::expected<Reply, ProtocolError> decode_reply(BytesView bytes) { return decode_one_of<Reply>(bytes); }

}  // namespace parley::privsep

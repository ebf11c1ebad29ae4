#include "parley/connection/session.hpp"

#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::connection {
namespace {

/// Bounds on peer text, generous for real use: a terminal name, an environment
/// entry, a command line (OpenSSH's is bounded only by its 256 KiB packet).
constexpr std::size_t max_term = 256;
constexpr std::size_t max_env_name = 1024;
constexpr std::size_t max_env_value = 64 * 1024;
constexpr std::size_t max_command = 256 * 1024;
constexpr std::size_t max_host = 1025;  // NI_MAXHOST

template <class T>
std::expected<T, ConnectionError> finish(const wire::Reader& r, T value) {
  if (auto done = r.finish(); !done) return std::unexpected(ConnectionError::malformed_message);
  return value;
}

std::string as_string(BytesView b) { return std::string(b.begin(), b.end()); }

/// RFC 4254 §7: "string address, uint32 port", as forwarding messages carry them.
void read_host_port(wire::Reader& r, std::string& host, std::uint32_t& port) {
  host = as_string(r.string(max_host));
  port = r.uint32();
}

}  // namespace

std::expected<PtyRequest, ConnectionError> parse_pty_request(BytesView data) {
  wire::Reader r(data);
  PtyRequest p;
  p.term = as_string(r.string(max_term));
  p.cols = r.uint32();
  p.rows = r.uint32();
  p.width_px = r.uint32();
  p.height_px = r.uint32();
  BytesView modes = r.string(4096);
  p.modes.assign(modes.begin(), modes.end());
  return finish(r, std::move(p));
}

std::expected<WindowChange, ConnectionError> parse_window_change(BytesView data) {
  wire::Reader r(data);
  WindowChange w;
  w.cols = r.uint32();
  w.rows = r.uint32();
  w.width_px = r.uint32();
  w.height_px = r.uint32();
  return finish(r, w);
}

std::expected<EnvRequest, ConnectionError> parse_env(BytesView data) {
  wire::Reader r(data);
  EnvRequest e;
  e.name = as_string(r.string(max_env_name));
  e.value = as_string(r.string(max_env_value));
  return finish(r, std::move(e));
}

std::expected<StartRequest, ConnectionError> parse_start(std::string_view type, BytesView data) {
  wire::Reader r(data);
  StartRequest s;
  if (type == "shell") {
    s.kind = StartRequest::Kind::shell;
  } else if (type == "exec") {
    s.kind = StartRequest::Kind::exec;
    s.command = as_string(r.string(max_command));
  } else if (type == "subsystem") {
    s.kind = StartRequest::Kind::subsystem;
    s.command = as_string(r.string(max_term));
  } else {
    return std::unexpected(ConnectionError::malformed_message);
  }
  return finish(r, std::move(s));
}

std::expected<std::string, ConnectionError> parse_signal(BytesView data) {
  wire::Reader r(data);
  std::string name = as_string(r.string(64));
  return finish(r, std::move(name));
}

std::expected<ExitStatus, ConnectionError> parse_exit_status(BytesView data) {
  wire::Reader r(data);
  ExitStatus s{r.uint32()};
  return finish(r, s);
}

std::expected<ExitSignal, ConnectionError> parse_exit_signal(BytesView data) {
  wire::Reader r(data);
  ExitSignal s;
  s.name = as_string(r.string(64));
  s.core_dumped = r.boolean();
  s.message = as_string(r.string(4096));
  r.string(256);  // language tag
  return finish(r, std::move(s));
}

std::expected<TcpipOpen, ConnectionError> parse_tcpip_open(BytesView data) {
  wire::Reader r(data);
  TcpipOpen t;
  read_host_port(r, t.host, t.port);
  read_host_port(r, t.originator, t.originator_port);
  return finish(r, std::move(t));
}

std::expected<ForwardRequest, ConnectionError> parse_forward_request(BytesView data) {
  wire::Reader r(data);
  ForwardRequest f;
  read_host_port(r, f.address, f.port);
  return finish(r, std::move(f));
}

Bytes encode(const PtyRequest& p) {
  Bytes b;
  wire::Writer(b).string(std::string_view(p.term)).uint32(p.cols).uint32(p.rows).uint32(p.width_px)
      .uint32(p.height_px).string(BytesView(p.modes));
  return b;
}

Bytes encode(const WindowChange& w) {
  Bytes b;
  wire::Writer(b).uint32(w.cols).uint32(w.rows).uint32(w.width_px).uint32(w.height_px);
  return b;
}

Bytes encode(const EnvRequest& e) {
  Bytes b;
  wire::Writer(b).string(std::string_view(e.name)).string(std::string_view(e.value));
  return b;
}

Bytes encode(const StartRequest& s) {
  Bytes b;
  if (s.kind != StartRequest::Kind::shell) wire::Writer(b).string(std::string_view(s.command));
  return b;
}

Bytes encode(const ExitStatus& s) {
  Bytes b;
  wire::Writer(b).uint32(s.status);
  return b;
}

Bytes encode(const ExitSignal& s) {
  Bytes b;
  wire::Writer(b).string(std::string_view(s.name)).boolean(s.core_dumped)
      .string(std::string_view(s.message)).string(std::string_view{});
  return b;
}

Bytes encode(const TcpipOpen& t) {
  Bytes b;
  wire::Writer(b).string(std::string_view(t.host)).uint32(t.port)
      .string(std::string_view(t.originator)).uint32(t.originator_port);
  return b;
}

Bytes encode(const ForwardRequest& f) {
  Bytes b;
  wire::Writer(b).string(std::string_view(f.address)).uint32(f.port);
  return b;
}

Bytes encode_signal(std::string_view name) {
  Bytes b;
  wire::Writer(b).string(name);
  return b;
}

std::string_view request_type(const StartRequest& r) {
  switch (r.kind) {
    case StartRequest::Kind::shell: return "shell";
    case StartRequest::Kind::exec: return "exec";
    case StartRequest::Kind::subsystem: return "subsystem";
  }
  return "shell";
}

}  // namespace parley::connection

// Session channel requests (RFC 4254 §6) and the forwarding open/request
// payloads (§7), as typed values: parsed from the bytes after the request's
// want-reply flag (or after CHANNEL_OPEN's common fields), and encoded back.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "parley/connection/channels.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::connection {

/// "pty-req": terminal type, size in characters and pixels, encoded terminal modes.
struct PtyRequest {
  std::string term;
  std::uint32_t cols = 80, rows = 24, width_px = 0, height_px = 0;
  Bytes modes;  // RFC 4254 §8 encoding: opcode byte, uint32 argument, ..., TTY_OP_END
};
/// "window-change".
struct WindowChange {
  std::uint32_t cols = 0, rows = 0, width_px = 0, height_px = 0;
};
/// "env".
struct EnvRequest {
  std::string name, value;
};
/// "shell", "exec" and "subsystem": what the session runs.
struct StartRequest {
  enum class Kind : std::uint8_t { shell, exec, subsystem } kind = Kind::shell;
  std::string command;  // exec: the command line; subsystem: its name; shell: empty
};
/// "exit-status" / "exit-signal" (server to client).
struct ExitStatus {
  std::uint32_t status = 0;
};
struct ExitSignal {
  std::string name;  // without "SIG", as RFC 4254 §6.10 spells it: "TERM", "KILL", ...
  bool core_dumped = false;
  std::string message;
};

/// "direct-tcpip" (ssh -L, -W) and "forwarded-tcpip" (ssh -R) open payloads.
struct TcpipOpen {
  std::string host;  // direct: where to connect; forwarded: the address that was connected
  std::uint32_t port = 0;
  std::string originator;
  std::uint32_t originator_port = 0;
};
/// "tcpip-forward" / "cancel-tcpip-forward" global requests.
struct ForwardRequest {
  std::string address;
  std::uint32_t port = 0;
};

// Each parser takes the request-specific bytes (Request::data, OpenRequested::extra,
// GlobalRequest::data) and refuses trailing bytes.
std::expected<PtyRequest, ConnectionError> parse_pty_request(BytesView data);
std::expected<WindowChange, ConnectionError> parse_window_change(BytesView data);
std::expected<EnvRequest, ConnectionError> parse_env(BytesView data);
/// For the request types "shell", "exec" and "subsystem".
std::expected<StartRequest, ConnectionError> parse_start(std::string_view type, BytesView data);
std::expected<std::string, ConnectionError> parse_signal(BytesView data);
std::expected<ExitStatus, ConnectionError> parse_exit_status(BytesView data);
std::expected<ExitSignal, ConnectionError> parse_exit_signal(BytesView data);
std::expected<TcpipOpen, ConnectionError> parse_tcpip_open(BytesView data);
std::expected<ForwardRequest, ConnectionError> parse_forward_request(BytesView data);

Bytes encode(const PtyRequest& r);
Bytes encode(const WindowChange& r);
Bytes encode(const EnvRequest& r);
Bytes encode(const StartRequest& r);  // empty for shell
Bytes encode(const ExitStatus& r);
Bytes encode(const ExitSignal& r);
Bytes encode(const TcpipOpen& r);
Bytes encode(const ForwardRequest& r);
Bytes encode_signal(std::string_view name);
/// The request type for a StartRequest: "shell", "exec" or "subsystem".
std::string_view request_type(const StartRequest& r);

}  // namespace parley::connection

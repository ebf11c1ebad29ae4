// RFC 4253 §4.2 identification strings.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "parley/transport/error.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::transport {

/// Reads the peer's identification line from a byte stream, incrementally.
class IdentReader {
 public:
  /// Servers accept only the version line; clients also accept up to
  /// `max_preversion_lines` other lines before it (OpenSSH allows 1024).
  IdentReader(bool accept_preversion_lines, std::size_t max_preversion_lines = 1024)
      : accept_preversion_(accept_preversion_lines), max_lines_(max_preversion_lines) {}

  /// Consumes bytes from `data`. Returns how many were used; once the version line
  /// is complete, version() is set and the remaining bytes belong to the packet stream.
  std::expected<std::size_t, TransportError> feed(BytesView data);

  /// The version line without CR LF, once read ("SSH-2.0-OpenSSH_9.2p1 Debian-2").
  const std::optional<std::string>& version() const { return version_; }

 private:
  std::expected<void, TransportError> finish_line();
  bool accept_preversion_;
  std::size_t max_lines_;
  std::size_t lines_ = 0;
  std::string line_;
  std::optional<std::string> version_;
};

/// The software-version part of a valid identification line, for logs.
std::string_view software_version(std::string_view ident);

}  // namespace parley::transport

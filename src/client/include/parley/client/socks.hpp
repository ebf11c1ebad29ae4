// The server side of a SOCKS handshake, for ssh's -D (dynamic forwarding), without
// I/O: SOCKS 4 (RFC-less, as OpenSSH speaks it), 4a (a host name) and 5 (RFC 1928,
// no authentication, CONNECT only; IPv4, IPv6 and domain names). The caller feeds
// what the local client sent and writes what the handshake hands back; once the
// request is complete it opens the channel and calls reply() with the outcome.
//
//   SocksHandshake h;
//   auto r = h.feed(bytes, out);          // write `out` to the client in any case
//   if (!r) close();                      // r.error(): why, for the log
//   else if (*r) open_channel((*r)->host, (*r)->port), keep h.rest() for it
//   ... h.reply(opened, out); write out   // then bytes flow both ways
//
// Everything is bounded: a request longer than max_request bytes is refused.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>

#include "parley/wire/bytes.hpp"

namespace parley::client {

struct SocksTarget {
  std::string host;  // an address as text, or the name the client gave (4a, 5)
  std::uint16_t port = 0;
};

class SocksHandshake {
 public:
  /// The largest greeting plus request kept while incomplete.
  static constexpr std::size_t max_request = 1024;

  /// Takes the client's next bytes; appends to `out` what to send back (the
  /// SOCKS 5 method choice, or a refusal before the error). Returns the target
  /// once the request is whole, nullopt while more is needed, or why the client
  /// is refused (then close once `out` is written). Not called after a result.
  std::expected<std::optional<SocksTarget>, std::string> feed(BytesView data, Bytes& out);
  /// Bytes the client sent after its request: the start of its stream.
  Bytes& rest() { return rest_; }
  /// Appends the answer to the request: granted if `opened` (the channel was
  /// confirmed), refused otherwise, in the client's version.
  void reply(bool opened, Bytes& out) const;

 private:
  enum class Stage : std::uint8_t { first, socks5_request, done };
  /// Parses buffer_ for the current stage: the number of bytes it took, 0 when
  /// more are needed, or an error.
  std::expected<std::size_t, std::string> step(Bytes& out);
  std::expected<std::size_t, std::string> socks4(Bytes& out);
  std::expected<std::size_t, std::string> socks5_greeting(Bytes& out);
  std::expected<std::size_t, std::string> socks5_request(Bytes& out);

  Stage stage_ = Stage::first;
  std::uint8_t version_ = 0;
  Bytes buffer_;
  Bytes rest_;
  std::optional<SocksTarget> target_;
};

}  // namespace parley::client

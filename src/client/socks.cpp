#include "parley/client/socks.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

namespace parley::client {
namespace {

constexpr std::uint8_t socks4_granted = 90, socks4_rejected = 91;
constexpr std::uint8_t socks5_no_auth = 0x00, socks5_no_method = 0xff;
constexpr std::uint8_t socks5_ok = 0x00, socks5_failure = 0x01, socks5_bad_command = 0x07,
                       socks5_bad_address = 0x08;
constexpr std::uint8_t connect_command = 1;

std::uint16_t port_at(const Bytes& b, std::size_t i) {
  return static_cast<std::uint16_t>(b[i] << 8 | b[i + 1]);
}

std::string ipv4_text(const std::uint8_t* p) {
  return std::to_string(p[0]) + "." + std::to_string(p[1]) + "." + std::to_string(p[2]) + "." + std::to_string(p[3]);
}

std::string ipv6_text(const std::uint8_t* p) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  ::inet_ntop(AF_INET6, p, text.data(), text.size());
  return text.data();
}

/// A SOCKS 5 reply with the bound address left zero (0.0.0.0:0), as OpenSSH sends it.
void socks5_reply(std::uint8_t code, Bytes& out) {
  out.insert(out.end(), {5, code, 0, 1, 0, 0, 0, 0, 0, 0});
}

/// A name from the client: printable, no NUL, not empty.
bool usable_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

}  // namespace

std::expected<std::optional<SocksTarget>, std::string> SocksHandshake::feed(BytesView data, Bytes& out) {
  if (stage_ == Stage::done) return std::unexpected(std::string("the handshake is over"));
  buffer_.insert(buffer_.end(), data.begin(), data.end());
  while (stage_ != Stage::done) {
    auto took = step(out);
    if (!took) {
      stage_ = Stage::done;
      return std::unexpected(took.error());
    }
    if (*took == 0) {
      if (buffer_.size() > max_request) {
        stage_ = Stage::done;
        return std::unexpected(std::string("request too long"));
      }
      return std::nullopt;
    }
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(*took));
  }
  rest_ = std::move(buffer_);
  return target_;
}

std::expected<std::size_t, std::string> SocksHandshake::step(Bytes& out) {
  if (buffer_.empty()) return 0;
  if (stage_ == Stage::socks5_request) return socks5_request(out);
  version_ = buffer_[0];
  if (version_ == 4) return socks4(out);
  if (version_ == 5) return socks5_greeting(out);
  return std::unexpected("not a SOCKS 4 or 5 client (version " + std::to_string(version_) + ")");
}

std::expected<std::size_t, std::string> SocksHandshake::socks4(Bytes& out) {
  // VN 4, CD, DSTPORT(2), DSTIP(4), USERID NUL [, HOST NUL when DSTIP is 0.0.0.x, x != 0 (4a)]
  if (buffer_.size() < 9) return 0;
  const auto user_end = std::find(buffer_.begin() + 8, buffer_.end(), 0);
  if (user_end == buffer_.end()) return 0;
  std::size_t used = static_cast<std::size_t>(user_end - buffer_.begin()) + 1;
  SocksTarget t{ipv4_text(&buffer_[4]), port_at(buffer_, 2)};
  const bool socks4a = buffer_[4] == 0 && buffer_[5] == 0 && buffer_[6] == 0 && buffer_[7] != 0;
  if (socks4a) {
    const auto host_end = std::find(buffer_.begin() + static_cast<std::ptrdiff_t>(used), buffer_.end(), 0);
    if (host_end == buffer_.end()) return 0;
    t.host.assign(buffer_.begin() + static_cast<std::ptrdiff_t>(used), host_end);
    used = static_cast<std::size_t>(host_end - buffer_.begin()) + 1;
  }
  const auto refuse = [&](std::string why) -> std::expected<std::size_t, std::string> {
    out.insert(out.end(), {0, socks4_rejected, 0, 0, 0, 0, 0, 0});
    return std::unexpected(std::move(why));
  };
  if (buffer_[1] != connect_command) return refuse("SOCKS 4 command " + std::to_string(buffer_[1]) + " (only CONNECT)");
  if (!usable_name(t.host)) return refuse("SOCKS 4a host name not usable");
  target_ = std::move(t);
  stage_ = Stage::done;
  return used;
}

std::expected<std::size_t, std::string> SocksHandshake::socks5_greeting(Bytes& out) {
  // VER 5, NMETHODS, METHODS[NMETHODS]
  if (buffer_.size() < 2 || buffer_.size() < 2u + buffer_[1]) return 0;
  const std::size_t used = 2u + buffer_[1];
  if (std::find(buffer_.begin() + 2, buffer_.begin() + static_cast<std::ptrdiff_t>(used), socks5_no_auth) ==
      buffer_.begin() + static_cast<std::ptrdiff_t>(used)) {
    out.insert(out.end(), {5, socks5_no_method});
    return std::unexpected(std::string("SOCKS 5 client offers no method without authentication"));
  }
  out.insert(out.end(), {5, socks5_no_auth});
  stage_ = Stage::socks5_request;
  return used;
}

std::expected<std::size_t, std::string> SocksHandshake::socks5_request(Bytes& out) {
  // VER 5, CMD, RSV, ATYP, DST.ADDR, DST.PORT(2)
  if (buffer_.size() < 5) return 0;
  const auto refuse = [&](std::uint8_t code, std::string why) -> std::expected<std::size_t, std::string> {
    socks5_reply(code, out);
    return std::unexpected(std::move(why));
  };
  if (buffer_[0] != 5) return refuse(socks5_failure, "SOCKS 5 request of version " + std::to_string(buffer_[0]));
  std::size_t address_length = 0, start = 4;
  switch (buffer_[3]) {
    case 1: address_length = 4; break;
    case 4: address_length = 16; break;
    case 3: address_length = buffer_[4]; start = 5; break;
    default: return refuse(socks5_bad_address, "SOCKS 5 address type " + std::to_string(buffer_[3]));
  }
  const std::size_t used = start + address_length + 2;
  if (buffer_.size() < used) return 0;
  if (buffer_[1] != connect_command) return refuse(socks5_bad_command, "SOCKS 5 command " + std::to_string(buffer_[1]) + " (only CONNECT)");
  SocksTarget t;
  t.port = port_at(buffer_, start + address_length);
  if (buffer_[3] == 1) t.host = ipv4_text(&buffer_[start]);
  else if (buffer_[3] == 4) t.host = ipv6_text(&buffer_[start]);
  else t.host.assign(buffer_.begin() + static_cast<std::ptrdiff_t>(start), buffer_.begin() + static_cast<std::ptrdiff_t>(start + address_length));
  if (!usable_name(t.host)) return refuse(socks5_bad_address, "SOCKS 5 host name not usable");
  target_ = std::move(t);
  stage_ = Stage::done;
  return used;
}

void SocksHandshake::reply(bool opened, Bytes& out) const {
  if (version_ == 4)
    out.insert(out.end(), {0, opened ? socks4_granted : socks4_rejected, 0, 0, 0, 0, 0, 0});
  else
    socks5_reply(opened ? socks5_ok : socks5_failure, out);
}

}  // namespace parley::client

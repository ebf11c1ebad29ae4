// Hand-made KEXINIT payloads for tests and fuzzers that play a peer (no
// GoogleTest here, so the fuzz targets can use it too).
#pragma once

#include <string_view>

#include "parley/transport/messages.hpp"
#include "parley/wire/writer.hpp"

namespace parley::test {

struct KexinitOffer {
  std::string_view kex = "curve25519-sha256";
  std::string_view host_key = "ssh-ed25519";
  std::string_view cipher = "chacha20-poly1305@openssh.com";  // both directions
  std::string_view mac = "hmac-sha2-256-etm@openssh.com";     // both directions
  bool first_kex_packet_follows = false;
  std::uint8_t cookie = 0x11;  // every cookie byte
};

/// A KEXINIT payload offering `o`, no compression and no languages.
inline Bytes kexinit_payload(const KexinitOffer& o) {
  Bytes p;
  wire::Writer w(p);
  w.byte(transport::msg::kexinit);
  for (int i = 0; i < 16; ++i) w.byte(o.cookie);
  w.string(o.kex).string(o.host_key).string(o.cipher).string(o.cipher).string(o.mac).string(o.mac);
  w.string(std::string_view("none")).string(std::string_view("none"));
  w.string(std::string_view("")).string(std::string_view(""));
  w.boolean(o.first_kex_packet_follows).uint32(0);
  return p;
}

}  // namespace parley::test

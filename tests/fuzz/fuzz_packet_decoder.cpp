// Fuzzes the binary packet decoder (RFC 4253 §6) with and without packet
// protection, and the wire reader over each decoded payload.
#include <cstdint>
#include <vector>

#include "parley/crypto/packet_cipher.hpp"
#include "parley/transport/packet.hpp"
#include "parley/wire/reader.hpp"

using namespace parley;

namespace {

std::unique_ptr<crypto::PacketCipher> make_cipher(std::uint8_t mode) {
  static const Bytes key(64, 0x42), iv(16, 0x24), mac(64, 0x17);
  struct Choice {
    crypto::CipherAlg cipher;
    crypto::MacAlg mac;
  };
  static const Choice choices[] = {
      {crypto::CipherAlg::chacha20_poly1305, crypto::MacAlg::implicit},
      {crypto::CipherAlg::aes128_gcm, crypto::MacAlg::implicit},
      {crypto::CipherAlg::aes256_ctr, crypto::MacAlg::hmac_sha2_256_etm},
      {crypto::CipherAlg::aes128_ctr, crypto::MacAlg::hmac_sha2_512},
  };
  const Choice& c = choices[mode % 4];
  const auto info = crypto::info(c.cipher);
  return crypto::PacketCipher::create(c.cipher, c.mac, crypto::Direction::open,
                                      BytesView(key).first(info.key_len),
                                      BytesView(iv).first(info.iv_len),
                                      BytesView(mac).first(crypto::mac_key_len(c.mac)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  transport::PacketDecoder decoder;
  if (mode % 5 != 4) decoder.set_cipher(make_cipher(mode));
  Bytes buf(data + 1, data + size);
  std::size_t pos = 0;
  // Feed in two steps, so the incremental path (length known, body pending) runs too.
  const std::size_t first = buf.size() / 2;
  std::span<std::uint8_t> all(buf);
  auto step = [&](std::size_t limit) {
    while (pos < limit) {
      auto r = decoder.decode(all.subspan(pos, limit - pos));
      if (!r) return false;
      if (!*r) return true;
      pos += (*r)->consumed;
      wire::Reader reader((*r)->payload);
      reader.byte();
      reader.uint32();
      reader.string();
      reader.name_list();
      reader.mpint_positive();
      (void)reader.finish();
    }
    return true;
  };
  if (step(first)) step(buf.size());
  return 0;
}

// Protection of SSH binary packets (RFC 4253 §6) for one direction:
// chacha20-poly1305@openssh.com, AES-GCM (RFC 5647), AES-CTR (RFC 4344) with
// HMAC-SHA2 (RFC 6668) in encrypt-and-MAC or encrypt-then-MAC (@openssh.com) form.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "parley/crypto/secret.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::crypto {

enum class CipherAlg : std::uint8_t { chacha20_poly1305, aes256_gcm, aes128_gcm, aes256_ctr, aes128_ctr };
enum class MacAlg : std::uint8_t {
  implicit,  // the cipher is an AEAD (chacha20-poly1305, AES-GCM): no separate MAC
  hmac_sha2_256_etm,
  hmac_sha2_512_etm,
  hmac_sha2_256,
  hmac_sha2_512,
};

std::string_view name(CipherAlg alg);
std::string_view name(MacAlg alg);
std::optional<CipherAlg> cipher_from_name(std::string_view name);
/// MAC algorithms by name; never returns MacAlg::implicit.
std::optional<MacAlg> mac_from_name(std::string_view name);

struct CipherInfo {
  std::size_t key_len;     // bytes of encryption key to derive (64 for chacha20-poly1305)
  std::size_t iv_len;      // bytes of IV to derive (0 for chacha20-poly1305)
  std::size_t block_size;  // padding granularity (8 for chacha20-poly1305)
  bool aead;               // true: the MAC is implicit and MacAlg::implicit is used
};
CipherInfo info(CipherAlg alg);
std::size_t mac_key_len(MacAlg alg);
std::size_t mac_len(MacAlg alg);

enum class Direction : std::uint8_t { seal, open };

/// One direction's packet protection. Contexts are keyed once at creation and
/// reused for every packet (no per-packet algorithm lookup or allocation).
///
/// A packet is `uint32 packet_length | byte padding_length | payload | padding`.
class PacketCipher {
 public:
  virtual ~PacketCipher() = default;

  /// Keys a cipher. Key sizes must match info()/mac_key_len(); for AEAD ciphers
  /// `mac` must be MacAlg::implicit and `mac_key` empty.
  /// Returns nullptr if a size or the cipher/MAC pairing is wrong (a caller bug).
  static std::unique_ptr<PacketCipher> create(CipherAlg cipher, MacAlg mac, Direction dir,
                                              BytesView key, BytesView iv, BytesView mac_key);

  /// Padding granularity.
  virtual std::size_t block_size() const = 0;
  /// Bytes of tag/MAC following each packet.
  virtual std::size_t tag_size() const = 0;
  /// Bytes at the start of a packet needed before its length is known:
  /// 4, or the block size for CTR without EtM (the length is inside the first block).
  virtual std::size_t length_prefix() const = 0;
  /// True if the 4-byte length is outside the block-aligned part (AEAD and EtM):
  /// then packet_length % block_size == 0, else (4 + packet_length) % block_size == 0.
  virtual bool length_outside_blocks() const = 0;

  /// Seals `packet` (plaintext, whole, length field included) in place and writes
  /// tag_size() bytes to `tag`.
  virtual void seal(std::uint32_t seq, std::span<std::uint8_t> packet,
                    std::span<std::uint8_t> tag) = 0;
  /// Opening, step 1: given the first length_prefix() bytes as received, returns
  /// packet_length. May decrypt those bytes in place (CTR without EtM); call once per packet.
  virtual std::uint32_t peek_length(std::uint32_t seq, std::span<std::uint8_t> prefix) = 0;
  /// Opening, step 2: `packet` is the whole packet (4 + packet_length bytes, its
  /// prefix as left by peek_length) and `tag` the received tag. Authenticates, then
  /// decrypts in place, leaving the plaintext packet (length field included).
  /// Returns false if authentication fails; the packet is then garbage.
  [[nodiscard]] virtual bool open(std::uint32_t seq, std::span<std::uint8_t> packet,
                                  BytesView tag) = 0;
};

/// HMAC, one-shot, for tests and key checks.
Bytes hmac(MacAlg alg, BytesView key, BytesView data);

}  // namespace parley::crypto

// RFC 4253 §6 binary packet protocol: framing, padding, sealing and opening
// for one direction. Sans-I/O: works on caller-owned buffers.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>

#include "parley/crypto/packet_cipher.hpp"
#include "parley/crypto/random.hpp"
#include "parley/transport/error.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::transport {

/// OpenSSH's PACKET_MAX_SIZE: no packet_length above this is accepted.
inline constexpr std::size_t max_packet_length = 256 * 1024;
/// Largest payload we send (RFC 4253 §6.1 requires 32768 to be supported).
inline constexpr std::size_t max_payload_length = max_packet_length - 1024;

/// What each direction keeps: the cipher in force, the sequence number, and
/// the counts since the last key change (for the rekey limits).
class PacketStream {
 public:
  /// Protection for the packets after NEWKEYS (nullptr: none, as before the
  /// first kex); restarts the rekey counts.
  void set_cipher(std::unique_ptr<crypto::PacketCipher> cipher);
  std::uint32_t next_seq() const { return seq_; }
  /// Strict kex (kex-strict-*-v00@openssh.com): sequence numbers restart at NEWKEYS.
  void reset_seq() { seq_ = 0; }
  /// Packets and bytes since the last set_cipher (for rekey limits).
  std::uint64_t bytes_since_rekey() const { return bytes_; }
  std::uint64_t packets_since_rekey() const { return packets_; }

 protected:
  /// Counts a packet of `size` bytes on the wire and moves to the next
  /// sequence number, which wraps modulo 2^32 (RFC 4253 §6.4).
  void count(std::size_t size) {
    ++seq_;
    bytes_ += size;
    ++packets_;
  }

  std::unique_ptr<crypto::PacketCipher> cipher_;
  std::uint32_t seq_ = 0;

 private:
  std::uint64_t bytes_ = 0;
  std::uint64_t packets_ = 0;
};

/// Decodes packets arriving in one direction.
class PacketDecoder : public PacketStream {
 public:
  struct Packet {
    std::span<std::uint8_t> payload;  // into the caller's buffer; valid until it changes
    std::size_t consumed;             // bytes of the buffer this packet used
    std::uint32_t seq;                // its sequence number
  };

  bool protected_() const { return cipher_ != nullptr; }

  /// Decodes the packet at the start of `buf`. Returns nullopt when more bytes are
  /// needed (call again with the same bytes plus more; bytes already seen may have
  /// been decrypted in place). Once an error is returned the stream is unusable.
  std::expected<std::optional<Packet>, TransportError> decode(std::span<std::uint8_t> buf);

  /// True while part of a packet has been seen but not all of it.
  bool mid_packet() const { return length_.has_value(); }

 private:
  std::optional<std::uint32_t> length_;  // packet_length of the packet in progress
};

/// Encodes packets leaving in one direction.
class PacketEncoder : public PacketStream {
 public:
  /// Appends one sealed packet carrying `payload` (at most max_payload_length) to `out`,
  /// with random padding from `rng`. With `pad_to` (a power of two up to 128), the
  /// padded part is a multiple of it, so a secret's length shows only to that grain.
  void encode(BytesView payload, crypto::Random& rng, Bytes& out, std::size_t pad_to = 0);
};

}  // namespace parley::transport

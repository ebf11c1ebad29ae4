#include "parley/transport/packet.hpp"

#include <algorithm>

namespace parley::transport {
namespace {

constexpr std::size_t plain_block = 8;  // RFC 4253 §6: at least 8 without a cipher
constexpr std::size_t min_padding = 4;

}  // namespace

void PacketStream::set_cipher(std::unique_ptr<crypto::PacketCipher> cipher) {
  cipher_ = std::move(cipher);
  bytes_ = 0;
  packets_ = 0;
}

std::expected<std::optional<PacketDecoder::Packet>, TransportError> PacketDecoder::decode(
    std::span<std::uint8_t> buf) {
  const std::size_t block = cipher_ ? cipher_->block_size() : plain_block;
  const std::size_t tag = cipher_ ? cipher_->tag_size() : 0;
  const std::size_t prefix = cipher_ ? cipher_->length_prefix() : 4;
  const bool outside = cipher_ ? cipher_->length_outside_blocks() : false;

  if (!length_) {
    if (buf.size() < prefix) return std::optional<Packet>{};
    const std::uint32_t len =
        cipher_ ? cipher_->peek_length(seq_, buf.first(prefix)) : load_be32(buf.data());
    // Checked before waiting for the body, so a hostile length cannot make us buffer.
    if (len > max_packet_length) return std::unexpected(TransportError::packet_too_long);
    if (len < 1 + min_padding) return std::unexpected(TransportError::bad_padding);
    const std::size_t aligned = outside ? len : std::size_t{4} + len;
    if (aligned % block != 0) return std::unexpected(TransportError::packet_length_not_block_aligned);
    if (4 + std::size_t{len} < prefix) return std::unexpected(TransportError::bad_padding);
    length_ = len;
  }
  const std::size_t total = 4 + std::size_t{*length_};
  if (buf.size() < total + tag) return std::optional<Packet>{};

  std::span<std::uint8_t> packet = buf.first(total);
  if (cipher_ && !cipher_->open(seq_, packet, buf.subspan(total, tag)))
    return std::unexpected(TransportError::mac_mismatch);

  const std::uint8_t padding = packet[4];
  if (padding < min_padding || std::size_t{padding} + 1 > *length_)
    return std::unexpected(TransportError::bad_padding);
  const std::size_t payload_len = *length_ - padding - 1;
  if (payload_len == 0) return std::unexpected(TransportError::empty_payload);

  Packet out{packet.subspan(5, payload_len), total + tag, seq_};
  length_.reset();
  count(total + tag);
  return out;
}

void PacketEncoder::encode(BytesView payload, crypto::Random& rng, Bytes& out, std::size_t pad_to) {
  const std::size_t block = cipher_ ? std::max(cipher_->block_size(), plain_block) : plain_block;
  const std::size_t tag = cipher_ ? cipher_->tag_size() : 0;
  const bool outside = cipher_ ? cipher_->length_outside_blocks() : false;

  const std::size_t unpadded = 1 + payload.size() + (outside ? 0 : 4);
  // RFC 4253 §6: at least 4 bytes of padding, up to 255, the total a multiple
  // of the block size; a larger grain hides the length of what is inside.
  const std::size_t grain = std::max(block, std::min<std::size_t>(pad_to, 128));
  std::size_t padding = grain - unpadded % grain;
  if (padding < min_padding) padding += grain;
  const std::size_t packet_length = 1 + payload.size() + padding;
  const std::size_t total = 4 + packet_length;

  const std::size_t start = out.size();
  out.resize(start + total + tag);
  std::uint8_t* p = out.data() + start;
  p[0] = static_cast<std::uint8_t>(packet_length >> 24);
  p[1] = static_cast<std::uint8_t>(packet_length >> 16);
  p[2] = static_cast<std::uint8_t>(packet_length >> 8);
  p[3] = static_cast<std::uint8_t>(packet_length);
  p[4] = static_cast<std::uint8_t>(padding);
  std::copy(payload.begin(), payload.end(), p + 5);
  rng.fill({p + 5 + payload.size(), padding});
  if (cipher_) {
    std::span<std::uint8_t> whole(p, total + tag);
    cipher_->seal(seq_, whole.first(total), whole.subspan(total, tag));
  }
  count(total + tag);
}

}  // namespace parley::transport

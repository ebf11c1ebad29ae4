// Messages carrying secrets (passwords, keyboard-interactive answers) leave
// padded to a multiple of 64 bytes, as OpenSSH pads them, so an observer of the
// encrypted stream cannot tell an answer's length from the packet's.
#include <gtest/gtest.h>

#include "parley/crypto/packet_cipher.hpp"
#include "parley/crypto/random.hpp"
#include "parley/transport/packet.hpp"

namespace parley::transport {
namespace {

std::size_t sealed_size(std::size_t payload_size, std::size_t pad_to) {
  crypto::DeterministicRandom rng(1);
  PacketEncoder enc;
  const Bytes key(64, 0x11);
  enc.set_cipher(crypto::PacketCipher::create(crypto::CipherAlg::chacha20_poly1305, crypto::MacAlg::implicit,
                                              crypto::Direction::seal, key, {}, {}));
  Bytes payload(payload_size, 61);  // an INFO_RESPONSE-sized message
  Bytes out;
  enc.encode(payload, rng, out, pad_to);
  return out.size();
}

TEST(SecretPadding, AnswersOfDifferentLengthsMakeEqualPackets) {
  // Answers of 1 to 40 bytes inside an INFO_RESPONSE (9 bytes of framing).
  const std::size_t padded = sealed_size(9 + 1, 64);
  for (std::size_t n = 2; n <= 40; ++n) EXPECT_EQ(sealed_size(9 + n, 64), padded) << n;
  // Without the padding they differ (the cipher's 8-byte grain shows through).
  EXPECT_NE(sealed_size(9 + 1, 0), sealed_size(9 + 40, 0));
}

TEST(SecretPadding, PacketsStayMultiplesOfTheGrain) {
  for (std::size_t n = 1; n < 300; n += 7) {
    const std::size_t total = sealed_size(n, 64);
    // chacha20-poly1305: 4-byte length outside, 16-byte tag; the rest in 64-byte steps.
    EXPECT_EQ((total - 4 - 16) % 64, 0u) << n;
  }
}

}  // namespace
}  // namespace parley::transport

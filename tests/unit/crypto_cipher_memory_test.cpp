// What a packet cipher costs an idle connection: the heap it keeps between packets
// (issue 15: at most 4 KiB per idle authenticated connection, both directions included).
#include <gtest/gtest.h>
#include <malloc.h>

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "parley/crypto/packet_cipher.hpp"

#if defined(__SANITIZE_ADDRESS__)
// From the sanitizer runtime (g++ ships no header for it; clang's allocator_interface.h declares it).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace parley::crypto {
namespace {

/// Bytes of heap in use now: the sanitizer's count under ASan (it replaces malloc), glibc's otherwise.
std::size_t heap_in_use() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

/// Heap kept per cipher, over `n` of them (first uses of the algorithm excluded).
std::size_t heap_per_cipher(CipherAlg alg, Direction dir, std::size_t n) {
  const Bytes key(64, 0x42);
  // Warm: the algorithm's one-time fetch and any per-thread state are not per connection.
  auto warm = PacketCipher::create(alg, MacAlg::implicit, dir, key, {}, {});
  EXPECT_NE(warm, nullptr);
  std::vector<std::unique_ptr<PacketCipher>> held;
  held.reserve(n);
  const std::size_t before = heap_in_use();
  for (std::size_t i = 0; i < n; ++i) held.push_back(PacketCipher::create(alg, MacAlg::implicit, dir, key, {}, {}));
  const std::size_t after = heap_in_use();
  return after > before ? (after - before) / n : 0;
}

// chacha20-poly1305 (what OpenSSH and parley's client prefer) keeps only its key between
// packets: the libcrypto contexts are the thread's. Three contexts per direction cost
// about 1.3 KiB; the key and the object are under 128 bytes.
TEST(CipherMemory, ChachaPolyKeepsOnlyItsKeyWhileIdle) {
  EXPECT_LE(heap_per_cipher(CipherAlg::chacha20_poly1305, Direction::seal, 256), 160u);
  EXPECT_LE(heap_per_cipher(CipherAlg::chacha20_poly1305, Direction::open, 256), 160u);
}

// Ciphers of many connections used in turn on one thread each still seal and open
// their own packets: the shared contexts carry nothing from one to the next.
TEST(CipherMemory, InterleavedChachaPolyCiphersStayIndependent) {
  Bytes key_a(64, 0x11), key_b(64, 0x22);
  auto seal_a = PacketCipher::create(CipherAlg::chacha20_poly1305, MacAlg::implicit, Direction::seal, key_a, {}, {});
  auto seal_b = PacketCipher::create(CipherAlg::chacha20_poly1305, MacAlg::implicit, Direction::seal, key_b, {}, {});
  auto open_a = PacketCipher::create(CipherAlg::chacha20_poly1305, MacAlg::implicit, Direction::open, key_a, {}, {});
  auto open_b = PacketCipher::create(CipherAlg::chacha20_poly1305, MacAlg::implicit, Direction::open, key_b, {}, {});
  for (std::uint32_t seq = 0; seq < 4; ++seq) {
    Bytes a(64, static_cast<std::uint8_t>(seq)), b(64, static_cast<std::uint8_t>(seq + 100));
    for (Bytes* p : {&a, &b}) (*p)[0] = (*p)[1] = (*p)[2] = 0, (*p)[3] = 60;  // packet_length 60
    const Bytes plain_a = a, plain_b = b;
    std::array<std::uint8_t, 16> tag_a{}, tag_b{};
    seal_a->seal(seq, a, tag_a);
    seal_b->seal(seq, b, tag_b);
    EXPECT_NE(a, b);
    EXPECT_EQ(open_b->peek_length(seq, b), 60u);
    EXPECT_EQ(open_a->peek_length(seq, a), 60u);
    EXPECT_FALSE(open_a->open(seq, b, tag_b));  // b's packet does not open with a's key
    ASSERT_TRUE(open_b->open(seq, b, tag_b));
    ASSERT_TRUE(open_a->open(seq, a, tag_a));
    EXPECT_EQ(a, plain_a);
    EXPECT_EQ(b, plain_b);
  }
}

}  // namespace
}  // namespace parley::crypto

// Throughput of SSH packet protection for 32 KiB packets (OpenSSH's usual
// maximum packet size). BM_SealOpen seals one packet and opens it again
// (peek_length + open) per iteration and counts the packet's bytes once, so its
// rate is what one core carries when it both sends and receives every byte;
// BM_Seal is the sending side alone.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "parley/crypto/packet_cipher.hpp"

namespace {

using parley::Bytes;
using namespace parley::crypto;

constexpr std::size_t kPacket = 32 * 1024;

void BM_SealOpen(benchmark::State& state, CipherAlg cipher, MacAlg mac) {
  const CipherInfo ci = info(cipher);
  const Bytes key(ci.key_len, 0x11), iv(ci.iv_len, 0x22), mac_key(mac_key_len(mac), 0x33);
  const auto sealer = PacketCipher::create(cipher, mac, Direction::seal, key, iv, mac_key);
  const auto opener = PacketCipher::create(cipher, mac, Direction::open, key, iv, mac_key);
  if (!sealer || !opener) {
    state.SkipWithError("create failed");
    return;
  }
  // A well-formed packet of kPacket bytes in total, padding included.
  Bytes packet(kPacket, 0x5a);
  const auto packet_length = static_cast<std::uint32_t>(kPacket - 4);
  packet[0] = static_cast<std::uint8_t>(packet_length >> 24);
  packet[1] = static_cast<std::uint8_t>(packet_length >> 16);
  packet[2] = static_cast<std::uint8_t>(packet_length >> 8);
  packet[3] = static_cast<std::uint8_t>(packet_length);
  // padding_length: 32 KiB is block-aligned with the length inside the blocks;
  // PacketCipher doesn't check alignment, so the value only has to be plausible.
  packet[4] = 16;
  Bytes tag(sealer->tag_size());
  std::uint32_t seq = 0;
  for (auto _ : state) {
    sealer->seal(seq, packet, tag);
    const std::uint32_t len =
        opener->peek_length(seq, std::span(packet).first(opener->length_prefix()));
    benchmark::DoNotOptimize(len);
    if (!opener->open(seq, packet, tag)) {
      state.SkipWithError("open failed");
      break;
    }
    benchmark::ClobberMemory();
    ++seq;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(kPacket));
}

// Seal only: the one-direction rate of the sending side.
void BM_Seal(benchmark::State& state, CipherAlg cipher, MacAlg mac) {
  const CipherInfo ci = info(cipher);
  const Bytes key(ci.key_len, 0x11), iv(ci.iv_len, 0x22), mac_key(mac_key_len(mac), 0x33);
  const auto sealer = PacketCipher::create(cipher, mac, Direction::seal, key, iv, mac_key);
  Bytes packet(kPacket, 0x5a);
  Bytes tag(sealer->tag_size());
  std::uint32_t seq = 0;
  for (auto _ : state) {
    sealer->seal(seq++, packet, tag);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(kPacket));
}

#define PARLEY_CIPHER_BENCH(label, cipher, mac)                          \
  BENCHMARK_CAPTURE(BM_SealOpen, label, CipherAlg::cipher, MacAlg::mac); \
  BENCHMARK_CAPTURE(BM_Seal, label, CipherAlg::cipher, MacAlg::mac)

PARLEY_CIPHER_BENCH(chacha20_poly1305, chacha20_poly1305, implicit);
PARLEY_CIPHER_BENCH(aes256_gcm, aes256_gcm, implicit);
PARLEY_CIPHER_BENCH(aes128_gcm, aes128_gcm, implicit);
PARLEY_CIPHER_BENCH(aes256_ctr_hmac_sha2_256_etm, aes256_ctr, hmac_sha2_256_etm);
PARLEY_CIPHER_BENCH(aes128_ctr_hmac_sha2_256_etm, aes128_ctr, hmac_sha2_256_etm);
PARLEY_CIPHER_BENCH(aes256_ctr_hmac_sha2_512, aes256_ctr, hmac_sha2_512);

}  // namespace

BENCHMARK_MAIN();

// What a key exchange in progress holds, shared by transport.cpp and
// key_exchange.cpp. Private to src/transport.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "parley/crypto/kex.hpp"
#include "parley/crypto/packet_cipher.hpp"
#include "parley/transport/transport.hpp"
#include "parley/wire/name_list.hpp"

namespace parley::transport {

/// The ten name-lists of a KEXINIT (RFC 4253 §7.1).
struct KexInitLists {
  wire::NameList kex, host_key, cipher_c2s, cipher_s2c, mac_c2s, mac_s2c, comp_c2s, comp_s2c;
  bool first_kex_packet_follows = false;
};

struct Transport::KexState {
  Bytes our_kexinit;
  KexInitLists ours;  // what our_kexinit offers, kept so it is not parsed back
  std::uint32_t our_kexinit_seq = 0;
  Bytes peer_kexinit;
  bool peer_kexinit_received = false;
  std::optional<Negotiated> algs;
  std::unique_ptr<crypto::KexKeyPair> ephemeral;  // the client's
  Bytes q_c;  // (server, delegated) the client's value, until the answer comes
  bool ignore_next_kex_packet = false;
  bool sent_newkeys = false;
  std::unique_ptr<crypto::PacketCipher> next_in;
  std::unique_ptr<crypto::PacketCipher> next_out;
  Instant deadline;
};

}  // namespace parley::transport

// Fuzzes the key-exchange messages themselves, in both roles and for every
// method parley implements: the negotiation is made to succeed (a well-formed
// KEXINIT offering the chosen method), then the input supplies the peer's
// KEX_ECDH_INIT (to a server) or KEX_ECDH_REPLY (to a client): the whole body,
// or a hostile value of any length, or one of exactly the method's length (so
// the fuzzer reaches ML-KEM's checks, decapsulation and the curve arithmetic)
// behind a real host key. The process must never crash, hang or leak; the
// connection must end with an error or complete.
//
// Input: byte 0 = control (bit 0 role, bits 1-3 method, bits 4-5 shape), then
// the value bytes.
#include <cstdint>

#include "parley/crypto/keys.hpp"
#include "parley/transport/algorithms.hpp"
#include "parley/transport/messages.hpp"
#include "parley/transport/packet.hpp"
#include "parley/transport/transport.hpp"
#include "parley/wire/writer.hpp"
#include "kexinit.hpp"

using namespace parley;

namespace {

const crypto::PrivateKey& host_key() {
  static const crypto::PrivateKey key = [] {
    crypto::DeterministicRandom rng(1);
    return crypto::PrivateKey::generate_ed25519(rng);
  }();
  return key;
}

Bytes plain_packet(BytesView payload) {
  crypto::DeterministicRandom rng(9);
  transport::PacketEncoder enc;
  Bytes out;
  enc.encode(payload, rng, out);
  return out;
}

/// The exact length of the value the peer sends for `kex` to `role`.
std::size_t value_size(transport::KexAlg kex, transport::Role to) {
  using transport::KexAlg;
  switch (kex) {
    case KexAlg::mlkem768x25519_sha256:
      return to == transport::Role::server ? crypto::mlkem768_x25519_init_size
                                           : crypto::mlkem768_x25519_reply_size;
    case KexAlg::curve25519_sha256:
    case KexAlg::curve25519_sha256_libssh: return 32;
    case KexAlg::ecdh_sha2_nistp256: return 65;
    case KexAlg::dh_group16_sha512: return 512;
    case KexAlg::dh_group14_sha256: return 256;
  }
  return 32;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t control = data[0];
  const BytesView input(data + 1, size - 1);
  const auto& all = transport::AlgorithmPreferences::supported().kex;
  const transport::KexAlg kex = all[((control >> 1) & 7) % all.size()];
  const bool to_server = (control & 1) == 0;
  const unsigned shape = (control >> 4) & 3;

  // The hostile value: as given, or cut or zero-padded to the method's length.
  Bytes value(input.begin(), input.end());
  if (shape >= 2) value.resize(value_size(kex, to_server ? transport::Role::server : transport::Role::client));

  Bytes body;
  wire::Writer w(body);
  w.byte(to_server ? transport::msg::kex_ecdh_init : transport::msg::kex_ecdh_reply);
  if (shape == 0) {
    w.raw(input);  // the whole body, framing included
  } else if (to_server) {
    w.string(value);
  } else {
    // A real host key, the hostile value, and a signature that cannot verify
    // (the client must get as far as checking it).
    w.string(host_key().public_key().blob()).string(value).string(std::string_view("sig"));
  }

  transport::TransportConfig config;
  config.role = to_server ? transport::Role::server : transport::Role::client;
  config.algorithms.kex = transport::AlgorithmPreferences::supported().kex;
  config.algorithms.host_key = {crypto::SignatureAlg::ssh_ed25519};
  if (to_server) config.host_keys.push_back(host_key());
  else config.verify_host_key = transport::danger_accept_any_host_key();

  crypto::DeterministicRandom rng(2);
  const transport::Instant start = transport::Instant{} + std::chrono::hours(1);
  transport::Transport target(config, rng, start);
  static constexpr std::string_view ident = "SSH-2.0-fuzz\r\n";
  Bytes stream(ident.begin(), ident.end());
  const Bytes offer = test::kexinit_payload(
      {.kex = transport::name(kex), .cipher = "aes128-gcm@openssh.com", .cookie = 0x33});
  for (const Bytes& packet : {plain_packet(offer), plain_packet(body)})
    stream.insert(stream.end(), packet.begin(), packet.end());
  target.receive(stream, start);
  Bytes out;
  target.take_output(out);
  while (target.poll_event()) {
  }
  target.on_time(start + std::chrono::seconds(120));
  target.peer_closed(start + std::chrono::seconds(121));
  while (target.poll_event()) {
  }
  return 0;
}

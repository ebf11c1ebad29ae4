// Fuzzes a whole server connection: identification, packets, key exchange
// messages and timers, fed in pieces chosen by the input.
#include <cstdint>

#include "parley/crypto/keys.hpp"
#include "parley/transport/transport.hpp"

using namespace parley;

namespace {

const transport::TransportConfig& config() {
  static const transport::TransportConfig c = [] {
    transport::TransportConfig t;
    t.role = transport::Role::server;
    crypto::DeterministicRandom rng(1);
    t.host_keys.push_back(crypto::PrivateKey::generate_ed25519(rng));
    return t;
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  crypto::DeterministicRandom rng(2);
  const transport::Instant start = transport::Instant{} + std::chrono::hours(1);
  transport::Transport server(config(), rng, start);
  // The first byte picks how to split the rest; most inputs start with a valid
  // identification line so the fuzzer spends its time on packets.
  const std::uint8_t control = data[0];
  ++data;
  --size;
  if ((control & 1) == 0) {
    static constexpr std::string_view ident = "SSH-2.0-fuzz\r\n";
    server.receive(as_bytes(ident), start);
  }
  const std::size_t chunk = 1 + (control >> 1) % 64;
  for (std::size_t i = 0; i < size && !server.closed(); i += chunk) {
    server.receive(BytesView(data + i, std::min(chunk, size - i)), start);
    Bytes out;
    server.take_output(out);
    while (server.poll_event()) {
    }
  }
  server.on_time(start + std::chrono::seconds(10));
  server.peer_closed(start + std::chrono::seconds(11));
  while (server.poll_event()) {
  }
  return 0;
}

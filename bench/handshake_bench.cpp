// CPU cost of one complete server-side handshake (curve25519-sha256 or
// mlkem768x25519-sha256, with ssh-ed25519) against the cost of its public-key
// operations alone (X25519, ML-KEM-768 encapsulation, Ed25519), measured in
// the same binary.
#include <benchmark/benchmark.h>

#include "parley/crypto/kex.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/mlkem.hpp"
#include "parley/crypto/random.hpp"
#include "parley/transport/transport.hpp"

using namespace parley;

namespace {

crypto::SystemRandom& system_rng() {
  static crypto::SystemRandom rng;
  return rng;
}

const crypto::PrivateKey& host_key() {
  static const crypto::PrivateKey key = crypto::PrivateKey::generate_ed25519(system_rng());
  return key;
}

transport::TransportConfig server_config() {
  transport::TransportConfig c;
  c.role = transport::Role::server;
  c.host_keys = {host_key()};
  return c;
}

/// The bytes a client sends for the whole handshake: identification, KEXINIT,
/// ECDH_INIT and NEWKEYS (all before encryption starts), recorded once.
Bytes client_handshake_bytes(transport::KexAlg kex) {
  transport::TransportConfig cc;
  cc.role = transport::Role::client;
  cc.algorithms.kex = {kex};
  cc.algorithms.host_key = {crypto::SignatureAlg::ssh_ed25519};
  cc.verify_host_key = transport::danger_accept_any_host_key();
  crypto::DeterministicRandom crng(1), srng(2);
  const auto now = transport::Clock::now();
  transport::Transport client(cc, crng, now);
  transport::Transport server(server_config(), srng, now);
  Bytes recorded;
  for (int i = 0; i < 10; ++i) {
    Bytes c2s, s2c;
    client.take_output(c2s);
    server.take_output(s2c);
    if (c2s.empty() && s2c.empty()) break;
    recorded.insert(recorded.end(), c2s.begin(), c2s.end());
    server.receive(c2s, now);
    client.receive(s2c, now);
  }
  if (server.kex_count() != 1) std::abort();
  return recorded;
}

// The floor: what the server's handshake cannot avoid.
void BM_CryptoFloor_X25519_Ed25519(benchmark::State& state) {
  auto peer = crypto::KexKeyPair::generate(crypto::KexGroup::x25519, system_rng());
  Bytes peer_public((*peer)->public_value().begin(), (*peer)->public_value().end());
  Bytes h(32, 0x5a);
  for (auto _ : state) {
    auto ours = crypto::KexKeyPair::generate(crypto::KexGroup::x25519, system_rng());
    auto k = (*ours)->derive(peer_public);
    benchmark::DoNotOptimize(k);
    Bytes sig = host_key().sign(crypto::SignatureAlg::ssh_ed25519, h);
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_CryptoFloor_X25519_Ed25519);

// The hybrid's floor: the X25519 half as above, the server's ML-KEM-768
// encapsulation to the client's key, and the Ed25519 signature.
void BM_CryptoFloor_MlKem768X25519_Ed25519(benchmark::State& state) {
  auto peer = crypto::KexKeyPair::generate(crypto::KexGroup::x25519, system_rng());
  Bytes peer_public((*peer)->public_value().begin(), (*peer)->public_value().end());
  auto kem = crypto::mlkem768::generate(system_rng());
  if (!kem) return state.SkipWithError("ML-KEM key generation failed");
  Bytes h(32, 0x5a);
  for (auto _ : state) {
    auto ours = crypto::KexKeyPair::generate(crypto::KexGroup::x25519, system_rng());
    auto k = (*ours)->derive(peer_public);
    benchmark::DoNotOptimize(k);
    auto enc = crypto::mlkem768::encapsulate(kem->ek, system_rng());
    benchmark::DoNotOptimize(enc);
    Bytes sig = host_key().sign(crypto::SignatureAlg::ssh_ed25519, h);
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_CryptoFloor_MlKem768X25519_Ed25519);

// A whole server-side handshake: construct the connection, read the client's
// identification, KEXINIT, ECDH_INIT and NEWKEYS, write ours and the reply.
void server_handshake(benchmark::State& state, transport::KexAlg kex) {
  const Bytes client_bytes = client_handshake_bytes(kex);
  const transport::TransportConfig config = server_config();
  const auto now = transport::Clock::now();
  Bytes out;
  for (auto _ : state) {
    transport::Transport server(config, system_rng(), now);
    server.receive(client_bytes, now);
    out.clear();
    server.take_output(out);
    if (server.kex_count() != 1) state.SkipWithError("handshake did not complete");
    benchmark::DoNotOptimize(out);
  }
}
void BM_ServerHandshake_Curve25519_Ed25519(benchmark::State& state) {
  server_handshake(state, transport::KexAlg::curve25519_sha256);
}
BENCHMARK(BM_ServerHandshake_Curve25519_Ed25519);
void BM_ServerHandshake_MlKem768X25519_Ed25519(benchmark::State& state) {
  server_handshake(state, transport::KexAlg::mlkem768x25519_sha256);
}
BENCHMARK(BM_ServerHandshake_MlKem768X25519_Ed25519);

}  // namespace

BENCHMARK_MAIN();

// parley-crypto-floor: the CPU time one server login of curve25519-sha256 with ssh-ed25519
// cannot avoid, measured with parley's own crypto layer (src/crypto, OpenSSL underneath): an
// X25519 key pair generated and the shared secret derived from a client's value, one Ed25519
// signature over the exchange hash, the exchange hash itself (SHA-256 over a transcript of a
// real handshake's size) and the six RFC 4253 §7.2 derivations for chacha20-poly1305 (SHA-256).
// Prints the median, over repetitions, of process CPU time per login: the floor that
// bench/server_cost.py divides every server's CPU per login by, measured in the same run.
//
//   parley-crypto-floor [--logins N] [--repetitions R] [--json]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "parley/crypto/hash.hpp"
#include "parley/crypto/kdf.hpp"
#include "parley/crypto/kex.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/packet_cipher.hpp"
#include "parley/crypto/random.hpp"

using namespace parley;

namespace {

/// What the exchange hash covers (RFC 4253 §8 with RFC 8731): both version lines, both
/// KEXINITs (OpenSSH's client sends about 1.4 KB, parleyd about 0.4 KB), the host key, both
/// X25519 values and K: about 2 KB, hashed in the pieces the transport hashes.
constexpr std::size_t transcript_parts[] = {32, 32, 1400, 400, 51, 36, 36, 37};

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

struct Floor {
  crypto::SystemRandom rng;
  crypto::PrivateKey host_key = crypto::PrivateKey::generate_ed25519(rng);
  Bytes client_value;
  std::vector<Bytes> transcript;
  std::size_t sink = 0;  // keeps the results alive

  Floor() {
    auto client = crypto::KexKeyPair::generate(crypto::KexGroup::x25519, rng);
    if (!client) std::abort();
    client_value.assign((*client)->public_value().begin(), (*client)->public_value().end());
    for (std::size_t n : transcript_parts) transcript.emplace_back(n, std::uint8_t{0x5a});
  }

  /// One login's server-side cryptography.
  void login() {
    auto ours = crypto::KexKeyPair::generate(crypto::KexGroup::x25519, rng);
    if (!ours) std::abort();
    auto k = (*ours)->derive(client_value);
    if (!k) std::abort();
    crypto::Hasher hasher(crypto::HashAlg::sha256);
    for (const Bytes& part : transcript) hasher.update(part);
    hasher.update(k->view());
    const Bytes h = hasher.finish();
    const Bytes signature = host_key.sign(crypto::SignatureAlg::ssh_ed25519, h);
    const crypto::CipherInfo cipher = crypto::info(crypto::CipherAlg::chacha20_poly1305);
    const std::size_t lengths[] = {cipher.iv_len, cipher.iv_len, cipher.key_len,
                                   cipher.key_len, 0, 0};
    for (char letter = 'A'; letter <= 'F'; ++letter) {
      auto key = crypto::derive_ssh_key(crypto::HashAlg::sha256, k->view(), h, letter, h,
                                        lengths[letter - 'A']);
      sink += key.view().size();
    }
    sink += signature.size() + (*ours)->public_value().size();
  }
};

int usage(const char* why) {
  std::fprintf(stderr, "parley-crypto-floor: %s\nusage: parley-crypto-floor [--logins N] [--repetitions R] [--json]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long logins = 2000, repetitions = 7;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      json = true;
    } else if ((a == "--logins" || a == "--repetitions") && i + 1 < argc) {
      (a == "--logins" ? logins : repetitions) = std::strtol(argv[++i], nullptr, 10);
    } else {
      return usage("unknown option or missing value");
    }
  }
  if (logins < 1 || repetitions < 1) return usage("--logins and --repetitions must be positive");
  Floor floor;
  for (int i = 0; i < 50; ++i) floor.login();  // first use: OpenSSL's fetches, caches
  std::vector<double> us;
  for (long r = 0; r < repetitions; ++r) {
    const double t0 = cpu_seconds();
    for (long i = 0; i < logins; ++i) floor.login();
    us.push_back((cpu_seconds() - t0) * 1e6 / static_cast<double>(logins));
  }
  std::vector<double> sorted = us;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  if (json) {
    std::string list;
    for (double u : us) {
      if (!list.empty()) list += ',';
      list += std::to_string(u);
    }
    std::printf("{\"floor_us\":%.2f,\"logins\":%ld,\"repetitions\":[%s]}\n", median, logins,
                list.c_str());
  } else {
    std::printf("crypto floor: %.1f us CPU per login (median of %ld repetitions of %ld; X25519 "
                "keygen + derive, Ed25519 sign, exchange hash, 6 KDF, SHA-256)\n",
                median, repetitions, logins);
  }
  return floor.sink == 0 ? 1 : 0;
}

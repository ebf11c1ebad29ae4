// Fuzzes each decoder of text or bytes parley takes from files and agents, one
// target for all (so they share one slice of CI's fuzz budget): the first
// input byte picks the decoder, the rest is its input. Each runs today's pure
// parse function (files are read by their callers and handed in), then uses
// what it parsed the way its caller would, so a value that parses but is
// inconsistent is caught too.
//   0 known_hosts            client::KnownHosts::parse, then check() and known_types()
//   1 authorized_keys        userauth::parse_authorized_keys
//   2 private key file       crypto::PrivateKey::from_openssh, then sign and verify
//   3 public key line        crypto::PublicKey::from_openssh (a .pub file)
//   4 public key blob        crypto::PublicKey::from_blob
//   5 agent messages         client::agent::Deframer, parse_identities_answer, parse_sign_response
//   6 TOTP secret            otp::parse_totp_secret (otpauth:// URI or base32)
//   7 users.oath             otp::parse_users_oath
//   8 users.oath.scratch     otp::parse_users_oath_scratch
//   9 google-authenticator   otp::parse_google_authenticator
//  10 SOCKS client           client::SocksHandshake, fed in pieces (a -D client's bytes)
//  11 forward specification  client::parse_forward for -L, -R and -D, then describe()
// Seeds: tests/fuzz/seeds/decoders/<decoder>_*.
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>

#include "parley/client/agent.hpp"
#include "parley/client/forwards.hpp"
#include "parley/client/socks.hpp"
#include "parley/userauth/authorized_keys.hpp"
#include "parley/client/known_hosts.hpp"
#include "parley/otp/totp.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/otp/store.hpp"

using namespace parley;

namespace {

constexpr std::size_t decoders = 12;

const crypto::PublicKey& some_key() {
  static const crypto::PublicKey key = [] {
    crypto::DeterministicRandom rng(1);
    return crypto::PrivateKey::generate_ed25519(rng).public_key();
  }();
  return key;
}

void known_hosts(std::string_view text) {
  const auto hosts = client::KnownHosts::parse(text, "known_hosts");
  static constexpr std::pair<std::string_view, std::uint16_t> lookups[] = {
      {"example.com", 22}, {"192.0.2.1", 2222}, {"Host.Example", 0}};
  for (const auto& [host, port] : lookups) {
    (void)hosts.check(host, port, some_key());
    (void)hosts.known_types(host, port);
  }
}

void authorized_keys(std::string_view text) {
  for (const auto& key : userauth::parse_authorized_keys(text).keys) (void)key.fingerprint();
}

void private_key(std::string_view text) {
  auto key = crypto::PrivateKey::from_openssh(text);
  if (!key) return;
  static constexpr std::string_view data = "data";
  for (crypto::SignatureAlg alg : key->signature_algs())
    (void)key->public_key().verify(alg, key->sign(alg, as_bytes(data)), as_bytes(data));
}

void public_key_line(std::string_view text) {
  if (auto key = crypto::PublicKey::from_openssh(text)) (void)key->to_openssh("comment");
}

void public_key_blob(BytesView blob) {
  if (auto key = crypto::PublicKey::from_blob(blob)) (void)key->fingerprint();
}

void agent_messages(BytesView bytes) {
  // As the client reads a socket: at most wanted() bytes at a time.
  client::agent::Deframer in;
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), std::max<std::size_t>(in.wanted(), 1));
    if (!in.feed(bytes.first(n))) return;
    bytes = bytes.subspan(n);
    if (auto message = in.take()) {
      (void)client::agent::parse_identities_answer(*message);
      (void)client::agent::parse_sign_response(*message);
    }
  }
}

void totp_secret(std::string_view text) {
  if (auto secret = otp::parse_totp_secret(text)) (void)otp::totp_code(*secret, 1'700'000'000);
}

void users_oath(std::string_view text) { (void)otp::parse_users_oath(text); }

void users_oath_scratch(std::string_view text) { (void)otp::parse_users_oath_scratch(text); }

void google_authenticator(std::string_view text) {
  if (auto secret = otp::parse_google_authenticator(text)) (void)otp::totp_code(*secret, 1'700'000'000);
}

void socks_client(BytesView bytes) {
  // Pieces of 1 to 8 bytes, as reads may split them; the first byte sets the size.
  client::SocksHandshake h;
  const std::size_t piece = bytes.empty() ? 1 : bytes[0] % 8 + 1;
  Bytes out;
  for (std::size_t i = 0; i < bytes.size(); i += piece) {
    auto r = h.feed(bytes.subspan(i, std::min(piece, bytes.size() - i)), out);
    if (!r) return;
    if (*r) {
      h.reply(r->value().port % 2 == 0, out);
      return;
    }
  }
}

void forward_spec(std::string_view text) {
  for (auto kind : {client::ForwardKind::local, client::ForwardKind::remote, client::ForwardKind::dynamic})
    if (auto f = client::parse_forward(text, kind)) (void)client::describe(*f, kind);
  (void)client::split_host_port(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const BytesView bytes(data + 1, size - 1);
  const std::string_view text = as_chars(bytes);
  switch (data[0] % decoders) {
    case 0: known_hosts(text); break;
    case 1: authorized_keys(text); break;
    case 2: private_key(text); break;
    case 3: public_key_line(text); break;
    case 4: public_key_blob(bytes); break;
    case 5: agent_messages(bytes); break;
    case 6: totp_secret(text); break;
    case 7: users_oath(text); break;
    case 8: users_oath_scratch(text); break;
    case 9: google_authenticator(text); break;
    case 10: socks_client(bytes); break;
    case 11: forward_spec(text); break;
  }
  return 0;
}

// The algorithms parley's transport offers, their SSH names, and negotiation
// (RFC 4253 §7.1: the first of the client's list that the server also has).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/hash.hpp"
#include "parley/crypto/kex.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/packet_cipher.hpp"
#include "parley/wire/name_list.hpp"

namespace parley::transport {

enum class KexAlg : std::uint8_t {
  mlkem768x25519_sha256,  // ML-KEM-768 + X25519 hybrid (OpenSSH 10's default)
  curve25519_sha256,
  curve25519_sha256_libssh,  // "curve25519-sha256@libssh.org", same method
  ecdh_sha2_nistp256,
  dh_group16_sha512,
  dh_group14_sha256,
};

std::string_view name(KexAlg alg);
std::optional<KexAlg> kex_from_name(std::string_view name);
crypto::KexGroup kex_group(KexAlg alg);
crypto::HashAlg kex_hash(KexAlg alg);
/// True for the finite-field groups, whose public values are mpints, not strings.
bool kex_uses_mpint(KexAlg alg);
/// True where the shared secret K enters the exchange hash and the key
/// derivation as a string (the hybrid's 32-byte hash), not as an mpint.
bool kex_secret_is_string(KexAlg alg);

/// Which algorithms an endpoint offers, in preference order. The defaults are
/// the same in both roles and pass a hardening audit: a post-quantum hybrid
/// first, no NIST-curve or 2048-bit exchange, and only encrypt-then-MAC MACs.
/// The others (ecdh-sha2-nistp256, diffie-hellman-group14-sha256, hmac-sha2-256,
/// hmac-sha2-512) are offered only when configured.
struct AlgorithmPreferences {
  std::vector<KexAlg> kex{KexAlg::mlkem768x25519_sha256, KexAlg::curve25519_sha256,
                          KexAlg::curve25519_sha256_libssh, KexAlg::dh_group16_sha512};
  std::vector<crypto::SignatureAlg> host_key{
      crypto::SignatureAlg::ssh_ed25519, crypto::SignatureAlg::ecdsa_sha2_nistp256,
      crypto::SignatureAlg::rsa_sha2_512, crypto::SignatureAlg::rsa_sha2_256};
  std::vector<crypto::CipherAlg> ciphers{
      crypto::CipherAlg::chacha20_poly1305, crypto::CipherAlg::aes128_gcm,
      crypto::CipherAlg::aes256_gcm, crypto::CipherAlg::aes128_ctr, crypto::CipherAlg::aes256_ctr};
  std::vector<crypto::MacAlg> macs{crypto::MacAlg::hmac_sha2_256_etm,
                                   crypto::MacAlg::hmac_sha2_512_etm};

  /// Every algorithm parley implements: the defaults, then those offered only
  /// when configured. What a configuration may name.
  static const AlgorithmPreferences& supported();

  /// Parses OpenSSH-style comma lists ("aes256-ctr,aes128-gcm@openssh.com"); an
  /// unknown name yields nullopt with that name in `bad`.
  static std::optional<std::vector<KexAlg>> parse_kex(std::string_view list, std::string* bad);
  static std::optional<std::vector<crypto::SignatureAlg>> parse_host_key(std::string_view list,
                                                                         std::string* bad);
  static std::optional<std::vector<crypto::CipherAlg>> parse_ciphers(std::string_view list,
                                                                     std::string* bad);
  static std::optional<std::vector<crypto::MacAlg>> parse_macs(std::string_view list,
                                                               std::string* bad);
};

/// OpenSSH's list syntax (sshd_config and ssh_config) applied to `current`:
/// "a,b" is the new list, "+a,b" appends what `current` lacks, "-a,b" removes
/// (names parley lacks are ignored there: they are not offered anyway), "^a,b"
/// puts them first. `parse` is one of AlgorithmPreferences' parsers; nullopt
/// means it refused a name (in `bad`; empty for a malformed list). The result
/// may be empty; the caller says whether that is allowed.
template <class T, class Parse>
std::optional<std::vector<T>> apply_list_syntax(std::vector<T> current, std::string_view spec,
                                                Parse parse, std::string* bad) {
  const char op = !spec.empty() && (spec[0] == '+' || spec[0] == '-' || spec[0] == '^') ? spec[0] : 0;
  if (op) spec.remove_prefix(1);
  if (op == '-') {
    while (!spec.empty()) {
      const std::size_t comma = spec.find(',');
      std::string ignored;
      if (auto one = parse(spec.substr(0, comma), &ignored))
        for (const auto& alg : *one) std::erase(current, alg);
      spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    }
    return current;
  }
  auto parsed = parse(spec, bad);
  if (!parsed) return std::nullopt;
  if (op == '+') {
    for (const auto& alg : *parsed)
      if (std::find(current.begin(), current.end(), alg) == current.end()) current.push_back(alg);
    return current;
  }
  if (op == '^') {
    for (const auto& alg : current)
      if (std::find(parsed->begin(), parsed->end(), alg) == parsed->end()) parsed->push_back(alg);
  }
  return parsed;
}

/// The outcome of negotiation for one key exchange.
struct Negotiated {
  KexAlg kex{};
  crypto::SignatureAlg host_key{};
  crypto::CipherAlg cipher_c2s{}, cipher_s2c{};
  crypto::MacAlg mac_c2s{}, mac_s2c{};
  bool strict_kex = false;  // both sides offered kex-strict-*-v00@openssh.com
  bool peer_ext_info = false;  // (server) the client offered ext-info-c
};

/// First name in `client` that is also in `server` (RFC 4253 §7.1).
std::optional<std::string> first_match(const wire::NameList& client, const wire::NameList& server);

}  // namespace parley::transport

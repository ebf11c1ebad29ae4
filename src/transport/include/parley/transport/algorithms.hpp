// The algorithms parley's transport offers, their SSH names, and negotiation
// (RFC 4253 §7.1: the first of the client's list that the server also has).
#pragma once

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

/// Which algorithms an endpoint offers, in preference order.
struct AlgorithmPreferences {
  std::vector<KexAlg> kex{KexAlg::curve25519_sha256, KexAlg::curve25519_sha256_libssh,
                          KexAlg::ecdh_sha2_nistp256, KexAlg::dh_group16_sha512,
                          KexAlg::dh_group14_sha256};
  std::vector<crypto::SignatureAlg> host_key{
      crypto::SignatureAlg::ssh_ed25519, crypto::SignatureAlg::ecdsa_sha2_nistp256,
      crypto::SignatureAlg::rsa_sha2_512, crypto::SignatureAlg::rsa_sha2_256};
  std::vector<crypto::CipherAlg> ciphers{
      crypto::CipherAlg::chacha20_poly1305, crypto::CipherAlg::aes128_gcm,
      crypto::CipherAlg::aes256_gcm, crypto::CipherAlg::aes128_ctr, crypto::CipherAlg::aes256_ctr};
  std::vector<crypto::MacAlg> macs{
      crypto::MacAlg::hmac_sha2_256_etm, crypto::MacAlg::hmac_sha2_512_etm,
      crypto::MacAlg::hmac_sha2_256, crypto::MacAlg::hmac_sha2_512};

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

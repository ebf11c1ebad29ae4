#include "parley/transport/algorithms.hpp"

namespace parley::transport {

std::string_view name(KexAlg alg) {
  switch (alg) {
    case KexAlg::mlkem768x25519_sha256: return "mlkem768x25519-sha256";
    case KexAlg::curve25519_sha256: return "curve25519-sha256";
    case KexAlg::curve25519_sha256_libssh: return "curve25519-sha256@libssh.org";
    case KexAlg::ecdh_sha2_nistp256: return "ecdh-sha2-nistp256";
    case KexAlg::dh_group16_sha512: return "diffie-hellman-group16-sha512";
    case KexAlg::dh_group14_sha256: return "diffie-hellman-group14-sha256";
  }
  return "";
}

std::optional<KexAlg> kex_from_name(std::string_view n) {
  for (auto a : {KexAlg::mlkem768x25519_sha256, KexAlg::curve25519_sha256,
                 KexAlg::curve25519_sha256_libssh,
                 KexAlg::ecdh_sha2_nistp256, KexAlg::dh_group16_sha512, KexAlg::dh_group14_sha256})
    if (name(a) == n) return a;
  return std::nullopt;
}

crypto::KexGroup kex_group(KexAlg alg) {
  switch (alg) {
    case KexAlg::mlkem768x25519_sha256: return crypto::KexGroup::mlkem768_x25519;
    case KexAlg::curve25519_sha256:
    case KexAlg::curve25519_sha256_libssh: return crypto::KexGroup::x25519;
    case KexAlg::ecdh_sha2_nistp256: return crypto::KexGroup::nistp256;
    case KexAlg::dh_group16_sha512: return crypto::KexGroup::dh_group16;
    case KexAlg::dh_group14_sha256: return crypto::KexGroup::dh_group14;
  }
  return crypto::KexGroup::x25519;
}

crypto::HashAlg kex_hash(KexAlg alg) {
  return alg == KexAlg::dh_group16_sha512 ? crypto::HashAlg::sha512 : crypto::HashAlg::sha256;
}

bool kex_uses_mpint(KexAlg alg) {
  return alg == KexAlg::dh_group16_sha512 || alg == KexAlg::dh_group14_sha256;
}

bool kex_secret_is_string(KexAlg alg) { return alg == KexAlg::mlkem768x25519_sha256; }

namespace {

template <class T, class F>
std::optional<std::vector<T>> parse_list(std::string_view list, std::string* bad, F from_name) {
  std::vector<T> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    std::string_view item =
        list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    auto v = from_name(item);
    if (!v) {
      if (bad) *bad = std::string(item);
      return std::nullopt;
    }
    out.push_back(*v);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

const AlgorithmPreferences& AlgorithmPreferences::supported() {
  static const AlgorithmPreferences all = [] {
    AlgorithmPreferences p;
    p.kex.insert(p.kex.end(), {KexAlg::ecdh_sha2_nistp256, KexAlg::dh_group14_sha256});
    p.macs.insert(p.macs.end(), {crypto::MacAlg::hmac_sha2_256, crypto::MacAlg::hmac_sha2_512});
    return p;
  }();
  return all;
}

std::optional<std::vector<KexAlg>> AlgorithmPreferences::parse_kex(std::string_view list,
                                                                   std::string* bad) {
  return parse_list<KexAlg>(list, bad, kex_from_name);
}
std::optional<std::vector<crypto::SignatureAlg>> AlgorithmPreferences::parse_host_key(
    std::string_view list, std::string* bad) {
  return parse_list<crypto::SignatureAlg>(list, bad, crypto::signature_alg_from_name);
}
std::optional<std::vector<crypto::CipherAlg>> AlgorithmPreferences::parse_ciphers(
    std::string_view list, std::string* bad) {
  return parse_list<crypto::CipherAlg>(list, bad, crypto::cipher_from_name);
}
std::optional<std::vector<crypto::MacAlg>> AlgorithmPreferences::parse_macs(std::string_view list,
                                                                            std::string* bad) {
  return parse_list<crypto::MacAlg>(list, bad, crypto::mac_from_name);
}

std::optional<std::string> first_match(const wire::NameList& client, const wire::NameList& server) {
  for (const auto& c : client.names())
    if (server.contains(c)) return c;
  return std::nullopt;
}

}  // namespace parley::transport
